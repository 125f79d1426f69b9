package vm

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/folio-ledger/folio/contract/abi"
)

// Module is a loaded contract version: its compiled code and a pool of
// idle instances. Safe for concurrent use; each call takes an instance of
// its own. Close it when the version is uninstalled.
type Module struct {
	rt            *Runtime
	name, version string
	hash          [32]byte
	entry         *compiledEntry
	// slots bounds the calls running at once to PoolSize, so that every
	// call after the first few reuses a pooled instance: a fresh Go
	// instance costs milliseconds of runtime initialisation and tens of
	// MiB, far more than waiting for a running call (microseconds) on a
	// machine with few cores. Nil when pooling is off.
	slots chan struct{}

	mu struct {
		sync.Mutex
		closed bool
		// idle instances ready for a call, at most PoolSize. Guarded by mu;
		// an instance is either in idle or owned by exactly one call.
		idle []*instance
	}
}

// Name is the contract name the module was loaded under.
func (m *Module) Name() string { return m.name }

// Version is the contract version the module was loaded under.
func (m *Module) Version() string { return m.version }

// SHA256 is the lowercase hex SHA-256 of the module's bytes.
func (m *Module) SHA256() string { return hex.EncodeToString(m.hash[:]) }

// Close discards the idle instances and releases the compiled code once no
// other Module uses it. Calls in flight finish; later calls fail with
// ErrClosed.
func (m *Module) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.closed = true
	idle := m.mu.idle
	m.mu.idle = nil
	m.mu.Unlock()
	for _, inst := range idle {
		inst.close(ctx)
	}
	m.release(ctx)
	return nil
}

func (m *Module) release(ctx context.Context) { m.rt.unref(ctx, m.hash, m.entry) }

// enter waits for a call slot, or ctx.
func (m *Module) enter(ctx context.Context) error {
	if m.slots == nil {
		return nil
	}
	select {
	case m.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for a free instance of %s version %s: %w", m.name, m.version, context.Cause(ctx))
	}
}

// leave frees the slot taken by enter.
func (m *Module) leave() {
	if m.slots != nil {
		<-m.slots
	}
}

// get takes an idle instance or makes a new one; pooled reports which.
func (m *Module) get(ctx context.Context) (inst *instance, pooled bool, err error) {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil, false, ErrClosed
	}
	if n := len(m.mu.idle); n > 0 {
		inst = m.mu.idle[n-1]
		m.mu.idle = m.mu.idle[:n-1]
		m.mu.Unlock()
		return inst, true, nil
	}
	m.mu.Unlock()
	inst, err = m.instantiate(ctx)
	return inst, false, err
}

