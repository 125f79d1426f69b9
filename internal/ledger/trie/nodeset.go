package trie

import (
	"bytes"
	"slices"
)

// NodeSet is the outcome of committing one trie: the encodings of its new or
// changed stored nodes, and the hashes of stored nodes that the new root no
// longer reaches. Database.Write persists it. A NodeSet is immutable once
// Commit returns it.
type NodeSet struct {
	// Owner identifies the trie: the zero hash for the account trie,
	// keccak256(namespace) for a namespace's storage trie.
	Owner Hash
	// Root is the trie's root after the commit.
	Root Hash

	hashes []Hash
	ends   []int  // ends[i] is the end offset of node i's encoding in arena
	arena  []byte // encodings, back to back
	// Obsolete lists, sorted and without duplicates, the stored nodes of
	// the previous version that the new root does not reach.
	Obsolete []Hash
}

func (s *NodeSet) add(hash Hash, enc []byte) {
	s.hashes = append(s.hashes, hash)
	s.arena = append(s.arena, enc...)
	s.ends = append(s.ends, len(s.arena))
}

// Len returns the number of nodes to write.
func (s *NodeSet) Len() int { return len(s.hashes) }

// Size returns the total size of the node encodings in bytes.
func (s *NodeSet) Size() int { return len(s.arena) }

// Node returns the hash and encoding of node i (0 <= i < Len). The encoding
// aliases the set: do not modify it.
func (s *NodeSet) Node(i int) (Hash, []byte) {
	start := 0
	if i > 0 {
		start = s.ends[i-1]
	}
	return s.hashes[i], s.arena[start:s.ends[i]:s.ends[i]]
}

// finish sorts and deduplicates Obsolete and drops from it any hash that the
// commit writes again (a node removed and re-created before the commit).
func (s *NodeSet) finish(obsolete []Hash) {
	if len(obsolete) == 0 {
		return
	}
	written := make(map[Hash]struct{}, len(s.hashes))
	for _, h := range s.hashes {
		written[h] = struct{}{}
	}
	out := make([]Hash, 0, len(obsolete))
	for _, h := range obsolete {
		if _, ok := written[h]; !ok {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
	s.Obsolete = slices.Compact(out)
}
