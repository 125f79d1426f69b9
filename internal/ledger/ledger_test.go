package ledger_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/memkv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/ledger/state"
	"github.com/folio-ledger/folio/internal/ledger/trie"
	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
	"github.com/folio-ledger/folio/internal/types"
)

// vmState is the contract runtime's read interface (internal/enclave/vm
// State), restated here: the ledger and its readers must satisfy it once vm
// aliases state.KV and state.HistoryEntry.
type vmState interface {
	Get(ns, key string) (value []byte, ver *foliov1.Version, err error)
	Range(ns, start, end string, limit int) (kvs []state.KV, more bool, err error)
	History(ns, key string) ([]state.HistoryEntry, error)
}

var (
	_ vmState = (*ledger.Ledger)(nil)
	_ vmState = (*ledger.Reader)(nil)
)

// backend opens stores of one kind; reopen returns the same data.
type backend struct {
	name   string
	open   func(t *testing.T) kv.Store // a new, empty store
	reopen func(t *testing.T) kv.Store // the last store, closed and reopened (memory: the same)
}

func backends() []backend {
	var mem *memkv.Store
	var dir string
	var pdb *pebblekv.Store
	openPebble := func(t *testing.T) kv.Store {
		s, err := pebblekv.Open(dir, pebblekv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pdb = s
		t.Cleanup(func() { s.Close() })
		return s
	}
	return []backend{
		{
			name:   "memory",
			open:   func(t *testing.T) kv.Store { mem = memkv.New(); return mem },
			reopen: func(t *testing.T) kv.Store { return mem },
		},
		{
			name: "pebble",
			open: func(t *testing.T) kv.Store { dir = t.TempDir(); return openPebble(t) },
			reopen: func(t *testing.T) kv.Store {
				if err := pdb.Close(); err != nil {
					t.Fatal(err)
				}
				return openPebble(t)
			},
		},
	}
}

func openLedger(t *testing.T, s kv.Store, opts ledger.Options) *ledger.Ledger {
	t.Helper()
	l, err := ledger.OpenStore(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// commitWorkload commits blocks [from, to) of w, feeding the model.
func commitWorkload(t testing.TB, l *ledger.Ledger, m *model, w workload, to uint64) {
	t.Helper()
	for n := m.height; n < to; n++ {
		b, u := w.block(n, m.lastHash)
		root, err := l.Commit(b, u)
		if err != nil {
			t.Fatalf("commit block %d: %v", n, err)
		}
		m.apply(b, u)
		if !bytes.Equal(root, b.Metadata.StateRoot) {
			t.Fatalf("block %d: Commit returned %x, metadata holds %x", n, root, b.Metadata.StateRoot)
		}
	}
}

// TestCommitAgainstModel commits random blocks and compares every key,
// value, version, history entry and the state root with the reference
// model, on both backends, across reopens.
func TestCommitAgainstModel(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			w := defaultWorkload(7)
			m := newModel()
			opts := ledger.Options{KeepRoots: 8, PruneEvery: 3}
			l := openLedger(t, be.open(t), opts)
			for _, to := range []uint64{1, 10, 40, 80} {
				commitWorkload(t, l, m, w, to)
				checkAgainstModel(t, l, m, w.namespaces)
				checkProofs(t, l, m, w, rand.New(rand.NewPCG(1, to)))
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				l = openLedger(t, be.reopen(t), ledger.Options{KeepRoots: 8, PruneEvery: 3, VerifyOnOpen: true})
				checkAgainstModel(t, l, m, w.namespaces)
			}
			l.Close()
		})
	}
}

