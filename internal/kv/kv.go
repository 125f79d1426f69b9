package kv

// Reader reads a consistent view of the store. Implementations are safe for
// concurrent use.
type Reader interface {
	// Get returns the value stored at key, in a fresh slice the caller owns,
	// or an error matching ErrNotFound if there is none.
	Get(key []byte) ([]byte, error)

	// NewIter returns an iterator over the keys in [o.Lower, o.Upper) of
	// the state at the time of the call. It is unpositioned: call First,
	// Last, SeekGE or SeekLT before Key or Value. A nil o means the whole
	// store. The caller must Close it.
	NewIter(o *IterOptions) (Iterator, error)
}

// IterOptions bounds an iterator to the half-open range [Lower, Upper). A
// nil or empty bound is unbounded on that side. Lower > Upper is
// ErrInvalidRange; Lower == Upper is an empty range.
type IterOptions struct {
	Lower []byte
	Upper []byte
}

// Iterator walks keys in ascending (Next) or descending (Prev) bytewise
// order within its bounds. Every positioning method returns Valid(). An
// Iterator is not safe for concurrent use.
//
// Key and Value return slices owned by the iterator: do not modify them;
// they are valid until the next positioning call or Close.
type Iterator interface {
	// First moves to the smallest key in range.
	First() bool
	// Last moves to the largest key in range.
	Last() bool
	// SeekGE moves to the smallest key >= key (clamped to the range).
	SeekGE(key []byte) bool
	// SeekLT moves to the largest key < key (clamped to the range).
	SeekLT(key []byte) bool
	// Next moves to the following key; on an invalid iterator it returns false.
	Next() bool
	// Prev moves to the preceding key; on an invalid iterator it returns false.
	Prev() bool
	// Valid reports whether the iterator is positioned at a key.
	Valid() bool
	// Key returns the current key.
	Key() []byte
	// Value returns the current value.
	Value() []byte
	// Error returns the error that stopped iteration, if any. An exhausted
	// iterator has no error.
	Error() error
	// Close releases the iterator and returns Error().
	Close() error
}

// WriteOptions control a batch commit.
type WriteOptions struct {
	// Sync makes Commit return only once the batch is durable: it survives
	// a machine crash or power loss (pebblekv fsyncs its write-ahead log).
	// With Sync false (the default) a committed batch is visible at once
	// and survives a process crash, but an operating system crash may lose
	// it. A later synced commit makes every earlier commit durable too.
	Sync bool
}

// Batch collects writes that commit atomically. Operations apply in the order
// added: a Set after a DeleteRange covering its key survives. A Batch is not
// safe for concurrent use. Arguments are copied.
type Batch interface {
	// Set stores value at key, replacing any previous value.
	Set(key, value []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(key []byte) error
	// DeleteRange removes every key in [lower, upper). An empty lower
	// means from the first key; upper must be non-empty (ErrInvalidRange),
	// and lower > upper is ErrInvalidRange.
	DeleteRange(lower, upper []byte) error
	// Len returns the number of operations added.
	Len() int
	// Size returns the approximate encoded size of the batch in bytes.
	Size() int
	// Commit applies the batch atomically and finishes it. If Commit fails
	// before the batch reached the store (validation, a closed store),
	// nothing of it is visible. If it fails writing the write-ahead log or
	// syncing it, the batch may already be visible to readers in this
	// process although it may not be durable: pebblekv then refuses every
	// later write (ErrWriteFailed) and the store must be closed and
	// reopened, which recovers exactly the durable commits. Callers that
	// publish derived state (the ledger) must stop on such an error.
	Commit(o WriteOptions) error
	// Close finishes the batch without committing it. Closing a finished
	// batch is a no-op.
	Close() error
}

// Snapshot is a consistent read-only view of the store at the moment it was
// taken: commits that follow are invisible to it. It is safe for concurrent
// use and must be closed; open snapshots hold back space reclamation.
type Snapshot interface {
	Reader
	Close() error
}

// Store is an ordered key-value store. It is safe for concurrent use.
type Store interface {
	Reader
	// NewBatch returns an empty batch for this store.
	NewBatch() Batch
	// NewSnapshot pins the current state for consistent reads.
	NewSnapshot() (Snapshot, error)
	// Close releases the store. Iterators and snapshots must be closed
	// first; any left open are reported as an error and become unusable.
	Close() error
}
