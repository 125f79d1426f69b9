package trie

import (
	"bytes"
	"encoding/hex"
	"encoding/json"

	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/internal/kv/memkv"
	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
	"github.com/folio-ledger/folio/internal/testvectors"
)

// The Ethereum trie test vectors (ethereum/tests TrieTests), loaded at run
// time; see their README for the decoding rules applied here.

const vectorSet = "ethereum-trie"

// rootFiles are the vector files with expected roots; secure files hash keys.
var rootFiles = []struct {
	name   string
	secure bool
}{
	{"trietest.json", false},
	{"trietest_secureTrie.json", true},
	{"trieanyorder.json", false},
	{"trieanyorder_secureTrie.json", true},
	{"hex_encoded_securetrie_test.json", true},
}

const nextPrevFile = "trietestnextprev.json"

// vectorOp is one operation; an empty value deletes.
type vectorOp struct{ key, value []byte }

type rootCase struct {
	file, name string
	secure     bool
	anyOrder   bool // object form: insertion order must not matter
	ops        []vectorOp
	root       Hash
}

// decodeVectorString applies the README's rule: null -> empty, "0x..." ->
// hex bytes, anything else -> its UTF-8 bytes.
func decodeVectorString(t *testing.T, s *string) []byte {
	t.Helper()
	if s == nil {
		return []byte{}
	}
	if strings.HasPrefix(*s, "0x") {
		b, err := hex.DecodeString((*s)[2:])
		if err != nil {
			t.Fatalf("bad hex %q: %v", *s, err)
		}
		return b
	}
	return []byte(*s)
}

func parseRoot(t *testing.T, s string) Hash {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != 32 {
		t.Fatalf("bad root %q", s)
	}
	return Hash(b)
}

