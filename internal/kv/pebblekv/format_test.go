package pebblekv

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/folio-ledger/folio/internal/kv"
)

// rawSet writes directly into the Pebble database under a closed store.
func rawSet(t *testing.T, fs vfs.FS, key, value []byte) {
	t.Helper()
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: pebbleLogger{slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(key, value, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFormatRecord(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Open("db", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewBatch()
	if err := b.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(kv.WriteOptions{Sync: true}); err != nil {
		t.Fatal(err)
	}
	// The record is invisible to users and the whole-range DeleteRange
	// leaves it alone.
	it, err := s.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	it.Close()
	if n != 1 {
		t.Fatalf("user scan saw %d keys, want 1", n)
	}
	b = s.NewBatch()
	if err := b.DeleteRange(nil, []byte{0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(kv.WriteOptions{Sync: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen: the record is still there and accepted.
	s, err = Open("db", Options{FS: fs})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A newer format is refused with a clear, typed error.
	rawSet(t, fs, formatKey, binary.BigEndian.AppendUint32([]byte(formatMagic), FormatVersion+1))
	_, err = Open("db", Options{FS: fs})
	var fv *kv.FormatVersionError
	if !errors.Is(err, kv.ErrFormatTooNew) || !errors.As(err, &fv) || fv.OnDisk != FormatVersion+1 || fv.Supported != FormatVersion {
		t.Fatalf("Open(newer format) = %v, want FormatVersionError{OnDisk: %d}", err, FormatVersion+1)
	}
	t.Logf("newer format refused: %v", err)

	// A garbled record is corruption.
	rawSet(t, fs, formatKey, []byte("garbage"))
	if _, err := Open("db", Options{FS: fs}); !errors.Is(err, kv.ErrCorruption) {
		t.Fatalf("Open(garbled record) = %v, want ErrCorruption", err)
	}
	rawSet(t, fs, formatKey, binary.BigEndian.AppendUint32([]byte(formatMagic), 0))
	if _, err := Open("db", Options{FS: fs}); !errors.Is(err, kv.ErrCorruption) {
		t.Fatalf("Open(version 0) = %v, want ErrCorruption", err)
	}
}

func TestDataWithoutFormatRecordRefused(t *testing.T) {
	fs := vfs.NewMem()
	rawSet(t, fs, []byte{userPrefix, 'x'}, []byte("stray"))
	if _, err := Open("db", Options{FS: fs}); !errors.Is(err, kv.ErrCorruption) {
		t.Fatalf("Open(data without record) = %v, want ErrCorruption", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	bad := []Options{{CacheBytes: -1}, {MemTableBytes: 1024}, {MaxOpenFiles: 3}, {MaxCompactions: -1}}
	for _, o := range bad {
		o.EnsureDefaults()
		if err := o.Validate(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidOptions", o, err)
		}
		if _, err := Open("db", Options{FS: vfs.NewMem(), MaxCompactions: o.MaxCompactions, MaxOpenFiles: o.MaxOpenFiles, MemTableBytes: o.MemTableBytes, CacheBytes: o.CacheBytes}); err == nil {
			t.Errorf("Open accepted %+v", o)
		}
	}
	var o Options
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if o.CacheBytes != DefaultCacheBytes || o.MemTableBytes != DefaultMemTableBytes || o.MaxOpenFiles != DefaultMaxOpenFiles || o.MaxCompactions != DefaultMaxCompactions || o.FS != vfs.Default || o.Logger == nil {
		t.Fatalf("EnsureDefaults = %+v", o)
	}
}
