package memkv_test

import (
	"testing"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/kvtest"
	"github.com/folio-ledger/folio/internal/kv/memkv"
)

func TestSuite(t *testing.T) {
	kvtest.RunSuite(t, func(t *testing.T) kv.Store { return memkv.New() })
}
