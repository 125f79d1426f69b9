// Package kv defines the ordered key-value store that all Folio storage is
// built on (block store, versioned state, history index, trie nodes, raft
// log), and the errors its backends report.
//
// Its one responsibility is the contract. Backends live in subpackages:
// memkv (in memory, for tests and tools) and pebblekv (on disk, Pebble).
// Both pass the shared suite in kvtest.
//
// # Keys and ranges
//
// Keys are non-empty byte strings ordered bytewise (bytes.Compare). Every
// method given an empty key returns ErrEmptyKey, so that an empty range bound
// always means "unbounded" and never a key. Components lay out their keys
// big-endian with a component prefix so that keys sort in iteration order
// (see AppendUint64 and PrefixEnd). Values may be empty.
//
// Every range is half-open, [lower, upper): lower is included, upper is
// not. A nil or empty bound means unbounded on that side.
//
// # Ownership of slices
//
// Arguments are never retained: a backend copies keys and values it keeps,
// so callers may reuse their buffers as soon as a call returns. Get returns a
// fresh slice the caller owns. Iterator.Key and Iterator.Value return slices
// that belong to the iterator: they must not be modified and are valid only
// until the next positioning call or Close.
//
// # Consistency and concurrency
//
// A Store, and a Snapshot, are safe for concurrent use. A Batch and an
// Iterator are not: each belongs to one goroutine. A batch commits
// atomically: a reader sees all of its operations or none. Operations in a
// batch apply in the order they were added. An iterator reads the
// point-in-time state of the store (or snapshot) when it was created and
// never sees later commits; a Snapshot pins one state for many reads.
//
// # Lifecycle
//
//	s := open(...)              // memkv.New or pebblekv.Open
//	b := s.NewBatch()           // Set / Delete / DeleteRange ...
//	err := b.Commit(kv.WriteOptions{Sync: true})
//	snap, _ := s.NewSnapshot()  // Get / NewIter ... then snap.Close()
//	s.Close()                   // after every iterator and snapshot is closed
//
// After Close every method returns ErrClosed. A batch is finished by Commit
// or Close; after that its methods return ErrBatchClosed. Close reports (but
// still releases) iterators and snapshots left open.
//
// # Errors
//
// Conditions callers branch on are sentinels checked with errors.Is:
// ErrNotFound, ErrClosed, ErrBatchClosed, ErrEmptyKey, ErrInvalidRange,
// ErrWriteFailed, ErrFormatTooNew and ErrCorruption. Damaged data is always
// reported as a *CorruptionError, which matches ErrCorruption; a store that
// reports corruption must not be written to again before it is repaired.
package kv
