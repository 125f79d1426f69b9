package trie

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/folio-ledger/folio/internal/ledger/rlp"
)

// refRoot is a naive reference: the root hash computed straight from the
// Yellow Paper's definition (appendix D), recursively over the sorted key
// set, sharing no code with the trie except RLP and Keccak.
func refRoot(m map[string][]byte) Hash {
	type item struct{ path, value []byte }
	items := make([]item, 0, len(m))
	for k, v := range m {
		var p []byte
		for _, b := range []byte(k) {
			p = append(p, b>>4, b&15)
		}
		items = append(items, item{p, v})
	}
	slices.SortFunc(items, func(a, b item) int { return bytes.Compare(a.path, b.path) })

	hp := func(nibbles []byte, leaf bool) []byte {
		f := byte(0)
		if leaf {
			f = 2
		}
		var out []byte
		if len(nibbles)%2 == 1 {
			out = append(out, (f+1)<<4|nibbles[0])
			nibbles = nibbles[1:]
		} else {
			out = append(out, f<<4)
		}
		for i := 0; i < len(nibbles); i += 2 {
			out = append(out, nibbles[i]<<4|nibbles[i+1])
		}
		return out
	}
	var c func(items []item, d int) []byte    // the node's encoding
	ref := func(items []item, d int) []byte { // n(I, d)
		if len(items) == 0 {
			return rlp.AppendString(nil, nil)
		}
		enc := c(items, d)
		if len(enc) < 32 {
			return enc
		}
		h := Keccak256(enc)
		return rlp.AppendString(nil, h[:])
	}
	c = func(items []item, d int) []byte {
		if len(items) == 1 {
			body := rlp.AppendString(nil, hp(items[0].path[d:], true))
			body = rlp.AppendString(body, items[0].value)
			return rlp.AppendList(nil, body)
		}
		// Longest common prefix beyond d.
		j := len(items[0].path) - d
		for _, it := range items[1:] {
			j = min(j, prefixLenRef(items[0].path[d:], it.path[d:]))
		}
		if j > 0 {
			body := rlp.AppendString(nil, hp(items[0].path[d:d+j], false))
			body = append(body, ref(items, d+j)...)
			return rlp.AppendList(nil, body)
		}
		var body, value []byte
		for nib := byte(0); nib < 16; nib++ {
			var sub []item
			for _, it := range items {
				if len(it.path) > d && it.path[d] == nib {
					sub = append(sub, it)
				}
			}
			body = append(body, ref(sub, d+1)...)
		}
		for _, it := range items {
			if len(it.path) == d {
				value = it.value
			}
		}
		body = rlp.AppendString(body, value)
		return rlp.AppendList(nil, body)
	}
	if len(items) == 0 {
		return Keccak256(rlp.AppendString(nil, nil))
	}
	return Keccak256(c(items, 0))
}

func prefixLenRef(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// keyGen produces keys of one shape.
type keyGen struct {
	name string
	gen  func(r *rand.Rand) []byte
}

var keyGens = []keyGen{
	{"short-alphabet", func(r *rand.Rand) []byte { // many shared prefixes, values in branches
		b := make([]byte, r.IntN(4))
		for i := range b {
			b[i] = "\x00\x01\x10\x11\xff"[r.IntN(5)]
		}
		return b
	}},
	{"hashed-32", func(r *rand.Rand) []byte {
		h := Keccak256([]byte{byte(r.IntN(256)), byte(r.IntN(8))})
		return h[:]
	}},
	{"mixed-length", func(r *rand.Rand) []byte {
		b := make([]byte, 1+r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(3))
		}
		return b
	}},
}

func randomValue(r *rand.Rand) []byte {
	var n int
	switch r.IntN(4) {
	case 0:
		n = 1
	case 1:
		n = 2 + r.IntN(30)
	case 2:
		n = 50 + r.IntN(20)
	default:
		n = r.IntN(8)
	}
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(r.IntN(256))
	}
	return v
}

