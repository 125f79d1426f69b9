package index

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/folio-ledger/folio/internal/explorer"
	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
)

// Result limits of the listing methods.
const (
	// DefaultLimit is the size of a listing asked with limit 0.
	DefaultLimit = 50
	// MaxLimit caps every listing.
	MaxLimit = 500
	// MaxProvenance is the most changes Work returns: the newest ones.
	MaxProvenance = 1000
	// maxScan bounds the index entries one Works call examines when it
	// filters on several fields, so a query cannot walk the whole index.
	maxScan = 20 * MaxLimit
)

// Errors callers branch on (besides explorer.ErrNotFound).
var (
	// ErrGap: a block arrived past the index's height (a source skipped
	// blocks). Run retries from the height.
	ErrGap = errors.New("index: block is past the next block to index")
	// ErrBadBlock: a block failed its structure check or does not link to
	// the previous block's header hash.
	ErrBadBlock = errors.New("index: bad block")
	// ErrFormat: the directory holds an index of a newer format.
	ErrFormat = errors.New("index: on-disk format is newer than this binary supports")
	// ErrClosed: the index was closed.
	ErrClosed = errors.New("index: closed")
)

// Options configures an Index. Dir is required; every other field
// documents its default.
type Options struct {
	// Dir is the directory of the index (created if missing).
	Dir string
	// Namespace is the state namespace of the copyright contract whose
	// work records the index follows. Default "copyright".
	Namespace string
	// FS is the file system of the store. Default: the operating system's
	// (tests pass a crashable in-memory one).
	FS vfs.FS
	// CacheBytes is Pebble's block cache. Default 16 MiB: the explorer
	// runs beside a node and its budget is 150 MB of RSS.
	CacheBytes int64
	// Logger receives source errors and skipped records. Default: discard.
	Logger *slog.Logger
	// Now is the clock of IndexedAt and of Rates' window. Default time.Now.
	Now func() time.Time
}

