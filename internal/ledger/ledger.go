package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
	"github.com/folio-ledger/folio/internal/ledger/blocks"
	"github.com/folio-ledger/folio/internal/ledger/state"
	"github.com/folio-ledger/folio/internal/ledger/trie"
)

// Ledger is a peer's ledger: the block store, the versioned world state,
// the history index and the state trie in one kv.Store, committed together
// one block at a time.
//
// Commit must be called by one goroutine, the committer (calls are
// serialised anyway). Every other method is safe for concurrent use,
// including during a Commit: reads see the last committed block.
type Ledger struct {
	store     kv.Store
	ownsStore bool
	opts      Options
	log       *slog.Logger
	blocks    *blocks.Store
	tries     *trie.Database

	// commitMu serialises Commit and Close; it guards closed, failed and
	// stats.
	commitMu sync.Mutex
	closed   bool
	failed   error // the failed batch commit that stops all later commits
	stats    CommitStats

	mu struct {
		// RWMutex guards view. Readers take the read lock only to pin the
		// view (one reference); Commit takes the write lock to publish the
		// next view.
		sync.RWMutex
		view *view
	}
}

// Open opens (creating if needed) the ledger stored with Pebble in dir, and
// checks it (see OpenStore).
func Open(dir string, opts Options) (*Ledger, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	store, err := pebblekv.Open(dir, opts.Store)
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", dir, err)
	}
	l, err := open(store, opts)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	l.ownsStore = true
	return l, nil
}

// OpenStore opens the ledger held in store, which the caller keeps owning:
// Close does not close it. It checks, failing with an error matching
// kv.ErrCorruption that names the block:
//
//   - the ledger format record (a newer format is *kv.FormatVersionError);
//   - the header chain: every header links to the previous one, and every
//     stored block matches its header (blocks.Open);
//   - that the state holds exactly the blocks the block store holds;
//   - that the state root recorded for the last block equals the root in
//     the block's metadata, that the trie node store was written at that
//     block, and that the root node is stored and hashes to the root.
//
// With Options.VerifyOnOpen it also reads every block and recomputes the
// state root (VerifyState).
func OpenStore(store kv.Store, opts Options) (*Ledger, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return open(store, opts)
}

func open(store kv.Store, opts Options) (*Ledger, error) {
	l := &Ledger{store: store, opts: opts, log: opts.Logger}
	bs, err := blocks.Open(store)
	if err != nil {
		return nil, fmt.Errorf("ledger: open: %w", err)
	}
	l.blocks = bs
	l.tries, err = trie.NewDatabase(store, trie.Options{Prefix: triePrefix, CacheBytes: opts.TrieCacheBytes})
	if err != nil {
		return nil, err
	}
	stateHeight, err := state.NewReader(store).Height()
	if err != nil {
		return nil, fmt.Errorf("ledger: open: %w", err)
	}
	height := bs.Height()
	if err := l.checkFormat(height, stateHeight); err != nil {
		return nil, err
	}
	if stateHeight != height {
		return nil, corrupt("open", "the block store holds %d blocks (last block %d) but the state holds the writes of %d blocks: the state and the chain disagree", height, int64(height)-1, stateHeight)
	}
	var root trie.Hash
	if height > 0 {
		if root, err = l.checkTip(height - 1); err != nil {
			return nil, err
		}
	} else if _, ok, err := l.tries.LastVersion(); err != nil || ok {
		if err == nil {
			err = corrupt("open", "the ledger holds no block but the trie node store holds a version")
		}
		return nil, fmt.Errorf("ledger: open: %w", err)
	}
	v, err := newView(store, height, root)
	if err != nil {
		return nil, fmt.Errorf("ledger: open: %w", err)
	}
	l.mu.view = v
	if opts.VerifyOnOpen {
		if err := l.verifyAll(); err != nil {
			l.mu.view.release()
			return nil, err
		}
	}
	l.log.Info("ledger opened", "height", height, "state_root", fmt.Sprintf("%x", root[:]))
	return l, nil
}