// checkAgainstModel compares the trie with the model: root against the
// naive reference and a fresh trie built from the sorted model, every Get,
// and a full iteration.
func checkAgainstModel(t *testing.T, tr *Trie, model map[string][]byte) {
	t.Helper()
	want := refRoot(model)
	if got := tr.Hash(); got != want {
		t.Fatalf("root %s, reference %s (%d keys)", got, want, len(model))
	}
	keys := make([]string, 0, len(model))
	for k := range model {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fresh := NewEmpty(nil)
	for _, k := range keys {
		if err := fresh.Update([]byte(k), model[k]); err != nil {
			t.Fatal(err)
		}
	}
	if fresh.Hash() != want {
		t.Fatalf("fresh trie from sorted map: %s, reference %s", fresh.Hash(), want)
	}
	for _, k := range keys {
		v, err := tr.Get([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(v, model[k]) {
			t.Fatalf("Get(%x) = %x, want %x", k, v, model[k])
		}
	}
	it := tr.NewIterator()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if i >= len(keys) || string(it.Key()) != keys[i] || !bytes.Equal(it.Value(), model[keys[i]]) {
			t.Fatalf("iteration step %d: key %x", i, it.Key())
		}
		i++
	}
	if it.Error() != nil || i != len(keys) {
		t.Fatalf("iterated %d keys of %d: %v", i, len(keys), it.Error())
	}
	i = len(keys) - 1
	for ok := it.Last(); ok; ok = it.Prev() {
		if i < 0 || string(it.Key()) != keys[i] {
			t.Fatalf("reverse iteration step %d: key %x", i, it.Key())
		}
		i--
	}
	if i != -1 {
		t.Fatalf("reverse iteration stopped with %d keys left", i+1)
	}
}

// TestAgainstReference applies random operations to the trie and to a map,
// committing and reopening from the store now and then, and compares them
// (STYLE 14: check against a reference).
func TestAgainstReference(t *testing.T) {
	for _, kg := range keyGens {
		for seed := uint64(0); seed < 8; seed++ {
			t.Run(fmt.Sprintf("%s/seed%d", kg.name, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 99))
				db := newMemDB(t)
				tr := NewEmpty(db)
				model := map[string][]byte{}
				version := uint64(0)
				for step := 0; step < 400; step++ {
					k := kg.gen(r)
					switch op := r.IntN(10); {
					case op < 6:
						v := randomValue(r)
						if err := tr.Update(k, v); err != nil {
							t.Fatal(err)
						}
						if len(v) == 0 {
							delete(model, string(k))
						} else {
							model[string(k)] = v
						}
					default:
						if op == 9 && len(model) > 0 { // delete an existing key
							for mk := range model {
								k = []byte(mk)
								break
							}
						}
						if err := tr.Delete(k); err != nil {
							t.Fatal(err)
						}
						delete(model, string(k))
					}
					if step%50 == 49 {
						checkAgainstModel(t, tr, model)
					}
					if r.IntN(40) == 0 {
						version++
						root := commitVersion(t, db, version, tr)
						reopened, err := New(ID{Root: root}, db)
						if err != nil {
							t.Fatal(err)
						}
						tr = reopened
					}
				}
				checkAgainstModel(t, tr, model)
			})
		}
	}
}

