package trie

import (
	"encoding/hex"
	"hash"

	"golang.org/x/crypto/sha3"
)

// Hash is a Keccak-256 digest: a node's identity and a trie's root.
type Hash [32]byte

// String returns the hash as 0x-prefixed lowercase hex.
func (h Hash) String() string { return "0x" + hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros.
func (h Hash) IsZero() bool { return h == Hash{} }

// EmptyRoot is the root hash of the empty trie, keccak256(RLP("")) =
// keccak256(0x80) = 0x56e81f17...b421.
var EmptyRoot = Keccak256([]byte{0x80})

// Keccak256 returns the Keccak-256 digest (Ethereum's, with the original
// Keccak padding, not NIST SHA3-256) of the concatenation of data.
func Keccak256(data ...[]byte) Hash {
	var k keccak
	k.init()
	k.state.Reset()
	for _, d := range data {
		k.state.Write(d)
	}
	var h Hash
	k.state.Read(h[:])
	return h
}

// keccakState is x/crypto's legacy Keccak state: Read squeezes the digest
// without Sum's allocation.
type keccakState interface {
	hash.Hash
	Read([]byte) (int, error)
}

// keccak is a reusable Keccak-256 hasher.
type keccak struct{ state keccakState }

func (k *keccak) init() {
	if k.state == nil {
		k.state = sha3.NewLegacyKeccak256().(keccakState)
	}
}

// sum writes keccak256(data) into out.
func (k *keccak) sum(data []byte, out *Hash) {
	k.init()
	k.state.Reset()
	k.state.Write(data)
	k.state.Read(out[:])
}
