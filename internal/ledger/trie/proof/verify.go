package proof

import (
	"bytes"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/sha3"

	"github.com/folio-ledger/folio/internal/ledger/rlp"
)

// Sentinel errors. Every verification failure is an *Error, which matches
// ErrInvalidProof and unwraps to one of the others.
var (
	// ErrInvalidProof matches every verification failure.
	ErrInvalidProof = errors.New("proof: invalid proof")
	// ErrMissingNode: the proof ends before the path does.
	ErrMissingNode = errors.New("proof: missing node")
	// ErrHashMismatch: a node does not hash to the reference pointing at it.
	ErrHashMismatch = errors.New("proof: node hash mismatch")
	// ErrMalformedNode: a node is not canonical RLP of a well-formed node.
	ErrMalformedNode = errors.New("proof: malformed node")
	// ErrUnusedNodes: the proof has nodes after the end of the path.
	ErrUnusedNodes = errors.New("proof: unused nodes after the end of the path")
)

// Error reports a failed verification at proof node Index.
type Error struct {
	Index int   // index of the offending node in the proof
	Err   error // one of the sentinels, possibly wrapped with detail
}

func (e *Error) Error() string { return fmt.Sprintf("proof: node %d: %v", e.Index, e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches ErrInvalidProof.
func (e *Error) Is(target error) bool { return target == ErrInvalidProof }

func fail(i int, sentinel error, format string, args ...any) error {
	if format == "" {
		return &Error{Index: i, Err: sentinel}
	}
	return &Error{Index: i, Err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))}
}

// Keccak256 returns Ethereum's Keccak-256 of the concatenated data.
func Keccak256(data ...[]byte) [32]byte {
	k := sha3.NewLegacyKeccak256()
	for _, d := range data {
		k.Write(d)
	}
	var h [32]byte
	k.(interface{ Read([]byte) (int, error) }).Read(h[:])
	return h
}

// EmptyRoot is the root of the empty trie, keccak256(0x80).
var EmptyRoot = Keccak256([]byte{0x80})

// VerifyProof checks nodes, a proof for key against root, and returns the
// value stored at key, or nil (with a nil error) if the proof shows that key
// is absent. For the empty root, the proof must be empty (or the single
// node 0x80) and proves absence.
func VerifyProof(root [32]byte, key []byte, nodes [][]byte) ([]byte, error) {
	v := verifier{keccak: sha3.NewLegacyKeccak256(), nodes: nodes}
	return v.run(root, key)
}

type verifier struct {
	keccak hash.Hash
	nodes  [][]byte
	items  [17][]byte // items of the node being walked
}

func (v *verifier) hash(b []byte) [32]byte {
	v.keccak.Reset()
	v.keccak.Write(b)
	var h [32]byte
	v.keccak.(interface{ Read([]byte) (int, error) }).Read(h[:])
	return h
}

func (v *verifier) run(root [32]byte, key []byte) ([]byte, error) {
	if root == EmptyRoot {
		if len(v.nodes) == 0 || len(v.nodes) == 1 && bytes.Equal(v.nodes[0], []byte{0x80}) {
			return nil, nil
		}
		return nil, fail(0, ErrUnusedNodes, "the empty trie has an empty proof")
	}
	if len(v.nodes) == 0 {
		return nil, fail(0, ErrMissingNode, "no root node")
	}
	if v.hash(v.nodes[0]) != root {
		return nil, fail(0, ErrHashMismatch, "root node does not hash to the root")
	}
	path := keyNibbles(key)
	idx := 0          // index of the proof node being walked
	cur := v.nodes[0] // encoding of the node being walked
	embedded := false // cur is embedded in node idx
	afterExt := false // cur is the child of an extension
	for {
		items, err := splitNode(&v.items, cur, embedded)
		if err != nil {
			return nil, fail(idx, ErrMalformedNode, "%v", err)
		}
		if afterExt && len(items) != 17 {
			return nil, fail(idx, ErrMalformedNode, "extension not followed by a branch")
		}
		afterExt = len(items) == 2
		var next []byte // the reference to follow
		switch len(items) {
		case 17:
			if len(path) == 0 {
				val, err := stringItem(items[16])
				if err != nil {
					return nil, fail(idx, ErrMalformedNode, "branch value: %v", err)
				}
				return v.done(idx, val)
			}
			next, path = items[path[0]], path[1:]
		case 2:
			nibbles, leaf, err := decodeCompact(items[0])
			if err != nil {
				return nil, fail(idx, ErrMalformedNode, "%v", err)
			}
			if leaf {
				val, err := stringItem(items[1])
				if err != nil || len(val) == 0 {
					return nil, fail(idx, ErrMalformedNode, "leaf value")
				}
				if !bytes.Equal(nibbles, path) {
					val = nil // a different key's leaf: key is absent
				}
				return v.done(idx, val)
			}
			if !bytes.HasPrefix(path, nibbles) {
				return v.done(idx, nil) // the path diverges: absent
			}
			next, path = items[1], path[len(nibbles):]
			if isEmpty(next) {
				return nil, fail(idx, ErrMalformedNode, "extension without a child")
			}
		}
		switch kind, content, _, _ := rlp.Split(next); {
		case kind == rlp.String && len(content) == 0:
			return v.done(idx, nil) // empty slot: absent
		case kind == rlp.String && len(content) == 32:
			idx++
			if idx >= len(v.nodes) {
				return nil, fail(idx, ErrMissingNode, "reference %x", content)
			}
			if v.hash(v.nodes[idx]) != [32]byte(content) {
				return nil, fail(idx, ErrHashMismatch, "want %x", content)
			}
			cur, embedded = v.nodes[idx], false
		case kind == rlp.List:
			cur, embedded = next, true
		default:
			return nil, fail(idx, ErrMalformedNode, "child reference of %d bytes", len(content))
		}
	}
}

