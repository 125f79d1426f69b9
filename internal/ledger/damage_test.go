package ledger_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/memkv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/ledger/trie"
)

func num8(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func key(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// damage edits one record of a committed 10-block ledger.
type damage struct {
	name   string
	edit   func(t *testing.T, s kv.Store, m *model)
	verify bool   // may need Options.VerifyOnOpen to be found
	want   string // the error names this
}

func flip(t *testing.T, s kv.Store, k []byte, at func(n int) int) {
	t.Helper()
	v, err := s.Get(k)
	if err != nil {
		t.Fatalf("get %q: %v", k, err)
	}
	v[at(len(v))] ^= 0x10
	set(t, s, k, v)
}

func set(t *testing.T, s kv.Store, k, v []byte) {
	t.Helper()
	b := s.NewBatch()
	if v == nil {
		_ = b.Delete(k)
	} else {
		_ = b.Set(k, v)
	}
	if err := b.Commit(kv.WriteOptions{Sync: true}); err != nil {
		t.Fatal(err)
	}
}

func anyKey(t *testing.T, s kv.Store, prefix string) []byte {
	t.Helper()
	it, _ := s.NewIter(&kv.IterOptions{Lower: []byte(prefix), Upper: kv.PrefixEnd([]byte(prefix))})
	defer it.Close()
	if !it.First() {
		t.Fatalf("no key under %q", prefix)
	}
	return bytes.Clone(it.Key())
}

var damages = []damage{
	{"last block bit flip", func(t *testing.T, s kv.Store, m *model) {
		flip(t, s, key([]byte("blk/b/"), num8(9)), func(n int) int { return n / 2 })
	}, false, "block 9"},
	{"last block truncated", func(t *testing.T, s kv.Store, m *model) {
		k := key([]byte("blk/b/"), num8(9))
		v, _ := s.Get(k)
		set(t, s, k, v[:len(v)-7])
	}, false, "block 9"},
	{"middle block bit flip", func(t *testing.T, s kv.Store, m *model) {
		flip(t, s, key([]byte("blk/b/"), num8(4)), func(n int) int { return n - 40 })
	}, true, "block 4"},
	{"header bit flip", func(t *testing.T, s kv.Store, m *model) {
		flip(t, s, key([]byte("blk/h/"), num8(6)), func(int) int { return 20 })
	}, false, "block 6"},
	{"state height behind", func(t *testing.T, s kv.Store, m *model) {
		set(t, s, []byte("st/h"), num8(9))
	}, false, "last block 9"},
	{"state root record flipped", func(t *testing.T, s kv.Store, m *model) {
		flip(t, s, key([]byte("lg/r/"), num8(9)), func(int) int { return 3 })
	}, false, "block 9"},
	{"state root record truncated", func(t *testing.T, s kv.Store, m *model) {
		set(t, s, key([]byte("lg/r/"), num8(9)), []byte{1, 2, 3})
	}, false, "block 9"},
	{"state root record missing", func(t *testing.T, s kv.Store, m *model) {
		set(t, s, key([]byte("lg/r/"), num8(9)), nil)
	}, false, "block 9"},
	{"old state root record flipped", func(t *testing.T, s kv.Store, m *model) {
		flip(t, s, key([]byte("lg/r/"), num8(2)), func(int) int { return 3 })
	}, true, "block 2"},
	{"trie version behind", func(t *testing.T, s kv.Store, m *model) {
		set(t, s, []byte("tr/v"), num8(8))
	}, false, "block 9"},
	{"trie root node missing", func(t *testing.T, s kv.Store, m *model) {
		root := m.root()
		set(t, s, key([]byte("tr/n"), make([]byte, 32), root[:]), nil)
	}, false, "block 9"},
	{"trie root node flipped", func(t *testing.T, s kv.Store, m *model) {
		root := m.root()
		flip(t, s, key([]byte("tr/n"), make([]byte, 32), root[:]), func(n int) int { return n - 1 })
	}, false, "hashes to"},
	{"storage trie node missing", func(t *testing.T, s kv.Store, m *model) {
		root := m.storageRoot("copyright")
		owner := trie.Keccak256([]byte("copyright"))
		set(t, s, key([]byte("tr/n"), owner[:], root[:]), nil)
	}, true, "copyright"},
	{"state entry value flipped", func(t *testing.T, s kv.Store, m *model) {
		flip(t, s, anyKey(t, s, "st/k/copyright\x00"), func(n int) int { return n - 1 })
	}, true, "copyright"},
	{"state entry truncated", func(t *testing.T, s kv.Store, m *model) {
		set(t, s, anyKey(t, s, "st/k/license\x00"), []byte{1, 2})
	}, true, "license"},
	{"state entry deleted", func(t *testing.T, s kv.Store, m *model) {
		set(t, s, anyKey(t, s, "st/k/license\x00"), nil)
	}, true, "license"},
	{"history record truncated", func(t *testing.T, s kv.Store, m *model) {
		set(t, s, anyKey(t, s, "hi/copyright\x00"), []byte{0, 1})
	}, true, "copyright"},
	{"format record garbled", func(t *testing.T, s kv.Store, m *model) {
		set(t, s, []byte("lg/format"), []byte("garbage"))
	}, false, "format record"},
	{"format record missing", func(t *testing.T, s kv.Store, m *model) {
		set(t, s, []byte("lg/format"), nil)
	}, false, "no ledger format record"},
}

// TestOpenDetectsDamage damages single records of a committed ledger and
// expects Open (or Open with VerifyOnOpen, for damage off the tip) to
// refuse it with kv.ErrCorruption naming the block, namespace or key.
func TestOpenDetectsDamage(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			s := memkv.New()
			w := defaultWorkload(5)
			m := newModel()
			l := openLedger(t, s, ledger.Options{})
			commitWorkload(t, l, m, w, 10)
			l.Close()
			d.edit(t, s, m)
			l, err := ledger.OpenStore(s, ledger.Options{})
			if d.verify && err == nil {
				// Damage off the tip may need the full check (the block
				// store checks every block body at open itself).
				l.Close()
				_, err = ledger.OpenStore(s, ledger.Options{VerifyOnOpen: true})
			}
			if err == nil {
				t.Fatal("damaged ledger opened")
			}
			if !errors.Is(err, kv.ErrCorruption) || !strings.Contains(err.Error(), d.want) {
				t.Fatalf("Open = %v\nwant kv.ErrCorruption naming %q", err, d.want)
			}
			t.Logf("%v", err)
		})
	}
}

