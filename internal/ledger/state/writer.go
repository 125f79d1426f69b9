package state

import (
	"encoding/binary"
	"fmt"

	"github.com/folio-ledger/folio/internal/kv"
)

// Writer adds state writes to a caller-owned kv.Batch, reusing its encoding
// buffers. Nothing is visible until the batch commits; operations apply in
// the order added, so the last write of a key in a block wins. A Writer is
// not safe for concurrent use.
type Writer struct {
	b        kv.Batch
	key, val []byte
}

// NewWriter returns a Writer adding to b.
func NewWriter(b kv.Batch) *Writer { return &Writer{b: b} }

// Put sets key in namespace ns to value, written at version v. Invalid
// names, keys or values are refused (ErrInvalidNamespace, ErrInvalidKey,
// ErrValueTooLarge) and nothing is added.
func (w *Writer) Put(ns, key string, value []byte, v Version) error {
	if err := validateWrite(ns, key, value); err != nil {
		return err
	}
	w.key = appendEntryKey(w.key[:0], ns, key)
	w.val = EncodeEntry(w.val[:0], v, value)
	if err := w.b.Set(w.key, w.val); err != nil {
		return fmt.Errorf("state: put %s/%q: %w", ns, key, err)
	}
	return nil
}

// Delete removes key from namespace ns. Deleting a missing key is not an
// error.
func (w *Writer) Delete(ns, key string) error {
	if err := validateWrite(ns, key, nil); err != nil {
		return err
	}
	w.key = appendEntryKey(w.key[:0], ns, key)
	if err := w.b.Delete(w.key); err != nil {
		return fmt.Errorf("state: delete %s/%q: %w", ns, key, err)
	}
	return nil
}

// SetHeight records the savepoint: the state holds the writes of blocks
// [0, height).
func (w *Writer) SetHeight(height uint64) error {
	if err := w.b.Set(heightKey, binary.BigEndian.AppendUint64(nil, height)); err != nil {
		return fmt.Errorf("state: set height: %w", err)
	}
	return nil
}

// ValidateWrite checks a write against the namespace, key and value limits.
func ValidateWrite(ns, key string, value []byte) error { return validateWrite(ns, key, value) }

func validateWrite(ns, key string, value []byte) error {
	if err := ValidateNamespace(ns); err != nil {
		return err
	}
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	if err := ValidateValue(value); err != nil {
		return fmt.Errorf("%s/%q: %w", ns, key, err)
	}
	return nil
}
