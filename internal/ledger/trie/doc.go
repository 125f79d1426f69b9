// Package trie is Folio's state commitment: an Ethereum-compatible hexary
// Merkle Patricia trie (Yellow Paper appendix D) with its node store.
//
// Its one responsibility is to turn a key-value set into a root hash that
// any Ethereum tool reproduces, to prove membership or absence of keys
// against that root, and to store the trie versions a ledger commits.
//
// # Encoding
//
// Nodes are RLP: a branch is a 17-item list (16 children by nibble, then the
// value of a key ending there), a leaf or extension a 2-item list of its
// hex-prefix (compact) path and its value or child. A child whose encoding is
// shorter than 32 bytes is embedded in its parent; any other node is
// referenced by its Keccak-256 hash. The root is always hashed: the empty
// trie's root is EmptyRoot, keccak256(0x80). An empty value deletes a key, as
// in go-ethereum.
//
// # Call order
//
//	db, _ := trie.NewDatabase(store, trie.Options{})   // node store + cache
//	t, _ := trie.New(trie.ID{Owner: o, Root: r}, db)   // or NewEmpty
//	t.Update(k, v); t.Delete(k2); v, _ := t.Get(k)     // in memory
//	root, set := t.Commit()                           // no I/O
//	b := store.NewBatch()
//	db.Write(b, version, set /*, other tries' sets */) // same batch as the block
//	b.Commit(kv.WriteOptions{Sync: true})
//	db.Prune(version-keep+1, kv.WriteOptions{})        // retention, optional
//
// Trie and SecureTrie are deterministic cores: no goroutines, clock or
// global state; their only I/O is reading nodes through NodeReader. They are
// not safe for concurrent use (even reads cache loaded nodes); readers open
// their own Trie at a committed root and share the Database's node cache.
//
// Proofs (Trie.Prove) are lists of RLP nodes from the root down, the
// EIP-1186 format; the verifier is the standalone package trie/proof.
// docs/ledger-trie.md describes the store layout, the retention journal and
// the benchmarks.
package trie
