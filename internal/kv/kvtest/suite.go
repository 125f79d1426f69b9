package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/folio-ledger/folio/internal/kv"
)

// RunSuite runs the conformance suite against the backend that open returns.
// open must return a new, empty store for every call; the suite closes it.
func RunSuite(t *testing.T, open func(t *testing.T) kv.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s kv.Store)
	}{
		{"GetSetDelete", testGetSetDelete},
		{"EmptyKeyRule", testEmptyKey},
		{"Ordering", testOrdering},
		{"Bounds", testBounds},
		{"DirectionChanges", testDirectionChanges},
		{"SnapshotIsolation", testSnapshotIsolation},
		{"IteratorIsolation", testIteratorIsolation},
		{"BatchOrder", testBatchOrder},
		{"BatchLifecycle", testBatchLifecycle},
		{"DeleteRange", testDeleteRange},
		{"LargeValues", testLargeValues},
		{"ArgumentsCopied", testArgumentsCopied},
		{"AtomicBatchesConcurrentReaders", testAtomicConcurrent},
		{"RandomAgainstMap", testRandomAgainstMap},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.fn(t, s)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
	t.Run("Closed", func(t *testing.T) { testClosed(t, open(t)) })
}

func commit(t *testing.T, s kv.Store, fn func(b kv.Batch)) {
	t.Helper()
	b := s.NewBatch()
	fn(b)
	if err := b.Commit(kv.WriteOptions{Sync: true}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantValue(t *testing.T, r kv.Reader, key, want []byte) {
	t.Helper()
	got, err := r.Get(key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

func wantMissing(t *testing.T, r kv.Reader, key []byte) {
	t.Helper()
	if v, err := r.Get(key); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, v, err)
	}
}

// scan returns all keys and values of r in [lower, upper), forward or
// reverse.
func scan(t *testing.T, r kv.Reader, lower, upper []byte, reverse bool) (keys, vals []string) {
	t.Helper()
	it, err := r.NewIter(&kv.IterOptions{Lower: lower, Upper: upper})
	if err != nil {
		t.Fatalf("NewIter: %v", err)
	}
	start, step := it.First, it.Next
	if reverse {
		start, step = it.Last, it.Prev
	}
	for ok := start(); ok; ok = step() {
		if !it.Valid() {
			t.Fatal("positioning returned true but Valid() is false")
		}
		keys = append(keys, string(it.Key()))
		vals = append(vals, string(it.Value()))
	}
	if err := it.Close(); err != nil {
		t.Fatalf("iterator: %v", err)
	}
	return keys, vals
}

func testGetSetDelete(t *testing.T, s kv.Store) {
	k := []byte("alpha")
	wantMissing(t, s, k)
	commit(t, s, func(b kv.Batch) { must(t, b.Set(k, []byte("1"))) })
	wantValue(t, s, k, []byte("1"))
	commit(t, s, func(b kv.Batch) { must(t, b.Set(k, []byte("2"))) })
	wantValue(t, s, k, []byte("2"))
	commit(t, s, func(b kv.Batch) { must(t, b.Delete(k)) })
	wantMissing(t, s, k)
	// Deleting a missing key is not an error.
	commit(t, s, func(b kv.Batch) { must(t, b.Delete([]byte("never-set"))) })
	// An empty value is a value, distinct from absence.
	commit(t, s, func(b kv.Batch) { must(t, b.Set(k, nil)) })
	got, err := s.Get(k)
	if err != nil || len(got) != 0 {
		t.Fatalf("Get(empty value) = %q, %v; want empty, nil", got, err)
	}
	keys, _ := scan(t, s, nil, nil, false)
	if !slices.Equal(keys, []string{"alpha"}) {
		t.Fatalf("scan = %q, want [alpha]", keys)
	}
}

func testEmptyKey(t *testing.T, s kv.Store) {
	b := s.NewBatch()
	defer b.Close()
	for _, k := range [][]byte{nil, {}} {
		if err := b.Set(k, []byte("v")); !errors.Is(err, kv.ErrEmptyKey) {
			t.Errorf("Set(empty) = %v, want ErrEmptyKey", err)
		}
		if err := b.Delete(k); !errors.Is(err, kv.ErrEmptyKey) {
			t.Errorf("Delete(empty) = %v, want ErrEmptyKey", err)
		}
		if _, err := s.Get(k); !errors.Is(err, kv.ErrEmptyKey) {
			t.Errorf("Get(empty) = %v, want ErrEmptyKey", err)
		}
	}
	if b.Len() != 0 {
		t.Errorf("rejected operations were counted: Len = %d", b.Len())
	}
	// The smallest non-empty key is allowed and is the first key.
	commit(t, s, func(b kv.Batch) {
		must(t, b.Set([]byte{0}, []byte("zero")))
		must(t, b.Set([]byte{1}, []byte("one")))
	})
	keys, _ := scan(t, s, nil, nil, false)
	if !slices.Equal(keys, []string{"\x00", "\x01"}) {
		t.Fatalf("scan = %q", keys)
	}
}

// edgeKeys are keys that stress bytewise order: prefixes, 0x00 and 0xff.
var edgeKeys = []string{"\x00", "\x00\x00", "\x00\xff", "\x01", "a", "a\x00", "ab", "abc", "abd", "b", "\x7f", "\x80", "\xff", "\xff\x00", "\xff\xff", "\xff\xff\xff"}

func randomKeys(r *rand.Rand, n int) []string {
	seen := map[string]bool{}
	keys := append([]string(nil), edgeKeys...)
	for _, k := range keys {
		seen[k] = true
	}
	for len(keys) < n {
		b := make([]byte, 1+r.IntN(6))
		for i := range b {
			b[i] = "\x00\x01ab\xfe\xff"[r.IntN(6)]
		}
		if !seen[string(b)] {
			seen[string(b)] = true
			keys = append(keys, string(b))
		}
	}
	return keys
}

func testOrdering(t *testing.T, s kv.Store) {
	r := rand.New(rand.NewPCG(7, 7))
	keys := randomKeys(r, 300)
	shuffled := slices.Clone(keys)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	commit(t, s, func(b kv.Batch) {
		for _, k := range shuffled {
			must(t, b.Set([]byte(k), []byte("v"+k)))
		}
	})
	slices.Sort(keys)
	fwd, vals := scan(t, s, nil, nil, false)
	if !slices.Equal(fwd, keys) {
		t.Fatalf("forward order wrong:\n got %q\nwant %q", fwd, keys)
	}
	for i, v := range vals {
		if v != "v"+fwd[i] {
			t.Fatalf("value of %q = %q", fwd[i], v)
		}
	}
	rev, _ := scan(t, s, nil, nil, true)
	slices.Reverse(rev)
	if !slices.Equal(rev, keys) {
		t.Fatalf("reverse order wrong")
	}
}

// inRange filters sorted keys to [lo, hi) with empty bounds unbounded.
func inRange(sorted []string, lo, hi string) []string {
	var out []string
	for _, k := range sorted {
		if (lo == "" || k >= lo) && (hi == "" || k < hi) {
			out = append(out, k)
		}
	}
	return out
}

func testBounds(t *testing.T, s kv.Store) {
	r := rand.New(rand.NewPCG(3, 4))
	keys := randomKeys(r, 120)
	commit(t, s, func(b kv.Batch) {
		for _, k := range keys {
			must(t, b.Set([]byte(k), []byte(k)))
		}
	})
	slices.Sort(keys)
	probes := append(randomKeys(r, 40), "", "\x00", "\xff\xff\xff\xff")
	for i := 0; i < 300; i++ {
		lo, hi := probes[r.IntN(len(probes))], probes[r.IntN(len(probes))]
		if lo != "" && hi != "" && lo > hi {
			lo, hi = hi, lo
		}
		want := inRange(keys, lo, hi)
		got, _ := scan(t, s, []byte(lo), []byte(hi), false)
		if !slices.Equal(got, want) {
			t.Fatalf("[%q, %q) forward = %q, want %q", lo, hi, got, want)
		}
		got, _ = scan(t, s, []byte(lo), []byte(hi), true)
		slices.Reverse(got)
		if !slices.Equal(got, want) {
			t.Fatalf("[%q, %q) reverse = %q, want %q", lo, hi, got, want)
		}
		// SeekGE / SeekLT against the filtered list.
		q := probes[r.IntN(len(probes))]
		it, err := s.NewIter(&kv.IterOptions{Lower: []byte(lo), Upper: []byte(hi)})
		must(t, err)
		wantGE, wantLT := "", ""
		for _, k := range want {
			if k >= q && wantGE == "" {
				wantGE = k
			}
			if k < q {
				wantLT = k
			}
		}
		if it.SeekGE([]byte(q)) != (wantGE != "") || wantGE != "" && string(it.Key()) != wantGE {
			t.Fatalf("[%q,%q) SeekGE(%q): valid=%v key=%q want %q", lo, hi, q, it.Valid(), it.Key(), wantGE)
		}
		if it.SeekLT([]byte(q)) != (wantLT != "") || wantLT != "" && string(it.Key()) != wantLT {
			t.Fatalf("[%q,%q) SeekLT(%q): valid=%v key=%q want %q", lo, hi, q, it.Valid(), it.Key(), wantLT)
		}
		must(t, it.Close())
	}
	if _, err := s.NewIter(&kv.IterOptions{Lower: []byte("b"), Upper: []byte("a")}); !errors.Is(err, kv.ErrInvalidRange) {
		t.Fatalf("NewIter(lower > upper) = %v, want ErrInvalidRange", err)
	}
	if got, _ := scan(t, s, []byte("a"), []byte("a"), false); len(got) != 0 {
		t.Fatalf("[a, a) = %q, want empty", got)
	}
}

func testDirectionChanges(t *testing.T, s kv.Store) {
	keys := []string{"a", "b", "c", "d", "e"}
	commit(t, s, func(b kv.Batch) {
		for _, k := range keys {
			must(t, b.Set([]byte(k), nil))
		}
	})
	it, err := s.NewIter(nil)
	must(t, err)
	defer it.Close()
	if it.Valid() {
		t.Fatal("new iterator is positioned")
	}
	steps := []struct {
		move func() bool
		want string // "" means exhausted
	}{
		{it.First, "a"}, {it.Next, "b"}, {it.Next, "c"}, {it.Prev, "b"}, {it.Prev, "a"},
		{it.Prev, ""}, {it.Last, "e"}, {it.Prev, "d"}, {it.Next, "e"}, {it.Next, ""},
		{func() bool { return it.SeekGE([]byte("bb")) }, "c"}, {it.Prev, "b"},
		{func() bool { return it.SeekLT([]byte("c")) }, "b"}, {it.Next, "c"},
	}
	for i, st := range steps {
		ok := st.move()
		if ok != (st.want != "") || ok && string(it.Key()) != st.want {
			t.Fatalf("step %d: ok=%v key=%q, want %q", i, ok, it.Key(), st.want)
		}
	}
}

func testSnapshotIsolation(t *testing.T, s kv.Store) {
	commit(t, s, func(b kv.Batch) {
		must(t, b.Set([]byte("k1"), []byte("old")))
		must(t, b.Set([]byte("k2"), []byte("old")))
	})
	snap, err := s.NewSnapshot()
	must(t, err)
	commit(t, s, func(b kv.Batch) {
		must(t, b.Set([]byte("k1"), []byte("new")))
		must(t, b.Delete([]byte("k2")))
		must(t, b.Set([]byte("k3"), []byte("new")))
	})
	wantValue(t, snap, []byte("k1"), []byte("old"))
	wantValue(t, snap, []byte("k2"), []byte("old"))
	wantMissing(t, snap, []byte("k3"))
	keys, _ := scan(t, snap, nil, nil, false)
	if !slices.Equal(keys, []string{"k1", "k2"}) {
		t.Fatalf("snapshot scan = %q", keys)
	}
	wantValue(t, s, []byte("k1"), []byte("new"))
	wantMissing(t, s, []byte("k2"))
	must(t, snap.Close())
	if _, err := snap.Get([]byte("k1")); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("Get on closed snapshot = %v, want ErrClosed", err)
	}
}

func testIteratorIsolation(t *testing.T, s kv.Store) {
	commit(t, s, func(b kv.Batch) {
		must(t, b.Set([]byte("a"), []byte("1")))
		must(t, b.Set([]byte("c"), []byte("1")))
	})
	it, err := s.NewIter(nil)
	must(t, err)
	commit(t, s, func(b kv.Batch) {
		must(t, b.Set([]byte("b"), []byte("2")))
		must(t, b.Delete([]byte("c")))
	})
	var got []string
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, string(it.Key())+"="+string(it.Value()))
	}
	must(t, it.Close())
	if !slices.Equal(got, []string{"a=1", "c=1"}) {
		t.Fatalf("iterator saw a later commit: %q", got)
	}
}

