package state_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/memkv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
	"github.com/folio-ledger/folio/internal/ledger/state"
)

// backends runs fn against every kv backend: the state must behave the same
// on each (a shared suite).
func backends(t *testing.T, fn func(t *testing.T, s kv.Store)) {
	t.Run("memory", func(t *testing.T) { fn(t, memkv.New()) })
	t.Run("pebble", func(t *testing.T) {
		s, err := pebblekv.Open(t.TempDir(), pebblekv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		fn(t, s)
	})
}

func commit(t *testing.T, s kv.Store, fn func(w *state.Writer) error) {
	t.Helper()
	b := s.NewBatch()
	defer b.Close()
	if err := fn(state.NewWriter(b)); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(kv.WriteOptions{Sync: true}); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		ns, key string
		value   int
		want    error
	}{
		{"copyright", "k", 0, nil},
		{"a", strings.Repeat("k", state.MaxKeyBytes), state.MaxValueBytes, nil},
		{"A_b.c-9", "\x00composite\x00key\x00", 1, nil},
		{"a" + strings.Repeat("b", 63), "k", 0, nil},
		{"a" + strings.Repeat("b", 64), "k", 0, state.ErrInvalidNamespace},
		{"", "k", 0, state.ErrInvalidNamespace},
		{"_a", "k", 0, state.ErrInvalidNamespace},
		{"a b", "k", 0, state.ErrInvalidNamespace},
		{"a/b", "k", 0, state.ErrInvalidNamespace},
		{"a", "", 0, state.ErrInvalidKey},
		{"a", strings.Repeat("k", state.MaxKeyBytes+1), 0, state.ErrInvalidKey},
		{"a", "\xc3", 0, state.ErrInvalidKey},
		{"a", "k", state.MaxValueBytes + 1, state.ErrValueTooLarge},
	} {
		err := state.ValidateWrite(tc.ns, tc.key, make([]byte, tc.value))
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("ValidateWrite(%.20q, %.20q, %d bytes) = %v, want %v", tc.ns, tc.key, tc.value, err, tc.want)
		}
	}
}

func TestReadWrite(t *testing.T) {
	backends(t, func(t *testing.T, s kv.Store) {
		r := state.NewReader(s)
		if h, err := r.Height(); err != nil || h != 0 {
			t.Fatalf("height of a new state: %d %v", h, err)
		}
		commit(t, s, func(w *state.Writer) error {
			for _, e := range []struct{ ns, k, v string }{
				{"a", "k1", "v1"}, {"a", "k2", "v2"}, {"a", "k3", ""}, {"a.b", "k1", "other"}, {"ab", "k1", "other"},
			} {
				if err := w.Put(e.ns, e.k, []byte(e.v), state.Version{Block: 1, Tx: 2}); err != nil {
					return err
				}
			}
			return w.SetHeight(2)
		})
		commit(t, s, func(w *state.Writer) error {
			if err := w.Put("a", "k1", []byte("v1'"), state.Version{Block: 2, Tx: 0}); err != nil {
				return err
			}
			if err := w.Delete("a", "k2"); err != nil {
				return err
			}
			return w.Delete("a", "never")
		})
		v, ver, err := r.Get("a", "k1")
		if err != nil || string(v) != "v1'" || ver.BlockNum != 2 || ver.TxNum != 0 {
			t.Fatalf("get k1: %q %v %v", v, ver, err)
		}
		if v, ver, err := r.Get("a", "k2"); err != nil || v != nil || ver != nil {
			t.Fatalf("deleted key: %q %v %v", v, ver, err)
		}
		if v, ver, err := r.Get("a", "k3"); err != nil || v == nil || len(v) != 0 || ver == nil {
			t.Fatalf("empty value: %q %v %v", v, ver, err)
		}
		kvs, more, err := r.Range("a", "", "", 0)
		if err != nil || more || len(kvs) != 2 || kvs[0].Key != "k1" || kvs[1].Key != "k3" {
			t.Fatalf("range: %+v %v %v", kvs, more, err)
		}
		var all []string
		err = r.Scan(func(e state.Entry) error {
			all = append(all, fmt.Sprintf("%s/%s=%s@%d.%d", e.Namespace, e.Key, e.Value, e.Version.Block, e.Version.Tx))
			return nil
		})
		if want := "[a/k1=v1'@2.0 a/k3=@1.2 a.b/k1=other@1.2 ab/k1=other@1.2]"; err != nil || fmt.Sprint(all) != want {
			t.Fatalf("scan: %v %v, want %s", all, err, want)
		}
		if h, err := r.Height(); err != nil || h != 2 {
			t.Fatalf("height: %d %v", h, err)
		}
		// Bad input is refused, and nothing is added to the batch.
		b := s.NewBatch()
		w := state.NewWriter(b)
		if err := w.Put("a", "k", make([]byte, state.MaxValueBytes+1), state.Version{}); !errors.Is(err, state.ErrValueTooLarge) {
			t.Fatalf("oversized value: %v", err)
		}
		if err := w.Delete("1a", "k"); !errors.Is(err, state.ErrInvalidNamespace) {
			t.Fatalf("bad namespace: %v", err)
		}
		if b.Len() != 0 {
			t.Fatalf("refused writes added %d operations", b.Len())
		}
		b.Close()
		if _, _, err := r.Range("a", "z", "b", 1); !errors.Is(err, state.ErrInvalidRange) {
			t.Fatalf("inverted range: %v", err)
		}
	})
}