// TestNewerFormatRefused: a ledger written by a newer format is refused.
func TestNewerFormatRefused(t *testing.T) {
	s := memkv.New()
	l := openLedger(t, s, ledger.Options{})
	l.Close()
	set(t, s, []byte("lg/format"), append([]byte("folio/ledger"), 0, 0, 0, 2))
	_, err := ledger.OpenStore(s, ledger.Options{})
	var fe *kv.FormatVersionError
	if !errors.Is(err, kv.ErrFormatTooNew) || !errors.As(err, &fe) || fe.OnDisk != 2 {
		t.Fatalf("Open = %v, want a FormatVersionError", err)
	}
}

// TestPebbleFileCorruption damages the sstables of a Pebble ledger: Open
// (with VerifyOnOpen, which reads every block) reports kv.ErrCorruption,
// never wrong data.
func TestPebbleFileCorruption(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   func(size int) int
	}{
		{"first-block", func(int) int { return 16 }},
		{"middle", func(size int) int { return size / 2 }},
		{"near-end", func(size int) int { return size * 3 / 4 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			opts := ledger.Options{Store: pebblekv.Options{FS: mem}}
			l, err := ledger.Open("db", opts)
			if err != nil {
				t.Fatal(err)
			}
			w := defaultWorkload(9)
			m := newModel()
			commitWorkload(t, l, m, w, 30)
			l.Close()
			// Flush the write-ahead log into sstables.
			s, err := pebblekv.Open("db", pebblekv.Options{FS: mem})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			s.Close()
			names, _ := mem.List("db")
			n := 0
			for _, name := range names {
				if filepath.Ext(name) != ".sst" {
					continue
				}
				p := filepath.Join("db", name)
				data := readFile(t, mem, p)
				off := tc.at(len(data))
				for i := off; i < off+32 && i < len(data); i++ {
					data[i] ^= 0x5a
				}
				writeFile(t, mem, p, data)
				n++
			}
			if n == 0 {
				t.Fatal("no sstable")
			}
			opts.VerifyOnOpen = true
			l, err = ledger.Open("db", opts)
			if err == nil {
				l.Close()
				t.Fatal("a ledger with damaged sstables opened and verified")
			}
			if !errors.Is(err, kv.ErrCorruption) {
				t.Fatalf("Open = %v, want kv.ErrCorruption", err)
			}
			t.Logf("%v", err)
		})
	}
}

func readFile(t *testing.T, fs vfs.FS, p string) []byte {
	t.Helper()
	f, err := fs.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, fs vfs.FS, p string, data []byte) {
	t.Helper()
	f, err := fs.Create(p, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
