package memkv

import "bytes"

// node is a node of the persistent AVL tree. Once published (reachable from
// a root stored in Store.root) a node is immutable. gen is the commit
// generation that created it: only that commit may modify it in place.
type node struct {
	key, value  []byte
	left, right *node
	height      int32
	gen         uint64
}

func height(n *node) int32 {
	if n == nil {
		return 0
	}
	return n.height
}

// writer applies one commit's operations to a tree, copying published nodes
// on the path and mutating nodes of its own generation in place.
type writer struct {
	gen uint64
}

// own returns n itself if this commit created it, else a copy of it that
// this commit owns.
func (w *writer) own(n *node) *node {
	if n.gen == w.gen {
		return n
	}
	c := *n
	c.gen = w.gen
	return &c
}

func fix(n *node) {
	hl, hr := height(n.left), height(n.right)
	if hl > hr {
		n.height = hl + 1
	} else {
		n.height = hr + 1
	}
}

// rotateRight: n is owned; its left child becomes the subtree root.
func (w *writer) rotateRight(n *node) *node {
	l := w.own(n.left)
	n.left = l.right
	l.right = n
	fix(n)
	fix(l)
	return l
}

func (w *writer) rotateLeft(n *node) *node {
	r := w.own(n.right)
	n.right = r.left
	r.left = n
	fix(n)
	fix(r)
	return r
}

// balance restores the AVL invariant at the owned node n.
func (w *writer) balance(n *node) *node {
	fix(n)
	switch bf := height(n.left) - height(n.right); {
	case bf > 1:
		if height(n.left.left) < height(n.left.right) {
			n.left = w.rotateLeft(w.own(n.left))
		}
		return w.rotateRight(n)
	case bf < -1:
		if height(n.right.right) < height(n.right.left) {
			n.right = w.rotateRight(w.own(n.right))
		}
		return w.rotateLeft(n)
	}
	return n
}

// set inserts or replaces key; key and value are already owned by the tree.
func (w *writer) set(n *node, key, value []byte) *node {
	if n == nil {
		return &node{key: key, value: value, height: 1, gen: w.gen}
	}
	switch c := bytes.Compare(key, n.key); {
	case c < 0:
		m := w.own(n)
		m.left = w.set(n.left, key, value)
		return w.balance(m)
	case c > 0:
		m := w.own(n)
		m.right = w.set(n.right, key, value)
		return w.balance(m)
	default:
		m := w.own(n)
		m.value = value
		return m
	}
}

// del removes key if present. It returns the new subtree and whether the key
// was found (an absent key leaves the tree untouched, with no copies).
func (w *writer) del(n *node, key []byte) (*node, bool) {
	if n == nil {
		return nil, false
	}
	switch c := bytes.Compare(key, n.key); {
	case c < 0:
		l, ok := w.del(n.left, key)
		if !ok {
			return n, false
		}
		m := w.own(n)
		m.left = l
		return w.balance(m), true
	case c > 0:
		r, ok := w.del(n.right, key)
		if !ok {
			return n, false
		}
		m := w.own(n)
		m.right = r
		return w.balance(m), true
	}
	if n.left == nil {
		return n.right, true
	}
	if n.right == nil {
		return n.left, true
	}
	// Two children: replace n by its successor, the minimum of the right
	// subtree.
	r, succ := w.delMin(n.right)
	m := w.own(n)
	m.key, m.value, m.right = succ.key, succ.value, r
	return w.balance(m), true
}

// delMin removes the smallest node of the non-empty subtree n and returns the
// new subtree and the removed node.
func (w *writer) delMin(n *node) (*node, *node) {
	if n.left == nil {
		return n.right, n
	}
	l, min := w.delMin(n.left)
	m := w.own(n)
	m.left = l
	return w.balance(m), min
}

// get finds key in the tree rooted at n.
func get(n *node, key []byte) (*node, bool) {
	for n != nil {
		switch c := bytes.Compare(key, n.key); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return n, true
		}
	}
	return nil, false
}
