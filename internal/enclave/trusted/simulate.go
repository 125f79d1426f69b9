package trusted

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/seal"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// Host is the ocall side of one Simulate: the host answers from the
// external cache and from the committed state pinned at the Simulate's
// height. Implementations are bound to the call (its context and pinned
// height) and safe for concurrent use. Returned slices belong to the
// caller.
type Host interface {
	// Lookup returns the external-cache blob of (ns, key) if the host
	// holds one, else the key's committed state at the pinned height: a
	// miss of the external cache costs one crossing, not two.
	Lookup(ns, key string) (Lookup, error)
	// StateGet returns the committed value (as stored) and version of key
	// at the pinned height; found false means absent.
	StateGet(ns, key string) (stored []byte, ver abi.KeyVersion, found bool, err error)
	// StateRange returns up to limit committed entries in [start, end),
	// values as stored, and whether more exist.
	StateRange(ns, start, end string, limit int) ([]abi.KV, bool, error)
	// StateHistory returns every committed change of key, oldest first,
	// values as stored.
	StateHistory(ns, key string) ([]abi.HistoryEntry, error)
}

// Lookup is the answer of Host.Lookup: Blob if ExtFound, else the state
// (Stored and Ver if Found).
type Lookup struct {
	ExtFound bool
	Blob     []byte
	Found    bool
	Stored   []byte
	Ver      abi.KeyVersion
}

var marshalDeterministic = proto.MarshalOptions{Deterministic: true}

// Simulate runs a call at the height m.Height, reading through the tiers
// and the host, and returns the encoded ContractAction (write values of
// confidential contracts sealed under the state key) with fills for the
// external cache. Errors are those of vm.Runtime.Invoke (a *vm.CallError)
// and ErrNotInstalled, ErrConfidentiality. A height above the enclave's
// (it restarted behind the host) is served from the state database
// alone.
func (s *Service) Simulate(ctx context.Context, m *wire.Simulate, host Host) (*wire.SimulateReply, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	in, ok := s.module(m.Name, m.Version)
	if !ok {
		return nil, fmt.Errorf("%s %s: %w", m.Name, m.Version, ErrNotInstalled)
	}
	call := m.Call
	ns := call.Namespace
	if ns == "" {
		ns = m.Name
	}
	if in.confidential && ns != m.Name {
		return nil, &vm.CallError{Contract: m.Name, Version: m.Version, Function: call.Function, TxID: call.TxID,
			Err: fmt.Errorf("%w: %w: a confidential contract uses its own namespace %q, not %q", vm.ErrBadCall, ErrConfidentiality, m.Name, ns)}
	}
	st := &tiered{s: s, ext: s.ext.Load(), height: m.Height, host: host, confidential: in.confidential}
	if h := s.Height(); m.Height > h {
		// The enclave is behind the host (a process restarted while the
		// host moved on): its tiers may be stale for this height, so the
		// call reads the state database only, until a Commit catches up.
		st.bypass = true
		s.log.Debug("simulate above the enclave's height: bypassing the tiers", "height", h, "call_height", m.Height)
	}
	res, err := s.rt.Invoke(ctx, in.m, call, st)
	if err != nil {
		return nil, err
	}
	if in.confidential {
		if err := s.sealWrites(call.TxID, res.RWSet); err != nil {
			return nil, err
		}
	}
	action, err := marshalDeterministic.Marshal(res.Action())
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return &wire.SimulateReply{Action: action, DurationNanos: int64(res.Duration), Fills: st.fills}, nil
}

// sealWrites seals every written value of a confidential contract's
// read/write set under the state key, deterministically.
func (s *Service) sealWrites(txID string, rw *foliov1.ReadWriteSet) error {
	for _, nsrw := range rw.GetNsRwsets() {
		for _, w := range nsrw.Writes {
			if w.IsDelete {
				continue
			}
			sealed, err := s.state.Seal(txID, nsrw.Namespace, w.Key, w.Value)
			if err != nil {
				return err
			}
			s.ctr.sealed.Add(uint64(len(w.Value)))
			w.Value = sealed
		}
	}
	return nil
}

// tiered is the vm.State of one Simulate: the tiers at a pinned height.
type tiered struct {
	s            *Service
	ext          *seal.External
	height       uint64
	host         Host
	confidential bool
	// bypass: read the state database only (see Simulate).
	bypass bool
	// fills collects sealed entries for the host's external cache; only
	// the VM's call goroutine touches it.
	fills []wire.Fill
}

var _ vm.State = (*tiered)(nil)

func protoVersion(v abi.KeyVersion) *foliov1.Version {
	return &foliov1.Version{BlockNum: v.Block, TxNum: v.Tx}
}

func (t *tiered) timed(start time.Time) {
	t.s.ctr.ocalls.Add(1)
	t.s.ocall.Since(start)
}

