package state

import (
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

// Version is the height of a write: block number and transaction number
// inside the block. Versions order like (Block, Tx).
type Version struct {
	Block uint64
	Tx    uint64
}

// Proto returns the version as a fresh *foliov1.Version.
func (v Version) Proto() *foliov1.Version {
	return &foliov1.Version{BlockNum: v.Block, TxNum: v.Tx}
}

// Compare returns -1, 0 or +1 as v is lower than, equal to or higher than w.
func (v Version) Compare(w Version) int {
	switch {
	case v.Block < w.Block:
		return -1
	case v.Block > w.Block:
		return 1
	case v.Tx < w.Tx:
		return -1
	case v.Tx > w.Tx:
		return 1
	}
	return 0
}

// KV is a committed entry returned by Range. It has the same fields as the
// contract runtime's vm.KV, which can alias it.
type KV struct {
	Key     string
	Value   []byte
	Version *foliov1.Version
}

// HistoryEntry is one committed change of a key: the transaction that made
// it, its height, the transaction timestamp, and the value written (nil for
// a delete). It has the same fields as the contract runtime's
// vm.HistoryEntry, which can alias it; package history produces it.
type HistoryEntry struct {
	TxID      string
	Version   *foliov1.Version
	Timestamp time.Time
	IsDelete  bool
	Value     []byte
}
