package history_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/memkv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
	"github.com/folio-ledger/folio/internal/ledger/history"
	"github.com/folio-ledger/folio/internal/ledger/state"
)

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

type change struct {
	ns, key string
	block   uint64
	tx      uint64
	del     bool
	value   string
}

func add(t *testing.T, s kv.Store, changes ...change) {
	t.Helper()
	b := s.NewBatch()
	defer b.Close()
	w := history.NewWriter(b)
	for _, c := range changes {
		ts := time.Unix(0, int64(c.block*1000+c.tx)).UTC()
		var v []byte
		if !c.del {
			v = []byte(c.value)
		}
		if err := w.Add(c.ns, c.key, state.Version{Block: c.block, Tx: c.tx}, fmt.Sprintf("tx-%d-%d", c.block, c.tx), ts, c.del, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(kv.WriteOptions{Sync: true}); err != nil {
		t.Fatal(err)
	}
}

func summary(es []state.HistoryEntry) string {
	var s []string
	for _, e := range es {
		v := string(e.Value)
		if e.IsDelete {
			v = "<del>"
		}
		s = append(s, fmt.Sprintf("%d.%d:%s:%s:%d", e.Version.BlockNum, e.Version.TxNum, e.TxID, v, e.Timestamp.UnixNano()))
	}
	return strings.Join(s, " ")
}

func TestHistoryOrderAndIsolation(t *testing.T) {
	backends(t, func(t *testing.T, s kv.Store) {
		// Out of order across batches; numbers that sort wrongly as text;
		// keys that prefix each other; a namespace prefixing another.
		add(t, s, change{"a", "k", 10, 0, false, "v10"}, change{"a", "k", 2, 5, false, "v2"})
		add(t, s, change{"a", "k", 256, 1, true, ""}, change{"a", "k", 2, 6, false, "v2b"})
		add(t, s, change{"a", "k\x00x", 1, 0, false, "other key"}, change{"a", "kk", 1, 0, false, "other key"},
			change{"a.b", "k", 1, 0, false, "other ns"}, change{"ab", "k", 1, 0, false, "other ns"})
		r := history.NewReader(s)
		h, err := r.History("a", "k")
		if err != nil {
			t.Fatal(err)
		}
		want := "2.5:tx-2-5:v2:2005 2.6:tx-2-6:v2b:2006 10.0:tx-10-0:v10:10000 256.1:tx-256-1:<del>:256001"
		if got := summary(h); got != want {
			t.Fatalf("history:\n got %s\nwant %s", got, want)
		}
		if h[3].Value != nil {
			t.Fatal("a delete has a value")
		}
		it, err := r.NewIterator("a", "k", state.Version{Block: 2, Tx: 6})
		if err != nil {
			t.Fatal(err)
		}
		var got []state.HistoryEntry
		for it.Next() {
			got = append(got, it.Entry())
		}
		if err := it.Close(); err != nil || len(got) != 3 || got[0].Version.TxNum != 6 {
			t.Fatalf("iterator from 2.6: %s %v", summary(got), err)
		}
		if err := it.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		if h, err := r.History("a", "none"); err != nil || len(h) != 0 {
			t.Fatalf("unwritten key: %v %v", h, err)
		}
		if _, err := r.History("a", ""); !errors.Is(err, state.ErrInvalidKey) {
			t.Fatalf("empty key: %v", err)
		}
	})
}

func TestHistoryRefusesBadInput(t *testing.T) {
	b := memkv.New().NewBatch()
	w := history.NewWriter(b)
	ts := time.Unix(0, 0)
	for _, tc := range []struct {
		ns, key, txID string
		value         []byte
		want          error
	}{
		{"a", "k", strings.Repeat("x", 256), nil, history.ErrInvalidTxID},
		{"1", "k", "t", nil, state.ErrInvalidNamespace},
		{"a", "", "t", nil, state.ErrInvalidKey},
		{"a", "k", "t", make([]byte, state.MaxValueBytes+1), state.ErrValueTooLarge},
	} {
		if err := w.Add(tc.ns, tc.key, state.Version{}, tc.txID, ts, false, tc.value); !errors.Is(err, tc.want) {
			t.Errorf("Add(%q, %q, %d-byte tx ID) = %v, want %v", tc.ns, tc.key, len(tc.txID), err, tc.want)
		}
	}
	if b.Len() != 0 {
		t.Fatalf("refused entries added %d operations", b.Len())
	}
}

func TestCorruptRecord(t *testing.T) {
	backends(t, func(t *testing.T, s kv.Store) {
		add(t, s, change{"a", "k", 1, 0, false, "v"})
		k := append([]byte("hi/a\x00k\xff"), 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0)
		for _, bad := range [][]byte{{}, {0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 'a'}, {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'v'}} {
			b := s.NewBatch()
			_ = b.Set(k, bad)
			if err := b.Commit(kv.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			_, err := history.NewReader(s).History("a", "k")
			if !errors.Is(err, kv.ErrCorruption) || !strings.Contains(err.Error(), `a/"k" at block 2 tx 0`) {
				t.Fatalf("record %x: %v", bad, err)
			}
		}
		// A key of the wrong length under the key's prefix.
		b := s.NewBatch()
		_ = b.Set([]byte("hi/a\x00k\xff\x01"), []byte{0})
		_ = b.Delete(k)
		_ = b.Commit(kv.WriteOptions{})
		if _, err := history.NewReader(s).History("a", "k"); !errors.Is(err, kv.ErrCorruption) {
			t.Fatalf("short key: %v", err)
		}
	})
}

func TestRecordEncoding(t *testing.T) {
	rec := history.Record{TxID: "abc", Timestamp: -5, Value: []byte("v")}
	enc, err := history.EncodeRecord(nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb, 3, 'a', 'b', 'c', 'v'}
	if !bytes.Equal(enc, want) {
		t.Fatalf("encoding %x, want %x", enc, want)
	}
	got, err := history.DecodeRecord(enc)
	if err != nil || got.TxID != "abc" || got.Timestamp != -5 || got.IsDelete || string(got.Value) != "v" {
		t.Fatalf("decode: %+v %v", got, err)
	}
	if _, err := history.EncodeRecord(nil, history.Record{IsDelete: true, Value: []byte("x")}); err == nil {
		t.Fatal("a delete with a value encoded")
	}
}

// FuzzDecodeRecord: DecodeRecord never panics, and what it accepts
// re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	for _, rec := range []history.Record{
		{TxID: "3f2a", Timestamp: 1700000000000000000, Value: []byte(`{"owner":"alice"}`)},
		{TxID: "3f2a", Timestamp: 1, IsDelete: true},
		{},
	} {
		enc, _ := history.EncodeRecord(nil, rec)
		f.Add(enc)
	}
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := history.DecodeRecord(b)
		if err != nil {
			return
		}
		enc, err := history.EncodeRecord(nil, rec)
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("%x decodes to %+v, re-encodes to %x (%v)", b, rec, enc, err)
		}
	})
}
