package vm

import (
	"errors"
	"fmt"
)

// Errors of Load: the module is refused and nothing is kept.
var (
	// ErrInvalidModule: the bytes are not a valid WebAssembly module, or it
	// does not fit the memory limit.
	ErrInvalidModule = errors.New("invalid wasm module")
	// ErrMissingExport: a required export is absent or has the wrong type.
	ErrMissingExport = errors.New("missing or mistyped export")
	// ErrUnknownImport: the module imports something the host does not
	// provide.
	ErrUnknownImport = errors.New("unknown import")
	// ErrABIVersion: the module speaks an ABI version the host does not.
	ErrABIVersion = errors.New("unsupported ABI version")
)

// Errors of Invoke, each failing only the call at hand. Every one but
// ErrArgsTooLarge and ErrState discards the instance that ran the call.
var (
	// ErrArgsTooLarge: the call's function name and args exceed MaxArgBytes.
	ErrArgsTooLarge = errors.New("call arguments too large")
	// ErrBadCall: the Call itself is malformed (no TxID, no function, ...).
	ErrBadCall = errors.New("malformed call")
	// ErrTimeout: the call ran longer than CallTimeout.
	ErrTimeout = errors.New("contract call timed out")
	// ErrMemoryLimit: the contract ran out of its memory limit.
	ErrMemoryLimit = errors.New("contract exceeded its memory limit")
	// ErrTrap: the contract trapped (unreachable, out-of-bounds access,
	// stack overflow, ...).
	ErrTrap = errors.New("contract trapped")
	// ErrPanic: the contract panicked and nothing recovered it (a panic
	// outside the SDK's handler, e.g. in a goroutine, or a Go runtime fatal
	// error). CallError.Output carries the panic message. A panic inside a
	// handler is not an error: the SDK turns it into a 500 response.
	ErrPanic = errors.New("contract panicked")
	// ErrContractExit: the contract called exit (os.Exit, proc_exit).
	ErrContractExit = errors.New("contract exited")
	// ErrABIViolation: the contract broke the ABI (out-of-range buffer,
	// unknown return code, no response).
	ErrABIViolation = errors.New("contract broke the ABI")
	// ErrState: the State failed; the call is aborted, the contract never
	// sees the failure. The State's error is wrapped too.
	ErrState = errors.New("state read failed")
	// ErrClosed: the Runtime or Module was closed (or the Module belongs to
	// another Runtime).
	ErrClosed = errors.New("vm closed")
)

// ModuleError is a Load failure: which module and why. It wraps one of the
// Load sentinels.
type ModuleError struct {
	Name, Version string
	Err           error
}

func (e *ModuleError) Error() string {
	return fmt.Sprintf("contract %s version %s: %v", e.Name, e.Version, e.Err)
}

func (e *ModuleError) Unwrap() error { return e.Err }

// CallError is an Invoke failure: which call failed and why. It wraps one
// of the Invoke sentinels (or the caller's context error). Output holds the
// first bytes the contract wrote to stdout/stderr during the call, which
// for a Go panic or fatal error carries its message.
type CallError struct {
	Contract, Version string
	Function          string
	TxID              string
	Err               error
	Output            string
}

func (e *CallError) Error() string {
	s := fmt.Sprintf("contract %s version %s: call %s (tx %s): %v", e.Contract, e.Version, e.Function, e.TxID, e.Err)
	if e.Output != "" {
		s += "\ncontract output:\n" + e.Output
	}
	return s
}

func (e *CallError) Unwrap() error { return e.Err }

// Status is the response status a client should see for this failure:
// 400 for arguments that are too large or a malformed call, 500 otherwise.
func (e *CallError) Status() int32 {
	if errors.Is(e.Err, ErrArgsTooLarge) || errors.Is(e.Err, ErrBadCall) {
		return 400
	}
	return 500
}
