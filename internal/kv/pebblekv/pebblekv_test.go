package pebblekv_test

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/kvtest"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
)

func TestSuiteOnDisk(t *testing.T) {
	kvtest.RunSuite(t, func(t *testing.T) kv.Store {
		s, err := pebblekv.Open(t.TempDir(), pebblekv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestSuiteMemFS(t *testing.T) {
	kvtest.RunSuite(t, func(t *testing.T) kv.Store {
		s, err := pebblekv.Open("db", pebblekv.Options{FS: vfs.NewMem(), CacheBytes: 1 << 20, MemTableBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
