// Package proof verifies Merkle Patricia trie proofs offline: given a trusted
// root hash (from a signed block), a key and the proof nodes, it establishes
// the key's value or its absence.
//
// Its one responsibility is verification, with the fewest dependencies: the
// standard library, golang.org/x/crypto/sha3 (Keccak-256) and Folio's strict
// RLP codec. It does not import the trie or any storage, so a third party (a
// court, an arbitrator, a client SDK) can check evidence with this package
// alone.
//
// # Proof format
//
// A proof is the list of RLP-encoded trie nodes on the path from the root
// towards the key, root first, without nodes embedded in their parent (the
// go-ethereum Trie.Prove / EIP-1186 eth_getProof format). VerifyProof walks
// it strictly: node 0 must hash to the root, every next node must hash to
// the reference its predecessor holds, every node must be canonical RLP of
// a well-formed branch, extension or leaf, and every node must be used.
// Anything else is an *Error matching ErrInvalidProof; VerifyProof never
// panics, whatever its input.
//
// # Folio's state layout
//
// The global account trie maps keccak256(namespace) to the RLP account
// record [nonce, balance, storage_root, code_hash] (Account); each
// namespace's storage trie maps keccak256(key) to RLP(value).
// VerifyAccount and VerifyStorage check the two levels.
package proof
