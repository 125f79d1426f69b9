package history

import (
	"encoding/binary"
	"fmt"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/ledger/state"
)

// Reader reads the history index held by a kv.Reader (normally a snapshot
// taken after a block committed). It is safe for concurrent use if r is.
type Reader struct {
	r kv.Reader
}

// NewReader returns a Reader over r.
func NewReader(r kv.Reader) *Reader { return &Reader{r: r} }

// History returns every committed change of key in namespace ns, oldest
// first; none is an empty result, not an error.
func (r *Reader) History(ns, key string) ([]state.HistoryEntry, error) {
	it, err := r.NewIterator(ns, key, state.Version{})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []state.HistoryEntry
	for it.Next() {
		out = append(out, it.Entry())
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// NewIterator returns an iterator over the changes of key in namespace ns at
// versions >= from, oldest first. The caller must Close it.
func (r *Reader) NewIterator(ns, key string, from state.Version) (*Iterator, error) {
	if err := state.ValidateNamespace(ns); err != nil {
		return nil, err
	}
	if err := state.ValidateKey(key); err != nil {
		return nil, err
	}
	prefix := appendKeyPrefix(nil, ns, key)
	lower := appendEntryKey(nil, ns, key, from)
	it, err := r.r.NewIter(&kv.IterOptions{Lower: lower, Upper: kv.PrefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("history: %s/%q: %w", ns, key, err)
	}
	return &Iterator{it: it, ns: ns, key: key, prefixLen: len(prefix)}, nil
}

// Iterator walks one key's changes, oldest first:
//
//	for it.Next() { e := it.Entry() ... }
//	err := it.Close()
//
// It is not safe for concurrent use.
type Iterator struct {
	it        kv.Iterator
	ns, key   string
	prefixLen int
	started   bool
	cur       state.HistoryEntry
	err       error
}

// Next moves to the next change and reports whether there is one. It
// returns false at the end or on an error (see Err).
func (i *Iterator) Next() bool {
	if i.err != nil || i.it == nil {
		return false
	}
	var ok bool
	if !i.started {
		i.started = true
		ok = i.it.First()
	} else {
		ok = i.it.Next()
	}
	if !ok {
		return false
	}
	k := i.it.Key()
	if len(k) != i.prefixLen+16 {
		i.err = corrupt("read", "%s/%q: entry key of %d bytes, want %d", i.ns, i.key, len(k), i.prefixLen+16)
		return false
	}
	v := state.Version{
		Block: binary.BigEndian.Uint64(k[i.prefixLen:]),
		Tx:    binary.BigEndian.Uint64(k[i.prefixLen+8:]),
	}
	rec, err := DecodeRecord(i.it.Value())
	if err != nil {
		i.err = corrupt("read", "%s/%q at block %d tx %d: %v", i.ns, i.key, v.Block, v.Tx, err)
		return false
	}
	i.cur = entry(v, rec)
	return true
}

// Entry returns the current change. Its slices belong to the caller.
func (i *Iterator) Entry() state.HistoryEntry { return i.cur }

// Err returns the error that stopped the iteration, if any.
func (i *Iterator) Err() error {
	if i.err != nil {
		return i.err
	}
	if i.it == nil {
		return nil
	}
	if err := i.it.Error(); err != nil {
		return fmt.Errorf("history: %s/%q: %w", i.ns, i.key, err)
	}
	return nil
}

// Close releases the iterator and returns Err(). Closing twice is a no-op
// returning the same error.
func (i *Iterator) Close() error {
	if i.it == nil {
		return i.err
	}
	if err := i.it.Close(); err != nil && i.err == nil {
		i.err = fmt.Errorf("history: %s/%q: %w", i.ns, i.key, err)
	}
	i.it = nil
	return i.err
}