// FuzzTrie decodes the input as operations on short keys, applies them to
// the trie and a map, and checks the root against the naive reference, also
// after a commit and reopen.
func FuzzTrie(f *testing.F) {
	f.Add([]byte("\x00\x02ab\x01x\x00\x02ac\x02yy\x01\x02ab"))
	f.Add([]byte("\x00\x00\x01v\x00\x01a\x01w\x00\x02aa\x01z\x01\x01a"))
	f.Add(bytes.Repeat([]byte("\x00\x03abc\x21"), 5))
	f.Fuzz(func(t *testing.T, in []byte) {
		tr := NewEmpty(nil)
		model := map[string][]byte{}
		for len(in) >= 2 {
			op, klen := in[0], int(in[1]%5)
			in = in[2:]
			if len(in) < klen {
				break
			}
			key := in[:klen]
			in = in[klen:]
			switch op % 3 {
			case 0, 2:
				vlen := 0
				if len(in) > 0 {
					vlen = int(in[0] % 64)
					in = in[1:]
				}
				vlen = min(vlen, len(in))
				val := in[:vlen]
				in = in[vlen:]
				if err := tr.Update(key, val); err != nil {
					t.Fatal(err)
				}
				if len(val) == 0 {
					delete(model, string(key))
				} else {
					model[string(key)] = bytes.Clone(val)
				}
			case 1:
				if err := tr.Delete(key); err != nil {
					t.Fatal(err)
				}
				delete(model, string(key))
			}
		}
		want := refRoot(model)
		if got := tr.Hash(); got != want {
			t.Fatalf("root %s, reference %s", got, want)
		}
		db := newMemDB(t)
		root := commitVersion(t, db, 1, tr)
		re, err := New(ID{Root: root}, db)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range model {
			got, err := re.Get([]byte(k))
			if err != nil || !bytes.Equal(got, v) {
				t.Fatalf("reopened Get(%x) = %x, %v; want %x", k, got, err, v)
			}
		}
	})
}

// FuzzDecodeNode checks that node decoding never panics and accepts only
// canonical encodings: whatever it accepts re-encodes to the same bytes.
func FuzzDecodeNode(f *testing.F) {
	tr := NewEmpty(nil)
	for _, k := range []string{"do", "dog", "doge", "horse", "a-long-key-that-makes-a-big-leaf-node-aaaaaaaa"} {
		_ = tr.Update([]byte(k), []byte("v-"+k))
	}
	_, set := tr.Commit()
	for i := 0; i < set.Len(); i++ {
		_, blob := set.Node(i)
		f.Add(blob)
	}
	f.Add([]byte{0xc2, 0x20, 0x01})
	f.Fuzz(func(t *testing.T, blob []byte) {
		hash := Keccak256(blob)
		n, err := decodeNode(&hash, blob)
		if err != nil {
			if !errors.Is(err, errMalformedNode) {
				t.Fatalf("decode error %v does not wrap errMalformedNode", err)
			}
			return
		}
		var h hasher
		if enc := h.encodeNode(n); !bytes.Equal(enc, blob) {
			t.Fatalf("accepted %x, which re-encodes as %x", blob, enc)
		}
	})
}

// TestIteratorSeekAgainstModel checks Seek, Next and Prev at random query
// keys against the sorted model, on an in-memory trie and on the same trie
// reopened from the store (where the iterator loads nodes itself).
func TestIteratorSeekAgainstModel(t *testing.T) {
	for _, kg := range keyGens {
		r := rand.New(rand.NewPCG(17, 17))
		tr := NewEmpty(nil)
		model := map[string][]byte{}
		for i := 0; i < 300; i++ {
			k := kg.gen(r)
			model[string(k)] = []byte{1}
			_ = tr.Update(k, []byte{1})
		}
		keys := make([]string, 0, len(model))
		for k := range model {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		db := newMemDB(t)
		root := commitVersion(t, db, 1, tr)
		re, err := New(ID{Root: root}, db)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []*Trie{tr, re} {
			it := tt.NewIterator()
			for q := 0; q < 500; q++ {
				query := kg.gen(r)
				if q%3 == 0 {
					query = []byte(keys[r.IntN(len(keys))]) // present keys too
				}
				i, _ := slices.BinarySearch(keys, string(query))
				ok := it.Seek(query)
				if ok != (i < len(keys)) || ok && string(it.Key()) != keys[i] {
					t.Fatalf("%s: Seek(%x) = %v %x, want index %d of %d", kg.name, query, ok, it.Key(), i, len(keys))
				}
				if !ok {
					continue
				}
				if it.Prev() != (i > 0) || i > 0 && string(it.Key()) != keys[i-1] {
					t.Fatalf("%s: Prev after Seek(%x) = %x, want index %d", kg.name, query, it.Key(), i-1)
				}
				if i > 0 && (!it.Next() || string(it.Key()) != keys[i]) {
					t.Fatalf("%s: Next back after Prev: %x", kg.name, it.Key())
				}
			}
		}
	}
}