// done ends the walk at node idx, which must be the proof's last.
func (v *verifier) done(idx int, val []byte) ([]byte, error) {
	if idx != len(v.nodes)-1 {
		return nil, fail(idx+1, ErrUnusedNodes, "%d nodes left", len(v.nodes)-1-idx)
	}
	if len(val) == 0 {
		return nil, nil
	}
	return bytes.Clone(val), nil
}

// splitNode returns the raw encodings of a node's items, checking the
// node's shape: a list of 2 or 17 items, fully consumed; an embedded node
// must be shorter than 32 bytes; a branch holds at least two entries and its
// child references are empty, 32-byte hashes or embedded lists.
func splitNode(buf *[17][]byte, enc []byte, embedded bool) ([][]byte, error) {
	if embedded && len(enc) >= 32 {
		return nil, fmt.Errorf("%d-byte node embedded instead of hashed", len(enc))
	}
	content, rest, err := rlp.SplitList(enc)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, rlp.ErrTrailingBytes
	}
	n := 0
	for len(content) > 0 {
		if n == len(buf) {
			return nil, errors.New("list of more than 17 items is not a trie node")
		}
		_, _, r, err := rlp.Split(content)
		if err != nil {
			return nil, err
		}
		buf[n] = content[:len(content)-len(r)]
		content = r
		n++
	}
	items := buf[:n]
	switch len(items) {
	case 2:
		return items, nil
	case 17:
		used := 0
		for i, it := range items {
			if i == 16 {
				if _, err := stringItem(it); err != nil {
					return nil, err
				}
			} else if err := checkRef(it); err != nil {
				return nil, err
			}
			if !isEmpty(it) {
				used++
			}
		}
		if used < 2 {
			return nil, fmt.Errorf("branch with %d entries", used)
		}
		return items, nil
	}
	return nil, fmt.Errorf("list of %d items is not a trie node", len(items))
}

func checkRef(item []byte) error {
	kind, content, _, err := rlp.Split(item)
	if err != nil {
		return err
	}
	if kind == rlp.String && len(content) != 0 && len(content) != 32 {
		return fmt.Errorf("child reference of %d bytes", len(content))
	}
	return nil
}

func isEmpty(item []byte) bool { return len(item) == 1 && item[0] == 0x80 }

func stringItem(item []byte) ([]byte, error) {
	s, _, err := rlp.SplitString(item)
	return s, err
}

// keyNibbles splits key into nibbles, high nibble first.
func keyNibbles(key []byte) []byte {
	n := make([]byte, 0, len(key)*2)
	for _, b := range key {
		n = append(n, b>>4, b&0x0f)
	}
	return n
}

// decodeCompact decodes a hex-prefix path item.
func decodeCompact(item []byte) (nibbles []byte, leaf bool, err error) {
	b, err := stringItem(item)
	if err != nil {
		return nil, false, err
	}
	if len(b) == 0 {
		return nil, false, errors.New("empty path")
	}
	flags := b[0] >> 4
	if flags > 3 {
		return nil, false, fmt.Errorf("path flag nibble %d", flags)
	}
	leaf = flags&2 != 0
	if flags&1 != 0 {
		nibbles = append(nibbles, b[0]&0x0f)
	} else if b[0]&0x0f != 0 {
		return nil, false, errors.New("non-zero padding nibble")
	}
	for _, c := range b[1:] {
		nibbles = append(nibbles, c>>4, c&0x0f)
	}
	if !leaf && len(nibbles) == 0 {
		return nil, false, errors.New("extension with an empty path")
	}
	return nibbles, leaf, nil
}
