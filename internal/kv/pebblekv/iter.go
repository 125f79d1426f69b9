package pebblekv

import (
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"

	"github.com/folio-ledger/folio/internal/kv"
)

type snapshot struct {
	s      *Store
	snap   *pebble.Snapshot
	closed atomic.Bool
}

func (sn *snapshot) Get(key []byte) ([]byte, error) {
	if sn.closed.Load() {
		return nil, kv.ErrClosed
	}
	return sn.s.get(sn.snap, key)
}

func (sn *snapshot) NewIter(o *kv.IterOptions) (kv.Iterator, error) {
	if sn.closed.Load() {
		return nil, kv.ErrClosed
	}
	return sn.s.newIter(sn.snap, o)
}

func (sn *snapshot) Close() error {
	if sn.closed.Swap(true) {
		return kv.ErrClosed
	}
	sn.s.open.Add(-1)
	if sn.s.closed.Load() {
		return kv.ErrClosed
	}
	return wrapErr("close snapshot", sn.snap.Close())
}

// iter wraps a Pebble iterator; it stops with ErrClosed if the store closes.
type iter struct {
	s      *Store
	it     *pebble.Iterator
	err    error
	closed bool
}

var _ kv.Iterator = (*iter)(nil)

func (i *iter) ok(valid bool) bool {
	if i.closed || i.err != nil {
		return false
	}
	if i.s.closed.Load() {
		i.err = kv.ErrClosed
		return false
	}
	return valid
}

func (i *iter) usable() bool { return i.ok(true) }

func (i *iter) First() bool            { return i.usable() && i.ok(i.it.First()) }
func (i *iter) Last() bool             { return i.usable() && i.ok(i.it.Last()) }
func (i *iter) SeekGE(key []byte) bool { return i.usable() && i.ok(i.it.SeekGE(userKey(key))) }
func (i *iter) SeekLT(key []byte) bool { return i.usable() && i.ok(i.it.SeekLT(userKey(key))) }
func (i *iter) Next() bool             { return i.usable() && i.it.Valid() && i.ok(i.it.Next()) }
func (i *iter) Prev() bool             { return i.usable() && i.it.Valid() && i.ok(i.it.Prev()) }
func (i *iter) Valid() bool            { return !i.closed && i.err == nil && i.it.Valid() }

func (i *iter) Key() []byte {
	if !i.Valid() {
		return nil
	}
	return i.it.Key()[1:]
}

func (i *iter) Value() []byte {
	if !i.Valid() {
		return nil
	}
	v, err := i.it.ValueAndErr()
	if err != nil {
		i.err = wrapErr("iterate", err)
		return nil
	}
	return v
}

func (i *iter) Error() error {
	if i.err != nil {
		return i.err
	}
	if i.closed {
		return nil
	}
	return wrapErr("iterate", i.it.Error())
}

func (i *iter) Close() error {
	if i.closed {
		return nil
	}
	err := i.Error()
	i.closed = true
	i.s.open.Add(-1)
	if !i.s.closed.Load() {
		if cerr := i.it.Close(); err == nil {
			err = wrapErr("close iterator", cerr)
		}
	}
	return err
}
