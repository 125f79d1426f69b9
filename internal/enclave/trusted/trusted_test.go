package trusted

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/wire"
)

func TestDirectoryBound(t *testing.T) {
	d := newDirectory(100)
	h := newHasher()
	for i := 0; i < 1000; i++ {
		d.put(h.key("ns", fmt.Sprint(i)), known{ver: abi.KeyVersion{Block: uint64(i)}})
		if d.len() > 100 {
			t.Fatalf("%d entries, bound 100", d.len())
		}
	}
	// The most recent keys are there; a lookup keeps a key alive.
	k := h.key("ns", "999")
	if v, ok := d.get(k); !ok || v.ver.Block != 999 {
		t.Fatal("latest key lost")
	}
	for i := 0; i < 1000; i++ {
		d.get(k)
		d.put(h.key("other", fmt.Sprint(i)), known{})
	}
	if _, ok := d.get(k); !ok {
		t.Fatal("a key looked up all along was dropped")
	}
	if _, ok := d.get(h.key("ns", "0")); ok {
		t.Fatal("the oldest key survived")
	}
	d.remove(k)
	if _, ok := d.get(k); ok {
		t.Fatal("remove")
	}
	if h.key("ab", "c") == h.key("a", "bc") {
		t.Fatal("namespace and key run together")
	}
	off := newDirectory(-1)
	off.put(k, known{})
	if off.len() != 0 {
		t.Fatal("a disabled directory keeps entries")
	}
}

func TestErrorsCrossTheBoundary(t *testing.T) {
	for _, err := range []error{
		&vm.CallError{Contract: "c", Version: "1", Function: "f", TxID: "t", Err: fmt.Errorf("%w: get %q: %w", vm.ErrState, "k", ErrRollback), Output: "out"},
		&vm.ModuleError{Name: "c", Version: "1", Err: fmt.Errorf("%w: bad magic", vm.ErrInvalidModule)},
		fmt.Errorf("x: %w", ErrNotInstalled),
		context.DeadlineExceeded,
		errors.New("plain"),
	} {
		b := wire.Marshal(nil, ErrorToWire(err))
		var w wire.Error
		if e := wire.Unmarshal(b, &w); e != nil {
			t.Fatal(e)
		}
		got := ErrorFromWire(&w)
		if got.Error() != err.Error() {
			t.Errorf("text %q, want %q", got, err)
		}
		for _, c := range codes {
			if errors.Is(err, c.err) != errors.Is(got, c.err) {
				t.Errorf("%v: errors.Is(%v) differs after the crossing", err, c.err)
			}
		}
		var ce1, ce2 *vm.CallError
		if errors.As(err, &ce1) != errors.As(got, &ce2) || (ce1 != nil && *ce1 != (vm.CallError{Contract: ce2.Contract, Version: ce2.Version,
			Function: ce2.Function, TxID: ce2.TxID, Err: ce1.Err, Output: ce2.Output})) {
			t.Errorf("%v: call error fields lost", err)
		}
		var me1, me2 *vm.ModuleError
		if errors.As(err, &me1) != errors.As(got, &me2) {
			t.Errorf("%v: module error lost", err)
		}
	}
	seen := map[wire.Code]bool{}
	for _, c := range codes {
		if seen[c.code] || c.code == 0 {
			t.Fatalf("code %d reused", c.code)
		}
		seen[c.code] = true
	}
}

// stubHost answers from a map, for tests of the tiers without a VM call.
type stubHost struct {
	vals map[string]abi.KeyVersion
	ext  map[string][]byte
	gets int
}

func (h *stubHost) Lookup(ns, key string) (Lookup, error) {
	if b, ok := h.ext[key]; ok {
		return Lookup{ExtFound: true, Blob: b}, nil
	}
	v, ver, found, err := h.StateGet(ns, key)
	return Lookup{Found: found, Stored: v, Ver: ver}, err
}

func (h *stubHost) StateGet(ns, key string) ([]byte, abi.KeyVersion, bool, error) {
	h.gets++
	v, ok := h.vals[key]
	if !ok {
		return nil, abi.KeyVersion{}, false, nil
	}
	return []byte("v" + key), v, true, nil
}