func testBatchOrder(t *testing.T, s kv.Store) {
	commit(t, s, func(b kv.Batch) {
		must(t, b.Set([]byte("x1"), []byte("a")))
		must(t, b.Delete([]byte("x1"))) // set then delete: gone
		must(t, b.Delete([]byte("x2")))
		must(t, b.Set([]byte("x2"), []byte("b"))) // delete then set: present
		must(t, b.Set([]byte("x3"), []byte("c")))
		must(t, b.Set([]byte("x3"), []byte("d"))) // last set wins
		must(t, b.Set([]byte("y1"), []byte("e")))
		must(t, b.DeleteRange([]byte("y"), []byte("z"))) // set then range delete: gone
		must(t, b.Set([]byte("y2"), []byte("f")))        // range delete then set: present
	})
	wantMissing(t, s, []byte("x1"))
	wantValue(t, s, []byte("x2"), []byte("b"))
	wantValue(t, s, []byte("x3"), []byte("d"))
	wantMissing(t, s, []byte("y1"))
	wantValue(t, s, []byte("y2"), []byte("f"))
}

func testBatchLifecycle(t *testing.T, s kv.Store) {
	b := s.NewBatch()
	if b.Len() != 0 || b.Size() < 0 {
		t.Fatalf("empty batch Len=%d Size=%d", b.Len(), b.Size())
	}
	must(t, b.Set([]byte("a"), []byte("12345678")))
	must(t, b.Delete([]byte("b")))
	if b.Len() != 2 || b.Size() < len("a")+len("12345678")+len("b") {
		t.Fatalf("Len=%d Size=%d after two operations", b.Len(), b.Size())
	}
	must(t, b.Close())
	wantMissing(t, s, []byte("a"))
	if err := b.Set([]byte("a"), nil); !errors.Is(err, kv.ErrBatchClosed) {
		t.Fatalf("Set after Close = %v, want ErrBatchClosed", err)
	}
	if err := b.Commit(kv.WriteOptions{}); !errors.Is(err, kv.ErrBatchClosed) {
		t.Fatalf("Commit after Close = %v, want ErrBatchClosed", err)
	}
	b = s.NewBatch()
	must(t, b.Set([]byte("a"), []byte("1")))
	must(t, b.Commit(kv.WriteOptions{}))
	wantValue(t, s, []byte("a"), []byte("1"))
	if err := b.Commit(kv.WriteOptions{}); !errors.Is(err, kv.ErrBatchClosed) {
		t.Fatalf("second Commit = %v, want ErrBatchClosed", err)
	}
	if err := b.Delete([]byte("a")); !errors.Is(err, kv.ErrBatchClosed) {
		t.Fatalf("Delete after Commit = %v, want ErrBatchClosed", err)
	}
	must(t, b.Close())
	// An empty batch commits.
	must(t, s.NewBatch().Commit(kv.WriteOptions{Sync: true}))
}

