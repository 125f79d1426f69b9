package pebblekv

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/folio-ledger/folio/internal/kv"
)

func commitN(t *testing.T, s kv.Store, from, to int, sync bool) error {
	t.Helper()
	b := s.NewBatch()
	for i := from; i < to; i++ {
		if err := b.Set([]byte(fmt.Sprintf("key-%05d", i)), []byte(fmt.Sprintf("value-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	return b.Commit(kv.WriteOptions{Sync: sync})
}

func countKeys(t *testing.T, s kv.Store) int {
	t.Helper()
	it, err := s.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if want := fmt.Sprintf("value-%s", strings.TrimLeft(strings.TrimPrefix(string(it.Key()), "key-"), "0")); n > 0 && string(it.Value()) != want {
			t.Fatalf("%s = %s, want %s", it.Key(), it.Value(), want)
		}
		n++
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSyncedCommitsSurviveCrash commits with Sync, simulates a machine
// crash that drops everything not fsynced, and reopens.
func TestSyncedCommitsSurviveCrash(t *testing.T) {
	mem := vfs.NewCrashableMem()
	s, err := Open("db", Options{FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := commitN(t, s, i*100, (i+1)*100, true); err != nil {
			t.Fatal(err)
		}
	}
	crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open("db", Options{FS: crashed})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer s.Close()
	if n := countKeys(t, s); n != 1000 {
		t.Fatalf("after crash: %d keys, want 1000", n)
	}
}

// TestFailedWriteLosesNothingCommitted injects write and sync errors into
// the write-ahead log. The failing commit must return a clear error, the
// store must refuse later writes instead of half-applying them, reads must
// still work, and after a crash and reopen every earlier synced commit must
// be intact and the failed batch either wholly present or wholly absent.
func TestFailedWriteLosesNothingCommitted(t *testing.T) {
	mem := vfs.NewCrashableMem()
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasSuffix(op.Path, ".log") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite && op.Kind != errorfs.OpFileClose {
			return errorfs.ErrInjected
		}
		return nil
	})}
	fs := errorfs.Wrap(mem, toggle)
	s, err := Open("db", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if err := commitN(t, s, 0, 500, true); err != nil {
		t.Fatal(err)
	}

	toggle.On()
	err = commitN(t, s, 500, 600, true)
	if err == nil {
		t.Fatal("commit succeeded although every WAL write fails")
	}
	if !errors.Is(err, kv.ErrWriteFailed) || !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("commit error = %v, want ErrWriteFailed wrapping the injected error", err)
	}
	t.Logf("failed commit: %v", err)
	toggle.Off()

	// Later writes are refused, even with the disk healthy again.
	if err := commitN(t, s, 600, 610, true); !errors.Is(err, kv.ErrWriteFailed) {
		t.Fatalf("commit after a failure = %v, want ErrWriteFailed", err)
	}
	// Reads still see every committed key.
	if n := countKeys(t, s); n < 500 {
		t.Fatalf("reads after failure: %d keys, want >= 500", n)
	}
	crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	_ = s.Close() // may report the earlier failure

	s, err = Open("db", Options{FS: crashed})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	n := countKeys(t, s)
	if n != 500 && n != 600 {
		t.Fatalf("after reopen: %d keys, want 500 (failed batch lost) or 600 (whole batch)", n)
	}
	// The reopened store accepts writes again.
	if err := commitN(t, s, 1000, 1010, true); err != nil {
		t.Fatalf("commit after reopen: %v", err)
	}
}

// TestCorruptionDetected damages sstables and expects kv.ErrCorruption, never
// wrong data: at Open when the damage hits the block holding the format
// record, on reads when it hits a later data block.
func TestCorruptionDetected(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   func(size int) int // offset of the damaged bytes
	}{
		{"first-block", func(int) int { return 16 }},
		{"middle-block", func(size int) int { return size / 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			s, err := Open("db", Options{FS: mem})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 5; i++ {
				if err := commitN(t, s, i*1000, (i+1)*1000, false); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			corruptTables(t, mem, tc.at)
			s, err = Open("db", Options{FS: mem})
			if err != nil {
				if !errors.Is(err, kv.ErrCorruption) {
					t.Fatalf("Open = %v, want success or ErrCorruption", err)
				}
				t.Logf("open reported: %v", err)
				return
			}
			defer s.Close()
			it, err := s.NewIter(nil)
			if err != nil {
				t.Fatal(err)
			}
			for ok := it.First(); ok; ok = it.Next() {
			}
			iterErr := it.Close()
			var ce *kv.CorruptionError
			if !errors.Is(iterErr, kv.ErrCorruption) || !errors.As(iterErr, &ce) {
				t.Fatalf("scan of damaged tables returned %v; want *kv.CorruptionError", iterErr)
			}
			t.Logf("scan reported: %v", ce)
		})
	}
}

func corruptTables(t *testing.T, mem vfs.FS, at func(int) int) {
	t.Helper()
	names, err := mem.List("db")
	if err != nil {
		t.Fatal(err)
	}
	corrupted := 0
	for _, name := range names {
		if filepath.Ext(name) != ".sst" {
			continue
		}
		path := filepath.Join("db", name)
		data := readAll(t, mem, path)
		off := at(len(data))
		for i := off; i < off+32 && i < len(data); i++ {
			data[i] ^= 0x5a
		}
		writeAll(t, mem, path, data)
		corrupted++
	}
	if corrupted == 0 {
		t.Fatal("no sstable to corrupt")
	}
}

func readAll(t *testing.T, fs vfs.FS, path string) []byte {
	t.Helper()
	f, err := fs.Open(path)
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

func writeAll(t *testing.T, fs vfs.FS, path string, data []byte) {
	t.Helper()
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
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
