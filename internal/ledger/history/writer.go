package history

import (
	"fmt"
	"time"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/ledger/state"
)

// Writer adds history entries to a caller-owned kv.Batch, reusing its
// buffers. It is not safe for concurrent use.
type Writer struct {
	b        kv.Batch
	key, val []byte
}

// NewWriter returns a Writer adding to b.
func NewWriter(b kv.Batch) *Writer { return &Writer{b: b} }

// Add records that transaction txID (at version v, timestamped ts) wrote
// value to key in namespace ns, or deleted it. Names, keys and values are
// checked against the state's limits and the transaction ID against
// MaxTxIDBytes; nothing is added on error. Two changes of one key at the
// same version keep the last.
func (w *Writer) Add(ns, key string, v state.Version, txID string, ts time.Time, isDelete bool, value []byte) error {
	if err := state.ValidateWrite(ns, key, value); err != nil {
		return err
	}
	if isDelete {
		value = nil
	}
	var err error
	w.val, err = EncodeRecord(w.val[:0], Record{TxID: txID, Timestamp: ts.UnixNano(), IsDelete: isDelete, Value: value})
	if err != nil {
		return fmt.Errorf("%s/%q: %w", ns, key, err)
	}
	w.key = appendEntryKey(w.key[:0], ns, key, v)
	if err := w.b.Set(w.key, w.val); err != nil {
		return fmt.Errorf("history: add %s/%q: %w", ns, key, err)
	}
	return nil
}
