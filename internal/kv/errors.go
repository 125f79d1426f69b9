package kv

import (
	"errors"
	"fmt"
)

// Sentinel errors. Backends wrap them with context; check with errors.Is.
var (
	// ErrNotFound: Get found no value at the key.
	ErrNotFound = errors.New("kv: not found")
	// ErrClosed: the store (or the snapshot or iterator) was closed.
	ErrClosed = errors.New("kv: closed")
	// ErrBatchClosed: the batch was already committed or closed.
	ErrBatchClosed = errors.New("kv: batch already committed or closed")
	// ErrEmptyKey: keys must be non-empty.
	ErrEmptyKey = errors.New("kv: empty key")
	// ErrInvalidRange: a range with lower > upper, or DeleteRange without
	// an upper bound.
	ErrInvalidRange = errors.New("kv: invalid range")
	// ErrWriteFailed: an earlier commit failed in a way that leaves the
	// store unable to accept writes safely (for example a failed
	// write-ahead log write or fsync). Reads still work. Close and reopen
	// the store: recovery replays exactly the durable commits.
	ErrWriteFailed = errors.New("kv: store failed an earlier write; reopen it")
	// ErrFormatTooNew: the on-disk format was written by a newer version of
	// Folio. See FormatVersionError.
	ErrFormatTooNew = errors.New("kv: on-disk format is newer than this binary supports")
	// ErrCorruption marks damaged data: a checksum mismatch, an undecodable
	// record, a node whose hash does not match. Every such error is a
	// *CorruptionError.
	ErrCorruption = errors.New("kv: corruption")
)

// CorruptionError reports damaged data found during Op. It matches
// ErrCorruption under errors.Is and unwraps to the underlying cause.
type CorruptionError struct {
	Op  string // what was being done, for example "get" or "open"
	Err error  // the cause
}

// Error implements error.
func (e *CorruptionError) Error() string {
	return fmt.Sprintf("kv: corruption during %s: %v", e.Op, e.Err)
}

// Unwrap returns the cause.
func (e *CorruptionError) Unwrap() error { return e.Err }

// Is makes every CorruptionError match ErrCorruption.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorruption }

// FormatVersionError reports an on-disk format this binary cannot open.
// It matches ErrFormatTooNew when OnDisk > Supported.
type FormatVersionError struct {
	Dir       string // the store's location
	OnDisk    uint32 // version recorded in the store
	Supported uint32 // newest version this binary writes
}

// Error implements error.
func (e *FormatVersionError) Error() string {
	return fmt.Sprintf("kv: store %s has on-disk format version %d, newer than version %d supported by this binary: upgrade Folio (formats only move forward)",
		e.Dir, e.OnDisk, e.Supported)
}

// Is makes the error match ErrFormatTooNew.
func (e *FormatVersionError) Is(target error) bool {
	return target == ErrFormatTooNew && e.OnDisk > e.Supported
}
