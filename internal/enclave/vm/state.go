package vm

import (
	"github.com/folio-ledger/folio/internal/ledger/state"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

// State is the committed world state a simulation reads, at one fixed
// height for the whole call. The enclave implements it with its tiered
// cache; vmtest.MemState is an in-memory implementation for tests.
//
// Implementations must be safe for concurrent use by concurrent calls.
// Returned slices and versions belong to the caller, which does not modify
// them. ns is the contract's namespace. An error aborts the call at hand:
// a State error never reaches the contract.
type State interface {
	// Get returns the committed value and version of key. A nil version
	// means the key does not exist (the value is then ignored).
	Get(ns, key string) (value []byte, ver *foliov1.Version, err error)
	// Range returns up to limit committed entries with keys in the
	// half-open range [start, end) in ascending key order (end "" means no
	// upper bound), and more = true if further entries exist in the range.
	Range(ns, start, end string, limit int) (kvs []KV, more bool, err error)
	// History returns every committed change of key, oldest first.
	History(ns, key string) ([]HistoryEntry, error)
}

// KV is a committed entry returned by State.Range: the ledger's type, so
// the ledger is a State as it is.
type KV = state.KV

// HistoryEntry is one committed change of a key: the transaction that made
// it, its height, the transaction timestamp, and the value written (nil for
// a delete). The ledger's type.
type HistoryEntry = state.HistoryEntry
