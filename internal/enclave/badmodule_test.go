package enclave_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
	"github.com/folio-ledger/folio/internal/enclave/vm"
)

// Hand-assembled modules (just enough of the binary format).
func wasmSection(id byte, content []byte) []byte {
	return append([]byte{id, byte(len(content))}, content...) // contents < 128 bytes
}

func wasmName(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func wasmConcat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

var wasmHeader = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

// noExports: a memory and one function, nothing exported.
var noExports = wasmConcat(wasmHeader,
	wasmSection(1, []byte{1, 0x60, 0, 0}), // type () -> ()
	wasmSection(3, []byte{1, 0}),          // one function of type 0
	wasmSection(5, []byte{1, 0, 1}),       // memory min 1
	wasmSection(10, []byte{1, 2, 0, 0x0b}))

// unknownImport is a complete reactor (memory, _initialize,
// folio_abi_version, folio_invoke) that also imports
// folio.launch_missiles.
var unknownImport = wasmConcat(wasmHeader,
	wasmSection(1, []byte{2, 0x60, 0, 0, 0x60, 0, 1, 0x7f}), // () -> (), () -> (i32)
	wasmSection(2, wasmConcat([]byte{1}, wasmName("folio"), wasmName("launch_missiles"), []byte{0x00, 0})),
	wasmSection(3, []byte{3, 0, 1, 1}),
	wasmSection(5, []byte{1, 0, 1}),
	wasmSection(7, wasmConcat([]byte{4},
		wasmName("memory"), []byte{0x02, 0},
		wasmName("_initialize"), []byte{0x00, 1},
		wasmName("folio_abi_version"), []byte{0x00, 2},
		wasmName("folio_invoke"), []byte{0x00, 3})),
	wasmSection(10, []byte{3, 2, 0, 0x0b, 4, 0, 0x41, 1, 0x0b, 4, 0, 0x41, 0, 0x0b}))

// TestBadModulesAndCalls: every misbehaviour of a module or a call comes
// back through the boundary as a clear error that errors.Is recognises,
// and fails only the call at hand.
func TestBadModulesAndCalls(t *testing.T) {
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			st := enclavetest.NewVersionedState()
			e := newEnclave(t, m, enclave.Options{State: st, VM: vm.Options{CallTimeout: 2 * time.Second, MemoryLimitPages: 512}}, nil)
			ctx := context.Background()
			misbehave := vmtest_BuildWasm(t, misbehavePkg)

			for _, c := range []struct {
				name     string
				wasm     []byte
				sentinel error
				fragment string
			}{
				{"not wasm", []byte("definitely not a wasm module"), vm.ErrInvalidModule, "invalid wasm module"},
				{"truncated", misbehave[:len(misbehave)/3], vm.ErrInvalidModule, "invalid wasm module"},
				{"no exports", noExports, vm.ErrMissingExport, `no exported`},
				{"unknown import", unknownImport, vm.ErrUnknownImport, "folio.launch_missiles is not a host function"},
			} {
				err := e.Install(ctx, signed(t, "bad", c.name, c.wasm, false))
				var me *vm.ModuleError
				if !errors.Is(err, c.sentinel) || !errors.As(err, &me) || me.Name != "bad" || !strings.Contains(err.Error(), c.fragment) {
					t.Errorf("install %s: %v (want %v mentioning %q)", c.name, err, c.sentinel, c.fragment)
				}
			}
			if err := e.Install(ctx, signed(t, "mis", "1", misbehave, false)); err != nil {
				t.Fatal(err)
			}
			ok := func() {
				t.Helper()
				res, err := e.Simulate(ctx, "1", withNS("mis", call("echo", "hi")))
				if err != nil || res.Response.Status != 200 || string(res.Response.Payload) != "hi" {
					t.Fatalf("a good call after a bad one: %v", err)
				}
			}
			ok()
			for _, c := range []struct {
				fn       string
				args     []string
				sentinel error
			}{
				{"loop", nil, vm.ErrTimeout},
				{"alloc", nil, vm.ErrMemoryLimit},
				{"gopanic", nil, vm.ErrPanic},
				{"exit", nil, vm.ErrContractExit},
				{"badptr", nil, vm.ErrABIViolation},
				{"echo", []string{strings.Repeat("x", vm.DefaultMaxArgBytes+1)}, vm.ErrArgsTooLarge},
			} {
				_, err := e.Simulate(ctx, "1", withNS("mis", call(c.fn, c.args...)))
				var ce *vm.CallError
				if !errors.Is(err, c.sentinel) || !errors.As(err, &ce) || ce.Function != c.fn {
					t.Errorf("%s: %v, want a *vm.CallError wrapping %v", c.fn, err, c.sentinel)
					continue
				}
				if c.fn == "gopanic" && !strings.Contains(ce.Output, "boom in a goroutine") {
					t.Errorf("gopanic output %q", ce.Output)
				}
				ok()
			}
			// A panic in a handler is a 500 response, not an error.
			res, err := e.Simulate(ctx, "1", withNS("mis", call("panic")))
			if err != nil || res.Response.Status != 500 {
				t.Fatalf("panic: %v %v", res, err)
			}
			if _, err := e.Simulate(ctx, "2", withNS("mis", call("echo"))); !errors.Is(err, enclave.ErrNotInstalled) {
				t.Fatalf("unknown version: %v", err)
			}
			if _, err := e.Simulate(ctx, "1", withNS("mis", abi.Call{Function: "echo"})); !errors.Is(err, vm.ErrBadCall) {
				t.Fatalf("call without a tx: %v", err)
			}
			if s := e.Stats(); s.Restarts != 0 {
				t.Fatalf("bad calls restarted the enclave: %+v", s)
			}
			// Installing the same version with other bytes is refused.
			if err := e.Install(ctx, signed(t, "mis", "1", vmtest_BuildWasm(t, kvPkg), false)); !errors.Is(err, enclave.ErrInstalled) {
				t.Fatalf("reinstall with other bytes: %v", err)
			}
		})
	}
}
