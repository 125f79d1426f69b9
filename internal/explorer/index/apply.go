package index

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contracts/copyright"
	"github.com/folio-ledger/folio/internal/explorer"
	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/types"
)

// workChange is what one block does to one work: its record before the
// block (from the store) and after the block's valid writes.
type workChange struct {
	before, after *explorer.Work
}

// Apply indexes block b. A block below the height was indexed already and
// is skipped (nil); one above it is ErrGap. Everything the block adds, the
// new height and the new counters are written in one batch: after a crash
// the index holds the block entirely or not at all.
func (ix *Index) Apply(b *foliov1.Block) error {
	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()
	if err := types.ValidateBlock(b); err != nil {
		return fmt.Errorf("%w: %v", ErrBadBlock, err)
	}
	ix.mu.Lock()
	closed, stats, lastHash := ix.mu.closed, ix.mu.stats, ix.mu.lastHash
	ix.mu.Unlock()
	n := b.Header.Number
	switch {
	case closed:
		return ErrClosed
	case n < stats.Height:
		return nil
	case n > stats.Height:
		return fmt.Errorf("%w: got block %d, next is %d", ErrGap, n, stats.Height)
	case n > 0 && !bytes.Equal(b.Header.PreviousHash, lastHash):
		return fmt.Errorf("%w: block %d does not link to block %d's header hash", ErrBadBlock, n, n-1)
	}
	hash, err := types.HeaderHash(b.Header)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadBlock, err)
	}
	sum, txs := decodeBlock(b, ix.opts.Namespace, ix.names)

	// The counters of this block go into the batch; the in-memory copy
	// changes only once the batch is committed.
	stats.Invalid, stats.ByOrg = maps.Clone(stats.Invalid), maps.Clone(stats.ByOrg)
	stats.OrgInvalid = maps.Clone(stats.OrgInvalid)
	if stats.OrgInvalid == nil {
		stats.OrgInvalid = map[string]map[string]uint64{}
	}
	copied := map[string]bool{}
	lat := blockLatency{at: sum.Time, valid: sum.Valid, invalid: sum.Txs - sum.Valid}
	batch := ix.st.NewBatch()
	defer batch.Close()
	written := map[string]bool{}
	changes := map[string]*workChange{}
	for i := range txs {
		t := &txs[i].sum
		stats.Txs++
		org := t.CreatorOrg
		if org == "" {
			org = "unknown"
		}
		stats.ByOrg[org]++
		if t.ValidationCode == foliov1.ValidationCode_VALID.String() {
			stats.Valid++
		} else {
			stats.Invalid[t.ValidationCode]++
			// Copy-on-write: the committed stats (read concurrently)
			// share the inner maps until this block copies one.
			m := stats.OrgInvalid[org]
			if !copied[org] {
				m, copied[org] = maps.Clone(m), true
				if m == nil {
					m = map[string]uint64{}
				}
				stats.OrgInvalid[org] = m
			}
			m[t.ValidationCode]++
		}
		// Commit latency: the orderer's timestamp of the block minus the
		// client's of the proposal. Config transactions (the genesis
		// block's, made long before) and envelopes without a timestamp
		// have none.
		if !t.Config && !t.Time.IsZero() {
			lat.lat.add(latBucket(sum.Time.Sub(t.Time).Milliseconds()), 1)
		}
		if err := ix.putTx(batch, t, written); err != nil {
			return err
		}
		for _, w := range txs[i].writes {
			if err := ix.applyWrite(batch, changes, t, w); err != nil {
				return err
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(changes)) {
		delta, err := putWork(batch, id, changes[id])
		if err != nil {
			return err
		}
		stats.Works = uint64(int64(stats.Works) + delta)
	}

	stats.Height = n + 1
	stats.LastBlockAt = sum.Time
	stats.IndexedAt = ix.opts.Now().UTC()
	for _, kvp := range []struct {
		k []byte
		v any
	}{{blockKey(n), sum}, {keyStats, stats}} {
		raw, err := json.Marshal(kvp.v)
		if err != nil {
			return err
		}
		if err := batch.Set(kvp.k, raw); err != nil {
			return err
		}
	}
	if err := batch.Set(latencyKey(n), lat.encode()); err != nil {
		return err
	}
	if err := batch.Set(hashKey(hash), binary.BigEndian.AppendUint64(nil, n)); err != nil {
		return err
	}
	if err := batch.Set(keyHeight, binary.BigEndian.AppendUint64(nil, stats.Height)); err != nil {
		return err
	}
	// No fsync: the index can always be rebuilt from the chain, and a lost
	// tail of unsynced batches loses whole blocks only (the height is in
	// the same batch), which the next Run fetches again.
	if err := batch.Commit(kv.WriteOptions{}); err != nil {
		return fmt.Errorf("index: block %d: %w", n, err)
	}

	ix.mu.Lock()
	ix.mu.stats, ix.mu.lastHash = stats, hash
	ix.mu.rates.add(&lat)
	close(ix.mu.changed)
	ix.mu.changed = make(chan struct{})
	ix.mu.Unlock()
	return nil
}

// putTx writes a transaction's summary. A valid transaction always owns
// its ID; an invalid one (a DUPLICATE_TXID replay, say) does not replace a
// transaction already indexed under the same ID.
func (ix *Index) putTx(batch kv.Batch, t *explorer.TxSummary, written map[string]bool) error {
	if !indexable(t.ID) {
		return nil
	}
	if t.ValidationCode != foliov1.ValidationCode_VALID.String() {
		if written[t.ID] {
			return nil
		}
		if _, err := ix.st.Get(txKey(t.ID)); err == nil {
			return nil
		} else if !errors.Is(err, kv.ErrNotFound) {
			return err
		}
	}
	raw, err := json.Marshal(t)
	if err != nil {
		return err
	}
	written[t.ID] = true
	return batch.Set(txKey(t.ID), raw)
}

// applyWrite folds one valid write of the works namespace into changes
// and records the provenance entry. Index keys of the contract (owner,
// author, hash) are ignored: the index keeps its own.
func (ix *Index) applyWrite(batch kv.Batch, changes map[string]*workChange, t *explorer.TxSummary, w *foliov1.KVWrite) error {
	id, ok := workID(w.Key)
	if !ok || !indexable(id) {
		return nil
	}
	c := changes[id]
	if c == nil {
		c = &workChange{}
		old, err := getJSON[explorer.Work](ix.st, workKey(id), "work "+id)
		switch {
		case err == nil:
			c.before = &old
		case !errors.Is(err, explorer.ErrNotFound):
			return err
		}
		c.after = c.before
		changes[id] = c
	}
	e := explorer.ProvenanceEntry{TxID: t.ID, Block: t.Block, Time: t.Time, Creator: t.Creator, Endorsers: t.Endorsers}
	if w.IsDelete {
		e.Action = copyright.ActionDelete
		if c.after != nil {
			e.Owner = c.after.Owner
		}
		c.after = nil
	} else {
		var r copyright.Record
		if err := json.Unmarshal(w.Value, &r); err != nil || r.ID != id || !indexable(r.Owner) {
			// A value the contract would not write: show the transaction,
			// but do not pretend to know the work.
			ix.opts.Logger.Warn("explorer index: unreadable work record", "block", t.Block, "tx", t.ID, "work", id, "err", err)
			return nil
		}
		regAt, _ := time.Parse(time.RFC3339Nano, r.RegisteredAt)
		c.after = &explorer.Work{ID: id, Title: r.Title, Author: r.Author, Owner: r.Owner, Type: r.Type,
			ContentHash: r.ContentHash, Relation: r.Relation, RegisteredAt: regAt, Block: t.Block, TxID: t.ID}
		e.Action, e.Owner = r.Action, r.Owner
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return batch.Set(provKey(id, t.Block, t.Index), raw)
}

// putWork writes a work's state after a block and moves its secondary
// index entries; it returns the change in the number of works.
func putWork(batch kv.Batch, id string, c *workChange) (int64, error) {
	type entry struct {
		p     byte
		value string
	}
	entries := func(w *explorer.Work) []entry {
		if w == nil {
			return nil
		}
		var es []entry
		for _, e := range []entry{{pOwner, w.Owner}, {pAuthor, w.Author}, {pCHash, w.ContentHash}} {
			if indexable(e.value) {
				es = append(es, e)
			}
		}
		return es
	}
	oldE, newE := entries(c.before), entries(c.after)
	for _, e := range oldE {
		if !slices.Contains(newE, e) {
			if err := batch.Delete(secondaryKey(e.p, e.value, id)); err != nil {
				return 0, err
			}
		}
	}
	for _, e := range newE {
		if !slices.Contains(oldE, e) {
			if err := batch.Set(secondaryKey(e.p, e.value, id), nil); err != nil {
				return 0, err
			}
		}
	}
	var delta int64
	if c.after == nil {
		if c.before != nil {
			delta = -1
		}
		return delta, batch.Delete(workKey(id))
	}
	if c.before == nil {
		delta = 1
	}
	raw, err := json.Marshal(c.after)
	if err != nil {
		return 0, err
	}
	return delta, batch.Set(workKey(id), raw)
}