// EnsureDefaults fills the zero fields.
func (o *Options) EnsureDefaults() {
	if o.Namespace == "" {
		o.Namespace = "copyright"
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = 16 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate rejects unusable options.
func (o *Options) Validate() error {
	if o.Dir == "" {
		return errors.New("index: Options.Dir is required")
	}
	return nil
}

// Index is the explorer's persistent index. Its Store methods are safe for
// concurrent use; Apply (and Run, which calls it) belong to one goroutine
// at a time (writeMu serialises them anyway).
type Index struct {
	opts Options
	st   kv.Store

	// writeMu serialises Apply: one block at a time, so the counters read
	// at the start of a block are the ones its batch extends. It guards
	// names.
	writeMu sync.Mutex
	names   labels

	mu struct {
		sync.Mutex
		// stats is the committed statistics (Height = next block).
		stats explorer.Stats
		// lastHash is the header hash of block Height-1 (nil when empty).
		lastHash []byte
		// changed is closed (and replaced) after each indexed block.
		changed chan struct{}
		rates   rates
		status  Status
		// src is the source Run follows (for its peers' status).
		src    explorer.BlockSource
		closed bool
	}
}

var _ explorer.Store = (*Index)(nil)

// Open opens (creating if needed) the index in opts.Dir.
func Open(opts Options) (*Index, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	st, err := pebblekv.Open(opts.Dir, pebblekv.Options{FS: opts.FS, CacheBytes: opts.CacheBytes, MemTableBytes: 8 << 20, Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("index: open %s: %w", opts.Dir, err)
	}
	ix, err := openStore(st, opts)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return ix, nil
}

func openStore(st kv.Store, opts Options) (*Index, error) {
	ix := &Index{opts: opts, st: st, names: labels{}}
	ix.mu.changed = make(chan struct{})
	ix.mu.stats = explorer.Stats{Invalid: map[string]uint64{}, ByOrg: map[string]uint64{}, OrgInvalid: map[string]map[string]uint64{}}
	f, err := st.Get(keyFormat)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		b := st.NewBatch()
		defer b.Close()
		if err := b.Set(keyFormat, binary.BigEndian.AppendUint32(nil, formatVersion)); err != nil {
			return nil, err
		}
		if err := b.Commit(kv.WriteOptions{Sync: true}); err != nil {
			return nil, fmt.Errorf("index: initialise: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("index: read format: %w", err)
	case len(f) != 4:
		return nil, &kv.CorruptionError{Op: "index format", Err: fmt.Errorf("format record of %d bytes", len(f))}
	case binary.BigEndian.Uint32(f) > formatVersion:
		return nil, fmt.Errorf("%w: %s has format %d, this binary writes %d (delete the directory to rebuild it)", ErrFormat, opts.Dir, binary.BigEndian.Uint32(f), formatVersion)
	case binary.BigEndian.Uint32(f) < formatVersion:
		// An older format lacks records this one keeps: empty the index
		// and let Run index the chain again, once.
		opts.Logger.Warn("explorer index: older on-disk format; rebuilding the index from block 0", "dir", opts.Dir, "format", binary.BigEndian.Uint32(f), "now", formatVersion)
		b := st.NewBatch()
		defer b.Close()
		if err := b.DeleteRange(nil, []byte{0xff}); err != nil {
			return nil, err
		}
		if err := b.Set(keyFormat, binary.BigEndian.AppendUint32(nil, formatVersion)); err != nil {
			return nil, err
		}
		if err := b.Commit(kv.WriteOptions{Sync: true}); err != nil {
			return nil, fmt.Errorf("index: reset for the new format: %w", err)
		}
	}
	raw, err := st.Get(keyStats)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return ix, nil // a new index
	case err != nil:
		return nil, fmt.Errorf("index: read stats: %w", err)
	}
	if err := json.Unmarshal(raw, &ix.mu.stats); err != nil {
		return nil, &kv.CorruptionError{Op: "index stats", Err: err}
	}
	if ix.mu.stats.Invalid == nil {
		ix.mu.stats.Invalid = map[string]uint64{}
	}
	if ix.mu.stats.ByOrg == nil {
		ix.mu.stats.ByOrg = map[string]uint64{}
	}
	if ix.mu.stats.OrgInvalid == nil {
		ix.mu.stats.OrgInvalid = map[string]map[string]uint64{}
	}
	if h := ix.mu.stats.Height; h > 0 {
		last, err := ix.Block(h - 1)
		if err != nil {
			return nil, &kv.CorruptionError{Op: "index open", Err: fmt.Errorf("height %d but block %d: %w", h, h-1, err)}
		}
		if ix.mu.lastHash, err = hex.DecodeString(last.Hash); err != nil {
			return nil, &kv.CorruptionError{Op: "index open", Err: err}
		}
	}
	// The rate ring is memory only: blocks indexed before this start are
	// folded in at the first Rates call.
	ix.mu.rates.rebuildBelow = ix.mu.stats.Height
	return ix, nil
}

// Close closes the store. Call it after Run has returned.
func (ix *Index) Close() error {
	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()
	ix.mu.Lock()
	if ix.mu.closed {
		ix.mu.Unlock()
		return nil
	}
	ix.mu.closed = true
	ix.mu.Unlock()
	// Flushing the memtables makes the next Open quick: otherwise it
	// replays up to a memtable's worth of write-ahead log first.
	var ferr error
	if f, ok := ix.st.(interface{ Flush() error }); ok {
		ferr = f.Flush()
	}
	return errors.Join(ferr, ix.st.Close())
}

// Height is the number of blocks indexed: the next block Apply wants.
func (ix *Index) Height() uint64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.mu.stats.Height
}

// Stats returns the dashboard's figures. The maps are the caller's.
func (ix *Index) Stats() explorer.Stats {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	s := ix.mu.stats
	s.Invalid, s.ByOrg = maps.Clone(s.Invalid), maps.Clone(s.ByOrg)
	s.OrgInvalid = make(map[string]map[string]uint64, len(s.OrgInvalid))
	for org, m := range ix.mu.stats.OrgInvalid {
		s.OrgInvalid[org] = maps.Clone(m)
	}
	return s
}

// Changed returns a channel closed when the next block is indexed.
func (ix *Index) Changed() <-chan struct{} {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.mu.changed
}

func getJSON[T any](r kv.Reader, key []byte, what string) (T, error) {
	var v T
	raw, err := r.Get(key)
	if errors.Is(err, kv.ErrNotFound) {
		return v, fmt.Errorf("%s: %w", what, explorer.ErrNotFound)
	}
	if err != nil {
		// The pages answer 503 for a store that cannot read (closed, disk
		// failing), 404 only for what is truly absent.
		return v, fmt.Errorf("%s: %w: %w", what, explorer.ErrUnavailable, err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, &kv.CorruptionError{Op: "index " + what, Err: err}
	}
	return v, nil
}

// Block returns block number's summary.
func (ix *Index) Block(number uint64) (explorer.BlockSummary, error) {
	return getJSON[explorer.BlockSummary](ix.st, blockKey(number), fmt.Sprintf("block %d", number))
}

// BlockByHash returns the block whose header hash is hash (hex).
func (ix *Index) BlockByHash(hash string) (explorer.BlockSummary, error) {
	h, err := hex.DecodeString(strings.ToLower(hash))
	if err != nil || len(h) == 0 || len(h) > 64 {
		return explorer.BlockSummary{}, fmt.Errorf("block hash %q: %w", clipped(hash), explorer.ErrNotFound)
	}
	raw, err := ix.st.Get(hashKey(h))
	if errors.Is(err, kv.ErrNotFound) {
		return explorer.BlockSummary{}, fmt.Errorf("block hash %s: %w", hash, explorer.ErrNotFound)
	}
	if err != nil {
		return explorer.BlockSummary{}, err
	}
	if len(raw) != 8 {
		return explorer.BlockSummary{}, &kv.CorruptionError{Op: "index block hash", Err: fmt.Errorf("%d bytes", len(raw))}
	}
	return ix.Block(binary.BigEndian.Uint64(raw))
}

// clipped shortens user input quoted in an error.
func clipped(s string) string {
	c, cut := clip(s, 80)
	if cut {
		c += "…"
	}
	return c
}

func limitOf(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return min(n, MaxLimit)
}

// Blocks lists up to limit blocks numbered below before, newest first
// (before 0: from the newest).
func (ix *Index) Blocks(before uint64, limit int) ([]explorer.BlockSummary, error) {
	o := &kv.IterOptions{Lower: []byte{pBlock}, Upper: []byte{pBlock + 1}}
	if before > 0 {
		o.Upper = blockKey(before)
	}
	it, err := ix.st.NewIter(o)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := []explorer.BlockSummary{}
	for ok := it.Last(); ok && len(out) < limitOf(limit); ok = it.Prev() {
		var b explorer.BlockSummary
		if err := json.Unmarshal(it.Value(), &b); err != nil {
			return nil, &kv.CorruptionError{Op: "index blocks", Err: err}
		}
		out = append(out, b)
	}
	return out, it.Error()
}

// Tx returns the transaction with this ID.
func (ix *Index) Tx(id string) (explorer.TxSummary, error) {
	if !indexable(id) {
		return explorer.TxSummary{}, fmt.Errorf("transaction %q: %w", clipped(id), explorer.ErrNotFound)
	}
	return getJSON[explorer.TxSummary](ix.st, txKey(id), "transaction "+id)
}

// Work returns a work and its provenance, oldest change first (the newest
// MaxProvenance changes).
func (ix *Index) Work(id string) (explorer.Work, []explorer.ProvenanceEntry, error) {
	if !indexable(id) {
		return explorer.Work{}, nil, fmt.Errorf("work %q: %w", clipped(id), explorer.ErrNotFound)
	}
	// One snapshot, so the record and its history agree.
	snap, err := ix.st.NewSnapshot()
	if err != nil {
		return explorer.Work{}, nil, err
	}
	defer snap.Close()
	w, err := getJSON[explorer.Work](snap, workKey(id), "work "+id)
	if err != nil {
		return w, nil, err
	}
	prov, err := provenance(snap, id)
	return w, prov, err
}

func provenance(r kv.Reader, id string) ([]explorer.ProvenanceEntry, error) {
	p := provPrefix(id)
	it, err := r.NewIter(&kv.IterOptions{Lower: p, Upper: kv.PrefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := []explorer.ProvenanceEntry{}
	for ok := it.Last(); ok && len(out) < MaxProvenance; ok = it.Prev() {
		var e explorer.ProvenanceEntry
		if err := json.Unmarshal(it.Value(), &e); err != nil {
			return nil, &kv.CorruptionError{Op: "index provenance", Err: err}
		}
		out = append(out, e)
	}
	slices.Reverse(out)
	return out, it.Error()
}

// Works lists works matching q in ID order, after q.After, up to q.Limit
// (capped at MaxLimit). A filter on the content hash, author or owner
// walks that index only; further filters are checked on the records, at
// most maxScan of them per call.
func (ix *Index) Works(q explorer.WorkQuery) ([]explorer.Work, error) {
	q.ContentHash = strings.ToLower(q.ContentHash)
	limit := limitOf(q.Limit)
	out := []explorer.Work{}
	match := func(w explorer.Work) bool {
		return (q.ID == "" || w.ID == q.ID) && (q.Owner == "" || w.Owner == q.Owner) &&
			(q.Author == "" || w.Author == q.Author) && (q.ContentHash == "" || w.ContentHash == q.ContentHash)
	}
	for _, f := range []string{q.ID, q.Owner, q.Author, q.ContentHash, q.After} {
		if f != "" && !indexable(f) {
			return out, nil // no key holds it
		}
	}
	if q.ID != "" {
		w, _, err := ix.Work(q.ID)
		if errors.Is(err, explorer.ErrNotFound) || (err == nil && (!match(w) || (q.After != "" && w.ID <= q.After))) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		return append(out, w), nil
	}
	snap, err := ix.st.NewSnapshot()
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	var prefix []byte
	switch {
	case q.ContentHash != "":
		prefix = secondaryKey(pCHash, q.ContentHash, "")
	case q.Author != "":
		prefix = secondaryKey(pAuthor, q.Author, "")
	case q.Owner != "":
		prefix = secondaryKey(pOwner, q.Owner, "")
	default:
		prefix = []byte{pWork}
	}
	lower := prefix
	if q.After != "" {
		// The smallest ID above After is After + "\x00".
		lower = append(append(slices.Clone(prefix), q.After...), 0)
	}
	it, err := snap.NewIter(&kv.IterOptions{Lower: lower, Upper: kv.PrefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok, n := it.First(), 0; ok && len(out) < limit && n < maxScan; ok, n = it.Next(), n+1 {
		var w explorer.Work
		if prefix[0] == pWork {
			if err := json.Unmarshal(it.Value(), &w); err != nil {
				return nil, &kv.CorruptionError{Op: "index works", Err: err}
			}
		} else {
			id := string(it.Key()[len(prefix):])
			if w, err = getJSON[explorer.Work](snap, workKey(id), "work "+id); err != nil {
				return nil, &kv.CorruptionError{Op: "index works", Err: fmt.Errorf("index entry without its work: %w", err)}
			}
		}
		if match(w) {
			out = append(out, w)
		}
	}
	return out, it.Error()
}
