package vm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract/abi"
)

// Result is the outcome of a call that ran to completion. Equal calls on
// equal state give equal Results (and byte-identical Action encodings),
// whether the instance was fresh or pooled.
type Result struct {
	// Contract names the module that ran.
	Contract *foliov1.ContractRef
	// Response is what the contract answered. The read/write set and events
	// are returned whatever the status: whoever endorses decides (an
	// endorser signs 2xx responses only).
	Response *foliov1.Response
	// RWSet is sorted and passes types.ValidateReadWriteSet.
	RWSet *foliov1.ReadWriteSet
	// Events in the order the contract set them.
	Events []*foliov1.ContractEvent
	// Duration is how long the call took (not part of Action).
	Duration time.Duration
}

// Action returns the deterministic outcome as endorsers sign it.
func (r *Result) Action() *foliov1.ContractAction {
	return &foliov1.ContractAction{Contract: r.Contract, Rwset: r.RWSet, Events: r.Events, Response: r.Response}
}

// Invoke runs call on module m against st and returns what it read, wrote
// and answered; call.Namespace "" means m's name. It never changes st. It
// fails only the call at hand: an error is a *CallError wrapping
// ErrArgsTooLarge, ErrBadCall, ErrTimeout, ErrMemoryLimit, ErrPanic,
// ErrTrap, ErrContractExit, ErrABIViolation, ErrState, ErrClosed or the
// error of ctx. A contract panic the SDK recovered is not
// an error: it is a 500 Response. The instance that ran a failed or
// panicked call is discarded, never reused.
func (r *Runtime) Invoke(ctx context.Context, m *Module, call abi.Call, st State) (*Result, error) {
	if m == nil || st == nil {
		return nil, &CallError{Function: call.Function, TxID: call.TxID, Err: fmt.Errorf("%w: Invoke needs a module and a state", ErrBadCall)}
	}
	if r.closed() || m.rt != r {
		return nil, &CallError{Contract: m.name, Version: m.version, Function: call.Function, TxID: call.TxID, Err: ErrClosed}
	}
	start := time.Now()
	r.stats.calls.Add(1)
	fail := func(err error, output string) (*Result, error) {
		r.stats.callErrors.Add(1)
		switch {
		case errors.Is(err, ErrTimeout):
			r.stats.timeouts.Add(1)
		case errors.Is(err, ErrMemoryLimit):
			r.stats.memoryFaults.Add(1)
		case errors.Is(err, ErrPanic):
			r.stats.panics.Add(1)
		}
		return nil, &CallError{Contract: m.name, Version: m.version, Function: call.Function, TxID: call.TxID, Err: err, Output: output}
	}
	if err := r.checkCall(&call); err != nil {
		return fail(err, "")
	}
	if call.Namespace == "" {
		call.Namespace = m.name
	}
	if err := m.enter(ctx); err != nil {
		return fail(err, "")
	}
	defer m.leave()
	inst, pooled, err := m.get(ctx)
	if err != nil {
		return fail(err, "")
	}
	if pooled {
		r.stats.poolHits.Add(1)
	}
	cs := &callState{
		sim:      newSimulator(call.Namespace, st, call.ReadOnly, r.opts.MaxValueBytes),
		input:    call.Marshal(),
		contract: m.name,
		txID:     call.TxID,
		logger:   r.opts.Logger,
	}
	cs.sim.orgs = r.opts.ChannelOrgs
	inst.env.beginCall(call.TxID, call.Timestamp)

	res, stopped, err := inst.call(context.WithValue(ctx, callStateKey{}, cs), inst.invoke, r.opts.CallTimeout, errCallTimeout)

	discard := func(why error) {
		r.stats.discards.Add(1)
		r.opts.Logger.Debug("contract instance discarded", "contract", m.name, "version", m.version, "tx", call.TxID, "reason", why)
		inst.close(context.WithoutCancel(ctx))
	}
	output := inst.env.out.String()
	switch {
	case stopped == errCallTimeout:
		discard(stopped)
		return fail(fmt.Errorf("%w after %v", ErrTimeout, r.opts.CallTimeout), output)
	case stopped != nil:
		discard(stopped)
		return fail(stopped, output)
	case cs.fatal != nil:
		discard(cs.fatal)
		return fail(cs.fatal, output)
	case err != nil:
		kind := classifyExit(err, inst.env)
		if inst.growRefused() {
			kind = ErrMemoryLimit
		}
		discard(err)
		return fail(fmt.Errorf("%w: %v", kind, err), output)
	}
	switch rc := api.DecodeI32(res[0]); {
	case cs.sim.resp == nil:
		discard(errors.New("no response"))
		return fail(fmt.Errorf("%w: %s returned %d without setting a response", ErrABIViolation, abi.ExportInvoke, rc), output)
	case rc == abi.InvokePanicked:
		r.stats.panics.Add(1)
		discard(errors.New("contract panicked"))
	case rc != abi.InvokeOK:
		discard(fmt.Errorf("return code %d", rc))
		return fail(fmt.Errorf("%w: %s returned unknown code %d", ErrABIViolation, abi.ExportInvoke, rc), output)
	default:
		m.put(ctx, inst)
	}
	return &Result{
		Contract: &foliov1.ContractRef{Name: m.name, Version: m.version},
		Response: cs.sim.resp,
		RWSet:    cs.sim.rwset(),
		Events:   cs.sim.events,
		Duration: time.Since(start),
	}, nil
}

// checkCall rejects malformed calls before any instance is touched.
func (r *Runtime) checkCall(c *abi.Call) error {
	switch {
	case c.TxID == "":
		return fmt.Errorf("%w: no transaction ID", ErrBadCall)
	case c.Function == "":
		return fmt.Errorf("%w: no function", ErrBadCall)
	case c.Timestamp.IsZero():
		return fmt.Errorf("%w: no timestamp", ErrBadCall)
	case !utf8.ValidString(c.Namespace):
		return fmt.Errorf("%w: namespace is not valid UTF-8", ErrBadCall)
	}
	n := len(c.Function)
	for _, a := range c.Args {
		n += len(a)
	}
	if n > r.opts.MaxArgBytes {
		return fmt.Errorf("%w: %d bytes of function name and args, limit %d", ErrArgsTooLarge, n, r.opts.MaxArgBytes)
	}
	return nil
}

// classifyExit names the failure of a guest call that returned an error
// (other than a timeout or cancellation) from its output; a refused memory
// growth (instance.growRefused) overrides it.
func classifyExit(err error, e *env) error {
	out := e.out.String()
	if strings.Contains(out, "out of memory") || strings.Contains(err.Error(), "out of memory") && !strings.Contains(err.Error(), "out of bounds") {
		return ErrMemoryLimit
	}
	var exit *sys.ExitError
	switch {
	case errors.As(err, &exit):
		return ErrContractExit
	case strings.HasPrefix(out, "panic: ") || strings.Contains(out, "\npanic: ") || strings.Contains(out, "fatal error: "):
		// The Go runtime prints the panic, then aborts with a trap.
		return ErrPanic
	}
	return ErrTrap
}
