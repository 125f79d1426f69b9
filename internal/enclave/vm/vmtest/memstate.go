package vmtest

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/enclave/vm"
)

// ErrConflict is returned by Commit when a read version is no longer
// current (an MVCC conflict); nothing is applied.
var ErrConflict = errors.New("vmtest: read conflict")

// MemState is an in-memory vm.State. Safe for concurrent use.
type MemState struct {
	mu struct {
		sync.RWMutex
		// ns maps namespace -> key -> entry; keys holds each namespace's
		// keys sorted. history holds every committed change, oldest first.
		ns      map[string]map[string]entry
		keys    map[string][]string
		history map[string]map[string][]vm.HistoryEntry
		height  uint64
		// Gets counts State.Get calls (for tests of caching).
		gets int
	}
}

type entry struct {
	value []byte
	ver   version
}

type version struct{ block, tx uint64 }

func (v version) proto() *foliov1.Version { return &foliov1.Version{BlockNum: v.block, TxNum: v.tx} }

var _ vm.State = (*MemState)(nil)

// NewMemState returns an empty state at height 0.
func NewMemState() *MemState {
	s := &MemState{}
	s.mu.ns = map[string]map[string]entry{}
	s.mu.keys = map[string][]string{}
	s.mu.history = map[string]map[string][]vm.HistoryEntry{}
	return s
}

// Get implements vm.State.
func (s *MemState) Get(ns, key string) ([]byte, *foliov1.Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.gets++
	e, ok := s.mu.ns[ns][key]
	if !ok {
		return nil, nil, nil
	}
	return append([]byte(nil), e.value...), e.ver.proto(), nil
}

// Range implements vm.State.
func (s *MemState) Range(ns, start, end string, limit int) ([]vm.KV, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := s.mu.keys[ns]
	i := sort.SearchStrings(keys, start)
	var out []vm.KV
	for ; i < len(keys); i++ {
		k := keys[i]
		if end != "" && k >= end {
			return out, false, nil
		}
		if len(out) == limit {
			return out, true, nil
		}
		e := s.mu.ns[ns][k]
		out = append(out, vm.KV{Key: k, Value: append([]byte(nil), e.value...), Version: e.ver.proto()})
	}
	return out, false, nil
}

// History implements vm.State.
func (s *MemState) History(ns, key string) ([]vm.HistoryEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := s.mu.history[ns][key]
	out := make([]vm.HistoryEntry, len(h))
	for i, e := range h {
		e.Value = append([]byte(nil), e.Value...)
		e.Version = &foliov1.Version{BlockNum: e.Version.BlockNum, TxNum: e.Version.TxNum}
		out[i] = e
	}
	return out, nil
}

// Gets reports how many times Get was called.
func (s *MemState) Gets() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.gets
}

// Height is the number of the last committed block (0 if none).
func (s *MemState) Height() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.height
}

// Commit applies rw as transaction 0 of a new block, after checking that
// every read version is still current (ErrConflict otherwise). It returns
// the block number. Range reads are not re-checked.
func (s *MemState) Commit(rw *foliov1.ReadWriteSet, txID string, ts time.Time) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ns := range rw.GetNsRwsets() {
		for _, r := range ns.Reads {
			e, ok := s.mu.ns[ns.Namespace][r.Key]
			switch {
			case r.Version == nil && ok:
				return 0, fmt.Errorf("%w: %s/%q now exists", ErrConflict, ns.Namespace, r.Key)
			case r.Version != nil && (!ok || e.ver != version{r.Version.BlockNum, r.Version.TxNum}):
				return 0, fmt.Errorf("%w: %s/%q changed", ErrConflict, ns.Namespace, r.Key)
			}
		}
	}
	s.mu.height++
	ver := version{block: s.mu.height}
	for _, ns := range rw.GetNsRwsets() {
		for _, w := range ns.Writes {
			s.apply(ns.Namespace, w.Key, w.Value, w.IsDelete, ver, txID, ts)
		}
	}
	return s.mu.height, nil
}

// Put sets key to value as if committed at (block, tx), recording history.
// It does not move the height.
func (s *MemState) Put(ns, key string, value []byte, block, tx uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apply(ns, key, value, false, version{block, tx}, fmt.Sprintf("seed-%d-%d", block, tx), time.Unix(0, 0).UTC())
}

func (s *MemState) apply(ns, key string, value []byte, del bool, ver version, txID string, ts time.Time) {
	m := s.mu.ns[ns]
	if m == nil {
		m = map[string]entry{}
		s.mu.ns[ns] = m
	}
	keys := s.mu.keys[ns]
	i := sort.SearchStrings(keys, key)
	exists := i < len(keys) && keys[i] == key
	if del {
		if exists {
			delete(m, key)
			s.mu.keys[ns] = append(keys[:i], keys[i+1:]...)
		}
	} else {
		m[key] = entry{value: append([]byte(nil), value...), ver: ver}
		if !exists {
			keys = append(keys, "")
			copy(keys[i+1:], keys[i:])
			keys[i] = key
			s.mu.keys[ns] = keys
		}
	}
	h := s.mu.history[ns]
	if h == nil {
		h = map[string][]vm.HistoryEntry{}
		s.mu.history[ns] = h
	}
	he := vm.HistoryEntry{TxID: txID, Version: ver.proto(), Timestamp: ts, IsDelete: del}
	if !del {
		he.Value = append([]byte(nil), value...)
	}
	h[key] = append(h[key], he)
}
