package trusted

import (
	"context"
	"errors"

	"github.com/folio-ledger/folio/internal/enclave/seal"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// Errors of the enclave itself (the VM's are in package vm).
var (
	// ErrNotInstalled: no such contract version in this enclave.
	ErrNotInstalled = errors.New("contract version not installed in the enclave")
	// ErrInstalled: the version is installed already, with other bytes or
	// another confidentiality flag.
	ErrInstalled = errors.New("contract version already installed differently")
	// ErrRollback: the host served state that contradicts what the
	// enclave knows was committed (an older version, other bytes, or a
	// version beyond the read height).
	ErrRollback = errors.New("state read contradicts the committed version the enclave knows (rollback or forgery)")
	// ErrNoStateKey: a confidential contract, but no state key was
	// provisioned to this enclave.
	ErrNoStateKey = errors.New("no state key provisioned: confidential contracts cannot run")
	// ErrConfidentiality: the confidentiality flag differs from other
	// installed versions of the contract, or a confidential contract was
	// called with a namespace other than its name.
	ErrConfidentiality = errors.New("confidentiality mismatch")
	// ErrHeight: a Simulate or Commit at a height the enclave is not at.
	ErrHeight = errors.New("height out of order")
	// ErrSealedState: a value of a confidential contract failed
	// authentication under the state key (tampered, or sealed under
	// another key). It wraps seal.ErrAuth.
	ErrSealedState = errors.New("sealed state value failed authentication")
)

// codes maps the sentinels that cross the boundary to wire codes. Codes
// only move forward: never renumber.
var codes = []struct {
	code wire.Code
	err  error
}{
	{1, vm.ErrInvalidModule}, {2, vm.ErrMissingExport}, {3, vm.ErrUnknownImport}, {4, vm.ErrABIVersion},
	{5, vm.ErrArgsTooLarge}, {6, vm.ErrBadCall}, {7, vm.ErrTimeout}, {8, vm.ErrMemoryLimit},
	{9, vm.ErrTrap}, {10, vm.ErrPanic}, {11, vm.ErrContractExit}, {12, vm.ErrABIViolation},
	{13, vm.ErrState}, {14, vm.ErrClosed}, {15, context.Canceled}, {16, context.DeadlineExceeded},
	{17, ErrNotInstalled}, {18, ErrInstalled}, {19, ErrRollback}, {20, ErrNoStateKey},
	{21, ErrConfidentiality}, {22, ErrHeight}, {23, ErrSealedState}, {24, seal.ErrAuth},
	{25, wire.ErrMalformed}, {26, ErrUntrustedModule}, {27, ErrNoAnchor},
}

// ErrorToWire describes err for the other side of the boundary.
func ErrorToWire(err error) *wire.Error {
	w := &wire.Error{Message: err.Error()}
	var ce *vm.CallError
	var me *vm.ModuleError
	inner := err
	switch {
	case errors.As(err, &ce):
		w.Kind = wire.KindCall
		w.Contract, w.Version, w.Function, w.TxID, w.Output = ce.Contract, ce.Version, ce.Function, ce.TxID, ce.Output
		inner = ce.Err
	case errors.As(err, &me):
		w.Kind = wire.KindModule
		w.Contract, w.Version = me.Name, me.Version
		inner = me.Err
	}
	if inner != nil {
		w.Message = inner.Error()
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			w.Codes = append(w.Codes, c.code)
		}
	}
	return w
}

// remoteError is an error rebuilt from the wire: its text, and the
// sentinels it matched on the other side.
type remoteError struct {
	msg       string
	sentinels []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.sentinels }

// ErrorFromWire rebuilds an error that errors.Is and errors.As recognise
// as the original: a *vm.CallError, a *vm.ModuleError or a plain error,
// matching the same sentinels.
func ErrorFromWire(w *wire.Error) error {
	inner := &remoteError{msg: w.Message}
	for _, code := range w.Codes {
		for _, c := range codes {
			if c.code == code {
				inner.sentinels = append(inner.sentinels, c.err)
			}
		}
	}
	switch w.Kind {
	case wire.KindCall:
		return &vm.CallError{Contract: w.Contract, Version: w.Version, Function: w.Function, TxID: w.TxID, Err: inner, Output: w.Output}
	case wire.KindModule:
		return &vm.ModuleError{Name: w.Contract, Version: w.Version, Err: inner}
	}
	return inner
}