// checkProofs proves present keys, absent keys and an absent namespace, and
// verifies each proof offline with package trie/proof.
func checkProofs(t *testing.T, l *ledger.Ledger, m *model, w workload, r *rand.Rand) {
	t.Helper()
	root, err := l.StateRoot(m.height - 1)
	if err != nil {
		t.Fatal(err)
	}
	check := func(ns, key string) {
		p, err := l.Prove(ns, key)
		if err != nil {
			t.Fatalf("prove %s/%q: %v", ns, key, err)
		}
		if !bytes.Equal(p.StateRoot[:], root) || p.BlockNum != m.height-1 {
			t.Fatalf("proof of %s/%q is for block %d root %x", ns, key, p.BlockNum, p.StateRoot)
		}
		want, present := m.entries[ns][key]
		v, err := proof.VerifyStorage([32]byte(root), []byte(ns), p.AccountProof, []byte(key), p.StorageProof)
		if err != nil {
			t.Fatalf("VerifyStorage %s/%q: %v", ns, key, err)
		}
		if present != (v != nil) || present && !bytes.Equal(v, want.Value) || present != (p.Version != nil) {
			t.Fatalf("proof of %s/%q proves %x (present %v), model %x (present %v)", ns, key, short(v), v != nil, short(want.Value), present)
		}
		if err := p.Verify(); err != nil {
			t.Fatalf("Proof.Verify %s/%q: %v", ns, key, err)
		}
		// A proof stating another value fails.
		if present {
			bad := *p
			bad.Value = append(bytes.Clone(p.Value), 'x')
			if err := bad.Verify(); !errors.Is(err, ledger.ErrProofMismatch) {
				t.Fatalf("tampered value verified: %v", err)
			}
			bad = *p
			bad.StorageProof = append([][]byte{}, p.StorageProof...)
			last := bytes.Clone(bad.StorageProof[len(bad.StorageProof)-1])
			last[len(last)-1] ^= 1
			bad.StorageProof[len(bad.StorageProof)-1] = last
			if err := bad.Verify(); !errors.Is(err, proof.ErrInvalidProof) {
				t.Fatalf("tampered proof node verified: %v", err)
			}
		}
	}
	for _, ns := range w.namespaces {
		for _, kv := range m.sortedKVs(ns) {
			if r.IntN(8) == 0 {
				check(ns, kv.Key)
			}
		}
		check(ns, "never-written")
	}
	check("absent.namespace", "k")
}

