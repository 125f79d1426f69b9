// Package state is the versioned world state of a peer: for every contract
// namespace, key -> (value, version), where the version is the height
// (block number, transaction number) of the write that produced the value.
//
// Its one responsibility is the encoding of state entries in a kv.Store and
// reading them back: point reads, ascending range scans over [start, end),
// prefix scans (composite keys), and the state's savepoint (how many blocks
// it holds). It does not decide what to write (the ledger's commit does,
// from the committer's validated writes), and it does not commit: writes go
// into the caller's kv.Batch so that a block, its state, its history and its
// trie nodes commit atomically.
//
// # Layout (ledger format version 1, see docs/ledger.md)
//
//	"st/k/" ns 0x00 key  ->  block(8, big-endian) tx(8, big-endian) value
//	"st/h"               ->  height(8, big-endian): blocks applied
//
// A namespace name never contains 0x00, so the 0x00 separator keeps every
// namespace's keys contiguous and in bytewise key order: a range [start, end)
// of one namespace is the kv range ["st/k/" ns 0x00 start, "st/k/" ns 0x00
// end), and a composite-key prefix scan is the range [prefix,
// PrefixEnd(prefix)). "st/h" sorts outside every namespace's range.
//
// # Limits
//
// Namespace names match [A-Za-z][A-Za-z0-9_.-]{0,63} (the contract name
// rule); keys are non-empty, valid UTF-8 and at most MaxKeyBytes; values are
// at most MaxValueBytes. Writes that break them are refused with errors
// matching ErrInvalidNamespace, ErrInvalidKey or ErrValueTooLarge, before
// anything is added to the batch. The limits are constants, not options:
// every peer must accept exactly the same writes.
//
// # Call order
//
//	w := state.NewWriter(batch)          // committer goroutine
//	w.Put(ns, key, value, version)       // or w.Delete(ns, key), in block order
//	w.SetHeight(block+1)
//	batch.Commit(kv.WriteOptions{Sync: true})
//
//	r := state.NewReader(snapshot)       // any goroutine
//	value, ver, err := r.Get(ns, key)
//	kvs, more, err := r.Range(ns, start, end, limit)
//
// A Writer is not safe for concurrent use. A Reader is safe for concurrent
// use when its kv.Reader is (a kv.Snapshot or kv.Store is); reading from a
// snapshot taken after a commit gives a view consistent with that block.
// Returned slices and versions are fresh and belong to the caller.
//
// Damaged entries (a record shorter than its version, a key that is not in
// the layout) are reported as *kv.CorruptionError naming the namespace and
// key.
package state