func testDeleteRange(t *testing.T, s kv.Store) {
	r := rand.New(rand.NewPCG(11, 12))
	keys := randomKeys(r, 200)
	commit(t, s, func(b kv.Batch) {
		for _, k := range keys {
			must(t, b.Set([]byte(k), []byte(k)))
		}
	})
	slices.Sort(keys)
	remaining := slices.Clone(keys)
	for i := 0; i < 20; i++ {
		lo, hi := keys[r.IntN(len(keys))], keys[r.IntN(len(keys))]
		if i%5 == 0 {
			lo = "" // from the first key
		}
		if lo != "" && lo > hi {
			lo, hi = hi, lo
		}
		commit(t, s, func(b kv.Batch) { must(t, b.DeleteRange([]byte(lo), []byte(hi))) })
		remaining = slices.DeleteFunc(remaining, func(k string) bool { return k >= lo && k < hi })
		got, _ := scan(t, s, nil, nil, false)
		if !slices.Equal(got, remaining) {
			t.Fatalf("after DeleteRange[%q, %q): %d keys, want %d", lo, hi, len(got), len(remaining))
		}
	}
	b := s.NewBatch()
	defer b.Close()
	if err := b.DeleteRange([]byte("a"), nil); !errors.Is(err, kv.ErrInvalidRange) {
		t.Fatalf("DeleteRange without upper = %v, want ErrInvalidRange", err)
	}
	if err := b.DeleteRange([]byte("b"), []byte("a")); !errors.Is(err, kv.ErrInvalidRange) {
		t.Fatalf("DeleteRange(lower > upper) = %v, want ErrInvalidRange", err)
	}
}

