package pebblekv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/folio-ledger/folio/internal/kv"
)

// FormatVersion is the on-disk format this package writes. Version 1: the
// Pebble keyspace is split by a one-byte prefix, 0x00 for the store's own
// records (the format record) and 0x01 followed by the user key for data.
const FormatVersion uint32 = 1

// Key prefixes of format 1.
const (
	metaPrefix byte = 0x00
	userPrefix byte = 0x01
)

// formatMagic starts the format record, so a foreign database is not mistaken
// for a Folio store.
const formatMagic = "folio/kv"

var (
	// formatKey is where the format record lives.
	formatKey = []byte{metaPrefix, 'f', 'o', 'r', 'm', 'a', 't'}
	// userLower and userUpper bound the user keyspace [0x01, 0x02).
	userLower = []byte{userPrefix}
	userUpper = []byte{userPrefix + 1}
)

// userKey returns the Pebble key of a user key, in a new slice.
func userKey(key []byte) []byte {
	k := make([]byte, 1+len(key))
	k[0] = userPrefix
	copy(k[1:], key)
	return k
}

// Store is a kv.Store on Pebble. It is safe for concurrent use, except that
// Close must not run concurrently with other calls.
type Store struct {
	db  *pebble.DB
	dir string

	closed atomic.Bool
	// open counts live iterators and snapshots, reported by Close.
	open atomic.Int64

	mu struct {
		// Mutex serialises commits, so that no commit reaches Pebble's
		// write-ahead log after one failed (Pebble panics on a log write
		// after a log error). It guards failed.
		sync.Mutex
		// failed is the first commit error; once set, writes are refused.
		failed error
	}
}

var _ kv.Store = (*Store)(nil)

// Open opens (creating if needed) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	popts := &pebble.Options{
		FS:                         opts.FS,
		CacheSize:                  opts.CacheBytes,
		MemTableSize:               opts.MemTableBytes,
		MaxOpenFiles:               opts.MaxOpenFiles,
		Logger:                     pebbleLogger{opts.Logger},
		EventListener:              eventListener(opts.Logger),
		FormatMajorVersion:         pebble.FormatNewest,
		CompactionConcurrencyRange: func() (int, int) { return 1, opts.MaxCompactions },
	}
	// Bloom filters on every level: most point reads on the hot path look
	// for keys that do not exist (a transaction ID not yet committed, a
	// work not yet registered), and without a filter each such read opens
	// and searches a data block of every overlapping table.
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, wrapErr("open", err)
	}
	s := &Store{db: db, dir: dir}
	if err := s.checkFormat(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// checkFormat reads the format record, writing it into a new store.
func (s *Store) checkFormat() error {
	rec, closer, err := s.db.Get(formatKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return s.initFormat()
	case err != nil:
		return wrapErr("open: read format record", err)
	}
	defer closer.Close()
	if len(rec) != len(formatMagic)+4 || string(rec[:len(formatMagic)]) != formatMagic {
		return &kv.CorruptionError{Op: "open", Err: fmt.Errorf("malformed format record %x in %s", rec, s.dir)}
	}
	v := binary.BigEndian.Uint32(rec[len(formatMagic):])
	switch {
	case v > FormatVersion:
		return &kv.FormatVersionError{Dir: s.dir, OnDisk: v, Supported: FormatVersion}
	case v == 0:
		// Version 1 is the first format; no record ever holds 0. (When a
		// version 2 exists, older versions are upgraded here and the
		// record rewritten: the format only moves forward.)
		return &kv.CorruptionError{Op: "open", Err: fmt.Errorf("format record holds version 0 in %s", s.dir)}
	}
	return nil
}

func (s *Store) initFormat() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: userLower, UpperBound: userUpper})
	if err != nil {
		return wrapErr("open", err)
	}
	hasData := it.First()
	if err := it.Close(); err != nil {
		return wrapErr("open", err)
	}
	if hasData {
		return &kv.CorruptionError{Op: "open", Err: fmt.Errorf("%s holds data but no format record: not a Folio store, or its record was lost", s.dir)}
	}
	rec := binary.BigEndian.AppendUint32([]byte(formatMagic), FormatVersion)
	if err := s.db.Set(formatKey, rec, pebble.Sync); err != nil {
		return wrapErr("open: write format record", err)
	}
	return nil
}

// wrapErr marks Pebble corruption as kv.ErrCorruption and adds context.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if pebble.IsCorruptionError(err) {
		return &kv.CorruptionError{Op: op, Err: err}
	}
	return fmt.Errorf("kv/pebble: %s: %w", op, err)
}

// reader is what *pebble.DB and *pebble.Snapshot share.
type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

func (s *Store) Get(key []byte) ([]byte, error) { return s.get(s.db, key) }

func (s *Store) get(r reader, key []byte) ([]byte, error) {
	if s.closed.Load() {
		return nil, kv.ErrClosed
	}
	if err := kv.CheckKey(key); err != nil {
		return nil, err
	}
	v, closer, err := r.Get(userKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, kv.ErrNotFound
	}
	if err != nil {
		return nil, wrapErr("get", err)
	}
	out := make([]byte, len(v))
	copy(out, v)
	if err := closer.Close(); err != nil {
		return nil, wrapErr("get", err)
	}
	return out, nil
}

func (s *Store) NewIter(o *kv.IterOptions) (kv.Iterator, error) { return s.newIter(s.db, o) }

func (s *Store) newIter(r reader, o *kv.IterOptions) (kv.Iterator, error) {
	if s.closed.Load() {
		return nil, kv.ErrClosed
	}
	popts := &pebble.IterOptions{LowerBound: userLower, UpperBound: userUpper}
	if o != nil {
		if err := kv.CheckRange(o.Lower, o.Upper, false); err != nil {
			return nil, err
		}
		if len(o.Lower) > 0 {
			popts.LowerBound = userKey(o.Lower)
		}
		if len(o.Upper) > 0 {
			popts.UpperBound = userKey(o.Upper)
		}
	}
	pit, err := r.NewIter(popts)
	if err != nil {
		return nil, wrapErr("new iterator", err)
	}
	s.open.Add(1)
	return &iter{s: s, it: pit}, nil
}

// NewBatch returns a batch committed through this store.
func (s *Store) NewBatch() kv.Batch { return &batch{s: s} }

func (s *Store) NewSnapshot() (kv.Snapshot, error) {
	if s.closed.Load() {
		return nil, kv.ErrClosed
	}
	s.open.Add(1)
	return &snapshot{s: s, snap: s.db.NewSnapshot()}, nil
}

// Flush writes the memtables to sstables. Commits are already durable (the
// write-ahead log holds them); Flush is for tests and checkpoints.
func (s *Store) Flush() error {
	if s.closed.Load() {
		return kv.ErrClosed
	}
	return wrapErr("flush", s.db.Flush())
}

// Close closes the store. Iterators and snapshots left open are reported.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return kv.ErrClosed
	}
	err := s.closeDB()
	if n := s.open.Load(); n > 0 && err == nil {
		err = fmt.Errorf("kv/pebble: close: %d iterators or snapshots still open", n)
	}
	return err
}

func (s *Store) closeDB() (err error) {
	defer recoverFatal(&err)
	return wrapErr("close", s.db.Close())
}
