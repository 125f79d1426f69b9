// Package ledger is a peer's ledger: the block store (package blocks), the
// versioned world state (package state), the history index (package
// history) and the state commitment (package trie) in one kv.Store,
// normally one Pebble database.
//
// Its one responsibility is to commit a block atomically with everything it
// changes, and to serve consistent reads of the last committed block. It
// does not validate transactions: the committer does, and hands Commit the
// writes of the valid ones (Updates).
//
// # Call order
//
//	l, err := ledger.Open(dir, ledger.Options{})  // checks the tip (see OpenStore)
//	root, err := l.Commit(block, updates)         // committer goroutine, block by block
//	r, err := l.NewReader()                       // any goroutine: one consistent height
//	v, ver, err := r.Get(ns, key); r.Range(...); r.History(ns, key); r.Prove(ns, key)
//	r.Close()
//	l.Close()                                     // after every Reader is closed
//
// # Commit protocol
//
// Commit checks that the block follows the chain and that the updates fit
// it, prunes old trie nodes when due, then builds ONE kv batch holding the
// state entries (version = block, tx), the history entries, the new trie
// nodes of every written namespace's storage trie and of the account trie,
// the new state root (recorded under the block number and put into the
// block's metadata), the block with its indexes, and the state's height. It
// commits the batch with Sync (the write-ahead log is fsynced), then takes
// a kv snapshot for readers and publishes it. A crash leaves the store at
// the previous block or the new one, never between: Pebble replays whole
// batches only.
//
// Open checks what a crash or damage could break: the format record, the
// header chain and every block body (blocks.Open), that the state holds
// exactly the chain's blocks, and that the last block's recorded state root,
// its metadata and the trie node store agree. Options.VerifyOnOpen adds a
// full check (every block, and the state root recomputed from the entries).
// Damage is reported as kv.ErrCorruption naming the block.
//
// # Trie
//
// The state root is the root of the account trie (secure MPT, owner zero):
// keccak256(namespace) -> RLP([nonce, balance, storage_root, code_hash]),
// with nonce = number of committed writes to the namespace, balance 0,
// storage_root = root of the namespace's storage trie (secure MPT, owner
// keccak256(namespace), keccak256(key) -> RLP(value)) and code_hash from
// Updates.CodeHashes. Commit opens the tries at the last root for every
// block (a Trie keeps what it loads), sharing the node cache. Trie nodes of
// the last Options.KeepRoots blocks are kept; older ones are pruned every
// Options.PruneEvery blocks.
//
// # Concurrency
//
// Commit is called by one goroutine (calls are serialised). Readers pin a
// snapshot of the store taken right after a commit, so reads are consistent
// with one block and never block a commit. The Ledger's own Get, Range,
// History and Prove each read the latest block; a caller needing several
// reads at one height (a simulation) uses NewReader.
//
// docs/ledger.md describes the storage layout, the proof format, the
// recovery tests and the benchmarks.
package ledger
