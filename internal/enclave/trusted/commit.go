package trusted

import (
	"context"
	"fmt"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/seal"
	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// Commit applies the writes of committed block m.Block (see the package
// comment) and returns replacements for the external-cache entries the
// host holds (Write.ExtPresent). Blocks must come in order: a block at or
// below the enclave's height is refused with ErrHeight (it was applied);
// a gap means the enclave missed blocks, and it drops its tiers before
// moving on. A confidential write that does not open under the state key
// is dropped from the tiers (and logged): the committed block is the
// truth, the enclave just cannot serve that key from its caches.
func (s *Service) Commit(ctx context.Context, m *wire.Commit) (*wire.CommitReply, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	type change struct {
		ns, key string
		dk      dirKey
		ck      string
		e       *entry // nil: drop the key from the tiers
		k       known
		ext     bool
	}
	// Prepare outside the lock: hashing and unsealing. The last write of
	// a key in the block wins.
	idx := map[string]int{}
	var changes []change
	for i := range m.Writes {
		w := &m.Writes[i]
		c := change{ns: w.Namespace, key: w.Key, dk: s.hash.key(w.Namespace, w.Key), ck: cacheKey(w.Namespace, w.Key), ext: w.ExtPresent}
		ver := abi.KeyVersion{Block: m.Block, Tx: w.Tx}
		c.k = known{ver: ver, validFrom: m.Block + 1, absent: w.Delete}
		if w.Delete {
			c.e = &entry{ver: ver, validFrom: m.Block + 1, absent: true}
		} else {
			c.k.digest = digest(w.Value)
			v := w.Value
			if s.confidential(w.Namespace) {
				var err error
				if v, err = s.state.Open(w.Namespace, w.Key, w.Value); err != nil {
					s.ctr.tampered.Add(1)
					s.log.Error("committed value of a confidential contract does not open under this enclave's state key; not caching it",
						"namespace", w.Namespace, "key", w.Key, "block", m.Block, "err", err)
					v = nil
				} else {
					s.ctr.unsealed.Add(uint64(len(v)))
				}
			}
			if v != nil {
				c.e = &entry{value: v, ver: ver, validFrom: m.Block + 1}
			}
		}
		if j, ok := idx[c.ck]; ok {
			changes[j] = c
		} else {
			idx[c.ck] = len(changes)
			changes = append(changes, c)
		}
	}

	s.tiers.Lock()
	switch h := s.tiers.height; {
	case m.Block < h:
		s.tiers.Unlock()
		return nil, fmt.Errorf("%w: block %d is already applied (the enclave is at height %d)", ErrHeight, m.Block, h)
	case m.Block > h:
		s.log.Warn("commit skips blocks; dropping every tier", "height", h, "block", m.Block)
		s.clearLocked()
		if err := s.newRoot(); err != nil {
			s.tiers.Unlock()
			return nil, err
		}
	}
	for _, c := range changes {
		if c.e == nil {
			s.tiers.dir.remove(c.dk)
			if s.tiers.internal != nil {
				s.tiers.internal.Delete(c.ck)
			}
			continue
		}
		s.tiers.dir.put(c.dk, c.k)
		if s.tiers.internal != nil {
			s.tiers.internal.Update(c.ck, c.e, entryCost(c.ck, c.e))
		}
	}
	s.tiers.height = m.Block + 1
	s.tiers.Unlock()

	// Seal the replacements outside the lock.
	reply := &wire.CommitReply{}
	x := s.ext.Load()
	for _, c := range changes {
		if !c.ext || c.e == nil {
			continue
		}
		blob, err := x.Seal(c.ns, c.key, seal.Entry{Value: c.e.value, Absent: c.e.absent, Version: c.e.ver, ValidFrom: c.e.validFrom})
		if err != nil {
			return nil, err
		}
		s.ctr.sealed.Add(uint64(len(c.e.value)))
		reply.Fills = append(reply.Fills, wire.Fill{Namespace: c.ns, Key: c.key, Blob: blob, Height: m.Block + 1})
	}
	return reply, nil
}

// Invalidate drops the internal cache and the directory, draws a new root
// key (so that no external-cache blob sealed before opens again), and
// moves the enclave to height: after a ledger rollback, or whenever the
// host cannot vouch for the tiers.
func (s *Service) Invalidate(height uint64) error {
	if err := s.newRoot(); err != nil {
		return err
	}
	s.tiers.Lock()
	defer s.tiers.Unlock()
	s.clearLocked()
	s.tiers.height = height
	s.log.Info("tiers invalidated", "height", height)
	return nil
}

func (s *Service) clearLocked() {
	if s.tiers.internal != nil {
		s.tiers.internal.Clear()
	}
	s.tiers.dir.clear()
}
