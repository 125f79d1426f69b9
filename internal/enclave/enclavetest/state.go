package enclavetest

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/vm"
)

// ErrClosed is returned by a reader used after Close.
var ErrClosed = errors.New("enclavetest: reader closed")

// VersionedState is an in-memory world state that keeps every version of
// every key, so that readers can be pinned at any height and tests can ask
// what a key was at a height. Safe for concurrent use.
type VersionedState struct {
	// BeforeRead, if set, is called before every read of a reader (op is
	// "get", "range" or "history"; key is the start key of a range); an
	// error fails the read. Tests block in it, or inject failures. Set it
	// before the state is shared.
	BeforeRead func(op, ns, key string) error

	mu struct {
		sync.RWMutex
		height uint64
		// versions holds each key's versions, oldest first; keys each
		// namespace's keys ever written, sorted.
		versions map[string]map[string][]version
		keys     map[string][]string
		readers  int
	}
}

type version struct {
	block, tx uint64
	value     []byte
	del       bool
}

var _ enclave.StateSource = (*VersionedState)(nil)

// NewVersionedState returns an empty state at height 0.
func NewVersionedState() *VersionedState {
	s := &VersionedState{}
	s.mu.versions = map[string]map[string][]version{}
	s.mu.keys = map[string][]string{}
	return s
}

// Height is the number of committed blocks.
func (s *VersionedState) Height() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.height
}

// Commit applies writes as the next block (number Height()) and returns
// its number. Writes of one key later in the slice win.
func (s *VersionedState) Commit(writes []enclave.Write) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.mu.height
	for _, w := range writes {
		m := s.mu.versions[w.Namespace]
		if m == nil {
			m = map[string][]version{}
			s.mu.versions[w.Namespace] = m
		}
		if _, ok := m[w.Key]; !ok {
			keys := s.mu.keys[w.Namespace]
			i := sort.SearchStrings(keys, w.Key)
			keys = append(keys, "")
			copy(keys[i+1:], keys[i:])
			keys[i] = w.Key
			s.mu.keys[w.Namespace] = keys
		}
		v := version{block: b, tx: w.Tx, del: w.Delete}
		if !w.Delete {
			v.value = append([]byte{}, w.Value...)
		}
		vs := m[w.Key]
		if n := len(vs); n > 0 && vs[n-1].block == b && vs[n-1].tx == w.Tx {
			vs[n-1] = v
		} else {
			vs = append(vs, v)
		}
		m[w.Key] = vs
	}
	s.mu.height++
	return b
}

// OpenReaders reports how many readers are not closed (tests check the
// enclave releases what it pins).
func (s *VersionedState) OpenReaders() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.readers
}

// at returns the version of key visible at height (nil if none or
// deleted). Called with mu held.
func (s *VersionedState) at(ns, key string, height uint64) *version {
	vs := s.mu.versions[ns][key]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].block < height {
			if vs[i].del {
				return nil
			}
			return &vs[i]
		}
	}
	return nil
}

// ValueAt returns the committed value and version of key at height (nil,
// nil if absent).
func (s *VersionedState) ValueAt(ns, key string, height uint64) ([]byte, *foliov1.Version) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v := s.at(ns, key, height)
	if v == nil {
		return nil, nil
	}
	return append([]byte{}, v.value...), &foliov1.Version{BlockNum: v.block, TxNum: v.tx}
}

// NewStateReader implements enclave.StateSource: a reader at the current
// height.
func (s *VersionedState) NewStateReader() (enclave.StateReader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.readers++
	return &reader{s: s, height: s.mu.height}, nil
}

// ReaderAt returns a reader at an earlier height (tests of rollbacks).
func (s *VersionedState) ReaderAt(height uint64) enclave.StateReader {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.readers++
	return &reader{s: s, height: height}
}

type reader struct {
	s      *VersionedState
	height uint64
	mu     sync.Mutex
	closed bool
}

func (r *reader) Height() uint64 { return r.height }

func (r *reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.s.mu.Lock()
		r.s.mu.readers--
		r.s.mu.Unlock()
	}
	return nil
}

func (r *reader) check(op, ns, key string) error {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if r.s.BeforeRead != nil {
		return r.s.BeforeRead(op, ns, key)
	}
	return nil
}

func (r *reader) Get(ns, key string) ([]byte, *foliov1.Version, error) {
	if err := r.check("get", ns, key); err != nil {
		return nil, nil, err
	}
	v, ver := r.s.ValueAt(ns, key, r.height)
	return v, ver, nil
}

func (r *reader) Range(ns, start, end string, limit int) ([]vm.KV, bool, error) {
	if err := r.check("range", ns, start); err != nil {
		return nil, false, err
	}
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	keys := r.s.mu.keys[ns]
	var out []vm.KV
	for i := sort.SearchStrings(keys, start); i < len(keys); i++ {
		k := keys[i]
		if end != "" && k >= end {
			break
		}
		v := r.s.at(ns, k, r.height)
		if v == nil {
			continue
		}
		if limit > 0 && len(out) == limit {
			return out, true, nil
		}
		out = append(out, vm.KV{Key: k, Value: append([]byte{}, v.value...), Version: &foliov1.Version{BlockNum: v.block, TxNum: v.tx}})
	}
	return out, false, nil
}

func (r *reader) History(ns, key string) ([]vm.HistoryEntry, error) {
	if err := r.check("history", ns, key); err != nil {
		return nil, err
	}
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	var out []vm.HistoryEntry
	for _, v := range r.s.mu.versions[ns][key] {
		if v.block >= r.height {
			break
		}
		e := vm.HistoryEntry{TxID: fmt.Sprintf("tx-%d-%d", v.block, v.tx), Version: &foliov1.Version{BlockNum: v.block, TxNum: v.tx},
			Timestamp: time.Unix(int64(v.block), 0).UTC(), IsDelete: v.del}
		if !v.del {
			e.Value = append([]byte{}, v.value...)
		}
		out = append(out, e)
	}
	return out, nil
}