// TestReadersConsistentDuringCommit reads from many goroutines while blocks
// commit: every reader sees exactly one block (a marker key written by every
// block holds its number, and a range over the block's keys is complete).
func TestReadersConsistentDuringCommit(t *testing.T) {
	l := openLedger(t, memkv.New(), ledger.Options{})
	defer l.Close()
	const blocksN = 60
	block := func(n uint64, prev []byte) (*foliov1.Block, ledger.Updates) {
		env := envelope(fmt.Sprintf("tx-%d", n), 0, 0)
		b := makeBlock(n, prev, int64(n), [][]byte{env}, []byte{0})
		var ws []*foliov1.KVWrite
		for i := 0; i < 20; i++ {
			ws = append(ws, &foliov1.KVWrite{Key: fmt.Sprintf("k%02d", i), Value: fmt.Appendf(nil, "%d", n)})
		}
		ws = append(ws, &foliov1.KVWrite{Key: "marker", Value: fmt.Appendf(nil, "%d", n)})
		return b, ledger.Updates{Txs: []ledger.TxUpdate{{TxNum: 0, TxID: fmt.Sprintf("tx-%d", n), Writes: []ledger.NsWrites{{Namespace: "c", Writes: ws}}}}}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := l.NewReader()
				if err != nil {
					errs <- err
					return
				}
				h := r.Height()
				if h > 0 {
					want := fmt.Sprintf("%d", h-1)
					v, ver, err := r.Get("c", "marker")
					kvs, _, rerr := r.Range("c", "k", "l", 0)
					if err != nil || rerr != nil || string(v) != want || ver.BlockNum != h-1 || len(kvs) != 20 {
						errs <- fmt.Errorf("reader at height %d: marker %q@%v (%v), %d range entries (%v)", h, v, ver, err, len(kvs), rerr)
					}
					for _, e := range kvs {
						if string(e.Value) != want {
							errs <- fmt.Errorf("reader at height %d sees %s=%s", h, e.Key, e.Value)
							break
						}
					}
				}
				r.Close()
			}
		}()
	}
	var prev []byte
	for n := uint64(0); n < blocksN; n++ {
		b, u := block(n, prev)
		if _, err := l.Commit(b, u); err != nil {
			t.Fatal(err)
		}
		prev = headerHash(b)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRefusedCommits: blocks that do not follow and updates that break the
// limits are refused with clear errors, and the ledger stays where it was.
func TestRefusedCommits(t *testing.T) {
	l := openLedger(t, memkv.New(), ledger.Options{})
	defer l.Close()
	w := defaultWorkload(3)
	m := newModel()
	commitWorkload(t, l, m, w, 3)

	tx := func(txNum uint64, ns string, ws ...*foliov1.KVWrite) ledger.TxUpdate {
		return ledger.TxUpdate{TxNum: txNum, TxID: "id", Writes: []ledger.NsWrites{{Namespace: ns, Writes: ws}}}
	}
	put := func(k string, v []byte) *foliov1.KVWrite { return &foliov1.KVWrite{Key: k, Value: v} }
	next := func() *foliov1.Block {
		return makeBlock(3, m.lastHash, 1, [][]byte{envelope("a", 0, 0), envelope("b", 0, 0)}, []byte{0, byte(foliov1.ValidationCode_MVCC_READ_CONFLICT)})
	}
	cases := []struct {
		name  string
		block func() *foliov1.Block
		u     ledger.Updates
		want  error
		msg   string
	}{
		{"gap", func() *foliov1.Block { b := next(); b.Header.Number = 4; return b }, ledger.Updates{}, ledger.ErrDoesNotFollow, "block 4 offered, the next block is 3"},
		{"old", func() *foliov1.Block { b := next(); b.Header.Number = 2; return b }, ledger.Updates{}, ledger.ErrDoesNotFollow, "next block is 3"},
		{"fork", func() *foliov1.Block { b := next(); b.Header.PreviousHash = bytes.Repeat([]byte{1}, 32); return b }, ledger.Updates{}, ledger.ErrDoesNotFollow, "previous hash"},
		{"tampered data", func() *foliov1.Block { b := next(); b.Data.Envelopes[0] = envelope("x", 0, 0); return b }, ledger.Updates{}, types.ErrMalformed, "data hash"},
		{"nil block", func() *foliov1.Block { return nil }, ledger.Updates{}, types.ErrMalformed, "missing"},
		{"value too large", next, ledger.Updates{Txs: []ledger.TxUpdate{tx(0, "c", put("k", make([]byte, state.MaxValueBytes+1)))}}, state.ErrValueTooLarge, "1048577 bytes exceeds the limit of 1048576"},
		{"key too large", next, ledger.Updates{Txs: []ledger.TxUpdate{tx(0, "c", put(strings.Repeat("k", 1025), nil))}}, state.ErrInvalidKey, "1025 bytes exceeds the limit of 1024"},
		{"empty key", next, ledger.Updates{Txs: []ledger.TxUpdate{tx(0, "c", put("", nil))}}, state.ErrInvalidKey, "empty key"},
		{"bad utf8 key", next, ledger.Updates{Txs: []ledger.TxUpdate{tx(0, "c", put("a\xffb", nil))}}, state.ErrInvalidKey, "not valid UTF-8"},
		{"bad namespace", next, ledger.Updates{Txs: []ledger.TxUpdate{tx(0, "9lives", put("k", nil))}}, state.ErrInvalidNamespace, "must start with a letter"},
		{"namespace with nul", next, ledger.Updates{Txs: []ledger.TxUpdate{tx(0, "a\x00b", put("k", nil))}}, state.ErrInvalidNamespace, "allowed are"},
		{"long namespace", next, ledger.Updates{Txs: []ledger.TxUpdate{tx(0, "a"+strings.Repeat("b", 64), put("k", nil))}}, state.ErrInvalidNamespace, "the limit is 64"},
		{"delete with value", next, ledger.Updates{Txs: []ledger.TxUpdate{tx(0, "c", &foliov1.KVWrite{Key: "k", IsDelete: true, Value: []byte("v")})}}, ledger.ErrInvalidUpdates, "delete carries a value"},
		{"tx out of range", next, ledger.Updates{Txs: []ledger.TxUpdate{tx(2, "c", put("k", nil))}}, ledger.ErrInvalidUpdates, "outside the block's 2 envelopes"},
		{"tx marked invalid", next, ledger.Updates{Txs: []ledger.TxUpdate{tx(1, "c", put("k", nil))}}, ledger.ErrInvalidUpdates, "MVCC_READ_CONFLICT"},
		{"tx order", next, ledger.Updates{Txs: []ledger.TxUpdate{tx(0, "c", put("k", nil)), tx(0, "c", put("j", nil))}}, ledger.ErrInvalidUpdates, "not increasing"},
		{"long tx id", next, ledger.Updates{Txs: []ledger.TxUpdate{{TxNum: 0, TxID: strings.Repeat("x", 256)}}}, ledger.ErrInvalidUpdates, "transaction ID"},
		{"code hash namespace", next, ledger.Updates{CodeHashes: map[string][32]byte{"": {}}}, state.ErrInvalidNamespace, "empty name"},
	}
	rootBefore, _ := l.StateRoot(2)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.block()
			_, err := l.Commit(b, tc.u)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Commit = %v, want %v containing %q", err, tc.want, tc.msg)
			}
			t.Logf("refused: %v", err)
			if b != nil && b.Metadata.StateRoot != nil {
				t.Fatalf("a refused commit left state root %x in the block", b.Metadata.StateRoot)
			}
			if l.Height() != 3 || l.Blocks().Height() != 3 {
				t.Fatalf("height %d/%d after a refused commit", l.Height(), l.Blocks().Height())
			}
		})
	}
	if root, _ := l.StateRoot(2); !bytes.Equal(root, rootBefore) {
		t.Fatal("state root changed")
	}
	checkAgainstModel(t, l, m, w.namespaces)
	// The right block still commits.
	commitWorkload(t, l, m, w, 5)
	checkAgainstModel(t, l, m, w.namespaces)
}