func (h *stubHost) StateRange(string, string, string, int) ([]abi.KV, bool, error) {
	return nil, false, nil
}
func (h *stubHost) StateHistory(string, string) ([]abi.HistoryEntry, error) { return nil, nil }

// TestTieredCore drives the tiers directly: fills only at the current
// height, entries serve only heights they are valid at, commits move
// everything together, a gap drops everything.
func TestTieredCore(t *testing.T) {
	ctx := context.Background()
	s, err := New(ctx, Options{Height: 5, ExternalCache: true, Anchor: newTestNet(t, nil).anchor(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	host := &stubHost{vals: map[string]abi.KeyVersion{"a": {Block: 2}}, ext: map[string][]byte{}}
	tr := &tiered{s: s, ext: s.ext.Load(), height: 5, host: host}
	v, ver, err := tr.Get("ns", "a")
	if err != nil || string(v) != "va" || ver.BlockNum != 2 {
		t.Fatalf("get: %q %v %v", v, ver, err)
	}
	if len(tr.fills) != 1 || host.gets != 1 {
		t.Fatalf("%d fills, %d gets", len(tr.fills), host.gets)
	}
	host.ext["a"] = tr.fills[0].Blob
	tr.Get("ns", "a") // internal hit
	if host.gets != 1 {
		t.Fatal("internal cache missed")
	}
	// Commit block 5: a changes; a reader still at height 5 must not see
	// the new value from the cache, and gets the old one from the state.
	reply, err := s.Commit(ctx, &wire.Commit{Block: 5, Writes: []wire.Write{{Namespace: "ns", Key: "a", Value: []byte("new"), ExtPresent: true}}})
	if err != nil || len(reply.Fills) != 1 {
		t.Fatalf("commit: %v %+v", err, reply)
	}
	v, _, err = tr.Get("ns", "a")
	if err != nil || string(v) != "va" || host.gets != 2 {
		t.Fatalf("old reader got %q (%d gets), %v", v, host.gets, err)
	}
	tr6 := &tiered{s: s, ext: s.ext.Load(), height: 6, host: host}
	v, ver, _ = tr6.Get("ns", "a")
	if string(v) != "new" || ver.BlockNum != 5 || host.gets != 2 {
		t.Fatalf("new reader got %q %v", v, ver)
	}
	// The old blob (version 2) is stale (counted twice: the old reader
	// above met it too) and refetched.
	host.vals["a"] = abi.KeyVersion{Block: 5}
	s.tiers.internal.Clear()
	_, _, err = tr6.Get("ns", "a")
	if err == nil {
		// the stub state returns "va" with version 5: other bytes than committed
		t.Fatal("state with other bytes than the committed value accepted")
	}
	if !errors.Is(err, ErrRollback) || s.ctr.stale.Load() != 2 || s.ctr.rollbacks.Load() != 1 {
		t.Fatalf("replay: %v; stale %d rollbacks %d", err, s.ctr.stale.Load(), s.ctr.rollbacks.Load())
	}
	// Pushing a block twice is refused; a gap drops the tiers.
	if _, err := s.Commit(ctx, &wire.Commit{Block: 5}); !errors.Is(err, ErrHeight) {
		t.Fatalf("repeat: %v", err)
	}
	if _, err := s.Commit(ctx, &wire.Commit{Block: 9}); err != nil || s.Height() != 10 || s.tiers.dir.len() != 0 {
		t.Fatalf("gap: %v, height %d, %d known", err, s.Height(), s.tiers.dir.len())
	}
	// Above the enclave's height, the tiers are bypassed.
	trHigh := &tiered{s: s, ext: s.ext.Load(), height: 12, host: host, bypass: true}
	before := host.gets
	trHigh.Get("ns", "a")
	trHigh.Get("ns", "a")
	if host.gets != before+2 || len(trHigh.fills) != 0 {
		t.Fatal("bypass used the tiers")
	}
}