// checkFormat reads the format record, writing it into a new ledger.
func (l *Ledger) checkFormat(height, stateHeight uint64) error {
	rec, err := l.store.Get(formatKey)
	if errors.Is(err, kv.ErrNotFound) {
		if height > 0 || stateHeight > 0 {
			return corrupt("open", "the store holds %d blocks and state of %d blocks but no ledger format record", height, stateHeight)
		}
		b := l.store.NewBatch()
		defer b.Close()
		if err := b.Set(formatKey, encodeFormat(FormatVersion)); err != nil {
			return fmt.Errorf("ledger: open: %w", err)
		}
		if err := b.Commit(kv.WriteOptions{Sync: true}); err != nil {
			return fmt.Errorf("ledger: open: write format record: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger: open: read format record: %w", err)
	}
	v, err := decodeFormat(rec)
	if err != nil {
		return corrupt("open", "%v", err)
	}
	if v > FormatVersion {
		return &kv.FormatVersionError{Dir: "ledger", OnDisk: v, Supported: FormatVersion}
	}
	return nil
}

// checkTip checks that block last, its recorded state root and the trie
// agree, and returns the root.
func (l *Ledger) checkTip(last uint64) (trie.Hash, error) {
	rec, err := l.store.Get(rootKey(last))
	if errors.Is(err, kv.ErrNotFound) {
		return trie.Hash{}, corrupt("open", "no state root recorded for block %d, the last block", last)
	}
	if err != nil {
		return trie.Hash{}, fmt.Errorf("ledger: open: state root of block %d: %w", last, err)
	}
	root, err := decodeRoot(last, rec)
	if err != nil {
		return trie.Hash{}, err
	}
	b, err := l.blocks.Block(last)
	if err != nil {
		return trie.Hash{}, fmt.Errorf("ledger: open: %w", err)
	}
	if !bytes.Equal(b.GetMetadata().GetStateRoot(), root[:]) {
		return trie.Hash{}, corrupt("open", "block %d's metadata holds state root %x but the ledger recorded %x", last, b.GetMetadata().GetStateRoot(), root[:])
	}
	tv, ok, err := l.tries.LastVersion()
	if err != nil {
		return trie.Hash{}, fmt.Errorf("ledger: open: trie version: %w", err)
	}
	if !ok || tv != last {
		return trie.Hash{}, corrupt("open", "the trie node store was last written at version %d (present: %v), not at block %d", tv, ok, last)
	}
	if _, err := trie.New(trie.ID{Root: root}, l.tries); err != nil {
		if errors.Is(err, trie.ErrMissingNode) {
			return trie.Hash{}, corrupt("open", "the state trie root %x of block %d is not stored: %v", root[:], last, err)
		}
		return trie.Hash{}, fmt.Errorf("ledger: open: state trie root %x of block %d: %w", root[:], last, err)
	}
	return root, nil
}

// verifyAll reads every record of the store (so that the backend checks
// every checksum), reads every block, checks its recorded state root, and
// recomputes the state root.
func (l *Ledger) verifyAll() error {
	it, err := l.store.NewIter(nil)
	if err != nil {
		return fmt.Errorf("ledger: verify: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("ledger: verify: read every record: %w", err)
	}
	height := l.blocks.Height()
	for n := uint64(0); n < height; n++ {
		b, err := l.blocks.Block(n)
		if err != nil {
			return fmt.Errorf("ledger: verify: %w", err)
		}
		root, err := l.StateRoot(n)
		if err != nil {
			return fmt.Errorf("ledger: verify: %w", err)
		}
		if !bytes.Equal(b.GetMetadata().GetStateRoot(), root) {
			return corrupt("verify", "block %d's metadata holds state root %x but the ledger recorded %x", n, b.GetMetadata().GetStateRoot(), root)
		}
	}
	return l.VerifyState()
}

// Close closes the ledger, and the store if Open opened it. Readers must be
// closed first (their snapshots keep the store open; pebblekv reports them).
func (l *Ledger) Close() error {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	l.mu.Lock()
	v := l.mu.view
	l.mu.view = nil
	l.mu.Unlock()
	var err error
	if v != nil {
		err = v.release()
	}
	if l.ownsStore {
		if cerr := l.store.Close(); cerr != nil {
			err = cerr
		}
	}
	return err
}

// Height returns the number of committed blocks whose state readers see,
// which is the next block's number.
func (l *Ledger) Height() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.view == nil {
		return 0
	}
	return l.mu.view.height
}

// StateRoot returns the state root recorded after block num (the
// Keccak-256 root of the account trie), as stored in the block's metadata.
// Roots of every block stay recorded even when the trie nodes of old roots
// are pruned. A block not committed yet is ErrNotFound.
func (l *Ledger) StateRoot(num uint64) ([]byte, error) {
	if h := l.Height(); num >= h {
		return nil, fmt.Errorf("%w: state root of block %d (height %d)", ErrNotFound, num, h)
	}
	rec, err := l.store.Get(rootKey(num))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, corrupt("read", "no state root recorded for committed block %d", num)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: state root of block %d: %w", num, err)
	}
	root, err := decodeRoot(num, rec)
	if err != nil {
		return nil, err
	}
	return root[:], nil
}

// Blocks returns the block store, for reading blocks and waiting for new
// ones. Do not Append or Stage through it: only Commit may extend the
// chain, or the state would fall behind it (the next Open would refuse the
// ledger).
func (l *Ledger) Blocks() *blocks.Store { return l.blocks }

// Tries returns the trie node store, for tools and tests that open tries at
// a committed root. Do not write through it.
func (l *Ledger) Tries() *trie.Database { return l.tries }