// TestHistoryOfARecord follows one copyright record through register,
// transfer, delete and re-registration.
func TestHistoryOfARecord(t *testing.T) {
	l := openLedger(t, memkv.New(), ledger.Options{})
	defer l.Close()
	var prev []byte
	steps := []struct {
		del   bool
		value string
	}{{false, `{"owner":"alice"}`}, {false, `{"owner":"bob"}`}, {true, ""}, {false, `{"owner":"carol"}`}}
	for n, s := range steps {
		ts := baseTime.Add(time.Duration(n) * time.Hour)
		b := makeBlock(uint64(n), prev, ts.UnixNano(), [][]byte{envelope("other", 0, 0), envelope(fmt.Sprintf("tx%d", n), 0, 0)}, nil)
		w := &foliov1.KVWrite{Key: "work1", IsDelete: s.del, Value: []byte(s.value)}
		if s.del {
			w.Value = nil
		}
		u := ledger.Updates{Txs: []ledger.TxUpdate{{TxNum: 1, TxID: fmt.Sprintf("tx%d", n), Timestamp: ts, Writes: []ledger.NsWrites{{Namespace: "copyright", Writes: []*foliov1.KVWrite{w}}}}}}
		if _, err := l.Commit(b, u); err != nil {
			t.Fatal(err)
		}
		prev = headerHash(b)
	}
	h, err := l.History("copyright", "work1")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 4 {
		t.Fatalf("%d entries", len(h))
	}
	for n, e := range h {
		s := steps[n]
		if e.TxID != fmt.Sprintf("tx%d", n) || e.Version.BlockNum != uint64(n) || e.Version.TxNum != 1 || e.IsDelete != s.del ||
			!e.Timestamp.Equal(baseTime.Add(time.Duration(n)*time.Hour)) || string(e.Value) != s.value || s.del != (e.Value == nil) {
			t.Fatalf("entry %d: %+v", n, e)
		}
	}
	r, _ := l.NewReader()
	defer r.Close()
	it, err := r.HistoryIterator("copyright", "work1", state.Version{Block: 2, Tx: 0})
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for it.Next() {
		got = append(got, it.Entry().Version.BlockNum)
	}
	if err := it.Close(); err != nil || fmt.Sprint(got) != "[2 3]" {
		t.Fatalf("iterator from block 2: %v %v", got, err)
	}
	if h, err := l.History("copyright", "work2"); err != nil || len(h) != 0 {
		t.Fatalf("history of an unwritten key: %v %v", h, err)
	}
	v, ver, _ := l.Get("copyright", "work1")
	if string(v) != `{"owner":"carol"}` || ver.BlockNum != 3 || ver.TxNum != 1 {
		t.Fatalf("get: %s %v", v, ver)
	}
}

