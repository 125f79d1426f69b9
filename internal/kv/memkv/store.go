package memkv

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/folio-ledger/folio/internal/kv"
)

// Store is an in-memory kv.Store. It is safe for concurrent use.
type Store struct {
	// root is the published tree. Readers load it without locking; only a
	// committing writer holding mu stores it.
	root atomic.Pointer[node]
	// open counts live iterators and snapshots, reported by Close.
	open   atomic.Int64
	closed atomic.Bool

	mu struct {
		// Mutex serialises commits. It guards gen.
		sync.Mutex
		// gen is the generation of the last commit.
		gen uint64
	}
}

var _ kv.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store { return &Store{} }

func (s *Store) Get(key []byte) ([]byte, error) {
	return s.get(s.root.Load(), key)
}

func (s *Store) get(root *node, key []byte) ([]byte, error) {
	if s.closed.Load() {
		return nil, kv.ErrClosed
	}
	if err := kv.CheckKey(key); err != nil {
		return nil, err
	}
	n, ok := get(root, key)
	if !ok {
		return nil, kv.ErrNotFound
	}
	return bytes.Clone(n.value[:len(n.value):len(n.value)]), nil
}

func (s *Store) NewIter(o *kv.IterOptions) (kv.Iterator, error) {
	return s.newIter(s.root.Load(), o)
}

func (s *Store) newIter(root *node, o *kv.IterOptions) (kv.Iterator, error) {
	if s.closed.Load() {
		return nil, kv.ErrClosed
	}
	it := &iter{root: root}
	if o != nil {
		if err := kv.CheckRange(o.Lower, o.Upper, false); err != nil {
			return nil, err
		}
		it.lower, it.upper = bytes.Clone(o.Lower), bytes.Clone(o.Upper)
	}
	s.open.Add(1)
	it.release = func() { s.open.Add(-1) }
	return it, nil
}

func (s *Store) NewBatch() kv.Batch { return &batch{s: s} }

func (s *Store) NewSnapshot() (kv.Snapshot, error) {
	if s.closed.Load() {
		return nil, kv.ErrClosed
	}
	s.open.Add(1)
	return &snapshot{s: s, root: s.root.Load()}, nil
}

// Close releases the store. It reports iterators and snapshots left open.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return kv.ErrClosed
	}
	s.root.Store(nil)
	if n := s.open.Load(); n > 0 {
		return fmt.Errorf("kv/memkv: close: %d iterators or snapshots still open", n)
	}
	return nil
}

type snapshot struct {
	s      *Store
	root   *node
	closed atomic.Bool
}

func (sn *snapshot) Get(key []byte) ([]byte, error) {
	if sn.closed.Load() {
		return nil, kv.ErrClosed
	}
	return sn.s.get(sn.root, key)
}

func (sn *snapshot) NewIter(o *kv.IterOptions) (kv.Iterator, error) {
	if sn.closed.Load() {
		return nil, kv.ErrClosed
	}
	return sn.s.newIter(sn.root, o)
}

func (sn *snapshot) Close() error {
	if sn.closed.Swap(true) {
		return kv.ErrClosed
	}
	sn.s.open.Add(-1)
	return nil
}

type opKind uint8

const (
	opSet opKind = iota
	opDelete
	opDeleteRange
)

type op struct {
	kind       opKind
	key, value []byte // for opDeleteRange: [key, value) is the range
}

// batch records operations; Commit applies them under the store's mutex.
type batch struct {
	s    *Store
	ops  []op
	size int
	done bool
}

func (b *batch) add(o op) error {
	if b.done {
		return kv.ErrBatchClosed
	}
	b.ops = append(b.ops, o)
	b.size += len(o.key) + len(o.value) + 8
	return nil
}

func (b *batch) Set(key, value []byte) error {
	if err := kv.CheckKey(key); err != nil {
		return err
	}
	// One allocation holds both copies.
	buf := make([]byte, len(key)+len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	return b.add(op{kind: opSet, key: buf[:len(key):len(key)], value: buf[len(key):]})
}

func (b *batch) Delete(key []byte) error {
	if err := kv.CheckKey(key); err != nil {
		return err
	}
	return b.add(op{kind: opDelete, key: bytes.Clone(key)})
}

func (b *batch) DeleteRange(lower, upper []byte) error {
	if err := kv.CheckRange(lower, upper, true); err != nil {
		return err
	}
	return b.add(op{kind: opDeleteRange, key: bytes.Clone(lower), value: bytes.Clone(upper)})
}

func (b *batch) Len() int  { return len(b.ops) }
func (b *batch) Size() int { return b.size }

func (b *batch) Commit(kv.WriteOptions) error {
	if b.done {
		return kv.ErrBatchClosed
	}
	b.done = true
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return kv.ErrClosed
	}
	s.mu.gen++
	w := &writer{gen: s.mu.gen}
	root := s.root.Load()
	for _, o := range b.ops {
		switch o.kind {
		case opSet:
			root = w.set(root, o.key, o.value)
		case opDelete:
			root, _ = w.del(root, o.key)
		case opDeleteRange:
			root = w.deleteRange(root, o.key, o.value)
		}
	}
	s.root.Store(root)
	b.ops = nil
	return nil
}

// deleteRange removes the keys in [lower, upper) one by one.
func (w *writer) deleteRange(root *node, lower, upper []byte) *node {
	it := &iter{root: root, lower: lower, upper: upper}
	var keys [][]byte
	for ok := it.First(); ok; ok = it.Next() {
		keys = append(keys, it.Key())
	}
	for _, k := range keys {
		root, _ = w.del(root, k)
	}
	return root
}

func (b *batch) Close() error {
	b.done = true
	b.ops = nil
	return nil
}
