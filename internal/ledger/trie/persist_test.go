package trie

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/memkv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
)

// stores are the kv backends the persistence tests run on.
var stores = []struct {
	name string
	open func(t *testing.T) kv.Store
}{
	{"memkv", func(t *testing.T) kv.Store { return memkv.New() }},
	{"pebble", func(t *testing.T) kv.Store {
		s, err := pebblekv.Open("db", pebblekv.Options{FS: vfs.NewMem(), CacheBytes: 4 << 20, MemTableBytes: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

func forEachStore(t *testing.T, fn func(t *testing.T, s kv.Store)) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			}()
			fn(t, s)
		})
	}
}

// countRecords counts the database's records of one kind.
func countRecords(t *testing.T, db *Database, kind byte) int {
	t.Helper()
	p := append(bytes.Clone(db.prefix), kind)
	it, err := db.store.NewIter(&kv.IterOptions{Lower: p, Upper: kv.PrefixEnd(p)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n
}

func randomKV(r *rand.Rand) ([]byte, []byte) {
	k := make([]byte, 32)
	v := make([]byte, 32)
	for i := range k {
		k[i], v[i] = byte(r.Uint32()), byte(r.Uint32())
	}
	return k, v
}

// TestCommitReopenVersions commits many versions of a secure trie and
// checks that every version reopens from the store with exactly its
// contents, that unchanged subtrees are shared (a commit writes only the
// nodes it changed) and that a fresh Database (cold cache) reads the same.
func TestCommitReopenVersions(t *testing.T) {
	forEachStore(t, func(t *testing.T, s kv.Store) {
		db, err := NewDatabase(s, Options{CacheBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		tr := NewSecureEmpty(db)
		model := map[string][]byte{}
		var keys [][]byte
		type version struct {
			root  Hash
			model map[string][]byte
		}
		var versions []version
		for v := uint64(1); v <= 12; v++ {
			for i := 0; i < 300; i++ {
				switch {
				case len(keys) > 0 && r.IntN(5) == 0:
					k := keys[r.IntN(len(keys))]
					if err := tr.Delete(k); err != nil {
						t.Fatal(err)
					}
					delete(model, string(k))
				case len(keys) > 0 && r.IntN(3) == 0:
					k := keys[r.IntN(len(keys))]
					_, val := randomKV(r)
					if err := tr.Update(k, val); err != nil {
						t.Fatal(err)
					}
					model[string(k)] = val
				default:
					k, val := randomKV(r)
					keys = append(keys, k)
					if err := tr.Update(k, val); err != nil {
						t.Fatal(err)
					}
					model[string(k)] = val
				}
			}
			before := countRecords(t, db, recNode)
			root, set := tr.Commit()
			// A node removed and re-created identically within the
			// version is written again (it already exists).
			existing := 0
			for i := 0; i < set.Len(); i++ {
				h, _ := set.Node(i)
				if _, err := s.Get(db.nodeKey(nil, set.Owner, h)); err == nil {
					existing++
				}
			}
			b := s.NewBatch()
			if err := db.Write(b, v, set); err != nil {
				t.Fatal(err)
			}
			if err := b.Commit(kvSync); err != nil {
				t.Fatal(err)
			}
			if got := countRecords(t, db, recNode) - before; got != set.Len()-existing {
				t.Fatalf("version %d: %d node records added, set has %d new", v, got, set.Len()-existing)
			}
			versions = append(versions, version{root, maps.Clone(model)})
		}
		// A commit with no change writes nothing.
		if _, set := tr.Commit(); set.Len() != 0 || len(set.Obsolete) != 0 {
			t.Fatalf("empty commit: %d nodes, %d obsolete", set.Len(), len(set.Obsolete))
		}
		// One update writes only the path to it.
		k0 := keys[0]
		if err := tr.Update(k0, []byte("changed")); err != nil {
			t.Fatal(err)
		}
		_, set := tr.Commit()
		if set.Len() == 0 || set.Len() > 8 {
			t.Fatalf("a one-key change wrote %d nodes", set.Len())
		}
		cold, err := NewDatabase(s, Options{CacheBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		for i, ver := range versions {
			for _, reader := range []*Database{db, cold} {
				re, err := NewSecure(ID{Root: ver.root}, reader)
				if err != nil {
					t.Fatalf("version %d: %v", i+1, err)
				}
				if re.Hash() != ver.root {
					t.Fatalf("version %d: reopened root differs", i+1)
				}
				for _, k := range keys {
					got, err := re.Get(k)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, ver.model[string(k)]) {
						t.Fatalf("version %d: Get(%x) = %x, want %x", i+1, k, got, ver.model[string(k)])
					}
				}
			}
		}
		if err := db.Write(s.NewBatch(), 5, set); !errors.Is(err, ErrVersionOrder) {
			t.Fatalf("Write of an old version = %v, want ErrVersionOrder", err)
		}
	})
}

// reachable adds to out every stored node (owner, hash) reachable from root.
func reachable(t *testing.T, db *Database, owner, root Hash, out map[cacheKey]bool) {
	t.Helper()
	if root == EmptyRoot {
		return
	}
	var walk func(hash Hash)
	var visit func(n node)
	visit = func(n node) {
		switch n := n.(type) {
		case hashNode:
			walk(Hash(n))
		case *shortNode:
			visit(n.val)
		case *fullNode:
			for _, c := range n.children {
				visit(c)
			}
		}
	}
	walk = func(hash Hash) {
		k := cacheKey{owner, hash}
		if out[k] {
			return
		}
		out[k] = true
		blob, err := db.Node(owner, hash)
		if err != nil {
			t.Fatalf("node %s of a retained version: %v", hash, err)
		}
		n, err := decodeNode(&hash, blob)
		if err != nil {
			t.Fatal(err)
		}
		visit(n)
	}
	walk(root)
}

// storedNodes lists every node record in the store.
func storedNodes(t *testing.T, db *Database) map[cacheKey]bool {
	t.Helper()
	p := append(bytes.Clone(db.prefix), recNode)
	it, err := db.store.NewIter(&kv.IterOptions{Lower: p, Upper: kv.PrefixEnd(p)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	out := map[cacheKey]bool{}
	for ok := it.First(); ok; ok = it.Next() {
		var k cacheKey
		copy(k.owner[:], it.Key()[len(p):])
		copy(k.hash[:], it.Key()[len(p)+32:])
		out[k] = true
	}
	return out
}

// TestRetentionPrune commits versions of an account trie and two storage
// tries, keeps the last `keep` versions with Prune, and checks against a
// reference that the store then holds exactly the nodes reachable from the
// retained roots: nothing a retained version needs is deleted, nothing else
// is left. Keys are set back to earlier values on purpose so that nodes
// become unreachable and are written again later.
func TestRetentionPrune(t *testing.T) {
	const keep = 3
	forEachStore(t, func(t *testing.T, s kv.Store) {
		db, err := NewDatabase(s, Options{})
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(5, 6))
		owners := []Hash{{}, HashKey([]byte("ns/a")), HashKey([]byte("ns/b"))}
		tries := make([]*SecureTrie, len(owners))
		for i, o := range owners {
			tries[i] = NewSecureEmpty(db)
			tries[i].trie.owner = o
		}
		roots := map[uint64][]Hash{}
		for v := uint64(1); v <= 15; v++ {
			var sets []*NodeSet
			for _, tr := range tries {
				for j := 0; j < 40; j++ {
					k := []byte(fmt.Sprintf("key-%d", r.IntN(60)))
					val := []byte(fmt.Sprintf("value-%d", r.IntN(3))) // few values: nodes recur
					if r.IntN(6) == 0 {
						val = nil
					}
					if err := tr.Update(k, val); err != nil {
						t.Fatal(err)
					}
				}
				root, set := tr.Commit()
				roots[v] = append(roots[v], root)
				sets = append(sets, set)
			}
			b := s.NewBatch()
			if err := db.Write(b, v, sets...); err != nil {
				t.Fatal(err)
			}
			if err := b.Commit(kvSync); err != nil {
				t.Fatal(err)
			}
			if v < keep {
				continue
			}
			keepFrom := v - keep + 1
			stats, err := db.Prune(keepFrom, kvSync)
			if err != nil {
				t.Fatal(err)
			}
			want := map[cacheKey]bool{}
			for rv := keepFrom; rv <= v; rv++ {
				for i, root := range roots[rv] {
					reachable(t, db, owners[i], root, want)
				}
			}
			got := storedNodes(t, db)
			for k := range want {
				if !got[k] {
					t.Fatalf("version %d: needed node %s was pruned", v, k.hash)
				}
			}
			for k := range got {
				if !want[k] {
					t.Fatalf("version %d: unreachable node %s (owner %s) left after pruning", v, k.hash, k.owner)
				}
			}
			if j := countRecords(t, db, recJournal); j > keep*len(owners) {
				t.Fatalf("version %d: %d journal records left", v, j)
			}
			t.Logf("version %d: prune %+v, %d nodes stored", v, stats, len(got))
		}
		// A pruned version is gone for good: opening it (or reading
		// through it) reports a missing node.
		cold, err := NewDatabase(s, Options{CacheBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := New(ID{Root: roots[1][1], Owner: owners[1]}, cold)
		if err == nil {
			for i := 0; i < 60 && err == nil; i++ {
				hk := HashKey([]byte(fmt.Sprintf("key-%d", i)))
				_, err = tr.Get(hk[:])
			}
		}
		if !errors.Is(err, ErrMissingNode) {
			t.Fatalf("reading pruned version 1: %v, want ErrMissingNode", err)
		}
	})
}

// TestPruneKeepsResurrectedNode: a node unreachable at version 2 and written
// again at version 3 must survive Prune(3).
func TestPruneKeepsResurrectedNode(t *testing.T) {
	db := newMemDB(t)
	tr := NewEmpty(db)
	big := bytes.Repeat([]byte("x"), 40) // a leaf of >= 32 bytes is stored
	_ = tr.Update([]byte("k1"), big)
	_ = tr.Update([]byte("k2"), big)
	r1 := commitVersion(t, db, 1, tr)
	_ = tr.Update([]byte("k1"), []byte("other"))
	commitVersion(t, db, 2, tr)
	_ = tr.Update([]byte("k1"), big)
	r3 := commitVersion(t, db, 3, tr)
	if r3 != r1 {
		t.Fatalf("version 3 should equal version 1")
	}
	if _, err := db.Prune(3, kvSync); err != nil {
		t.Fatal(err)
	}
	cold, _ := NewDatabase(db.store, Options{CacheBytes: -1})
	re, err := New(ID{Root: r3}, cold)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k1", "k2"} {
		if v, err := re.Get([]byte(k)); err != nil || !bytes.Equal(v, big) {
			t.Fatalf("Get(%s) = %q, %v after pruning", k, v, err)
		}
	}
}

func TestMissingAndCorruptNodes(t *testing.T) {
	db := newMemDB(t)
	if _, err := New(ID{Root: Keccak256([]byte("nothing"))}, db); !errors.Is(err, ErrMissingNode) {
		t.Fatalf("New(unknown root) = %v, want ErrMissingNode", err)
	}
	var mn *MissingNodeError
	if _, err := New(ID{Root: Keccak256([]byte("nothing"))}, db); !errors.As(err, &mn) || mn.Hash != Keccak256([]byte("nothing")) {
		t.Fatalf("MissingNodeError not reported: %v", err)
	}
	tr := NewEmpty(db)
	for i := 0; i < 100; i++ {
		_ = tr.Update([]byte(fmt.Sprintf("key-%03d", i)), bytes.Repeat([]byte{byte(i)}, 40))
	}
	root := commitVersion(t, db, 1, tr)
	// Damage every stored node; a cold reader must report corruption.
	p := append(bytes.Clone(db.prefix), recNode)
	it, _ := db.store.NewIter(&kv.IterOptions{Lower: p, Upper: kv.PrefixEnd(p)})
	b := db.store.NewBatch()
	for ok := it.First(); ok; ok = it.Next() {
		v := bytes.Clone(it.Value())
		v[len(v)-1] ^= 1
		_ = b.Set(it.Key(), v)
	}
	it.Close()
	if err := b.Commit(kvSync); err != nil {
		t.Fatal(err)
	}
	cold, _ := NewDatabase(db.store, Options{CacheBytes: -1})
	if _, err := New(ID{Root: root}, cold); !errors.Is(err, kv.ErrCorruption) {
		t.Fatalf("New on damaged store = %v, want ErrCorruption", err)
	}
	// A short record is corruption too.
	b = db.store.NewBatch()
	_ = b.Set(db.nodeKey(nil, Hash{}, root), []byte{1, 2})
	_ = b.Commit(kvSync)
	if _, err := New(ID{Root: root}, cold); !errors.Is(err, kv.ErrCorruption) {
		t.Fatalf("New on truncated record = %v, want ErrCorruption", err)
	}
}

func TestNodeCacheBounded(t *testing.T) {
	c := newNodeCache(10 * (entryOverhead + 100))
	for i := 0; i < 50; i++ {
		var h Hash
		binary.BigEndian.PutUint64(h[:], uint64(i))
		c.add(cacheKey{hash: h}, make([]byte, 100))
	}
	n, size := c.stats()
	if n != 10 || size != 10*(entryOverhead+100) {
		t.Fatalf("cache holds %d entries, %d bytes; want 10", n, size)
	}
	// The most recent entries survive; touching one protects it.
	var h49, h40 Hash
	binary.BigEndian.PutUint64(h49[:], 49)
	binary.BigEndian.PutUint64(h40[:], 40)
	if _, ok := c.get(cacheKey{hash: h40}); !ok {
		t.Fatal("recent entry evicted")
	}
	var hNew Hash
	hNew[0] = 1
	c.add(cacheKey{hash: hNew}, make([]byte, 100))
	if _, ok := c.get(cacheKey{hash: h40}); !ok {
		t.Fatal("recently used entry evicted before older ones")
	}
	if _, ok := c.get(cacheKey{hash: h49}); !ok {
		t.Fatal("entry 49 evicted")
	}
	c.remove(cacheKey{hash: h49})
	if _, ok := c.get(cacheKey{hash: h49}); ok {
		t.Fatal("removed entry still cached")
	}
	off := newNodeCache(-1)
	off.add(cacheKey{}, []byte{1})
	if _, ok := off.get(cacheKey{}); ok {
		t.Fatal("disabled cache returned an entry")
	}
}