// TestEmptyValueAndCodeHash: a present empty value is not an absence, and
// code hashes land in the account record.
func TestEmptyValueAndCodeHash(t *testing.T) {
	l := openLedger(t, memkv.New(), ledger.Options{})
	defer l.Close()
	code := trie.Keccak256([]byte("copyright v1 package"))
	b := makeBlock(0, nil, 0, [][]byte{envelope("t", 0, 0)}, nil)
	u := ledger.Updates{
		Txs:        []ledger.TxUpdate{{TxNum: 0, TxID: "t", Writes: []ledger.NsWrites{{Namespace: "c", Writes: []*foliov1.KVWrite{{Key: "empty"}, {Key: "x", Value: []byte("1")}}}}}},
		CodeHashes: map[string][32]byte{"c": code, "other": code},
	}
	if _, err := l.Commit(b, u); err != nil {
		t.Fatal(err)
	}
	v, ver, err := l.Get("c", "empty")
	if err != nil || ver == nil || len(v) != 0 {
		t.Fatalf("empty value: %q %v %v", v, ver, err)
	}
	p, err := l.Prove("c", "empty")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(); err != nil || p.Version == nil {
		t.Fatalf("proof of an empty value: %v", err)
	}
	if p.Account.CodeHash != code || p.Account.Nonce != 2 || p.Account.Balance != nil && p.Account.Balance.Sign() != 0 {
		t.Fatalf("account %+v", p.Account)
	}
	p, err = l.Prove("other", "k")
	if err != nil || p.Account == nil || p.Account.Nonce != 0 || p.Account.StorageRoot != trie.EmptyRoot || p.Version != nil {
		t.Fatalf("code-only namespace: %+v %v", p, err)
	}
	if err := p.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestRangeScans: bounds, limits, composite-key prefixes and namespace
// isolation.
func TestRangeScans(t *testing.T) {
	l := openLedger(t, memkv.New(), ledger.Options{})
	defer l.Close()
	keys := []string{"\x00owner\x00alice\x00w1\x00", "\x00owner\x00alice\x00w2\x00", "\x00owner\x00bob\x00w3\x00", "a", "b", "c", "d"}
	var ws []*foliov1.KVWrite
	for _, k := range keys {
		ws = append(ws, &foliov1.KVWrite{Key: k, Value: []byte(k)})
	}
	b := makeBlock(0, nil, 0, [][]byte{envelope("t", 0, 0)}, nil)
	u := ledger.Updates{Txs: []ledger.TxUpdate{{TxNum: 0, TxID: "t", Writes: []ledger.NsWrites{
		{Namespace: "ns", Writes: ws},
		{Namespace: "ns.b", Writes: []*foliov1.KVWrite{{Key: "a", Value: []byte("other namespace")}}},
		{Namespace: "nsa", Writes: []*foliov1.KVWrite{{Key: "a", Value: []byte("other namespace")}}},
	}}}}
	if _, err := l.Commit(b, u); err != nil {
		t.Fatal(err)
	}
	scan := func(start, end string, limit int) string {
		kvs, more, err := l.Range("ns", start, end, limit)
		if err != nil {
			return err.Error()
		}
		var s []string
		for _, e := range kvs {
			s = append(s, strings.ReplaceAll(e.Key, "\x00", "|"))
		}
		return fmt.Sprintf("%v more=%v", s, more)
	}
	for _, tc := range []struct {
		start, end string
		limit      int
		want       string
	}{
		{"", "", 0, "[|owner|alice|w1| |owner|alice|w2| |owner|bob|w3| a b c d] more=false"},
		{"b", "d", 0, "[b c] more=false"},
		{"b", "", 2, "[b c] more=true"},
		{"b", "", 3, "[b c d] more=false"},
		{"a", "a", 0, "[] more=false"},
		{"\x00owner\x00alice\x00", state.PrefixEnd("\x00owner\x00alice\x00"), 0, "[|owner|alice|w1| |owner|alice|w2|] more=false"},
		{"\x00owner\x00", state.PrefixEnd("\x00owner\x00"), 2, "[|owner|alice|w1| |owner|alice|w2|] more=true"},
		{"d", "b", 0, "state: invalid range: start \"d\" is after end \"b\""},
	} {
		if got := scan(tc.start, tc.end, tc.limit); got != tc.want {
			t.Errorf("Range(%q, %q, %d) = %s, want %s", tc.start, tc.end, tc.limit, got, tc.want)
		}
	}
	if _, _, err := l.Range("bad ns", "", "", 0); !errors.Is(err, state.ErrInvalidNamespace) {
		t.Fatalf("bad namespace: %v", err)
	}
	if _, _, err := l.Get("ns", ""); !errors.Is(err, state.ErrInvalidKey) {
		t.Fatalf("empty key: %v", err)
	}
}

// TestPruneKeepsRecentRoots: with KeepRoots = 4 the last four roots stay
// provable, older ones are pruned, and every root stays recorded.
func TestPruneKeepsRecentRoots(t *testing.T) {
	store := memkv.New()
	keep := 4
	l := openLedger(t, store, ledger.Options{KeepRoots: keep, PruneEvery: 2})
	defer l.Close()
	w := defaultWorkload(11)
	m := newModel()
	commitWorkload(t, l, m, w, 40)
	h := l.Height()
	// Blocks h-1-keep .. h-1 are guaranteed (pruning happens before a
	// commit, so up to PruneEvery-1 more may survive).
	for n := uint64(0); n < h; n++ {
		root, err := l.StateRoot(n)
		if err != nil {
			t.Fatal(err)
		}
		_, err = trie.New(trie.ID{Root: trie.Hash(root)}, l.Tries())
		switch {
		case n+uint64(keep) >= h-1 && err != nil:
			t.Fatalf("root of block %d (height %d) pruned: %v", n, h, err)
		case n+uint64(keep)+2 < h-1 && !errors.Is(err, trie.ErrMissingNode):
			t.Fatalf("root of block %d (height %d) still stored: %v", n, h, err)
		}
	}
	// Pruning changed nothing the latest block needs.
	checkAgainstModel(t, l, m, w.namespaces)
	if _, err := l.StateRoot(h); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("root of an uncommitted block: %v", err)
	}
	// Fewer nodes than without pruning.
	count := func(s kv.Store) int {
		it, _ := s.NewIter(&kv.IterOptions{Lower: []byte("tr/n"), Upper: []byte("tr/o")})
		defer it.Close()
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			n++
		}
		return n
	}
	full := memkv.New()
	lf := openLedger(t, full, ledger.Options{KeepRoots: ledger.KeepAllRoots})
	commitWorkload(t, lf, newModel(), w, 40)
	lf.Close()
	if pruned, all := count(store), count(full); pruned >= all {
		t.Fatalf("pruned store holds %d nodes, unpruned %d", pruned, all)
	} else {
		t.Logf("trie nodes: %d with KeepRoots=%d, %d keeping all roots", pruned, keep, all)
	}
}

func TestOptions(t *testing.T) {
	var o ledger.Options
	o.EnsureDefaults()
	if o.KeepRoots != 128 || o.PruneEvery != 16 || o.TrieCacheBytes != 64<<20 || o.Logger == nil {
		t.Fatalf("defaults: %+v", o)
	}
	for _, bad := range []ledger.Options{{KeepRoots: -2}, {PruneEvery: -1}} {
		if _, err := ledger.OpenStore(memkv.New(), bad); !errors.Is(err, ledger.ErrInvalidOptions) {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
}

func TestClosed(t *testing.T) {
	l := openLedger(t, memkv.New(), ledger.Options{})
	r, _ := l.NewReader()
	r.Close()
	if _, _, err := r.Get("a", "b"); !errors.Is(err, ledger.ErrClosed) {
		t.Fatalf("closed reader: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Commit(makeBlock(0, nil, 0, nil, nil), ledger.Updates{}); !errors.Is(err, ledger.ErrClosed) {
		t.Fatalf("commit after close: %v", err)
	}
	if _, err := l.NewReader(); !errors.Is(err, ledger.ErrClosed) {
		t.Fatalf("reader after close: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ledger.ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
}
