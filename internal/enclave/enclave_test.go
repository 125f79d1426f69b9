package enclave_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
	"github.com/folio-ledger/folio/internal/endorse"
	"github.com/folio-ledger/folio/internal/ledger"
)

// The endorser runs contracts through an Enclave as its Executor, given
// the signed packages (enclave.Executor).
var (
	_ endorse.Executor = enclave.Executor{}
	_ endorse.Executor = enclave.Executor{Enclave: (*enclavetest.Fake)(nil)}
)

// TestEndToEnd runs the same scenario in process and in-process: install,
// commit, reads served by each tier in turn, writes, ranges, history.
func TestEndToEnd(t *testing.T) {
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			st := enclavetest.NewVersionedState()
			st.Commit([]enclave.Write{put("kv", "a", "1", 0), put("kv", "b", "2", 1)}) // block 0, before the enclave
			e := newEnclave(t, m, enclave.Options{State: st}, nil)
			install(t, e, "kv", kvPkg, false)

			// First read: internal miss, external miss, state read.
			rs := getReads(t, simulate(t, e, "kv", call("get", "a", "b", "zz")))
			want := []read{{Key: "a", Value: "1", Found: true}, {Key: "b", Value: "2", Found: true, Tx: 1}, {Key: "zz"}}
			if !equalReads(rs, want) {
				t.Fatalf("reads %+v, want %+v", rs, want)
			}
			s := e.Stats()
			if s.Internal.Misses != 3 || s.External.Misses != 3 || s.StateReads != 3 || s.Internal.Hits != 0 {
				t.Fatalf("after first read: %+v", s)
			}
			// Second read: internal hits, no crossing but the ecall.
			before := e.Stats()
			rs = getReads(t, simulate(t, e, "kv", call("get", "a", "b", "zz")))
			if !equalReads(rs, want) {
				t.Fatalf("cached reads %+v", rs)
			}
			s = e.Stats()
			if s.Internal.Hits-before.Internal.Hits != 3 || s.Crossings-before.Crossings != 1 || s.StateReads != before.StateReads {
				t.Fatalf("second read: before %+v after %+v", before, s)
			}
			if s.External.Entries != 3 || s.BytesSealed == 0 {
				t.Fatalf("external cache not filled: %+v", s)
			}

			// A write, committed: the tiers follow.
			res := simulate(t, e, "kv", call("put", "a", "10", "c", "3"))
			if n := len(res.RWSet.NsRwsets[0].Writes); n != 2 {
				t.Fatalf("%d writes", n)
			}
			b := commit(t, st, e, writesOf(res, 0)...)
			rs = getReads(t, simulate(t, e, "kv", call("get", "a", "c")))
			want = []read{{Key: "a", Value: "10", Found: true, Block: b}, {Key: "c", Value: "3", Found: true, Block: b}}
			if !equalReads(rs, want) {
				t.Fatalf("after commit %+v, want %+v", rs, want)
			}
			// A delete.
			b = commit(t, st, e, enclave.Write{Namespace: "kv", Key: "a", Delete: true})
			rs = getReads(t, simulate(t, e, "kv", call("get", "a")))
			if rs[0].Found {
				t.Fatalf("deleted key read %+v", rs[0])
			}
			// Range and history go to the state.
			rr := getReads(t, simulate(t, e, "kv", call("range", "", "")))
			if len(rr) != 2 || rr[0].Key != "b" || rr[1].Key != "c" {
				t.Fatalf("range %+v", rr)
			}
			h := simulate(t, e, "kv", call("history", "a"))
			var hist []map[string]any
			if err := json.Unmarshal(h.Response.Payload, &hist); err != nil || len(hist) != 3 {
				t.Fatalf("history %s: %v", h.Response.Payload, err)
			}
			// Installing again is free: no crossing.
			before = e.Stats()
			install(t, e, "kv", kvPkg, false)
			if s := e.Stats(); s.Ecalls != before.Ecalls {
				t.Fatalf("a repeated install crossed the boundary")
			}
			s = e.Stats()
			if s.Height != b+1 || s.PID == 0 || s.Ecalls == 0 || s.Ocalls == 0 || s.VMCalls == 0 {
				t.Fatalf("stats %+v", s)
			}
			if s.TamperDetected+s.StaleRejected+s.RollbacksDetected != 0 {
				t.Fatalf("false alarms: %+v", s)
			}
		})
	}
}

func equalReads(a, b []read) bool {
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

// TestCommitOrder: a block is pushed once, after the ledger has it.
func TestCommitOrder(t *testing.T) {
	st := enclavetest.NewVersionedState()
	e := newEnclave(t, inProcess, enclave.Options{State: st}, nil)
	ctx := context.Background()
	w := []enclave.Write{put("kv", "a", "1", 0)}
	if err := e.Commit(ctx, 0, w); !errors.Is(err, enclave.ErrHeight) {
		t.Fatalf("commit before the ledger: %v", err)
	}
	b := st.Commit(w)
	if err := e.Commit(ctx, b, w); err != nil {
		t.Fatal(err)
	}
	if err := e.Commit(ctx, b, w); !errors.Is(err, enclave.ErrHeight) {
		t.Fatalf("second push: %v", err)
	}
	if _, err := e.Simulate(ctx, "1", withNS("nope", call("get", "a"))); !errors.Is(err, enclave.ErrNotInstalled) {
		t.Fatalf("not installed: %v", err)
	}
	// A skipped block invalidates and catches up.
	st.Commit(w)
	b = st.Commit(w)
	if err := e.Commit(ctx, b, w); err != nil {
		t.Fatal(err)
	}
	if h := e.Stats().Height; h != b+1 {
		t.Fatalf("height %d after a gap", h)
	}
	e.Close()
	if st.OpenReaders() != 0 {
		t.Fatalf("%d readers left open", st.OpenReaders())
	}
	if _, err := e.Simulate(ctx, "1", withNS("kv", call("get", "a"))); !errors.Is(err, enclave.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// TestStatsJSON: the shape `folio peer stats --json` prints.
func TestStatsJSON(t *testing.T) {
	b, err := json.Marshal(map[string]any{"enclave": enclave.Stats{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"pid":`, `"crossings":`, `"bytes_sealed":`, `"bytes_unsealed":`, `"internal":{"hits":0,"misses":0,"entries":0,"bytes":0}`,
		`"external":{"hits":0,"misses":0,"entries":0,"bytes":0}`, `"state_reads":`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("%s lacks %s", b, k)
		}
	}
}

func TestWritesFromUpdates(t *testing.T) {
	u := ledger.Updates{Txs: []ledger.TxUpdate{
		{TxNum: 0, Writes: []ledger.NsWrites{{Namespace: "a", Writes: []*foliov1.KVWrite{{Key: "k", Value: []byte("v")}}}}},
		{TxNum: 3, Writes: []ledger.NsWrites{{Namespace: "b", Writes: []*foliov1.KVWrite{{Key: "d", IsDelete: true}}}}},
	}}
	ws := enclave.Writes(u)
	if len(ws) != 2 || ws[0].Namespace != "a" || ws[0].Key != "k" || ws[0].Tx != 0 || ws[0].Delete || string(ws[0].Value) != "v" ||
		ws[1].Namespace != "b" || !ws[1].Delete || ws[1].Tx != 3 {
		t.Fatalf("%+v", ws)
	}
}