func testLargeValues(t *testing.T, s kv.Store) {
	r := rand.New(rand.NewPCG(5, 6))
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	longKey := bytes.Repeat([]byte{0xab}, 64<<10)
	commit(t, s, func(b kv.Batch) {
		must(t, b.Set([]byte("big"), big))
		must(t, b.Set(longKey, []byte("long key")))
	})
	wantValue(t, s, []byte("big"), big)
	wantValue(t, s, longKey, []byte("long key"))
	// Many keys in one batch.
	const n = 20000
	commit(t, s, func(b kv.Batch) {
		for i := 0; i < n; i++ {
			must(t, b.Set(kv.AppendUint64([]byte("n/"), uint64(i)), kv.AppendUint64(nil, uint64(i)*3)))
		}
	})
	it, err := s.NewIter(&kv.IterOptions{Lower: []byte("n/"), Upper: kv.PrefixEnd([]byte("n/"))})
	must(t, err)
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if !bytes.Equal(it.Key(), kv.AppendUint64([]byte("n/"), uint64(i))) || !bytes.Equal(it.Value(), kv.AppendUint64(nil, uint64(i)*3)) {
			t.Fatalf("entry %d: %x=%x", i, it.Key(), it.Value())
		}
		i++
	}
	must(t, it.Close())
	if i != n {
		t.Fatalf("iterated %d keys, want %d", i, n)
	}
}

