package vm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
)

func newRuntime(t testing.TB, opts vm.Options) *vm.Runtime {
	t.Helper()
	if opts.CacheDir == "" {
		opts.CacheDir = vmtest.CacheDir(t)
	}
	rt, err := vm.NewRuntime(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

func TestLoadRejects(t *testing.T) {
	loop := cat([]byte{opLoop, blockEmpty, opBr, 0x00, opEnd})
	initLoops := reactor(abi.Version, i32const(0))
	initLoops.funcs[0].body = loop
	noMemory := reactor(abi.Version, i32const(0))
	noMemory.noMemory = true
	voidInvoke := reactor(abi.Version, nil)
	voidInvoke.funcs[2].typ = sigVoid
	bigMemory := reactor(abi.Version, i32const(0))
	bigMemory.memMin = 2000
	noExports := wasmModule{memMin: 1, funcs: []wasmFunc{{typ: sigVoid}}}
	misbehave := vmtest.BuildWasm(t, testdataPkg+"misbehave")

	cases := []struct {
		name     string
		wasm     []byte
		sentinel error
		fragment string
	}{
		{"empty", nil, vm.ErrInvalidModule, "invalid wasm module"},
		{"not wasm", []byte("definitely not a wasm module"), vm.ErrInvalidModule, "bad magic"},
		{"truncated", misbehave[:len(misbehave)/2], vm.ErrInvalidModule, "invalid wasm module"},
		{"no exports", noExports.assemble(), vm.ErrMissingExport, `no exported function "_initialize"`},
		{"no memory", noMemory.assemble(), vm.ErrMissingExport, `no exported memory "memory"`},
		{"mistyped invoke", voidInvoke.assemble(), vm.ErrMissingExport, `export "folio_invoke" has type () -> (), want () -> (i32)`},
		{"unknown host function", reactor(abi.Version, i32const(0), wasmImport{"folio", "launch_missiles", sigVoid}).assemble(),
			vm.ErrUnknownImport, "function folio.launch_missiles is not a host function of ABI version"},
		{"unknown module", reactor(abi.Version, i32const(0), wasmImport{"env", "abort", sigVoid}).assemble(),
			vm.ErrUnknownImport, `function env.abort (only "folio" and "wasi_snapshot_preview1" are provided)`},
		{"mistyped host function", reactor(abi.Version, i32const(0), wasmImport{"folio", "state_get", sigVoid}).assemble(),
			vm.ErrUnknownImport, "folio.state_get imported as () -> (), the host provides (i32, i32, i32, i32) -> (i32)"},
		{"mistyped wasi function", reactor(abi.Version, i32const(0), wasmImport{"wasi_snapshot_preview1", "fd_write", sigVoid}).assemble(),
			vm.ErrUnknownImport, "wasi_snapshot_preview1.fd_write imported as () -> ()"},
		{"unknown wasi function", reactor(abi.Version, i32const(0), wasmImport{"wasi_snapshot_preview1", "launch", sigVoid}).assemble(),
			vm.ErrUnknownImport, "wasi_snapshot_preview1.launch is not provided"},
		{"abi version", reactor(99, i32const(0)).assemble(), vm.ErrABIVersion, "module speaks ABI version 99, this host speaks versions 1 to 3"},
		{"abi version 0", reactor(0, i32const(0)).assemble(), vm.ErrABIVersion, "module speaks ABI version 0"},
		{"memory over limit", bigMemory.assemble(), vm.ErrInvalidModule, "2000"},
		{"init loops", initLoops.assemble(), vm.ErrTimeout, "initialisation ran longer than"},
		{"init panics", vmtest.BuildWasm(t, testdataPkg+"initpanic"), vm.ErrInvalidModule, "initpanic: refusing to start"},
	}
	rt := newRuntime(t, vm.Options{CallTimeout: 500 * time.Millisecond})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := rt.Load(context.Background(), "bad", "1", c.wasm)
			if err == nil {
				m.Close(context.Background())
				t.Fatal("loaded")
			}
			var me *vm.ModuleError
			if !errors.As(err, &me) || me.Name != "bad" || me.Version != "1" {
				t.Fatalf("error %v is not a *ModuleError of bad 1", err)
			}
			if !errors.Is(err, c.sentinel) {
				t.Errorf("error %v does not wrap %v", err, c.sentinel)
			}
			if !strings.Contains(err.Error(), c.fragment) {
				t.Errorf("error %q does not mention %q", err, c.fragment)
			}
		})
	}
	if _, err := rt.Load(context.Background(), "", "1", misbehave); !errors.Is(err, vm.ErrInvalidModule) {
		t.Errorf("load without a name: %v", err)
	}
	// The runtime still works after all that.
	if _, err := rt.Load(context.Background(), "good", "1", misbehave); err != nil {
		t.Fatal(err)
	}
}

