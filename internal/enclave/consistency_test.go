package enclave_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
	"github.com/folio-ledger/folio/internal/perf/enclavebench"
)

// TestTierConsistency runs reads concurrently with commits and checks
// every read against the ledger (the VersionedState): all reads of one
// Simulate must be the committed values of one height H, with H at least
// the height of the last Commit that returned before the Simulate started
// (lo) and at most the state's height when it returned (hi). Small caches
// keep entries moving between tiers. Run with -race.
func TestTierConsistency(t *testing.T) {
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) { testTierConsistency(t, m, false) })
	}
	// The same against the real ledger (Pebble): the enclave reads the
	// ledger; the VersionedState, fed the same blocks, is the reference.
	t.Run("process-ledger", func(t *testing.T) { testTierConsistency(t, process, true) })
}

// mirror commits every block to the reference state and, if set, to a
// real ledger whose readers the enclave uses.
type mirror struct {
	ref    *enclavetest.VersionedState
	ledger enclavebench.Store
}

func (m *mirror) source() enclave.StateSource {
	if m.ledger != nil {
		return m.ledger
	}
	return m.ref
}

func (m *mirror) commit(t testing.TB, ws []enclave.Write) uint64 {
	b := m.ref.Commit(ws)
	if m.ledger != nil {
		var txs [][]enclave.Write
		var ids []string
		for _, w := range ws { // writes come grouped by increasing Tx
			for uint64(len(txs)) <= w.Tx {
				txs = append(txs, nil)
				ids = append(ids, fmt.Sprintf("tx-%d-%d", b, len(ids)))
			}
			txs[w.Tx] = append(txs[w.Tx], w)
		}
		lb, err := m.ledger.CommitBlock(ids, txs)
		if err != nil {
			t.Error(err)
		} else if lb != b {
			t.Errorf("ledger block %d, reference block %d", lb, b)
		}
	}
	return b
}

func testTierConsistency(t *testing.T, m mode, useLedger bool) {
	const (
		ns      = "kv"
		nkeys   = 120
		blocks  = 120
		readers = 4
		perRead = 4
	)
	blocksN := blocks
	if testing.Short() {
		blocksN = 30
	}
	key := func(i int) string { return fmt.Sprintf("k%03d", i) }
	st := enclavetest.NewVersionedState()
	mr := &mirror{ref: st}
	if useLedger {
		l, err := enclavebench.OpenLedger(filepath.Join(t.TempDir(), "ledger"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		mr.ledger = l
	}
	var seed []enclave.Write
	for i := 0; i < nkeys; i += 2 {
		seed = append(seed, put(ns, key(i), "seed-"+key(i), 0))
	}
	mr.commit(t, seed)
	e := newEnclave(t, m, enclave.Options{State: mr.source(), InternalCacheBytes: 40 * 256, ExternalCacheBytes: 60 * 256}, nil)
	install(t, e, ns, kvPkg, false)

	var committed atomic.Uint64 // height after the last Commit that returned
	committed.Store(st.Height())
	var reads atomic.Int64
	done := make(chan struct{})
	errc := make(chan error, readers+1)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the committer
		defer wg.Done()
		defer close(done)
		r := rand.New(rand.NewPCG(1, uint64(len(m))))
		for b := 0; b < blocksN; b++ {
			var ws []enclave.Write
			for tx := 0; tx < 1+r.IntN(3); tx++ {
				for n := 0; n < 1+r.IntN(4); n++ {
					k := key(hot(r, nkeys))
					if r.IntN(5) == 0 {
						ws = append(ws, enclave.Write{Namespace: ns, Key: k, Delete: true, Tx: uint64(tx)})
					} else {
						ws = append(ws, put(ns, k, fmt.Sprintf("v%d.%d.%d", st.Height(), tx, n), uint64(tx)))
					}
				}
			}
			h := mr.commit(t, ws)
			if err := e.Commit(context.Background(), h, ws); err != nil {
				errc <- fmt.Errorf("commit %d: %w", h, err)
				return
			}
			committed.Store(h + 1)
			// Let some reads happen at this height.
			target := reads.Load() + readers
			for reads.Load() < target {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 99))
			for {
				select {
				case <-done:
					return
				default:
				}
				var ks []string
				for j := 0; j < perRead; j++ {
					ks = append(ks, key(hot(r, nkeys)))
				}
				lo := committed.Load()
				res, err := e.Simulate(context.Background(), "1", withNS(ns, call("get", ks...)))
				hi := st.Height()
				reads.Add(1)
				if err != nil {
					errc <- err
					return
				}
				if err := checkReads(st, ns, res.Response.Payload, lo, hi); err != nil {
					errc <- fmt.Errorf("reader %d: %w", i, err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	s := e.Stats()
	t.Logf("%d reads; internal %+v; external %+v; state reads %d; stale %d", reads.Load(), s.Internal, s.External, s.StateReads, s.StaleRejected)
	if s.Internal.Hits == 0 || s.External.Hits == 0 || s.StateReads == 0 {
		t.Errorf("a tier was never used: %+v", s)
	}
	if s.TamperDetected != 0 || s.RollbacksDetected != 0 {
		t.Errorf("false alarms: %+v", s)
	}
}

// hot draws a key index, skewed toward low indexes.
func hot(r *rand.Rand, n int) int {
	if r.IntN(3) > 0 {
		return r.IntN(n / 8)
	}
	return r.IntN(n)
}

// checkReads checks that the reads of one call are the state at one
// height in [lo, hi].
func checkReads(st *enclavetest.VersionedState, ns string, payload []byte, lo, hi uint64) error {
	var rs []read
	if err := jsonUnmarshal(payload, &rs); err != nil {
		return err
	}
	var why string
	for h := lo; h <= hi; h++ {
		ok := true
		for _, r := range rs {
			v, ver := st.ValueAt(ns, r.Key, h)
			switch {
			case ver == nil && r.Found, ver != nil && !r.Found:
				ok = false
			case ver != nil && (!bytes.Equal(v, []byte(r.Value)) || ver.BlockNum != r.Block || ver.TxNum != r.Tx):
				ok = false
			}
			if !ok {
				why = fmt.Sprintf("at height %d, %s = %q@%s but the call read %+v", h, r.Key, v, versionOf(ver), r)
				break
			}
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("reads %+v are the state of no height in [%d, %d] (last mismatch: %s)", rs, lo, hi, why)
}