func loadRootCases(t *testing.T, file string, secure bool) []rootCase {
	t.Helper()
	data, err := os.ReadFile(testvectors.File(t, vectorSet, file))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]struct {
		In   json.RawMessage `json:"in"`
		Root string          `json:"root"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var cases []rootCase
	for name, rc := range raw {
		c := rootCase{file: file, name: name, secure: secure, root: parseRoot(t, rc.Root)}
		if bytes.HasPrefix(bytes.TrimSpace(rc.In), []byte("[")) {
			var pairs [][2]*string
			if err := json.Unmarshal(rc.In, &pairs); err != nil {
				t.Fatalf("%s/%s: %v", file, name, err)
			}
			for _, p := range pairs {
				if p[0] == nil {
					t.Fatalf("%s/%s: null key", file, name)
				}
				c.ops = append(c.ops, vectorOp{decodeVectorString(t, p[0]), decodeVectorString(t, p[1])})
			}
		} else {
			var m map[string]*string
			if err := json.Unmarshal(rc.In, &m); err != nil {
				t.Fatalf("%s/%s: %v", file, name, err)
			}
			c.anyOrder = true
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				c.ops = append(c.ops, vectorOp{decodeVectorString(t, &k), decodeVectorString(t, m[k])})
			}
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		t.Fatalf("%s holds no cases", file)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	return cases
}

// trieKey is the path a case's key takes.
func (c *rootCase) trieKey(k []byte) []byte {
	if c.secure {
		h := HashKey(k)
		return h[:]
	}
	return k
}

// apply runs ops on a fresh trie and returns it.
func (c *rootCase) apply(t *testing.T, ops []vectorOp) *Trie {
	t.Helper()
	tr := NewEmpty(nil)
	for _, op := range ops {
		if err := tr.Update(c.trieKey(op.key), op.value); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// final returns the key-value set the ops leave (trie paths as keys).
func (c *rootCase) final() map[string][]byte {
	m := map[string][]byte{}
	for _, op := range c.ops {
		k := string(c.trieKey(op.key))
		if len(op.value) == 0 {
			delete(m, k)
		} else {
			m[k] = op.value
		}
	}
	return m
}

// TestVectorFilesKnown fails if the vector folder holds a file this test
// does not run, so a new upstream file cannot be skipped silently.
func TestVectorFilesKnown(t *testing.T) {
	names, err := filepath.Glob(filepath.Join(testvectors.Dir(t, vectorSet), "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{nextPrevFile: true}
	for _, f := range rootFiles {
		known[f.name] = true
	}
	for _, n := range names {
		if !known[filepath.Base(n)] {
			t.Errorf("vector file %s is not covered by the tests", filepath.Base(n))
		}
	}
	if len(names) != len(known) {
		t.Errorf("found %d vector files, expected %d", len(names), len(known))
	}
}

func TestEthereumRootVectors(t *testing.T) {
	total := 0
	for _, f := range rootFiles {
		for _, c := range loadRootCases(t, f.name, f.secure) {
			total++
			t.Run(f.name+"/"+c.name, func(t *testing.T) {
				checkRootCase(t, c)
			})
		}
	}
	t.Logf("%d root cases", total)
}

func checkRootCase(t *testing.T, c rootCase) {
	tr := c.apply(t, c.ops)
	if got := tr.Hash(); got != c.root {
		t.Fatalf("root %s, want %s", got, c.root)
	}
	// The same ops through the SecureTrie wrapper.
	if c.secure {
		st := NewSecureEmpty(nil)
		for _, op := range c.ops {
			if err := st.Update(op.key, op.value); err != nil {
				t.Fatal(err)
			}
		}
		if got := st.Hash(); got != c.root {
			t.Fatalf("SecureTrie root %s, want %s", got, c.root)
		}
	}
	// Object form: any insertion order gives the same root. List form:
	// the final set, inserted in any order, gives the same root.
	r := rand.New(rand.NewPCG(uint64(len(c.name)), uint64(len(c.ops))))
	final := c.final()
	for i := 0; i < 20; i++ {
		var ops []vectorOp
		if c.anyOrder {
			ops = slices.Clone(c.ops)
		} else {
			for k, v := range final {
				ops = append(ops, vectorOp{[]byte(k), v})
			}
			slices.SortFunc(ops, func(a, b vectorOp) int { return bytes.Compare(a.key, b.key) })
		}
		r.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
		var got Hash
		if c.anyOrder {
			got = c.apply(t, ops).Hash()
		} else {
			plain := rootCase{} // keys are already trie paths
			got = plain.apply(t, ops).Hash()
		}
		if got != c.root {
			t.Fatalf("order %d: root %s, want %s", i, got, c.root)
		}
	}
	// Commit, reopen from the store, read back, prove every key.
	db := newMemDB(t)
	root := commitVersion(t, db, 1, tr)
	re, err := New(ID{Root: root}, db)
	if err != nil {
		t.Fatal(err)
	}
	if re.Hash() != c.root {
		t.Fatalf("reopened root %s", re.Hash())
	}
	for _, op := range c.ops {
		k := c.trieKey(op.key)
		want := final[string(k)]
		got, err := re.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Get(%x) = %x, want %x", k, got, want)
		}
		nodes, err := re.Prove(k)
		if err != nil {
			t.Fatal(err)
		}
		val, err := proof.VerifyProof(c.root, k, nodes)
		if err != nil {
			t.Fatalf("VerifyProof(%x): %v", k, err)
		}
		if !bytes.Equal(val, want) {
			t.Fatalf("proof of %x gives %x, want %x", k, val, want)
		}
	}
}

func TestEthereumNextPrevVectors(t *testing.T) {
	data, err := os.ReadFile(testvectors.File(t, vectorSet, nextPrevFile))
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]struct {
		In    []string    `json:"in"`
		Tests [][3]string `json:"tests"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	rows := 0
	for name, c := range cases {
		tr := NewEmpty(nil)
		for _, k := range c.In {
			if err := tr.Update([]byte(k), []byte("value of "+k)); err != nil {
				t.Fatal(err)
			}
		}
		db := newMemDB(t)
		root := commitVersion(t, db, 1, tr)
		reopened, err := New(ID{Root: root}, db)
		if err != nil {
			t.Fatal(err)
		}
		for label, tt := range map[string]*Trie{"in-memory": tr, "reopened": reopened} {
			for _, row := range c.Tests {
				query, wantPrev, wantNext := row[0], row[1], row[2]
				prev, next := prevNext(t, tt, []byte(query))
				if prev != wantPrev || next != wantNext {
					t.Errorf("%s/%s: query %q: prev %q next %q, want %q %q", name, label, query, prev, next, wantPrev, wantNext)
				}
				rows++
			}
		}
	}
	t.Logf("%d next/prev rows checked", rows)
}

// prevNext answers a next/prev query with the iterator: next is the first
// key strictly above query, prev the last strictly below; "" means none.
func prevNext(t *testing.T, tr *Trie, query []byte) (prev, next string) {
	t.Helper()
	it := tr.NewIterator()
	if it.Seek(query) {
		if bytes.Equal(it.Key(), query) {
			if it.Next() {
				next = string(it.Key())
			}
		} else {
			next = string(it.Key())
		}
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	var ok bool
	if it.Seek(query) {
		ok = it.Prev()
	} else if it.Error() == nil {
		ok = it.Last()
	}
	if ok {
		prev = string(it.Key())
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return prev, next
}

// newMemDB returns a Database on a fresh memory store.
func newMemDB(t testing.TB) *Database {
	t.Helper()
	db, err := NewDatabase(memkv.New(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// commitVersion commits the tries into db as one version and returns the
// first trie's root.
func commitVersion(t testing.TB, db *Database, version uint64, tries ...*Trie) Hash {
	t.Helper()
	var sets []*NodeSet
	var root Hash
	for i, tr := range tries {
		r, set := tr.Commit()
		if i == 0 {
			root = r
		}
		sets = append(sets, set)
	}
	b := db.store.NewBatch()
	if err := db.Write(b, version, sets...); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(kvSync); err != nil {
		t.Fatal(err)
	}
	return root
}