func TestHandMadeModules(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, vm.Options{CallTimeout: 300 * time.Millisecond})
	cases := []struct {
		name     string
		mod      wasmModule
		sentinel error // nil: the call succeeds with a 200
		fragment string
	}{
		{"responds", reactor(abi.Version, respond(0, abi.InvokeOK), responseSetImport), nil, ""},
		{"unknown return code", reactor(abi.Version, respond(0, 7), responseSetImport), vm.ErrABIViolation, "returned unknown code 7"},
		{"no response", reactor(abi.Version, i32const(0)), vm.ErrABIViolation, "without setting a response"},
		{"unreachable", reactor(abi.Version, []byte{opUnreachable}), vm.ErrTrap, "unreachable"},
		{"loops", reactor(abi.Version, cat([]byte{opLoop, blockEmpty, opBr, 0x00, opEnd}, i32const(0))), vm.ErrTimeout, "timed out after 300ms"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := rt.Load(ctx, c.name, "1", c.mod.assemble())
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(ctx)
			res, err := rt.Invoke(ctx, m, call("f"), vmtest.NewMemState())
			if c.sentinel == nil {
				if err != nil || res.Response.Status != 200 {
					t.Fatalf("res %v err %v", res, err)
				}
				return
			}
			if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.fragment) {
				t.Fatalf("error %v, want %v mentioning %q", err, c.sentinel, c.fragment)
			}
		})
	}
}

func call(fn string, args ...string) abi.Call {
	c := abi.Call{
		TxID:      "tx-" + fn,
		Timestamp: time.Date(2025, 6, 1, 10, 0, 0, 123456789, time.UTC),
		ChannelID: "ch1",
		Function:  fn,
		Creator:   abi.Identity{MSPID: "Org1MSP", Org: "Org1", Name: "alice", Role: "client", CertPEM: []byte("PEM")},
	}
	for _, a := range args {
		c.Args = append(c.Args, []byte(a))
	}
	return c
}

func TestCompileOnce(t *testing.T) {
	ctx := context.Background()
	wasm := vmtest.BuildWasm(t, testdataPkg+"misbehave")
	rt := newRuntime(t, vm.Options{})
	m1, err := rt.Load(ctx, "a", "1", wasm)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := rt.Load(ctx, "a", "2", wasm)
	if err != nil {
		t.Fatal(err)
	}
	if s := rt.Stats(); s.Compiles != 1 || s.CompileHits != 1 {
		t.Fatalf("stats %+v, want one compile and one hit", s)
	}
	if m1.SHA256() != m2.SHA256() || len(m1.SHA256()) != 64 || m2.Version() != "2" || m1.Name() != "a" {
		t.Fatalf("module identity: %s %s %s", m1.SHA256(), m2.Version(), m1.Name())
	}
	// Closing one Module keeps the shared code for the other.
	m1.Close(ctx)
	if _, err := rt.Invoke(ctx, m1, call("echo"), vmtest.NewMemState()); !errors.Is(err, vm.ErrClosed) {
		t.Fatalf("invoke on a closed module: %v", err)
	}
	if res, err := rt.Invoke(ctx, m2, call("echo", "x"), vmtest.NewMemState()); err != nil || string(res.Response.Payload) != "x" {
		t.Fatalf("invoke after closing the sibling: %v %v", res, err)
	}
	m2.Close(ctx)
	// A new Load after both closed compiles again (a hit in the disk cache).
	m3, err := rt.Load(ctx, "a", "3", wasm)
	if err != nil {
		t.Fatal(err)
	}
	m3.Close(ctx)
	if s := rt.Stats(); s.Compiles != 2 {
		t.Fatalf("stats %+v, want a second compile", s)
	}
	rt.Close(ctx)
	if _, err := rt.Load(ctx, "a", "4", wasm); !errors.Is(err, vm.ErrClosed) {
		t.Fatalf("load on a closed runtime: %v", err)
	}
}

func TestOptions(t *testing.T) {
	o := (&vm.Options{}).EnsureDefaults()
	if o.MemoryLimitPages != 1024 || o.CallTimeout != 5*time.Second || o.MaxArgBytes != 1<<20 || o.MaxValueBytes != 4<<20 || o.PoolSize != 4 || o.Logger == nil {
		t.Fatalf("defaults %+v", o)
	}
	for _, bad := range []vm.Options{{MemoryLimitPages: 70000}, {CallTimeout: -1}, {MaxArgBytes: -1}, {MaxValueBytes: 2 << 30}} {
		if _, err := vm.NewRuntime(context.Background(), bad); err == nil {
			t.Errorf("options %+v accepted", bad)
		}
	}
}