func testArgumentsCopied(t *testing.T, s kv.Store) {
	key, val := []byte("key"), []byte("value")
	b := s.NewBatch()
	must(t, b.Set(key, val))
	key[0], val[0] = 'X', 'X'
	must(t, b.Commit(kv.WriteOptions{}))
	wantValue(t, s, []byte("key"), []byte("value"))
	got, err := s.Get([]byte("key"))
	must(t, err)
	got[0] = 'Y'
	wantValue(t, s, []byte("key"), []byte("value"))
}

// testAtomicConcurrent commits batches that keep an invariant across many
// keys (all equal to the same counter) while readers check it through
// snapshots and iterators.
func testAtomicConcurrent(t *testing.T, s kv.Store) {
	const nkeys, rounds, readers = 16, 200, 4
	key := func(i int) []byte { return []byte(fmt.Sprintf("acct/%02d", i)) }
	commit(t, s, func(b kv.Batch) {
		for i := 0; i < nkeys; i++ {
			must(t, b.Set(key(i), kv.AppendUint64(nil, 0)))
		}
	})
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := checkUniform(s, r%2 == 0, nkeys); err != nil {
					errs <- err
					return
				}
			}
		}(r)
	}
	for v := uint64(1); v <= rounds; v++ {
		b := s.NewBatch()
		for i := 0; i < nkeys; i++ {
			must(t, b.Set(key(i), kv.AppendUint64(nil, v)))
		}
		must(t, b.Commit(kv.WriteOptions{}))
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func checkUniform(s kv.Store, viaSnapshot bool, nkeys int) error {
	var r kv.Reader = s
	if viaSnapshot {
		snap, err := s.NewSnapshot()
		if err != nil {
			return err
		}
		defer snap.Close()
		r = snap
	}
	it, err := r.NewIter(&kv.IterOptions{Lower: []byte("acct/"), Upper: []byte("acct0")})
	if err != nil {
		return err
	}
	defer it.Close()
	var first []byte
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if first == nil {
			first = bytes.Clone(it.Value())
		} else if !bytes.Equal(first, it.Value()) {
			return fmt.Errorf("torn batch: %s = %x, first key = %x", it.Key(), it.Value(), first)
		}
		n++
	}
	if n != nkeys {
		return fmt.Errorf("saw %d keys, want %d", n, nkeys)
	}
	return it.Error()
}

