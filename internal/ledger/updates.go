package ledger

import (
	"errors"
	"fmt"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/ledger/history"
	"github.com/folio-ledger/folio/internal/ledger/state"
)

// Updates is what one block changes in the world state, as computed by the
// committer after validating the block's transactions: the writes of every
// VALID transaction, in block order, and optionally the code hashes of
// namespaces whose effective contract changed. The ledger does not validate
// endorsements or read sets; it checks only that the updates fit the block
// and the state's limits. Commit does not retain or modify Updates.
type Updates struct {
	// Txs lists the valid transactions in block order (increasing TxNum).
	Txs []TxUpdate
	// CodeHashes sets, for the namespaces present, the code_hash field of
	// the namespace's account record: keccak256 of the contract package
	// effective from this block. A namespace not listed keeps its code hash
	// (keccak256 of empty code for a new namespace). A namespace may be
	// listed without any write: its account is created or updated.
	CodeHashes map[string][32]byte
}

// TxUpdate is one valid transaction's effect.
type TxUpdate struct {
	// TxNum is the transaction's index in the block (its envelope index);
	// writes get version (block number, TxNum).
	TxNum uint64
	// TxID is the transaction ID (at most history.MaxTxIDBytes).
	TxID string
	// Timestamp is the transaction header's timestamp, kept in the history.
	Timestamp time.Time
	// Writes lists the transaction's writes per namespace. Within one
	// transaction a key written twice keeps the last write.
	Writes []NsWrites
}

// NsWrites are a transaction's writes to one namespace.
type NsWrites struct {
	Namespace string
	// Writes: a delete (IsDelete) carries no value. The value's bytes are
	// copied into the batch; the ledger does not keep them.
	Writes []*foliov1.KVWrite
}

// check validates u against block b (number num, envelopes n).
func (u *Updates) check(num uint64, b *foliov1.Block) error {
	n := uint64(len(b.GetData().GetEnvelopes()))
	codes := b.GetMetadata().GetValidationCodes()
	for i := range u.Txs {
		tx := &u.Txs[i]
		txn := int64(tx.TxNum)
		fail := func(err error) error { return &UpdateError{Block: num, Tx: txn, Err: err} }
		if tx.TxNum >= n {
			return fail(fmt.Errorf("transaction number %d outside the block's %d envelopes", tx.TxNum, n))
		}
		if i > 0 && tx.TxNum <= u.Txs[i-1].TxNum {
			return fail(fmt.Errorf("transaction numbers not increasing (%d after %d)", tx.TxNum, u.Txs[i-1].TxNum))
		}
		if len(codes) != 0 && foliov1.ValidationCode(codes[tx.TxNum]) != foliov1.ValidationCode_VALID {
			return fail(fmt.Errorf("the block marks transaction %d %v, yet it has updates", tx.TxNum, foliov1.ValidationCode(codes[tx.TxNum])))
		}
		if len(tx.TxID) > history.MaxTxIDBytes {
			return fail(fmt.Errorf("%w: %d bytes, the limit is %d", history.ErrInvalidTxID, len(tx.TxID), history.MaxTxIDBytes))
		}
		for _, nw := range tx.Writes {
			if err := state.ValidateNamespace(nw.Namespace); err != nil {
				return &UpdateError{Block: num, Tx: txn, Namespace: nw.Namespace, Err: err}
			}
			for _, w := range nw.Writes {
				if w == nil {
					return &UpdateError{Block: num, Tx: txn, Namespace: nw.Namespace, Err: errors.New("nil write")}
				}
				err := state.ValidateKey(w.Key)
				if err == nil {
					err = state.ValidateValue(w.Value)
				}
				if err == nil && w.IsDelete && len(w.Value) > 0 {
					err = errors.New("a delete carries a value")
				}
				if err != nil {
					return &UpdateError{Block: num, Tx: txn, Namespace: nw.Namespace, Key: truncate(w.Key), Err: err}
				}
			}
		}
	}
	for ns := range u.CodeHashes {
		if err := state.ValidateNamespace(ns); err != nil {
			return &UpdateError{Block: num, Tx: -1, Namespace: ns, Err: fmt.Errorf("code hash: %w", err)}
		}
	}
	return nil
}

// truncate shortens an oversized key for error messages.
func truncate(key string) string {
	if len(key) > 64 {
		return key[:64] + "..."
	}
	return key
}
