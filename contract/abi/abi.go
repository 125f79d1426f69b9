package abi

import "fmt"

// Version is the ABI version this package describes. A guest reports the
// version it was built against from folio_abi_version; the host refuses a
// module whose version it does not implement. It only moves forward.
const Version = 1

// Module names and exports.
const (
	// HostModule is the import module of Folio's host functions.
	HostModule = "folio"
	// WASIModule is the WASI preview 1 import module (clock, random, stdio);
	// the host configures it deterministically and without a filesystem.
	WASIModule = "wasi_snapshot_preview1"

	ExportMemory     = "memory"
	ExportInitialize = "_initialize"
	ExportABIVersion = "folio_abi_version"
	ExportInvoke     = "folio_invoke"
)

// Return values of folio_invoke.
const (
	// InvokeOK: the call ran to completion and set its response.
	InvokeOK = 0
	// InvokePanicked: the contract panicked, the SDK recovered and set a 500
	// response; the host must not reuse the instance.
	InvokePanicked = 1
)

// Names of the host functions in module HostModule.
const (
	FnCallInput   = "call_input"   // (buf, cap) -> n
	FnResultTake  = "result_take"  // (buf, cap) -> n
	FnStateGet    = "state_get"    // (key, keyLen, buf, cap) -> n | -errno
	FnStatePut    = "state_put"    // (key, keyLen, val, valLen) -> 0 | -errno
	FnStateDel    = "state_del"    // (key, keyLen) -> 0 | -errno
	FnStateRange  = "state_range"  // (start, startLen, end, endLen, limit, buf, cap) -> n | -errno
	FnHistory     = "history"      // (key, keyLen, buf, cap) -> n | -errno
	FnEventSet    = "event_set"    // (name, nameLen, payload, payloadLen) -> 0 | -errno
	FnResponseSet = "response_set" // (status, msg, msgLen, payload, payloadLen) -> 0 | -errno
	FnLog         = "log"          // (level, msg, msgLen) -> ()
)

// HostFunction describes one host import: its name and how many i32
// parameters and results it has (every parameter and result is an i32).
type HostFunction struct {
	Name    string
	Params  int
	Results int
}

// HostFunctions lists every host function of ABI Version, in a fixed order.
var HostFunctions = []HostFunction{
	{FnCallInput, 2, 1},
	{FnResultTake, 2, 1},
	{FnStateGet, 4, 1},
	{FnStatePut, 4, 1},
	{FnStateDel, 2, 1},
	{FnStateRange, 7, 1},
	{FnHistory, 4, 1},
	{FnEventSet, 4, 1},
	{FnResponseSet, 5, 1},
	{FnLog, 3, 0},
}

// Limits both sides agree on. They shape results, so they are part of the
// ABI rather than per-node configuration: every endorser must apply the
// same ones to produce byte-identical results.
const (
	// MaxKeyBytes is the largest state key (internal/types and the
	// ledger's state use this bound).
	MaxKeyBytes = 1024
	// MaxRangeLimit is the largest page a state_range call may ask for.
	MaxRangeLimit = 10000
	// MaxEvents is how many events one call may set.
	MaxEvents = 64
	// MaxEventNameBytes bounds an event name.
	MaxEventNameBytes = 256
	// MinResponseLimit is a response size (message plus payload) every host
	// accepts whatever its configured limits, so that the SDK can always
	// report an error.
	MinResponseLimit = 1 << 10
	// MinStatus and MaxStatus bound a response status (HTTP-like).
	MinStatus = 200
	MaxStatus = 599
)

// Log levels of the log host function (slog levels).
const (
	LogDebug = -4
	LogInfo  = 0
	LogWarn  = 4
	LogError = 8
)

// Errno is the status a host function returns (negated) when it refuses a
// request. The message that explains it is left as the pending result.
type Errno int32

const (
	// ErrnoInvalidKey: empty, not valid UTF-8, or longer than MaxKeyBytes.
	ErrnoInvalidKey Errno = 1
	// ErrnoReadOnly: a write or event in a read-only (evaluate) call.
	ErrnoReadOnly Errno = 2
	// ErrnoTooLarge: a value, event or response over the host's limits.
	ErrnoTooLarge Errno = 3
	// ErrnoInvalidArgument: any other malformed request (range limit out of
	// bounds, bad event name, status out of range, response set twice).
	ErrnoInvalidArgument Errno = 4
	// ErrnoNoResult: result_take without a pending result.
	ErrnoNoResult Errno = 5
	// ErrnoLimit: a per-call count limit (MaxEvents) was reached.
	ErrnoLimit Errno = 6
)

func (e Errno) String() string {
	switch e {
	case ErrnoInvalidKey:
		return "invalid key"
	case ErrnoReadOnly:
		return "read-only call"
	case ErrnoTooLarge:
		return "too large"
	case ErrnoInvalidArgument:
		return "invalid argument"
	case ErrnoNoResult:
		return "no pending result"
	case ErrnoLimit:
		return "limit reached"
	}
	return fmt.Sprintf("errno %d", int32(e))
}