// Get implements vm.State.
func (t *tiered) Get(ns, key string) ([]byte, *foliov1.Version, error) {
	s := t.s
	ck := cacheKey(ns, key)
	answer := func(e *entry) ([]byte, *foliov1.Version, error) {
		if e.absent {
			return nil, nil, nil
		}
		return e.value, protoVersion(e.ver), nil
	}

	if t.bypass {
		start := time.Now()
		stored, ver, found, err := t.host.StateGet(ns, key)
		t.timed(start)
		if err != nil || !found {
			return nil, nil, err
		}
		v, err := t.plaintext(ns, key, stored)
		if err != nil {
			return nil, nil, err
		}
		return v, protoVersion(ver), nil
	}

	// 1. The internal cache.
	if s.tiers.internal != nil {
		s.tiers.Lock()
		e, ok := s.tiers.internal.Get(ck)
		s.tiers.Unlock()
		if ok && e.validFrom <= t.height {
			s.ctr.internalHits.Add(1)
			return answer(e)
		}
		s.ctr.internalMisses.Add(1)
	}
	dk := s.hash.key(ns, key)

	// 2. The external cache, and the state in the same crossing if it
	// misses.
	fill := false
	var fromState *Lookup
	if s.opts.ExternalCache {
		start := time.Now()
		lk, err := t.host.Lookup(ns, key)
		t.timed(start)
		if err != nil {
			return nil, nil, err
		}
		fill = true
		if lk.ExtFound {
			e, serve, err := t.openExternal(ns, key, dk, ck, lk.Blob)
			if err != nil {
				return nil, nil, err
			}
			if e != nil {
				fill = false // the entry is current: keep it
				if serve {
					s.ctr.externalHits.Add(1)
					return answer(e)
				}
			}
		} else {
			fromState = &lk
		}
		s.ctr.externalMisses.Add(1)
	}

	// 3. The committed state.
	var stored []byte
	var ver abi.KeyVersion
	var found bool
	if fromState != nil {
		stored, ver, found = fromState.Stored, fromState.Ver, fromState.Found
	} else {
		start := time.Now()
		var err error
		stored, ver, found, err = t.host.StateGet(ns, key)
		t.timed(start)
		if err != nil {
			return nil, nil, err
		}
	}
	var err error
	e := &entry{absent: !found, ver: ver}
	if found {
		e.validFrom = ver.Block + 1
		if e.value, err = t.plaintext(ns, key, stored); err != nil {
			return nil, nil, err
		}
	} else {
		e.ver = abi.KeyVersion{}
		e.validFrom = t.height
	}
	if err := t.learn(ns, key, dk, ck, e, stored, fill); err != nil {
		return nil, nil, err
	}
	return answer(e)
}

// openExternal opens an external-cache blob and checks it against the
// directory. It returns the entry if the blob is current (and whether it
// serves this height); nil if it must be refetched (tampered or stale,
// both counted).
func (t *tiered) openExternal(ns, key string, dk dirKey, ck string, blob []byte) (*entry, bool, error) {
	s := t.s
	got, err := t.ext.Open(ns, key, blob)
	if err != nil {
		s.ctr.tampered.Add(1)
		s.log.Warn("external-cache entry failed authentication; refetching from the state database",
			"namespace", ns, "key", key, "err", err)
		return nil, false, nil
	}
	s.ctr.unsealed.Add(uint64(len(got.Value)))
	s.tiers.Lock()
	defer s.tiers.Unlock()
	k, ok := s.tiers.dir.get(dk)
	if !ok || k.absent != got.Absent || k.ver != got.Version {
		s.ctr.stale.Add(1)
		s.log.Debug("stale external-cache entry", "namespace", ns, "key", key, "known", ok, "known_version", k.ver,
			"known_absent", k.absent, "blob_version", got.Version, "blob_absent", got.Absent, "blob_valid_from", got.ValidFrom, "height", t.height)
		return nil, false, nil
	}
	e := &entry{value: got.Value, ver: got.Version, validFrom: k.validFrom, absent: got.Absent}
	if e.validFrom > t.height {
		// Current, but newer than this call's height.
		return e, false, nil
	}
	// The directory's version is the latest committed as of the enclave's
	// height, whatever this call's height: the entry may enter the
	// internal cache.
	if s.tiers.internal != nil {
		s.tiers.internal.Set(ck, e, entryCost(ck, e))
	}
	return e, true, nil
}

// plaintext returns a stored value as the contract sees it: unsealed
// under the state key for a confidential contract.
func (t *tiered) plaintext(ns, key string, stored []byte) ([]byte, error) {
	if !t.confidential {
		return stored, nil
	}
	v, err := t.s.state.Open(ns, key, stored)
	if err != nil {
		t.s.ctr.tampered.Add(1)
		return nil, fmt.Errorf("%w: %q/%q: %w", ErrSealedState, ns, key, err)
	}
	t.s.ctr.unsealed.Add(uint64(len(v)))
	return v, nil
}

