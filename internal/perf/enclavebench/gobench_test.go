package enclavebench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
	"github.com/folio-ledger/folio/internal/enclave/seal"
	"github.com/folio-ledger/folio/internal/enclave/vm"
)

// The Go benchmarks `make bench` runs. The full comparison (1M works,
// transfers committed through the ledger, three configurations in one
// invocation) is `folio bench enclave`; these measure its parts on a
// smaller ledger, so that `make bench` stays short.

const benchWorks = 100_000

// newBenchLedger is a Pebble ledger of benchWorks works for the
// sub-benchmarks of b (b.TempDir lives until b's sub-benchmarks are done).
func newBenchLedger(b *testing.B) Store {
	s, err := OpenLedger(filepath.Join(b.TempDir(), "ledger"), nil)
	if err == nil {
		err = s.Load(benchWorks, 20_000, workKey, workRecord)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func startEnclave(b *testing.B, st Store, internal, external int64) enclave.Enclave {
	o := childOptions(b)
	o.State = st
	o.InternalCacheBytes, o.ExternalCacheBytes = internal, external
	mod, err := enclavetest.Provision(&o, b.TempDir(), Namespace, copyrightWasm(b))
	if err != nil {
		b.Fatal(err)
	}
	e, err := enclave.New(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	if err := e.Install(context.Background(), mod); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkEcallRoundTrip: one empty ecall to the enclave process and
// back.
func BenchmarkEcallRoundTrip(b *testing.B) {
	e := startEnclave(b, memStore{enclavetest.NewVersionedState()}, -1, -1)
	if _, err := enclave.RoundTrip(context.Background(), e, 100); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if _, err := enclave.RoundTrip(context.Background(), e, b.N); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWasmCall: one copyright get in the VM, no boundary.
func BenchmarkWasmCall(b *testing.B) {
	call, done, err := wasmCaller(context.Background(), copyrightWasm(b), vm.Options{CacheDir: childOptions(b).VM.CacheDir})
	if err != nil {
		b.Fatal(err)
	}
	defer done()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSimulateGet: copyright gets with Zipf-distributed IDs through
// a real enclave process and ledger, per cache configuration. Each
// configuration's enclave is started once, and its caches filled first
// (not measured): every work is read once, which the 256 MiB tiers hold
// (benchWorks records take about 55 MiB), so the measured gets see the
// tiers' steady state — a Zipf warm-up as long as the benchmark would
// leave most of the tail cold. Then b.N gets warm up, and b.N are
// measured.
func BenchmarkSimulateGet(b *testing.B) {
	st := newBenchLedger(b)
	for _, cfg := range []struct {
		name               string
		internal, external int64
	}{{"none", -1, -1}, {"external", -1, 256 << 20}, {"tiered", 256 << 20, 256 << 20}} {
		e := startEnclave(b, st, cfg.internal, cfg.external)
		get := func(id string, i int) error {
			res, err := e.Simulate(context.Background(), "1", abi.Call{TxID: fmt.Sprintf("b%d", i), Namespace: Namespace,
				Timestamp: benchTime, Function: "get", Args: [][]byte{fmt.Appendf(nil, `{"id":%q}`, id)}, ReadOnly: true,
				Creator: abi.Identity{MSPID: "Org1MSP", Org: "Org1", Name: "reader", Role: "client"}})
			if err == nil && res.Response.Status != 200 {
				err = fmt.Errorf("status %d %s", res.Response.Status, res.Response.Message)
			}
			if err != nil {
				return fmt.Errorf("get %s: %w", id, err)
			}
			return nil
		}
		if cfg.name != "none" {
			var wg sync.WaitGroup
			const clients = 4
			errs := make([]error, clients)
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := c; i < benchWorks && errs[c] == nil; i += clients {
						errs[c] = get(workID(i), i)
					}
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(cfg.name, func(b *testing.B) {
			z := newZipf(rand.New(rand.NewPCG(1, 2)), benchWorks, 0.99)
			gets := func(n int) {
				for i := 0; i < n; i++ {
					if err := get(workID(scramble(z.next(), benchWorks)), i); err != nil {
						b.Fatal(err)
					}
				}
			}
			gets(b.N) // warm-up
			before := e.Stats()
			b.ResetTimer()
			gets(b.N)
			b.StopTimer()
			reportBoundary(b, before, e.Stats())
		})
		// 64 concurrent callers: simulate ecalls share crossings (batches).
		b.Run(cfg.name+"/clients=64", func(b *testing.B) {
			var seed atomic.Uint64
			var failed atomic.Pointer[error]
			run := func() {
				b.RunParallel(func(pb *testing.PB) {
					z := newZipf(rand.New(rand.NewPCG(seed.Add(1), 2)), benchWorks, 0.99)
					for i := 0; pb.Next(); i++ {
						if err := get(workID(scramble(z.next(), benchWorks)), i); err != nil {
							failed.CompareAndSwap(nil, &err)
							return
						}
					}
				})
				if err := failed.Load(); err != nil {
					b.Fatal(*err)
				}
			}
			b.SetParallelism(64 / runtime.GOMAXPROCS(0))
			run() // warm-up
			before := e.Stats()
			b.ResetTimer()
			run()
			b.StopTimer()
			reportBoundary(b, before, e.Stats())
			b.ReportMetric(float64(b.N)/float64(max(1, e.Stats().Ecalls-before.Ecalls)), "calls/ecall")
		})
	}
}

// reportBoundary reports the boundary's figures per call between two
// snapshots.
func reportBoundary(b *testing.B, before, after enclave.Stats) {
	n := float64(b.N)
	b.ReportMetric(float64(after.Crossings-before.Crossings)/n, "crossings/op")
	b.ReportMetric(float64(after.Ocalls-before.Ocalls)/n, "ocalls/op")
	b.ReportMetric(float64(after.BytesSealed-before.BytesSealed)/n, "sealedB/op")
	in := enclave.TierStats{Hits: after.Internal.Hits - before.Internal.Hits, Misses: after.Internal.Misses - before.Internal.Misses}
	ex := enclave.TierStats{Hits: after.External.Hits - before.External.Hits, Misses: after.External.Misses - before.External.Misses}
	b.ReportMetric(in.HitRate(), "hit-internal")
	b.ReportMetric(ex.HitRate(), "hit-external")
}

// BenchmarkStateGet: one point read of a work from the Pebble ledger
// through a pinned state reader, as the host answers a state ocall
// (Zipf-distributed IDs, no boundary).
func BenchmarkStateGet(b *testing.B) {
	st := newBenchLedger(b)
	r, err := st.NewStateReader()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	z := newZipf(rand.New(rand.NewPCG(1, 2)), benchWorks, 0.99)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, v, err := r.Get(Namespace, workKey(scramble(z.next(), benchWorks))); err != nil || v == nil {
			b.Fatalf("get: %v %v", v, err)
		}
	}
}

// BenchmarkSealOpen: sealing one work record for the external cache and
// opening it again (AES-256-GCM, AAD binding namespace, key and version),
// what an external-cache fill and hit cost the enclave.
func BenchmarkSealOpen(b *testing.B) {
	root, err := seal.NewRoot()
	if err != nil {
		b.Fatal(err)
	}
	x, err := seal.NewExternal(root)
	if err != nil {
		b.Fatal(err)
	}
	key, rec := workKey(1), workRecord(1)
	b.SetBytes(int64(len(rec)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		blob, err := x.Seal(Namespace, key, seal.Entry{Value: rec, Version: abi.KeyVersion{Block: 7, Tx: 1}, ValidFrom: 8})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := x.Open(Namespace, key, blob); err != nil {
			b.Fatal(err)
		}
	}
}
