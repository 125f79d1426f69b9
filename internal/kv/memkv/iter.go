package memkv

import (
	"bytes"

	"github.com/folio-ledger/folio/internal/kv"
)

// iter walks an immutable tree. path holds the nodes from the root down to
// the current node; an empty path means unpositioned or exhausted.
type iter struct {
	root         *node
	lower, upper []byte
	path         []*node
	closed       bool
	release      func()
}

var _ kv.Iterator = (*iter)(nil)

func (it *iter) cur() *node {
	if len(it.path) == 0 {
		return nil
	}
	return it.path[len(it.path)-1]
}

// check invalidates the iterator if the current key left the bounds.
func (it *iter) check() bool {
	n := it.cur()
	if n == nil {
		return false
	}
	if len(it.lower) > 0 && bytes.Compare(n.key, it.lower) < 0 ||
		len(it.upper) > 0 && bytes.Compare(n.key, it.upper) >= 0 {
		it.path = it.path[:0]
		return false
	}
	return true
}

// seekGE positions at the smallest key >= key, ignoring bounds.
func (it *iter) seekGE(key []byte) {
	it.path = it.path[:0]
	best := -1
	for n := it.root; n != nil; {
		it.path = append(it.path, n)
		if bytes.Compare(key, n.key) <= 0 {
			best = len(it.path) - 1
			n = n.left
		} else {
			n = n.right
		}
	}
	it.path = it.path[:best+1]
}

// seekLT positions at the largest key < key, ignoring bounds.
func (it *iter) seekLT(key []byte) {
	it.path = it.path[:0]
	best := -1
	for n := it.root; n != nil; {
		it.path = append(it.path, n)
		if bytes.Compare(n.key, key) < 0 {
			best = len(it.path) - 1
			n = n.right
		} else {
			n = n.left
		}
	}
	it.path = it.path[:best+1]
}

func (it *iter) descendLeft(n *node) {
	for ; n != nil; n = n.left {
		it.path = append(it.path, n)
	}
}

func (it *iter) descendRight(n *node) {
	for ; n != nil; n = n.right {
		it.path = append(it.path, n)
	}
}

func (it *iter) First() bool {
	if it.closed {
		return false
	}
	if len(it.lower) > 0 {
		it.seekGE(it.lower)
	} else {
		it.path = it.path[:0]
		it.descendLeft(it.root)
	}
	return it.check()
}

func (it *iter) Last() bool {
	if it.closed {
		return false
	}
	if len(it.upper) > 0 {
		it.seekLT(it.upper)
	} else {
		it.path = it.path[:0]
		it.descendRight(it.root)
	}
	return it.check()
}

func (it *iter) SeekGE(key []byte) bool {
	if it.closed {
		return false
	}
	if len(it.lower) > 0 && bytes.Compare(key, it.lower) < 0 {
		key = it.lower
	}
	it.seekGE(key)
	return it.check()
}

func (it *iter) SeekLT(key []byte) bool {
	if it.closed {
		return false
	}
	if len(it.upper) > 0 && bytes.Compare(key, it.upper) > 0 {
		key = it.upper
	}
	it.seekLT(key)
	return it.check()
}

func (it *iter) Next() bool {
	n := it.cur()
	if n == nil || it.closed {
		return false
	}
	if n.right != nil {
		it.descendLeft(n.right)
		return it.check()
	}
	// Climb until we arrive from a left child.
	for {
		child := it.path[len(it.path)-1]
		it.path = it.path[:len(it.path)-1]
		if len(it.path) == 0 {
			return false
		}
		if it.path[len(it.path)-1].left == child {
			return it.check()
		}
	}
}

func (it *iter) Prev() bool {
	n := it.cur()
	if n == nil || it.closed {
		return false
	}
	if n.left != nil {
		it.descendRight(n.left)
		return it.check()
	}
	for {
		child := it.path[len(it.path)-1]
		it.path = it.path[:len(it.path)-1]
		if len(it.path) == 0 {
			return false
		}
		if it.path[len(it.path)-1].right == child {
			return it.check()
		}
	}
}

func (it *iter) Valid() bool { return !it.closed && len(it.path) > 0 }

func (it *iter) Key() []byte {
	if n := it.cur(); n != nil {
		return n.key
	}
	return nil
}

func (it *iter) Value() []byte {
	if n := it.cur(); n != nil {
		return n.value
	}
	return nil
}

func (it *iter) Error() error { return nil }

func (it *iter) Close() error {
	if it.closed {
		return nil
	}
	it.closed = true
	it.path = nil
	if it.release != nil {
		it.release()
	}
	return nil
}