// check verifies a value read from the state database at this call's
// height against the directory: a key whose state at that height the
// enclave knows must come back with that version and those bytes.
// Called with the tier lock held.
func (t *tiered) check(ns, key string, dk dirKey, e *entry, stored []byte) (known, bool, error) {
	s := t.s
	if !e.absent && e.ver.Block >= t.height {
		s.ctr.rollbacks.Add(1)
		return known{}, false, fmt.Errorf("%w: %q/%q at version %d.%d read at height %d", ErrRollback, ns, key, e.ver.Block, e.ver.Tx, t.height)
	}
	k, ok := s.tiers.dir.get(dk)
	if !ok || k.validFrom > t.height {
		return k, ok, nil
	}
	switch {
	case k.absent && !e.absent:
		s.ctr.rollbacks.Add(1)
		return k, ok, fmt.Errorf("%w: %q/%q is absent since height %d, the state returned version %d.%d", ErrRollback, ns, key, k.validFrom, e.ver.Block, e.ver.Tx)
	case !k.absent && e.absent:
		s.ctr.rollbacks.Add(1)
		return k, ok, fmt.Errorf("%w: %q/%q has version %d.%d, the state returned nothing", ErrRollback, ns, key, k.ver.Block, k.ver.Tx)
	case !k.absent && (k.ver != e.ver || k.digest != digest(stored)):
		s.ctr.rollbacks.Add(1)
		return k, ok, fmt.Errorf("%w: %q/%q has version %d.%d, the state returned version %d.%d or other bytes", ErrRollback, ns, key, k.ver.Block, k.ver.Tx, e.ver.Block, e.ver.Tx)
	}
	return k, ok, nil
}

// learn checks a value read from the state database and, if the read was
// at the enclave's current height, records it in the directory and the
// internal cache and prepares a fill for the external cache.
func (t *tiered) learn(ns, key string, dk dirKey, ck string, e *entry, stored []byte, fill bool) error {
	s := t.s
	s.tiers.Lock()
	k, ok, err := t.check(ns, key, dk, e, stored)
	current := s.tiers.height == t.height
	if err == nil && current {
		if ok && e.absent {
			e.ver, e.validFrom = k.ver, k.validFrom
		}
		if !ok {
			nk := known{ver: e.ver, validFrom: e.validFrom, absent: e.absent}
			if !e.absent {
				nk.digest = digest(stored)
			}
			s.tiers.dir.put(dk, nk)
		}
		if s.tiers.internal != nil {
			s.tiers.internal.Set(ck, e, entryCost(ck, e))
		}
	}
	s.tiers.Unlock()
	if err != nil {
		return err
	}
	if fill && current {
		blob, err := t.ext.Seal(ns, key, seal.Entry{Value: e.value, Absent: e.absent, Version: e.ver, ValidFrom: e.validFrom})
		if err != nil {
			return err
		}
		s.ctr.sealed.Add(uint64(len(e.value)))
		t.fills = append(t.fills, wire.Fill{Namespace: ns, Key: key, Blob: blob, Height: t.height})
	}
	return nil
}

// Range implements vm.State: always from the state database (the caches
// have no order), values checked and unsealed like Get's.
func (t *tiered) Range(ns, start, end string, limit int) ([]vm.KV, bool, error) {
	st := time.Now()
	kvs, more, err := t.host.StateRange(ns, start, end, limit)
	t.timed(st)
	if err != nil {
		return nil, false, err
	}
	out := make([]vm.KV, len(kvs))
	for i, kv := range kvs {
		e := &entry{ver: kv.Version}
		v, err := t.plaintext(ns, kv.Key, kv.Value)
		if err != nil {
			return nil, false, err
		}
		if !t.bypass {
			t.s.tiers.Lock()
			_, _, err = t.check(ns, kv.Key, t.s.hash.key(ns, kv.Key), e, kv.Value)
			t.s.tiers.Unlock()
			if err != nil {
				return nil, false, err
			}
		}
		out[i] = vm.KV{Key: kv.Key, Value: v, Version: protoVersion(e.ver)}
	}
	return out, more, nil
}

// History implements vm.State: from the state database, values unsealed.
func (t *tiered) History(ns, key string) ([]vm.HistoryEntry, error) {
	st := time.Now()
	hs, err := t.host.StateHistory(ns, key)
	t.timed(st)
	if err != nil {
		return nil, err
	}
	out := make([]vm.HistoryEntry, len(hs))
	for i, h := range hs {
		out[i] = vm.HistoryEntry{TxID: h.TxID, Version: protoVersion(h.Version), Timestamp: h.Timestamp, IsDelete: h.IsDelete}
		if !h.IsDelete {
			v, err := t.plaintext(ns, key, h.Value)
			if err != nil {
				return nil, err
			}
			out[i].Value = v
		}
	}
	return out, nil
}
