package ledger

import (
	"sync/atomic"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/ledger/history"
	"github.com/folio-ledger/folio/internal/ledger/state"
	"github.com/folio-ledger/folio/internal/ledger/trie"
)

// view is the ledger as of one committed block: a kv snapshot taken right
// after the block's batch committed, its height and state root. It is
// reference counted: the ledger holds one reference to the current view,
// each Reader another; the snapshot closes with the last one.
type view struct {
	snap   kv.Snapshot
	height uint64
	root   trie.Hash // zero at height 0
	refs   atomic.Int64
	state  *state.Reader
	hist   *history.Reader
}

func newView(store kv.Store, height uint64, root trie.Hash) (*view, error) {
	snap, err := store.NewSnapshot()
	if err != nil {
		return nil, err
	}
	v := &view{snap: snap, height: height, root: root, state: state.NewReader(snap), hist: history.NewReader(snap)}
	v.refs.Store(1)
	return v, nil
}

// release drops one reference, closing the snapshot with the last.
func (v *view) release() error {
	if v.refs.Add(-1) == 0 {
		return v.snap.Close()
	}
	return nil
}

// acquire pins the current view, or returns ErrClosed.
func (l *Ledger) acquire() (*view, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	v := l.mu.view
	if v == nil {
		return nil, ErrClosed
	}
	v.refs.Add(1)
	return v, nil
}

// publish makes v the current view.
func (l *Ledger) publish(v *view) {
	l.mu.Lock()
	old := l.mu.view
	l.mu.view = v
	l.mu.Unlock()
	if old != nil {
		_ = old.release() // a snapshot close error has nothing to report to
	}
}

// Reader is a consistent, read-only view of the ledger at one committed
// block: every read sees that block's state and history, whatever commits
// meanwhile. It implements the contract runtime's state interface (Get,
// Range, History). It is safe for concurrent use. Close it when done: an
// open Reader pins a store snapshot (and, for Prove, its root must stay
// within Options.KeepRoots of the tip).
type Reader struct {
	l      *Ledger
	v      *view
	closed atomic.Bool
}

// NewReader returns a Reader at the last committed block.
func (l *Ledger) NewReader() (*Reader, error) {
	v, err := l.acquire()
	if err != nil {
		return nil, err
	}
	return &Reader{l: l, v: v}, nil
}

// Close releases the reader. Closing twice is a no-op.
func (r *Reader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	return r.v.release()
}

// Height returns the number of blocks the reader sees.
func (r *Reader) Height() uint64 { return r.v.height }

// StateRoot returns the state root after the reader's last block, or nil at
// height 0. The slice is fresh.
func (r *Reader) StateRoot() []byte {
	if r.v.height == 0 {
		return nil
	}
	return append([]byte{}, r.v.root[:]...)
}

// Get returns the value and version of key in namespace ns; a nil version
// (and value) means the key does not exist. Slices are fresh.
func (r *Reader) Get(ns, key string) ([]byte, *foliov1.Version, error) {
	if r.closed.Load() {
		return nil, nil, ErrClosed
	}
	return r.v.state.Get(ns, key)
}

// Range returns up to limit entries of namespace ns with keys in [start,
// end), ascending (end "" is unbounded, limit <= 0 unlimited), and whether
// more exist. For a composite-key partial scan, pass end =
// state.PrefixEnd(start).
func (r *Reader) Range(ns, start, end string, limit int) ([]state.KV, bool, error) {
	if r.closed.Load() {
		return nil, false, ErrClosed
	}
	return r.v.state.Range(ns, start, end, limit)
}

// History returns every committed change of key in namespace ns, oldest
// first.
func (r *Reader) History(ns, key string) ([]state.HistoryEntry, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	return r.v.hist.History(ns, key)
}

// HistoryIterator iterates the changes of key in namespace ns at versions
// >= from, oldest first. Close the iterator before the reader.
func (r *Reader) HistoryIterator(ns, key string, from state.Version) (*history.Iterator, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	return r.v.hist.NewIterator(ns, key, from)
}

// Get reads key at the last committed block (see Reader.Get).
func (l *Ledger) Get(ns, key string) ([]byte, *foliov1.Version, error) {
	r, err := l.NewReader()
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	return r.Get(ns, key)
}

// Range scans at the last committed block (see Reader.Range).
func (l *Ledger) Range(ns, start, end string, limit int) ([]state.KV, bool, error) {
	r, err := l.NewReader()
	if err != nil {
		return nil, false, err
	}
	defer r.Close()
	return r.Range(ns, start, end, limit)
}

// History reads a key's changes at the last committed block (see
// Reader.History).
func (l *Ledger) History(ns, key string) ([]state.HistoryEntry, error) {
	r, err := l.NewReader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.History(ns, key)
}
