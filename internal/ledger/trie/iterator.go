package trie

import "bytes"

// Iterator walks a trie's keys in ascending bytewise order (Next) or
// descending order (Prev). It reads nodes through the trie's NodeReader
// without changing the trie, but the trie must not be updated while the
// iterator is in use. An Iterator is not safe for concurrent use.
//
// Create one with Trie.NewIterator, then position it with First, Last or
// Seek. Key and Value return slices owned by the iterator: do not modify
// them; they are valid until the next positioning call.
type Iterator struct {
	t     *Trie
	stack []frame
	path  []byte // hex path of the current position, without terminator
	key   []byte
	value []byte
	err   error
}

// frame is a node on the path from the root to the current leaf.
type frame struct {
	n       node // *fullNode or *shortNode
	pathLen int  // length of it.path before this node
	// slot is the position, in visiting order, of the child of a full
	// node being visited: 0 is the value slot (children[16]), s in 1..16
	// is children[s-1]. -1 is before the first, 17 after the last.
	slot int
}

// NewIterator returns an unpositioned iterator over t.
func (t *Trie) NewIterator() *Iterator { return &Iterator{t: t} }

// Valid reports whether the iterator is at a key.
func (it *Iterator) Valid() bool { return len(it.stack) > 0 && it.err == nil }

// Key returns the current key.
func (it *Iterator) Key() []byte { return it.key }

// Value returns the current value.
func (it *Iterator) Value() []byte { return it.value }

// Error returns the error that stopped the iterator (for example a missing
// node), if any.
func (it *Iterator) Error() error { return it.err }

func slotChild(n *fullNode, slot int) node {
	if slot == 0 {
		return n.children[16]
	}
	return n.children[slot-1]
}

// reset clears the position and pushes the root.
func (it *Iterator) reset() bool {
	it.stack, it.path, it.key, it.value, it.err = it.stack[:0], it.path[:0], nil, nil, nil
	return it.push(it.t.root, 0)
}

// push resolves n and pushes it with the path length before it. A nil n
// pushes nothing and returns false.
func (it *Iterator) push(n node, pathLen int) bool {
	if h, ok := n.(hashNode); ok {
		var err error
		if n, err = it.t.resolveHash(h, it.path[:pathLen]); err != nil {
			it.fail(err)
			return false
		}
	}
	switch n.(type) {
	case *fullNode, *shortNode:
		it.path = it.path[:pathLen]
		it.stack = append(it.stack, frame{n: n, pathLen: pathLen, slot: -1})
		return true
	}
	return false
}

func (it *Iterator) fail(err error) {
	it.err = err
	it.stack = it.stack[:0]
	it.key, it.value = nil, nil
}

// descend moves from the top frame, which must be fresh, down to its first
// (forward) or last (backward) leaf. It returns false if the trie is
// malformed or a node is missing.
func (it *Iterator) descend(forward bool) bool {
	for len(it.stack) > 0 {
		f := &it.stack[len(it.stack)-1]
		switch n := f.n.(type) {
		case *shortNode:
			it.path = append(it.path[:f.pathLen], n.key...)
			if hasTerm(n.key) {
				it.path = it.path[:len(it.path)-1]
				return it.atLeaf(n.val)
			}
			if !it.push(n.val, len(it.path)) {
				return false
			}
		case *fullNode:
			if !it.step(f, forward) {
				// An empty branch cannot occur in a well-formed trie.
				return it.advance(forward)
			}
			if f.slot == 0 {
				it.path = it.path[:f.pathLen]
				return it.atLeaf(n.children[16])
			}
			if !it.pushSlot(f) {
				return false
			}
		}
	}
	return false
}

// step moves f.slot to the next (or previous) non-empty slot, reporting
// false when there is none.
func (it *Iterator) step(f *frame, forward bool) bool {
	n := f.n.(*fullNode)
	if forward {
		for f.slot++; f.slot <= 16; f.slot++ {
			if slotChild(n, f.slot) != nil {
				return true
			}
		}
		return false
	}
	if f.slot < 0 {
		f.slot = 17
	}
	for f.slot--; f.slot >= 0; f.slot-- {
		if slotChild(n, f.slot) != nil {
			return true
		}
	}
	return false
}

// pushSlot pushes the child at f.slot (1..16).
func (it *Iterator) pushSlot(f *frame) bool {
	it.path = append(it.path[:f.pathLen], byte(f.slot-1))
	return it.push(slotChild(f.n.(*fullNode), f.slot), f.pathLen+1)
}

func (it *Iterator) atLeaf(v node) bool {
	val, ok := v.(valueNode)
	if !ok {
		it.fail(errMalformedNode)
		return false
	}
	it.key = hexToKeybytes(it.key[:0], it.path)
	it.value = val
	return true
}

// advance moves from the current leaf to the next (or previous) one.
func (it *Iterator) advance(forward bool) bool {
	for len(it.stack) > 0 {
		f := &it.stack[len(it.stack)-1]
		if fn, ok := f.n.(*fullNode); ok && it.step(f, forward) {
			if f.slot == 0 {
				it.path = it.path[:f.pathLen]
				return it.atLeaf(fn.children[16])
			}
			if !it.pushSlot(f) {
				return false
			}
			return it.descend(forward)
		}
		it.stack = it.stack[:len(it.stack)-1]
	}
	it.key, it.value = nil, nil
	return false
}

// First moves to the smallest key.
func (it *Iterator) First() bool { return it.reset() && it.descend(true) }

// Last moves to the largest key.
func (it *Iterator) Last() bool { return it.reset() && it.descend(false) }

// Next moves to the following key.
func (it *Iterator) Next() bool { return it.Valid() && it.advance(true) }

// Prev moves to the preceding key.
func (it *Iterator) Prev() bool { return it.Valid() && it.advance(false) }

// Seek moves to the smallest key >= key.
func (it *Iterator) Seek(key []byte) bool {
	if !it.reset() {
		return false
	}
	target := keybytesToHex(key)
	target = target[:len(target)-1] // compare without the terminator
	for {
		f := &it.stack[len(it.stack)-1]
		d := f.pathLen
		switch n := f.n.(type) {
		case *fullNode:
			if d == len(target) {
				return it.descend(true) // every key below is >= target
			}
			// The value slot and children before target[d] are smaller.
			f.slot = int(target[d]) + 1
			if slotChild(n, f.slot) == nil {
				return it.advance(true)
			}
			if !it.pushSlot(f) {
				return false
			}
		case *shortNode:
			k := n.key
			if hasTerm(k) {
				k = k[:len(k)-1]
			}
			seg := target[d:min(len(target), d+len(k))]
			switch c := bytes.Compare(k[:len(seg)], seg); {
			case c > 0:
				return it.descend(true) // the subtree is above target
			case c < 0 || len(seg) == len(k) && hasTerm(n.key) && d+len(k) < len(target):
				// Below target: a smaller path, or a leaf that is a
				// proper prefix of target.
				it.stack = it.stack[:len(it.stack)-1]
				return it.advance(true)
			case len(seg) < len(k):
				return it.descend(true) // target is a proper prefix of the path
			}
			if hasTerm(n.key) {
				return it.descend(true) // exact match
			}
			it.path = append(it.path[:d], k...)
			if !it.push(n.val, len(it.path)) {
				return false
			}
		}
	}
}
