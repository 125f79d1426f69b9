// Package pebblekv is the on-disk kv.Store, built on Pebble (an embedded LSM
// tree from the RocksDB family).
//
// Its one responsibility is to give the kv contract durable, crash-safe
// storage:
//
//   - Commit with Sync fsyncs Pebble's write-ahead log before returning, so a
//     synced batch survives a crash; recovery replays exactly the durable
//     batches, each whole or not at all.
//   - Errors Pebble marks as corruption (checksum mismatches, truncated or
//     garbled files) come back as *kv.CorruptionError (errors.Is
//     kv.ErrCorruption), and so does a damaged format record.
//   - A failed commit (a write-ahead-log write or fsync error) makes the store
//     refuse every later write with kv.ErrWriteFailed. This is deliberate:
//     after a failed fsync the state of the log is unknown, and Pebble would
//     panic on the next log write. Reads keep working; close and reopen the
//     store to recover the durable state. Commits are serialised by the
//     store so that no commit can reach the log after a failed one.
//   - The Pebble keyspace is split by a one-byte prefix: 0x00 holds the
//     store's own records, 0x01+key holds user data, so users never see or
//     overwrite the format record. The store records its on-disk format
//     version at 0x00 "format". Open writes FormatVersion into a
//     new store and refuses a store written by a newer format with a
//     *kv.FormatVersionError (errors.Is kv.ErrFormatTooNew). Formats only
//     move forward: a future version upgrades older stores on open and then
//     rewrites the record; no binary ever lowers it. Pebble's own format
//     (pebble.FormatNewest of the pinned Pebble release) ratchets the same
//     way underneath.
//
// Options documents every tuning knob and its default; Open applies
// EnsureDefaults and Validate. Unrecoverable Pebble failures reported through
// its logger's Fatalf (a failed MANIFEST write or sync) are logged and then
// panic, as Pebble's default logger exits the process: continuing after a
// failed fsync of the MANIFEST risks silent data loss.
package pebblekv
