package vm_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
)

const copyrightPkg = "github.com/folio-ledger/folio/contracts/copyright/cmd/copyright"

const benchHash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// copyrightHarness loads the copyright contract and commits one work, W1.
func copyrightHarness(b *testing.B, opts vm.Options) *vmtest.Harness {
	h := vmtest.NewHarness(b, "copyright", vmtest.BuildWasm(b, copyrightPkg), opts)
	res, _, err := h.Submit(call("register", `{"id":"W1","title":"Bench","author":"Ada","content_hash":"`+benchHash+`"}`))
	if err != nil || res.Response.Status != 200 {
		b.Fatalf("register: %v %v", res, err)
	}
	return h
}

// BenchmarkWasmCall is one copyright `get` through a pooled instance
// against an in-memory State: the cost of one contract call.
func BenchmarkWasmCall(b *testing.B) {
	h := copyrightHarness(b, vm.Options{})
	c := call("get", `{"id":"W1"}`)
	c.ReadOnly = true
	b.ReportAllocs()
	for b.Loop() {
		res, err := h.Invoke(c)
		if err != nil || res.Response.Status != 200 {
			b.Fatal(err)
		}
	}
}

// BenchmarkWasmCallParallel is BenchmarkWasmCall from GOMAXPROCS
// goroutines sharing one Module (one pooled instance each).
func BenchmarkWasmCallParallel(b *testing.B) {
	h := copyrightHarness(b, vm.Options{})
	c := call("get", `{"id":"W1"}`)
	c.ReadOnly = true
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, err := h.Invoke(c); err != nil || res.Response.Status != 200 {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkWasmRegister is one copyright `register` (read, 3 writes, one
// event) through a pooled instance; nothing is committed.
func BenchmarkWasmRegister(b *testing.B) {
	h := copyrightHarness(b, vm.Options{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		c := call("register", fmt.Sprintf(`{"id":"B%d","title":"Bench","author":"Ada","content_hash":"%s"}`, i, benchHash))
		c.TxID = fmt.Sprintf("tx-%d", i)
		res, err := h.Invoke(c)
		if err != nil || res.Response.Status != 200 {
			b.Fatal(err, res.Response)
		}
	}
}

// BenchmarkWasmEcho is the smallest call (no state access): the fixed
// cost of crossing into the guest and back.
func BenchmarkWasmEcho(b *testing.B) {
	h := vmtest.NewHarness(b, "misbehave", vmtest.BuildWasm(b, testdataPkg+"misbehave"), vm.Options{})
	c := call("echo", "x")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Invoke(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInstantiate is a call on a fresh instance (pooling disabled):
// instantiating the copyright module and initialising its Go runtime, then
// one `get`.
func BenchmarkInstantiate(b *testing.B) {
	h := copyrightHarness(b, vm.Options{PoolSize: -1})
	c := call("get", `{"id":"W1"}`)
	c.ReadOnly = true
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Invoke(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadCached is Load of the copyright module in a new Runtime
// whose compilation cache already holds it (a node restart): reading the
// compiled code from disk and instantiating the first instance.
func BenchmarkLoadCached(b *testing.B) {
	wasm := vmtest.BuildWasm(b, copyrightPkg)
	ctx := context.Background()
	dir := b.TempDir()
	warm, err := vm.NewRuntime(ctx, vm.Options{CacheDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := warm.Load(ctx, "copyright", "1", wasm); err != nil {
		b.Fatal(err)
	}
	warm.Close(ctx)
	for b.Loop() {
		rt, err := vm.NewRuntime(ctx, vm.Options{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rt.Load(ctx, "copyright", "1", wasm); err != nil {
			b.Fatal(err)
		}
		rt.Close(ctx)
	}
}
