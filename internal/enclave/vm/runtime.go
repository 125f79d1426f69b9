package vm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/folio-ledger/folio/contract/abi"
)

// Runtime compiles contract modules and runs calls. It is safe for
// concurrent use: any number of goroutines may Load and Invoke at once.
// It starts no goroutines of its own (wazero watches each call's context
// for the duration of the call). Close releases everything.
type Runtime struct {
	opts Options
	wz   wazero.Runtime
	// wasiFuncs are the WASI functions the host provides, by name.
	wasiFuncs map[string]api.FunctionDefinition
	// hostFuncs are the folio host functions, by name.
	hostFuncs map[string]abi.HostFunction

	stats counters

	mu struct {
		sync.Mutex
		closed bool
		// compiled holds each compiled module by the SHA-256 of its bytes,
		// with the number of Modules using it. Guarded by mu.
		compiled map[[32]byte]*compiledEntry
	}
}

type compiledEntry struct {
	cm   wazero.CompiledModule
	refs int
	// needs is the ABI version the module's host imports need (the
	// highest HostFunction.Since among them): its reported version must
	// be at least that.
	needs int32
}

// NewRuntime builds a Runtime: wazero with the compilation cache and the
// memory limit, the WASI module (no filesystem, no
// environment, deterministic clocks and randomness are set per instance)
// and the folio host module.
func NewRuntime(ctx context.Context, opts Options) (*Runtime, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cfg := wazero.NewRuntimeConfig()
	if opts.Interpreter {
		cfg = wazero.NewRuntimeConfigInterpreter()
	}
	cfg = cfg.WithMemoryLimitPages(opts.MemoryLimitPages).
		// Calls are interrupted through an instrumented global instead of
		// wazero's close-on-context-done (see instrument.go).
		WithCloseOnContextDone(false).
		WithCoreFeatures(api.CoreFeaturesV2).
		WithDebugInfoEnabled(false)
	if opts.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("vm: compilation cache in %s: %w", opts.CacheDir, err)
		}
		cfg = cfg.WithCompilationCache(cache)
	}
	r := &Runtime{opts: opts, wz: wazero.NewRuntimeWithConfig(ctx, cfg)}
	r.mu.compiled = map[[32]byte]*compiledEntry{}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.wz); err != nil {
		_ = r.wz.Close(ctx)
		return nil, fmt.Errorf("vm: instantiate WASI: %w", err)
	}
	r.wasiFuncs = r.wz.Module(abi.WASIModule).ExportedFunctionDefinitions()
	if err := r.instantiateHost(ctx); err != nil {
		_ = r.wz.Close(ctx)
		return nil, fmt.Errorf("vm: instantiate host module: %w", err)
	}
	return r, nil
}

// Close closes every Module and instance. Calls in flight fail.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.mu.closed {
		r.mu.Unlock()
		return nil
	}
	r.mu.closed = true
	r.mu.compiled = nil
	r.mu.Unlock()
	return r.wz.Close(ctx)
}

func (r *Runtime) closed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.closed
}

// Load validates, instruments (see instrument.go) and compiles a contract
// module and returns it ready to run. Identical bytes are compiled once per
// Runtime (and once per CacheDir across restarts). It checks the module's exports and ABI
// version and refuses imports the host does not provide; it instantiates
// one instance (running the module's initialisation) and keeps it in the
// pool. Errors are *ModuleError wrapping ErrInvalidModule,
// ErrMissingExport, ErrUnknownImport or ErrABIVersion.
func (r *Runtime) Load(ctx context.Context, name, version string, wasm []byte) (*Module, error) {
	fail := func(err error) (*Module, error) {
		return nil, &ModuleError{Name: name, Version: version, Err: err}
	}
	if name == "" || version == "" {
		return fail(fmt.Errorf("%w: a module needs a name and a version", ErrInvalidModule))
	}
	hash := sha256.Sum256(wasm)
	entry, err := r.compile(ctx, hash, wasm)
	if err != nil {
		return fail(err)
	}
	m := &Module{rt: r, name: name, version: version, hash: hash, entry: entry}
	if r.opts.PoolSize > 0 {
		m.slots = make(chan struct{}, r.opts.PoolSize)
	}
	inst, err := m.instantiate(ctx)
	if err == nil {
		err = inst.checkABIVersion(ctx, r.opts.CallTimeout, entry.needs)
		if err != nil {
			inst.close(ctx)
		}
	}
	if err != nil {
		m.release(ctx)
		return fail(fmt.Errorf("%w: %w", ErrInvalidModule, err))
	}
	m.put(ctx, inst)
	r.opts.Logger.Debug("contract loaded", "contract", name, "version", version, "sha256", hex.EncodeToString(hash[:]))
	return m, nil
}

