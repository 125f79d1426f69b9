package enclave_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
)

// getValue reads key through the kv contract, for goroutines (no t).
func getValue(e enclave.Enclave, key string) (string, error) {
	res, err := e.Simulate(context.Background(), "1", withNS("kv", call("get", key)))
	if err != nil {
		return "", err
	}
	var rs []read
	if err := json.Unmarshal(res.Response.Payload, &rs); err != nil || len(rs) != 1 || !rs[0].Found {
		return "", fmt.Errorf("get %s: status %d, payload %q, %v", key, res.Response.Status, res.Response.Payload, err)
	}
	return rs[0].Value, nil
}

// TestBatchedCallsShareCrossings: concurrent simulate ecalls cross in
// batches, each gets its own answer, and the counters say how many
// crossings they shared; with EcallBatch 1 every call crosses alone.
func TestBatchedCallsShareCrossings(t *testing.T) {
	for _, batch := range []int{0, 1} { // 0: the default
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			st := enclavetest.NewVersionedState()
			var ws []enclave.Write
			for i := 0; i < 64; i++ {
				ws = append(ws, put("kv", fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i), 0))
			}
			st.Commit(ws)
			reg := prometheus.NewRegistry()
			e := newEnclave(t, process, enclave.Options{State: st, EcallBatch: batch, Registerer: reg}, nil)
			install(t, e, "kv", kvPkg, false)
			before := e.Stats()

			const clients, each = 32, 20
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						k := (c*7 + i*13) % 64
						v, err := getValue(e, fmt.Sprintf("k%02d", k))
						if err == nil && v != fmt.Sprintf("v%d", k) {
							err = fmt.Errorf("k%02d read %q, want v%d", k, v, k)
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			s := e.Stats()
			calls := uint64(clients * each)
			ecalls, batches, batched := s.Ecalls-before.Ecalls, s.Batches-before.Batches, s.BatchedCalls-before.BatchedCalls
			t.Logf("%d calls: %d ecall crossings, %d batches carrying %d calls", calls, ecalls, batches, batched)
			if s.Crossings != s.Ecalls+s.Ocalls {
				t.Fatalf("crossings %d != ecalls %d + ocalls %d", s.Crossings, s.Ecalls, s.Ocalls)
			}
			// `folio peer stats` rebuilds the same figures from the metrics.
			fams, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			for _, f := range fams {
				if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
					t.Fatal(err)
				}
			}
			m, err := enclave.StatsFromMetrics(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if m.Ecalls != s.Ecalls || m.Batches != s.Batches || m.BatchedCalls != s.BatchedCalls {
				t.Fatalf("from metrics: %d ecalls, %d batches, %d batched; stats: %d, %d, %d", m.Ecalls, m.Batches, m.BatchedCalls,
					s.Ecalls, s.Batches, s.BatchedCalls)
			}
			if batch == 1 {
				if batches != 0 || ecalls != calls {
					t.Fatalf("unbatched: %d batches, %d crossings for %d calls", batches, ecalls, calls)
				}
				return
			}
			if batched != calls {
				t.Fatalf("%d calls went in batches, want all %d", batched, calls)
			}
			// 32 callers: batches carry several calls, so the calls cross
			// fewer times than they are.
			if batches >= calls || ecalls >= calls {
				t.Fatalf("%d calls in %d batches, %d crossings: nothing shared", calls, batches, ecalls)
			}
		})
	}
}

// TestStuckCallDoesNotHoldItsBatch: calls stuck in a state read do not
// hold the calls queued behind their batches; these leave and are
// answered while the stuck ones still wait, and the stuck ones are then
// answered in frames of their own.
func TestStuckCallDoesNotHoldItsBatch(t *testing.T) {
	st := enclavetest.NewVersionedState()
	st.Commit([]enclave.Write{put("kv", "a", "1", 0), put("kv", "slow", "2", 0)})
	e := newEnclave(t, process, enclave.Options{State: st, ExternalCacheBytes: -1, InternalCacheBytes: -1}, nil)
	install(t, e, "kv", kvPkg, false)

	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	st.BeforeRead = func(op, ns, key string) error {
		if key == "slow" {
			entered <- struct{}{}
			<-release
		}
		return nil
	}
	stuck := make(chan error, 2)
	for i := 0; i < 2; i++ { // one per batch in flight
		go func() {
			v, err := getValue(e, "slow")
			if err == nil && v != "2" {
				err = fmt.Errorf("slow read %q", v)
			}
			stuck <- err
		}()
		<-entered
	}

	const n = 10
	before := e.Stats()
	done := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			v, err := getValue(e, "a")
			if err == nil && v != "1" {
				err = fmt.Errorf("a read %q", v)
			}
			done <- err
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%d of %d calls still wait behind the stuck ones", n-i, n)
		}
	}
	select {
	case err := <-stuck:
		t.Fatalf("a stuck call returned before its read was released: %v", err)
	default:
	}
	s := e.Stats()
	if b, c := s.Batches-before.Batches, s.BatchedCalls-before.BatchedCalls; c != n || b >= c {
		t.Fatalf("the %d queued calls went in %d batches (%d calls)", n, b, c)
	}
	close(release)
	for i := 0; i < 2; i++ {
		if err := <-stuck; err != nil {
			t.Fatal(err)
		}
	}
}
