package enclave_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
	"github.com/folio-ledger/folio/internal/enclave/vm"
)

// tamperSetup starts an enclave without an internal cache (so every read
// reaches the external cache) over a host-controlled external cache.
func tamperSetup(t *testing.T, m mode) (*enclavetest.VersionedState, *enclavetest.TamperingCache, enclave.Enclave) {
	st := enclavetest.NewVersionedState()
	st.Commit([]enclave.Write{put("kv", "a", "alpha", 0), put("kv", "b", "beta", 1)})
	ext, err := enclavetest.NewTamperingCache(nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnclave(t, m, enclave.Options{State: st, InternalCacheBytes: -1, ExternalCache: ext}, nil)
	install(t, e, "kv", kvPkg, false)
	getReads(t, simulate(t, e, "kv", call("get", "a", "b"))) // fills the external cache
	if _, ok := ext.Blob("kv", "a"); !ok {
		t.Fatal("external cache not filled")
	}
	return st, ext, e
}

func wantValue(t *testing.T, e enclave.Enclave, key, value string) {
	t.Helper()
	rs := getReads(t, simulate(t, e, "kv", call("get", key)))
	if !rs[0].Found || rs[0].Value != value {
		t.Fatalf("%s read %+v, want %q", key, rs[0], value)
	}
}

// TestTamperedExternalEntry: a flipped byte anywhere in a sealed blob is
// detected, counted, never returned; the value comes from the state and
// the entry is replaced.
func TestTamperedExternalEntry(t *testing.T) {
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			st, ext, e := tamperSetup(t, m)
			_ = st
			blob, _ := ext.Blob("kv", "a")
			for _, i := range []int{0, 3, len(blob) / 2, -1} { // header, version, ciphertext, tag
				before := e.Stats()
				if !ext.Flip("kv", "a", i) {
					t.Fatal("nothing to flip")
				}
				wantValue(t, e, "a", "alpha")
				s := e.Stats()
				if s.TamperDetected != before.TamperDetected+1 {
					t.Fatalf("byte %d: tamper count %d -> %d", i, before.TamperDetected, s.TamperDetected)
				}
				if s.StateReads != before.StateReads+1 {
					t.Fatalf("byte %d: not refetched from the state", i)
				}
				fresh, ok := ext.Blob("kv", "a")
				if !ok || bytes.Equal(fresh, blob) {
					t.Fatalf("byte %d: entry not replaced", i)
				}
				blob = fresh
				// The replacement serves the next read.
				before = e.Stats()
				wantValue(t, e, "a", "alpha")
				if s := e.Stats(); s.External.Hits != before.External.Hits+1 || s.StateReads != before.StateReads {
					t.Fatalf("replacement not used: %+v", s)
				}
			}
		})
	}
}

// TestSwapAndReplay: the host swaps the blobs of two keys, or serves an
// older blob of a key after a commit changed it: both detected, counted,
// refetched.
func TestSwapAndReplay(t *testing.T) {
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			st, ext, e := tamperSetup(t, m)
			before := e.Stats()
			if !ext.Swap("kv", "a", "b") {
				t.Fatal("swap")
			}
			rs := getReads(t, simulate(t, e, "kv", call("get", "a", "b")))
			if rs[0].Value != "alpha" || rs[1].Value != "beta" {
				t.Fatalf("after swap: %+v", rs)
			}
			if s := e.Stats(); s.TamperDetected != before.TamperDetected+2 {
				t.Fatalf("swap: tamper count %d -> %d", before.TamperDetected, s.TamperDetected)
			}

			// Replay: keep a's blob, commit a new value, put the old blob back.
			old, _ := ext.Blob("kv", "a")
			b := commit(t, st, e, put("kv", "a", "alpha2", 0))
			wantValue(t, e, "a", "alpha2")
			ext.Set("kv", "a", old)
			before = e.Stats()
			rs = getReads(t, simulate(t, e, "kv", call("get", "a")))
			if rs[0].Value != "alpha2" || rs[0].Block != b {
				t.Fatalf("replayed blob served: %+v", rs[0])
			}
			if s := e.Stats(); s.StaleRejected != before.StaleRejected+1 || s.StateReads != before.StateReads+1 {
				t.Fatalf("replay not detected: before %+v after %+v", before, s)
			}
		})
	}
}

// rollbackSource serves, for one key, an older committed version than
// the ledger has: a host lying about the state.
type rollbackSource struct {
	*enclavetest.VersionedState
	key  string
	from uint64 // the height whose value to serve
	on   atomic.Bool
}

func (s *rollbackSource) NewStateReader() (enclave.StateReader, error) {
	r, err := s.VersionedState.NewStateReader()
	return &rollbackReader{StateReader: r, s: s}, err
}

type rollbackReader struct {
	enclave.StateReader
	s *rollbackSource
}

func (r *rollbackReader) Get(ns, key string) ([]byte, *foliov1.Version, error) {
	if r.s.on.Load() && key == r.s.key {
		v, ver := r.s.ValueAt(ns, key, r.s.from)
		return v, ver, nil
	}
	return r.StateReader.Get(ns, key)
}

// TestRollbackDetected: once the enclave has seen a key's version, the
// state database cannot serve it an older one.
func TestRollbackDetected(t *testing.T) {
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			vs := enclavetest.NewVersionedState()
			vs.Commit([]enclave.Write{put("kv", "a", "v1", 0)})
			src := &rollbackSource{VersionedState: vs, key: "a", from: 1}
			e := newEnclave(t, m, enclave.Options{State: src, InternalCacheBytes: -1, ExternalCacheBytes: -1}, nil)
			install(t, e, "kv", kvPkg, false)
			b := vs.Commit([]enclave.Write{put("kv", "a", "v2", 0)})
			if err := e.Commit(context.Background(), b, []enclave.Write{put("kv", "a", "v2", 0)}); err != nil {
				t.Fatal(err)
			}
			wantValue(t, e, "a", "v2")
			src.on.Store(true)
			_, err := e.Simulate(context.Background(), "1", withNS("kv", call("get", "a")))
			var ce *vm.CallError
			if !errors.Is(err, enclave.ErrRollback) || !errors.Is(err, vm.ErrState) || !errors.As(err, &ce) {
				t.Fatalf("rollback: %v", err)
			}
			if s := e.Stats(); s.RollbacksDetected != 1 {
				t.Fatalf("rollbacks counted: %d", s.RollbacksDetected)
			}
			t.Log(err)
			src.on.Store(false)
			wantValue(t, e, "a", "v2") // only that call failed
		})
	}
}
