// Package history is the history index of the world state: for every key of
// every namespace, every committed change (the transaction that made it, its
// height, the transaction timestamp, whether it deleted the key, and the
// value written), in commit order. `folio work history` and the contract
// runtime's GetHistoryForKey read it.
//
// Its one responsibility is the encoding of history entries in a kv.Store
// and iterating them. Entries are added to the caller's kv.Batch, in the same
// batch as the block and its state writes, so the index never disagrees with
// the chain.
//
// # Layout (ledger format version 1, see docs/ledger.md)
//
//	"hi/" ns 0x00 key 0xff block(8) tx(8)  ->  flags(1) timestamp(8) len(txID)(1) txID value
//
// Numbers are big-endian, so one key's entries sort by (block, tx): oldest
// first. Namespace names never contain 0x00 and keys are valid UTF-8, which
// never contains the byte 0xff, so "hi/" ns 0x00 key 0xff is a prefix of
// exactly one key's entries. flags bit 0 marks a delete (whose value is
// empty); the other bits are zero. The timestamp is the transaction header's
// clock, Unix nanoseconds (two's complement). txID is at most MaxTxIDBytes.
//
// The value is stored in full rather than as a pointer into the block, so a
// history query is one prefix scan and never decodes blocks (a copyright
// record's history shows its owners over time). The cost is one more copy
// of every written value, plus about 95 bytes (with a 64-character txID)
// and the namespace and key per change; Pebble compresses the blocks (JSON
// records compress well).
//
// # Call order
//
//	w := history.NewWriter(batch)                          // committer
//	w.Add(ns, key, version, txID, timestamp, isDelete, value)
//	batch.Commit(...)
//
//	r := history.NewReader(snapshot)                       // any goroutine
//	entries, err := r.History(ns, key)                     // oldest first
//	it, err := r.NewIterator(ns, key, from)                // or iterate
//
// A Writer and an Iterator are not safe for concurrent use; a Reader is if
// its kv.Reader is. Returned entries are fresh and belong to the caller.
// Damaged records are *kv.CorruptionError naming the namespace and key.
package history
