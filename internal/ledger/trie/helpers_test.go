package trie

import "github.com/folio-ledger/folio/internal/kv"

var kvSync = kv.WriteOptions{Sync: true}
