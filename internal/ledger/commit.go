package ledger

import (
	"bytes"
	"fmt"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/types"
)

// Commit appends block b with its state changes and returns the new state
// root. In ONE kv batch, committed with Sync (fsync of the write-ahead log)
// it writes:
//
//   - the state writes of u, each at version (b's number, tx number);
//   - one history entry per write;
//   - the new and changed trie nodes: each written namespace's storage trie
//     and the account trie, whose records [nonce, balance, storage_root,
//     code_hash] get nonce += number of writes, balance 0, the new storage
//     root and the code hash (u.CodeHashes, else unchanged);
//   - the state root, recorded under the block number and put into
//     b.Metadata.StateRoot (Commit sets that field of the caller's block);
//   - the block itself with its indexes, and the state's height.
//
// After Commit returns, readers see the new block; a crash at any moment
// leaves the ledger at the previous block or at this one, never between.
//
// Refused before anything is written: a block that does not follow the
// chain (ErrDoesNotFollow), a malformed block (types.ErrMalformed), updates
// that do not fit (ErrInvalidUpdates, *UpdateError naming the block, tx,
// namespace and key, wrapping state.ErrValueTooLarge etc.). If the batch
// commit fails (a write or fsync error) Commit returns that error and the
// ledger stays at the previous block; pebblekv then refuses every write
// (kv.ErrWriteFailed), and so does the ledger, until it is closed and
// reopened: the failed batch's writes may be visible in the store without
// being durable, so nothing may be built on them.
//
// Every Options.PruneEvery blocks Commit first prunes trie nodes older than
// Options.KeepRoots blocks; a failed prune fails the Commit before the block
// is written (the prune is idempotent and redone next time).
//
// Commit is meant for one goroutine, the committer; concurrent calls are
// serialised. It does not retain b or u.
func (l *Ledger) Commit(b *foliov1.Block, u Updates) ([]byte, error) {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if l.failed != nil {
		return nil, fmt.Errorf("ledger: %w: close and reopen the ledger (first failure: %v)", kv.ErrWriteFailed, l.failed)
	}
	var st CommitStats
	t0 := time.Now()
	num, err := l.checkFollows(b)
	if err != nil {
		return nil, err
	}
	if err := u.check(num, b); err != nil {
		return nil, err
	}
	t1 := time.Now()
	st.Check = t1.Sub(t0)
	if err := l.maybePrune(num); err != nil {
		return nil, err
	}
	t2 := time.Now()
	st.Prune = t2.Sub(t1)

	prevRoot := l.mu.view.root // only Commit changes the view; commitMu is held
	batch := l.store.NewBatch()
	defer batch.Close()
	hadMeta := b.Metadata != nil
	if !hadMeta {
		b.Metadata = &foliov1.BlockMetadata{}
	}
	oldRoot := b.Metadata.StateRoot
	root, err := l.stage(batch, num, b, &u, prevRoot, &st)
	if err == nil {
		t := time.Now()
		err = batch.Commit(kv.WriteOptions{Sync: true})
		if err != nil {
			// The batch may be visible in the store although not durable
			// (Pebble applies it to the memtable before the log sync
			// fails): refuse every later commit until a reopen recovers
			// the durable state. Readers keep the previous block's view.
			err = fmt.Errorf("ledger: commit block %d: %w", num, err)
			l.failed = err
		}
		st.Store = time.Since(t)
	}
	if err != nil {
		b.Metadata.StateRoot = oldRoot
		if !hadMeta {
			b.Metadata = nil
		}
		return nil, err
	}
	t := time.Now()
	if err := l.blocks.Committed(b); err != nil {
		l.failed = fmt.Errorf("ledger: block %d committed but not recorded in memory: %w", num, err)
		return nil, l.failed
	}
	v, err := newView(l.store, num+1, root)
	if err != nil {
		l.failed = fmt.Errorf("ledger: block %d committed but readers cannot see it: %w", num, err)
		return nil, l.failed
	}
	l.publish(v)
	st.Store += time.Since(t)
	st.Blocks = 1
	st.Txs = uint64(len(u.Txs))
	for i := range u.Txs {
		for _, nw := range u.Txs[i].Writes {
			st.Writes += uint64(len(nw.Writes))
		}
	}
	l.stats = add(l.stats, st)
	return append([]byte{}, root[:]...), nil
}

// checkFollows checks that b is structurally a block and extends the chain,
// and returns its number. blocks.Stage checks again, with the data hash.
func (l *Ledger) checkFollows(b *foliov1.Block) (uint64, error) {
	if b == nil || b.Header == nil {
		return 0, fmt.Errorf("ledger: %w: block or header missing", types.ErrMalformed)
	}
	height := l.blocks.Height()
	h := b.Header
	if h.Number != height {
		return 0, fmt.Errorf("%w: block %d offered, the next block is %d", ErrDoesNotFollow, h.Number, height)
	}
	want := l.blocks.LastHash()
	if height == 0 {
		want = types.GenesisPreviousHash()
	}
	if !bytes.Equal(h.PreviousHash, want) {
		return 0, fmt.Errorf("%w: block %d's previous hash %x is not the hash of block %d (%x)", ErrDoesNotFollow, h.Number, h.PreviousHash, int64(height)-1, want)
	}
	return h.Number, nil
}

// maybePrune prunes trie nodes before block num is committed, when due.
func (l *Ledger) maybePrune(num uint64) error {
	keep := l.opts.KeepRoots
	if keep == KeepAllRoots || num%uint64(l.opts.PruneEvery) != 0 || num <= uint64(keep) {
		return nil
	}
	// Blocks num-keep .. num-1 keep complete tries.
	keepFrom := num - uint64(keep)
	ps, err := l.tries.Prune(keepFrom, kv.WriteOptions{})
	if err != nil {
		return fmt.Errorf("ledger: prune trie nodes before block %d (keeping roots from block %d): %w", num, keepFrom, err)
	}
	l.log.Debug("pruned trie nodes", "block", num, "keep_from", keepFrom, "journals", ps.Journals, "deleted", ps.Deleted, "kept", ps.Kept)
	return nil
}

func add(a, b CommitStats) CommitStats {
	return CommitStats{
		Blocks: a.Blocks + b.Blocks, Txs: a.Txs + b.Txs, Writes: a.Writes + b.Writes,
		Check: a.Check + b.Check, Prune: a.Prune + b.Prune, Encode: a.Encode + b.Encode,
		Trie: a.Trie + b.Trie, Block: a.Block + b.Block, Store: a.Store + b.Store,
		TrieReads: a.TrieReads + b.TrieReads, TrieNodeReads: a.TrieNodeReads + b.TrieNodeReads,
	}
}