func TestCorruptEntry(t *testing.T) {
	backends(t, func(t *testing.T, s kv.Store) {
		b := s.NewBatch()
		_ = b.Set([]byte("st/k/a\x00k"), []byte{1, 2, 3})
		_ = b.Set([]byte("st/h"), []byte{1})
		if err := b.Commit(kv.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		r := state.NewReader(s)
		if _, _, err := r.Get("a", "k"); !errors.Is(err, kv.ErrCorruption) || !strings.Contains(err.Error(), `a/"k"`) {
			t.Fatalf("get: %v", err)
		}
		if _, _, err := r.Range("a", "", "", 0); !errors.Is(err, kv.ErrCorruption) {
			t.Fatalf("range: %v", err)
		}
		if err := r.Scan(func(state.Entry) error { return nil }); !errors.Is(err, kv.ErrCorruption) {
			t.Fatalf("scan: %v", err)
		}
		if _, err := r.Height(); !errors.Is(err, kv.ErrCorruption) {
			t.Fatalf("height: %v", err)
		}
	})
}

// TestAgainstReference applies random writes and compares random point
// reads, ranges and prefix scans with a map.
func TestAgainstReference(t *testing.T) {
	backends(t, func(t *testing.T, s kv.Store) {
		rng := rand.New(rand.NewPCG(1, 2))
		ref := map[string]map[string]string{}
		namespaces := []string{"a", "a.b", "ab", "z"}
		keyOf := func() string {
			// Keys sharing prefixes, composite keys with NULs, multi-byte
			// runes, so that ordering and prefix ends matter.
			parts := []string{"", "\x00", "k", "kk", "é", "\x00o\x00", "\U0010FFFF", "~"}
			var b strings.Builder
			for n := 1 + rng.IntN(4); n > 0; n-- {
				b.WriteString(parts[rng.IntN(len(parts))])
			}
			if b.Len() == 0 {
				return "k"
			}
			return b.String()
		}
		for round := 0; round < 30; round++ {
			commit(t, s, func(w *state.Writer) error {
				for i := 0; i < 40; i++ {
					ns, k := namespaces[rng.IntN(len(namespaces))], keyOf()
					if ref[ns] == nil {
						ref[ns] = map[string]string{}
					}
					if rng.IntN(4) == 0 {
						delete(ref[ns], k)
						if err := w.Delete(ns, k); err != nil {
							return err
						}
						continue
					}
					v := fmt.Sprintf("%d/%d", round, i)
					ref[ns][k] = v
					if err := w.Put(ns, k, []byte(v), state.Version{Block: uint64(round), Tx: uint64(i)}); err != nil {
						return err
					}
				}
				return nil
			})
			r := state.NewReader(s)
			for q := 0; q < 30; q++ {
				ns := namespaces[rng.IntN(len(namespaces))]
				start, end := keyOf(), keyOf()
				switch rng.IntN(4) {
				case 0:
					start = ""
				case 1:
					end = ""
				case 2:
					end = state.PrefixEnd(start) // prefix scan
				}
				if end != "" && start > end {
					start, end = end, start
				}
				limit := rng.IntN(6)
				var want []string
				for _, k := range slices.Sorted(maps.Keys(ref[ns])) {
					if k >= start && (end == "" || k < end) {
						want = append(want, k+"="+ref[ns][k])
					}
				}
				wantMore := limit > 0 && len(want) > limit
				if wantMore {
					want = want[:limit]
				}
				kvs, more, err := r.Range(ns, start, end, limit)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range kvs {
					got = append(got, e.Key+"="+string(e.Value))
				}
				if fmt.Sprint(got) != fmt.Sprint(want) || more != wantMore {
					t.Fatalf("Range(%s, %q, %q, %d) = %q more=%v, want %q more=%v", ns, start, end, limit, got, more, want, wantMore)
				}
				k := keyOf()
				v, ver, err := r.Get(ns, k)
				if rv, ok := ref[ns][k]; err != nil || ok != (ver != nil) || string(v) != rv {
					t.Fatalf("Get(%s, %q) = %q %v %v, want %q %v", ns, k, v, ver, err, rv, ok)
				}
			}
		}
	})
}

func TestEntryEncoding(t *testing.T) {
	v := state.Version{Block: 0x0102030405060708, Tx: 9}
	enc := state.EncodeEntry(nil, v, []byte("value"))
	if !bytes.Equal(enc[:16], []byte{1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 9}) {
		t.Fatalf("version bytes %x", enc[:16])
	}
	got, val, err := state.DecodeEntry(enc)
	if err != nil || got != v || string(val) != "value" {
		t.Fatalf("decode: %v %q %v", got, val, err)
	}
	if v.Compare(state.Version{Block: v.Block, Tx: 10}) != -1 || v.Compare(v) != 0 || v.Compare(state.Version{}) != 1 {
		t.Fatal("Compare")
	}
}

// FuzzDecodeEntry: DecodeEntry never panics, and what it accepts re-encodes
// to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte{})
	f.Add(state.EncodeEntry(nil, state.Version{Block: 1, Tx: 2}, []byte("v")))
	f.Add(make([]byte, 15))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, value, err := state.DecodeEntry(b)
		if err != nil {
			if len(b) >= 16 {
				t.Fatalf("refused a %d-byte record: %v", len(b), err)
			}
			return
		}
		if !bytes.Equal(state.EncodeEntry(nil, v, value), b) {
			t.Fatalf("%x does not re-encode", b)
		}
	})
}