// put returns a healthy instance to the pool, or closes it if the pool is
// full or the module closed.
func (m *Module) put(ctx context.Context, inst *instance) {
	m.mu.Lock()
	if !m.mu.closed && len(m.mu.idle) < m.rt.opts.PoolSize {
		m.mu.idle = append(m.mu.idle, inst)
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	inst.close(ctx)
}

// instance is one instantiated module with its deterministic environment.
// It is owned by one call at a time.
type instance struct {
	mod       api.Module
	invoke    api.Function
	abiVer    api.Function
	initFn    api.Function
	interrupt api.MutableGlobal
	budget    api.MutableGlobal
	oom       api.Global
	env       *env
}

// growRefused reports whether the guest's memory.grow was refused (the
// memory limit), as recorded by the instrumentation.
func (i *instance) growRefused() bool { return i.oom != nil && i.oom.Get() != 0 }

// errInitTimeout and errCallTimeout are the interrupt causes of a deadline.
var (
	errInitTimeout = errors.New("initialisation timed out")
	errCallTimeout = errors.New("call timed out")
)

// instantiate creates an instance and runs the module's initialisation,
// bounded by CallTimeout, in an environment with no filesystem, no
// arguments, no environment variables, a clock fixed at the Unix epoch and
// randomness from a fixed seed: every fresh instance starts identical.
func (m *Module) instantiate(ctx context.Context) (*instance, error) {
	e := newEnv()
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // _initialize runs below, interruptible
		WithWalltime(e.walltime, 1).
		WithNanotime(e.nanotime, 1).
		WithNanosleep(e.nanosleep).
		WithOsyield(func() {}).
		WithRandSource(&e.rand).
		WithStdout(&e.out).
		WithStderr(&e.out)
	m.rt.stats.instantiations.Add(1)
	mod, err := m.rt.wz.InstantiateModule(ctx, m.entry.cm, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: instantiate: %v", ErrTrap, err)
	}
	interrupt, _ := mod.ExportedGlobal(interruptExport).(api.MutableGlobal)
	budget, _ := mod.ExportedGlobal(budgetExport).(api.MutableGlobal)
	oom := mod.ExportedGlobal(oomExport)
	if interrupt == nil || budget == nil || oom == nil {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("%w: instrumented module lacks its interrupt globals", ErrABIViolation)
	}
	inst := &instance{
		mod:       mod,
		invoke:    mod.ExportedFunction(abi.ExportInvoke),
		abiVer:    mod.ExportedFunction(abi.ExportABIVersion),
		initFn:    mod.ExportedFunction(abi.ExportInitialize),
		interrupt: interrupt,
		budget:    budget,
		oom:       oom,
		env:       e,
	}
	_, stopped, err := inst.call(ctx, inst.initFn, m.rt.opts.CallTimeout, errInitTimeout)
	if err != nil || stopped != nil {
		refused := inst.growRefused()
		inst.close(ctx)
		switch {
		case stopped == errInitTimeout:
			return nil, fmt.Errorf("%w: module initialisation ran longer than %v", ErrTimeout, m.rt.opts.CallTimeout)
		case stopped != nil:
			return nil, stopped
		}
		kind := classifyExit(err, e)
		if refused {
			kind = ErrMemoryLimit
		}
		return nil, fmt.Errorf("%w: module initialisation failed: %v%s", kind, err, outputSuffix(e))
	}
	return inst, nil
}

func outputSuffix(e *env) string {
	if s := e.out.String(); s != "" {
		return "\ncontract output:\n" + s
	}
	return ""
}

// call runs fn with a deadline. When timeout passes or ctx is done, the
// instance's interrupt global is raised and its loop budget zeroed, so the
// guest traps at its next loop iteration (see instrument.go). stopped is
// nil if the call was not interrupted, cause if the timeout fired, or
// ctx's error. After a non-nil stopped the instance must be discarded (the
// interrupt stays raised), even if err is nil.
func (i *instance) call(ctx context.Context, fn api.Function, timeout time.Duration, cause error) (res []uint64, stopped, err error) {
	var (
		once sync.Once
		why  error
		done = make(chan struct{})
	)
	raise := func(reason error) func() {
		return func() {
			once.Do(func() {
				why = reason
				i.interrupt.Set(1) // first: the guest checks it when the budget runs out
				i.budget.Set(0)
				close(done)
			})
		}
	}
	timer := time.AfterFunc(timeout, raise(cause))
	stopCtx := context.AfterFunc(ctx, func() { raise(context.Cause(ctx))() })
	if ctx.Err() != nil {
		raise(context.Cause(ctx))()
	}
	res, err = fn.Call(ctx)
	timerStopped := timer.Stop()
	ctxStopped := stopCtx()
	if !timerStopped || !ctxStopped {
		// An interrupt fired or is firing: wait until it has finished
		// writing, so the instance is quiet before anyone closes it.
		<-done
		return res, why, err
	}
	once.Do(func() {}) // no interrupt can fire any more
	return res, nil, err
}

// checkABIVersion asks the instance which ABI it speaks: a version in
// [abi.MinVersion, abi.Version], and at least needs, the version its host
// imports were introduced in (a module that reports version 1 but imports
// a function of version 2 is malformed).
func (i *instance) checkABIVersion(ctx context.Context, timeout time.Duration, needs int32) error {
	res, stopped, err := i.call(ctx, i.abiVer, timeout, errCallTimeout)
	if err != nil || stopped != nil {
		return fmt.Errorf("%w: %s failed: %v", ErrABIVersion, abi.ExportABIVersion, errors.Join(stopped, err))
	}
	v := api.DecodeI32(res[0])
	switch {
	case v < abi.MinVersion || v > abi.Version:
		return fmt.Errorf("%w: module speaks ABI version %d, this host speaks versions %d to %d", ErrABIVersion, v, abi.MinVersion, abi.Version)
	case v < needs:
		return fmt.Errorf("%w: module speaks ABI version %d but imports host functions of version %d", ErrABIVersion, v, needs)
	}
	return nil
}

func (i *instance) close(ctx context.Context) { _ = i.mod.Close(ctx) }
