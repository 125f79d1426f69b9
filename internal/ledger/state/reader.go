package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/kv"
)

// Reader reads the state held by a kv.Reader, normally a kv.Snapshot taken
// right after a block committed, so that every read sees that block's state.
// It is safe for concurrent use if r is. Returned slices and versions are
// fresh and belong to the caller.
type Reader struct {
	r kv.Reader
}

// NewReader returns a Reader over r.
func NewReader(r kv.Reader) *Reader { return &Reader{r: r} }

// Get returns the value and version of key in namespace ns. A key that does
// not exist returns a nil version and a nil value, and no error.
func (r *Reader) Get(ns, key string) ([]byte, *foliov1.Version, error) {
	if err := ValidateNamespace(ns); err != nil {
		return nil, nil, err
	}
	if err := ValidateKey(key); err != nil {
		return nil, nil, err
	}
	rec, err := r.r.Get(appendEntryKey(nil, ns, key))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("state: get %s/%q: %w", ns, key, err)
	}
	v, value, err := DecodeEntry(rec)
	if err != nil {
		return nil, nil, corrupt("get", "entry %s/%q: %v", ns, key, err)
	}
	return value, v.Proto(), nil
}

// Range returns up to limit entries of namespace ns whose keys are in the
// half-open range [start, end), in ascending bytewise key order, and more =
// true if the range holds further entries. start "" means from the first
// key, end "" means no upper bound; limit <= 0 means no limit. start > end
// (with end non-empty) is ErrInvalidRange. Bounds need not be valid keys, so
// Range(ns, p, PrefixEnd(p), n) scans every key starting with p.
func (r *Reader) Range(ns, start, end string, limit int) ([]KV, bool, error) {
	if err := ValidateNamespace(ns); err != nil {
		return nil, false, err
	}
	if end != "" && start > end {
		return nil, false, fmt.Errorf("%w: start %q is after end %q", ErrInvalidRange, start, end)
	}
	prefix := appendNamespacePrefix(nil, ns)
	lower := append(bytes.Clone(prefix), start...)
	var upper []byte
	if end == "" {
		upper = kv.PrefixEnd(prefix)
	} else {
		upper = append(bytes.Clone(prefix), end...)
	}
	it, err := r.r.NewIter(&kv.IterOptions{Lower: lower, Upper: upper})
	if err != nil {
		return nil, false, fmt.Errorf("state: range %s [%q, %q): %w", ns, start, end, err)
	}
	defer it.Close()
	var out []KV
	more := false
	for ok := it.First(); ok; ok = it.Next() {
		if limit > 0 && len(out) == limit {
			more = true
			break
		}
		key := string(it.Key()[len(prefix):])
		v, value, err := DecodeEntry(it.Value())
		if err != nil {
			return nil, false, corrupt("range", "entry %s/%q: %v", ns, key, err)
		}
		out = append(out, KV{Key: key, Value: bytes.Clone(value), Version: v.Proto()})
	}
	if err := it.Close(); err != nil {
		return nil, false, fmt.Errorf("state: range %s [%q, %q): %w", ns, start, end, err)
	}
	return out, more, nil
}

// Entry is one stored entry, as Scan yields it. Value aliases the
// iterator's buffer: it is valid only during the callback.
type Entry struct {
	Namespace string
	Key       string
	Value     []byte
	Version   Version
}

// Scan calls fn for every entry of every namespace, namespaces in bytewise
// order and keys in bytewise order within each, until fn returns an error
// (which Scan returns). It is for checks and tools (the ledger's full state
// verification), not for contracts.
func (r *Reader) Scan(fn func(Entry) error) error {
	it, err := r.r.NewIter(&kv.IterOptions{Lower: entryPrefix, Upper: kv.PrefixEnd(entryPrefix)})
	if err != nil {
		return fmt.Errorf("state: scan: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		ns, key, ok := splitEntryKey(it.Key())
		if !ok {
			return corrupt("scan", "key %q is not a state entry key", it.Key())
		}
		v, value, err := DecodeEntry(it.Value())
		if err != nil {
			return corrupt("scan", "entry %s/%q: %v", ns, key, err)
		}
		if err := fn(Entry{Namespace: ns, Key: key, Value: value, Version: v}); err != nil {
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("state: scan: %w", err)
	}
	return nil
}

// Height returns the savepoint: the number of blocks whose writes the state
// holds (0 for a new state).
func (r *Reader) Height() (uint64, error) {
	rec, err := r.r.Get(heightKey)
	if errors.Is(err, kv.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("state: read height: %w", err)
	}
	if len(rec) != 8 {
		return 0, corrupt("read height", "height record is %d bytes, want 8", len(rec))
	}
	return binary.BigEndian.Uint64(rec), nil
}