// compile returns the compiled module of hash, compiling and checking it
// on first use, and takes a reference on it.
func (r *Runtime) compile(ctx context.Context, hash [32]byte, wasm []byte) (*compiledEntry, error) {
	r.mu.Lock()
	if r.mu.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	if e := r.mu.compiled[hash]; e != nil {
		e.refs++
		r.mu.Unlock()
		r.stats.compileHits.Add(1)
		return e, nil
	}
	r.mu.Unlock()

	// Instrument and compile outside the lock: it can take a second.
	instrumented, err := instrument(wasm)
	if err != nil {
		if errors.Is(err, ErrInvalidModule) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	cm, err := r.wz.CompileModule(ctx, instrumented)
	if err != nil {
		if errors.Is(err, ctx.Err()) && ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	needs, err := r.checkModule(cm)
	if err != nil {
		_ = cm.Close(ctx)
		return nil, err
	}
	r.stats.compiles.Add(1)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed {
		_ = cm.Close(ctx)
		return nil, ErrClosed
	}
	if e := r.mu.compiled[hash]; e != nil { // compiled concurrently
		_ = cm.Close(ctx)
		e.refs++
		return e, nil
	}
	e := &compiledEntry{cm: cm, refs: 1, needs: needs}
	r.mu.compiled[hash] = e
	return e, nil
}

// unref drops a reference on a compiled module, closing it at zero.
func (r *Runtime) unref(ctx context.Context, hash [32]byte, e *compiledEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.refs--
	if e.refs > 0 || r.mu.closed {
		return
	}
	if r.mu.compiled[hash] == e {
		delete(r.mu.compiled, hash)
	}
	_ = e.cm.Close(ctx)
}

var (
	i32         = api.ValueTypeI32
	sigNoneI32  = signature{results: []api.ValueType{i32}}
	sigNoneNone = signature{}
)

type signature struct{ params, results []api.ValueType }

func (s signature) matches(d api.FunctionDefinition) bool {
	return equalTypes(s.params, d.ParamTypes()) && equalTypes(s.results, d.ResultTypes())
}

func (s signature) String() string {
	return fmt.Sprintf("%s -> %s", typeList(s.params), typeList(s.results))
}

func equalTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func typeList(ts []api.ValueType) string {
	s := "("
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		s += api.ValueTypeName(t)
	}
	return s + ")"
}

func i32s(n int) []api.ValueType {
	ts := make([]api.ValueType, n)
	for i := range ts {
		ts[i] = i32
	}
	return ts
}

// checkModule checks the exports and imports of a compiled module and
// returns the ABI version its host imports need.
func (r *Runtime) checkModule(cm wazero.CompiledModule) (needs int32, err error) {
	needs = abi.MinVersion
	if _, ok := cm.ExportedMemories()[abi.ExportMemory]; !ok {
		return 0, fmt.Errorf("%w: no exported memory %q (build with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared)", ErrMissingExport, abi.ExportMemory)
	}
	exports := cm.ExportedFunctions()
	for _, want := range []struct {
		name string
		sig  signature
	}{
		{abi.ExportInitialize, sigNoneNone},
		{abi.ExportABIVersion, sigNoneI32},
		{abi.ExportInvoke, sigNoneI32},
	} {
		d, ok := exports[want.name]
		if !ok {
			return 0, fmt.Errorf("%w: no exported function %q (is it a reactor built with -buildmode=c-shared that imports package contract?)", ErrMissingExport, want.name)
		}
		if !want.sig.matches(d) {
			return 0, fmt.Errorf("%w: export %q has type %s, want %s", ErrMissingExport, want.name,
				signature{d.ParamTypes(), d.ResultTypes()}, want.sig)
		}
	}
	if mems := cm.ImportedMemories(); len(mems) > 0 {
		mod, name, _ := mems[0].Import()
		return 0, fmt.Errorf("%w: memory %s.%s (a contract must define its own memory)", ErrUnknownImport, mod, name)
	}
	for _, d := range cm.ImportedFunctions() {
		mod, name, _ := d.Import()
		got := signature{d.ParamTypes(), d.ResultTypes()}
		var want signature
		switch mod {
		case abi.HostModule:
			hf, ok := r.hostFuncs[name]
			if !ok {
				return 0, fmt.Errorf("%w: function %s.%s is not a host function of ABI version %d", ErrUnknownImport, mod, name, abi.Version)
			}
			want = signature{i32s(hf.Params), i32s(hf.Results)}
			needs = max(needs, hf.Since)
		case abi.WASIModule:
			wd, ok := r.wasiFuncs[name]
			if !ok {
				return 0, fmt.Errorf("%w: function %s.%s is not provided", ErrUnknownImport, mod, name)
			}
			want = signature{wd.ParamTypes(), wd.ResultTypes()}
		default:
			return 0, fmt.Errorf("%w: function %s.%s (only %q and %q are provided)", ErrUnknownImport, mod, name, abi.HostModule, abi.WASIModule)
		}
		if !want.matches(d) {
			return 0, fmt.Errorf("%w: function %s.%s imported as %s, the host provides %s", ErrUnknownImport, mod, name, got, want)
		}
	}
	return needs, nil
}

// counters are the Runtime's statistics; see Stats.
type counters struct {
	compiles, compileHits                             atomic.Uint64
	instantiations, poolHits, discards                atomic.Uint64
	calls, callErrors, timeouts, memoryFaults, panics atomic.Uint64
}

// Stats are cumulative counters of a Runtime.
type Stats struct {
	// Compiles counts modules compiled; CompileHits counts Loads that
	// reused a module already compiled in this Runtime.
	Compiles, CompileHits uint64
	// Instantiations counts instances created (each runs the module's
	// initialisation); PoolHits counts calls served by a pooled instance;
	// Discards counts instances thrown away after a failed call.
	Instantiations, PoolHits, Discards uint64
	// Calls counts Invoke calls; CallErrors those that returned an error;
	// Timeouts and MemoryFaults break the errors down; Panics counts
	// contract panics, both those the SDK recovered (a 500 response, not
	// an error) and unrecovered ones (ErrPanic).
	Calls, CallErrors, Timeouts, MemoryFaults, Panics uint64
}

// Stats returns a snapshot of the counters.
func (r *Runtime) Stats() Stats {
	c := &r.stats
	return Stats{
		Compiles: c.compiles.Load(), CompileHits: c.compileHits.Load(),
		Instantiations: c.instantiations.Load(), PoolHits: c.poolHits.Load(), Discards: c.discards.Load(),
		Calls: c.calls.Load(), CallErrors: c.callErrors.Load(), Timeouts: c.timeouts.Load(),
		MemoryFaults: c.memoryFaults.Load(), Panics: c.panics.Load(),
	}
}
