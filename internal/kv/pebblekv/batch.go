package pebblekv

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/folio-ledger/folio/internal/kv"
)

// batch buffers operations in a Pebble batch, created on first use.
type batch struct {
	s    *Store
	b    *pebble.Batch
	done bool
}

func (b *batch) pb() (*pebble.Batch, error) {
	if b.done {
		return nil, kv.ErrBatchClosed
	}
	if b.b == nil {
		if b.s.closed.Load() {
			return nil, kv.ErrClosed
		}
		b.b = b.s.db.NewBatch()
	}
	return b.b, nil
}

func (b *batch) Set(key, value []byte) error {
	if err := kv.CheckKey(key); err != nil {
		return err
	}
	pb, err := b.pb()
	if err != nil {
		return err
	}
	op := pb.SetDeferred(1+len(key), len(value))
	op.Key[0] = userPrefix
	copy(op.Key[1:], key)
	copy(op.Value, value)
	return wrapErr("batch set", op.Finish())
}

func (b *batch) Delete(key []byte) error {
	if err := kv.CheckKey(key); err != nil {
		return err
	}
	pb, err := b.pb()
	if err != nil {
		return err
	}
	return wrapErr("batch delete", pb.Delete(userKey(key), nil))
}

func (b *batch) DeleteRange(lower, upper []byte) error {
	if err := kv.CheckRange(lower, upper, true); err != nil {
		return err
	}
	lo := userLower // from the first user key, never the store's records
	if len(lower) > 0 {
		lo = userKey(lower)
	}
	pb, err := b.pb()
	if err != nil {
		return err
	}
	return wrapErr("batch delete range", pb.DeleteRange(lo, userKey(upper), nil))
}

func (b *batch) Len() int {
	if b.b == nil {
		return 0
	}
	return int(b.b.Count())
}

func (b *batch) Size() int {
	if b.b == nil {
		return 0
	}
	return b.b.Len()
}

func (b *batch) Commit(o kv.WriteOptions) error {
	if b.done {
		return kv.ErrBatchClosed
	}
	defer b.Close()
	s := b.s
	if s.closed.Load() {
		return kv.ErrClosed
	}
	if b.b == nil || b.b.Empty() {
		return nil
	}
	wo := pebble.NoSync
	if o.Sync {
		wo = pebble.Sync
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.failed != nil {
		return fmt.Errorf("%w (first failure: %v)", kv.ErrWriteFailed, s.mu.failed)
	}
	if err := s.commit(b.b, wo); err != nil {
		err = wrapErr("commit", err)
		s.mu.failed = err
		return fmt.Errorf("%w: %w", kv.ErrWriteFailed, err)
	}
	return nil
}

// commit applies pb, turning Pebble's fatal commit failure (reported through
// Logger.Fatalf on this goroutine, after the commit pipeline released its
// locks) into an error.
func (s *Store) commit(pb *pebble.Batch, wo *pebble.WriteOptions) (err error) {
	defer recoverFatal(&err)
	return pb.Commit(wo)
}

func (b *batch) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	if b.b != nil {
		err := b.b.Close()
		b.b = nil
		return wrapErr("close batch", err)
	}
	return nil
}