// testRandomAgainstMap applies random batches to the store and to a map
// and compares full scans and point reads.
func testRandomAgainstMap(t *testing.T, s kv.Store) {
	r := rand.New(rand.NewPCG(21, 22))
	model := map[string]string{}
	universe := randomKeys(r, 150)
	for round := 0; round < 60; round++ {
		b := s.NewBatch()
		for i := r.IntN(30); i >= 0; i-- {
			k := universe[r.IntN(len(universe))]
			switch r.IntN(10) {
			case 0:
				hi := universe[r.IntN(len(universe))]
				if k > hi {
					k, hi = hi, k
				}
				must(t, b.DeleteRange([]byte(k), []byte(hi)))
				for mk := range model {
					if mk >= k && mk < hi {
						delete(model, mk)
					}
				}
			case 1, 2, 3:
				must(t, b.Delete([]byte(k)))
				delete(model, k)
			default:
				v := fmt.Sprintf("%d-%d", round, i)
				must(t, b.Set([]byte(k), []byte(v)))
				model[k] = v
			}
		}
		must(t, b.Commit(kv.WriteOptions{}))
		want := make([]string, 0, len(model))
		for k := range model {
			want = append(want, k)
		}
		slices.Sort(want)
		keys, vals := scan(t, s, nil, nil, false)
		if !slices.Equal(keys, want) {
			t.Fatalf("round %d: keys differ from model", round)
		}
		for i, k := range keys {
			if vals[i] != model[k] {
				t.Fatalf("round %d: %q = %q, model %q", round, k, vals[i], model[k])
			}
		}
		for _, k := range universe[:20] {
			if v, ok := model[k]; ok {
				wantValue(t, s, []byte(k), []byte(v))
			} else {
				wantMissing(t, s, []byte(k))
			}
		}
	}
}

func testClosed(t *testing.T, s kv.Store) {
	commit(t, s, func(b kv.Batch) { must(t, b.Set([]byte("a"), []byte("1"))) })
	b := s.NewBatch()
	must(t, b.Set([]byte("b"), []byte("2")))
	must(t, s.Close())
	if _, err := s.Get([]byte("a")); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if _, err := s.NewIter(nil); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("NewIter after Close = %v, want ErrClosed", err)
	}
	if _, err := s.NewSnapshot(); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("NewSnapshot after Close = %v, want ErrClosed", err)
	}
	if err := b.Commit(kv.WriteOptions{}); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
	if err := s.NewBatch().Commit(kv.WriteOptions{}); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("new batch Commit after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}
