package trie

import "github.com/folio-ledger/folio/internal/ledger/rlp"

// hasher computes node encodings and hashes. It encodes into one growing
// buffer used as a stack: a child's encoding is produced exactly where its
// parent's payload needs it and is replaced in place by its hash reference
// when it is 32 bytes or longer. A hasher is owned by one Trie and reused.
type hasher struct {
	k   keccak
	buf []byte
	hdr [9]byte
	// set collects the encodings of dirty stored nodes during Commit; nil
	// when only hashing.
	set *NodeSet
}

// maxHeader is the longest RLP header (1 + 8 size bytes).
const maxHeader = 9

// hashRoot returns the root hash of the trie rooted at root. The root is
// always hashed, whatever its size.
func (h *hasher) hashRoot(root node) Hash {
	h.buf = h.buf[:0]
	var f *nodeFlags
	switch n := root.(type) {
	case nil:
		return EmptyRoot
	case hashNode:
		return Hash(n)
	case *shortNode:
		f = &n.flags
	case *fullNode:
		f = &n.flags
	}
	collect := h.set != nil && f.dirty
	if f.hashed && !collect {
		return f.hash
	}
	enc := h.buf[h.encode(root):]
	hash := f.hash
	if !f.hashed {
		h.k.sum(enc, &hash)
		if len(enc) >= 32 {
			f.hash, f.hashed = hash, true
		}
	}
	if collect {
		h.set.add(hash, enc) // a root is stored even when small
		f.dirty = false
	}
	return hash
}

// appendRef appends the reference to n that its parent's encoding holds:
// 0x80 for no child, the 33-byte string of a hash, or n's own encoding when
// it is shorter than 32 bytes.
func (h *hasher) appendRef(n node) {
	switch n := n.(type) {
	case nil:
		h.buf = append(h.buf, 0x80)
	case hashNode:
		h.buf = append(h.buf, 0xa0)
		h.buf = append(h.buf, n...)
	case *shortNode:
		h.appendNodeRef(n, &n.flags)
	case *fullNode:
		h.appendNodeRef(n, &n.flags)
	case valueNode:
		// Only reachable for a corrupted in-memory trie; encode the value
		// so hashing stays total rather than panicking.
		h.buf = rlp.AppendString(h.buf, n)
	}
}

func (h *hasher) appendNodeRef(n node, f *nodeFlags) {
	collect := h.set != nil && f.dirty
	if f.hashed && !collect {
		h.appendHash(&f.hash)
		return
	}
	start := len(h.buf)
	encStart := h.encode(n)
	enc := h.buf[encStart:]
	if len(enc) < 32 {
		// Embedded in the parent: move it over the unused header room.
		h.buf = append(h.buf[:start], enc...)
		if h.set != nil {
			f.dirty = false
		}
		return
	}
	if !f.hashed {
		h.k.sum(enc, &f.hash)
		f.hashed = true
	}
	if collect {
		h.set.add(f.hash, enc)
		f.dirty = false
	}
	h.buf = h.buf[:start]
	h.appendHash(&f.hash)
}

func (h *hasher) appendHash(hash *Hash) {
	h.buf = append(h.buf, 0xa0)
	h.buf = append(h.buf, hash[:]...)
}

// encode appends the encoding of the short or full node n to h.buf and
// returns the offset where it starts; up to maxHeader-1 bytes before that
// offset (from where the buffer ended on entry) are unused.
func (h *hasher) encode(n node) int {
	h.buf = append(h.buf, 0, 0, 0, 0, 0, 0, 0, 0, 0) // header room
	payload := len(h.buf)
	switch n := n.(type) {
	case *shortNode:
		h.appendPath(n.key)
		if v, ok := n.val.(valueNode); ok {
			h.buf = rlp.AppendString(h.buf, v)
		} else {
			h.appendRef(n.val)
		}
	case *fullNode:
		for i := 0; i < 16; i++ {
			h.appendRef(n.children[i])
		}
		if v, ok := n.children[16].(valueNode); ok {
			h.buf = rlp.AppendString(h.buf, v)
		} else {
			h.buf = append(h.buf, 0x80)
		}
	}
	hdr := rlp.AppendListHeader(h.hdr[:0], len(h.buf)-payload)
	start := payload - len(hdr)
	copy(h.buf[start:], hdr)
	return start
}

// appendPath appends the RLP string of the compact form of the hex path.
func (h *hasher) appendPath(hex []byte) {
	var flags byte
	if hasTerm(hex) {
		flags = 2
		hex = hex[:len(hex)-1]
	}
	if size := len(hex)/2 + 1; size > 1 {
		h.buf = rlp.AppendStringHeader(h.buf, size)
	} // a one-byte compact path is below 0x80: it is its own encoding
	if len(hex)&1 == 1 {
		h.buf = append(h.buf, (flags|1)<<4|hex[0])
		hex = hex[1:]
	} else {
		h.buf = append(h.buf, flags<<4)
	}
	for i := 0; i+1 < len(hex); i += 2 {
		h.buf = append(h.buf, hex[i]<<4|hex[i+1])
	}
}

// encodeNode returns a fresh copy of n's encoding. Children must already be
// hashed (the trie calls it after hashing, for proofs).
func (h *hasher) encodeNode(n node) []byte {
	h.buf = h.buf[:0]
	enc := h.buf[h.encode(n):]
	out := make([]byte, len(enc))
	copy(out, enc)
	return out
}
