package trie

import (
	"errors"
	"fmt"

	"github.com/folio-ledger/folio/internal/ledger/rlp"
)

// node is one of *fullNode (branch), *shortNode (leaf or extension),
// hashNode (a reference to a stored node not yet loaded) and valueNode (a
// value, only as a leaf's child or a branch's 17th slot).
type node interface{}

// fullNode is a branch: 16 children by nibble, and children[16] holds the
// value of a key that ends at this node.
type fullNode struct {
	children [17]node
	flags    nodeFlags
}

// shortNode is a leaf (key ends with the terminator, val is a valueNode) or
// an extension (val is the branch below). key is in hex form and aliases
// an immutable array: it is re-sliced, never written.
type shortNode struct {
	key   []byte
	val   node
	flags nodeFlags
}

// hashNode is the 32-byte hash of a node kept in the node store.
type hashNode []byte

// valueNode is a stored value.
type valueNode []byte

// nodeFlags caches a node's hash and tracks whether it is stored.
//
// Invariant: hashed implies the node's encoding is at least 32 bytes, so it
// is referenced by hash wherever it sits (a root shorter than 32 bytes is
// hashed too, but that hash is kept by the Trie, never here). A node with
// hashed set and dirty clear exists in the node store under hash.
type nodeFlags struct {
	hash   Hash
	hashed bool // hash is valid
	dirty  bool // created or changed since the last Commit
}

// errMalformedNode is wrapped by decode errors.
var errMalformedNode = errors.New("trie: malformed node")

// decodeNode decodes a stored node strictly: only the canonical encoding of
// a well-formed node is accepted. Decoded keys and values alias blob, which
// must stay unmodified. hash is the node's hash if it is a stored node
// (blob at least 32 bytes), nil for embedded nodes and small roots.
func decodeNode(hash *Hash, blob []byte) (node, error) {
	n, rest, err := decodeRef(blob, hash, true)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errMalformedNode, len(rest))
	}
	if n == nil {
		return nil, fmt.Errorf("%w: empty node", errMalformedNode)
	}
	return n, nil
}

// decodeRef decodes one node or child reference at the start of b: an
// empty string (no child), a 32-byte string (hashNode) or a list (a node).
// top is true for a node stored on its own, false for one embedded in its
// parent, which must then be shorter than 32 bytes.
func decodeRef(b []byte, hash *Hash, top bool) (node, []byte, error) {
	kind, content, rest, err := rlp.Split(b)
	if err != nil {
		return nil, b, fmt.Errorf("%w: %w", errMalformedNode, err)
	}
	if kind == rlp.String {
		switch len(content) {
		case 0:
			if top {
				return nil, b, fmt.Errorf("%w: empty string where a node is required", errMalformedNode)
			}
			return nil, rest, nil
		case 32:
			if top {
				return nil, b, fmt.Errorf("%w: hash where a node is required", errMalformedNode)
			}
			return hashNode(content), rest, nil
		}
		return nil, b, fmt.Errorf("%w: %d-byte string as a child reference", errMalformedNode, len(content))
	}
	if size := len(b) - len(rest); !top && size >= 32 {
		return nil, b, fmt.Errorf("%w: %d-byte node embedded (must be hashed)", errMalformedNode, size)
	}
	var flags nodeFlags
	if hash != nil && len(b)-len(rest) >= 32 {
		flags = nodeFlags{hash: *hash, hashed: true}
	}
	count, err := rlp.CountValues(content)
	if err != nil {
		return nil, b, fmt.Errorf("%w: %w", errMalformedNode, err)
	}
	var n node
	switch count {
	case 2:
		n, err = decodeShort(content, flags)
	case 17:
		n, err = decodeFull(content, flags)
	default:
		err = fmt.Errorf("%w: list of %d items", errMalformedNode, count)
	}
	if err != nil {
		return nil, b, err
	}
	return n, rest, nil
}

func decodeShort(content []byte, flags nodeFlags) (node, error) {
	compact, rest, err := rlp.SplitString(content)
	if err != nil {
		return nil, fmt.Errorf("%w: path: %w", errMalformedNode, err)
	}
	key, ok := compactToHex(compact)
	if !ok {
		return nil, fmt.Errorf("%w: bad compact path %x", errMalformedNode, compact)
	}
	if hasTerm(key) {
		val, _, err := rlp.SplitString(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: leaf value: %w", errMalformedNode, err)
		}
		if len(val) == 0 {
			return nil, fmt.Errorf("%w: leaf with an empty value", errMalformedNode)
		}
		return &shortNode{key: key, val: valueNode(val), flags: flags}, nil
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: extension with an empty path", errMalformedNode)
	}
	child, _, err := decodeRef(rest, nil, false)
	if err != nil {
		return nil, err
	}
	switch child.(type) {
	case nil:
		return nil, fmt.Errorf("%w: extension without a child", errMalformedNode)
	case *shortNode:
		// An extension always leads to a branch; an extension followed
		// by a short node is not canonical (the paths would be merged).
		return nil, fmt.Errorf("%w: extension followed by a short node", errMalformedNode)
	}
	return &shortNode{key: key, val: child, flags: flags}, nil
}

func decodeFull(content []byte, flags nodeFlags) (node, error) {
	n := &fullNode{flags: flags}
	used := 0
	for i := 0; i < 16; i++ {
		child, rest, err := decodeRef(content, nil, false)
		if err != nil {
			return nil, err
		}
		n.children[i] = child
		if child != nil {
			used++
		}
		content = rest
	}
	val, _, err := rlp.SplitString(content)
	if err != nil {
		return nil, fmt.Errorf("%w: branch value: %w", errMalformedNode, err)
	}
	if len(val) > 0 {
		n.children[16] = valueNode(val)
		used++
	}
	if used < 2 {
		return nil, fmt.Errorf("%w: branch with %d entries", errMalformedNode, used)
	}
	return n, nil
}
