package trie

// SecureTrie is a Trie whose paths are keccak256 of the keys, as
// go-ethereum's StateTrie: paths are uniformly spread and fixed at 32 bytes
// whatever the key, so no caller can lengthen paths. It does not keep key
// preimages; its iterator yields hashed keys. Not safe for concurrent use.
type SecureTrie struct {
	trie Trie
	k    keccak
	buf  Hash
}

// NewSecure opens the committed secure trie id (see New).
func NewSecure(id ID, db NodeReader) (*SecureTrie, error) {
	t, err := New(id, db)
	if err != nil {
		return nil, err
	}
	return &SecureTrie{trie: *t}, nil
}

// NewSecureEmpty returns an empty secure trie (db may be nil).
func NewSecureEmpty(db NodeReader) *SecureTrie {
	return &SecureTrie{trie: *NewEmpty(db)}
}

// HashKey returns the trie path of key in a secure trie: keccak256(key).
func HashKey(key []byte) Hash { return Keccak256(key) }

func (s *SecureTrie) hashKey(key []byte) []byte {
	s.k.sum(key, &s.buf)
	return s.buf[:]
}

// Get returns the value at key, or nil.
func (s *SecureTrie) Get(key []byte) ([]byte, error) { return s.trie.Get(s.hashKey(key)) }

// Update stores value at key; an empty value deletes.
func (s *SecureTrie) Update(key, value []byte) error { return s.trie.Update(s.hashKey(key), value) }

// Delete removes key.
func (s *SecureTrie) Delete(key []byte) error { return s.trie.Delete(s.hashKey(key)) }

// Hash returns the root hash.
func (s *SecureTrie) Hash() Hash { return s.trie.Hash() }

// Commit collects the changed nodes (see Trie.Commit).
func (s *SecureTrie) Commit() (Hash, *NodeSet) { return s.trie.Commit() }

// Prove returns the proof for key, whose path is keccak256(key).
func (s *SecureTrie) Prove(key []byte) ([][]byte, error) { return s.trie.Prove(s.hashKey(key)) }

// Trie returns the underlying trie, keyed by hashed keys.
func (s *SecureTrie) Trie() *Trie { return &s.trie }
