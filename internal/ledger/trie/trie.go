package trie

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/folio-ledger/folio/internal/kv"
)

// NodeReader gives a trie the stored nodes it has not loaded yet. Database
// implements it. Node returns the encoding of the node with the given hash
// in the trie of owner, or an error matching ErrMissingNode (or, for damaged
// data, kv.ErrCorruption). The returned slice must not be modified, and the
// reader must not modify it later either.
type NodeReader interface {
	Node(owner, hash Hash) ([]byte, error)
}

// ID names a committed trie: its owner (the zero hash for the account trie,
// keccak256(namespace) for a storage trie) and its root.
type ID struct {
	Owner Hash
	Root  Hash
}

// Trie is an Ethereum-compatible hexary Merkle Patricia trie. Nodes are
// loaded from a NodeReader on demand and kept in memory; updates change the
// trie in memory until Commit collects the new nodes.
//
// A Trie is a deterministic, single-threaded structure: it is not safe for
// concurrent use, and even Get and Prove modify it (they keep the nodes they
// load). Open one Trie per goroutine at a committed root to read
// concurrently; they share the Database's node cache.
type Trie struct {
	owner Hash
	root  node
	db    NodeReader
	h     hasher

	// rootHash caches the root hash while rootValid.
	rootHash  Hash
	rootValid bool
	// committed is the root as opened or last committed.
	committed Hash
	// obsolete collects the hashes of stored nodes changed or removed
	// since the last commit.
	obsolete []Hash
}

// NewEmpty returns an empty trie. db may be nil if the trie is only built
// in memory.
func NewEmpty(db NodeReader) *Trie {
	return &Trie{db: db, committed: EmptyRoot}
}

// New opens the committed trie id. The zero root and EmptyRoot open an empty
// trie. It loads the root node at once, so a root the reader does not hold
// fails here with an error matching ErrMissingNode.
func New(id ID, db NodeReader) (*Trie, error) {
	t := &Trie{owner: id.Owner, db: db, committed: EmptyRoot}
	if id.Root.IsZero() || id.Root == EmptyRoot {
		return t, nil
	}
	root, err := t.resolveHash(id.Root[:], nil)
	if err != nil {
		return nil, err
	}
	t.root = root
	t.committed = id.Root
	t.rootHash, t.rootValid = id.Root, true
	return t, nil
}

// Owner returns the trie's owner.
func (t *Trie) Owner() Hash { return t.owner }

// Get returns the value stored at key, or nil if there is none. The returned
// slice must not be modified.
func (t *Trie) Get(key []byte) ([]byte, error) {
	value, newroot, resolved, err := t.get(t.root, keybytesToHex(key), 0)
	if err == nil && resolved {
		t.root = newroot
	}
	return value, err
}

func (t *Trie) get(n node, key []byte, pos int) (value []byte, newnode node, resolved bool, err error) {
	switch n := n.(type) {
	case nil:
		return nil, nil, false, nil
	case valueNode:
		return n, n, false, nil
	case *shortNode:
		if len(key)-pos < len(n.key) || !bytes.Equal(n.key, key[pos:pos+len(n.key)]) {
			return nil, n, false, nil
		}
		value, child, resolved, err := t.get(n.val, key, pos+len(n.key))
		if err == nil && resolved {
			n.val = child
		}
		return value, n, resolved, err
	case *fullNode:
		value, child, resolved, err := t.get(n.children[key[pos]], key, pos+1)
		if err == nil && resolved {
			n.children[key[pos]] = child
		}
		return value, n, resolved, err
	case hashNode:
		child, err := t.resolveHash(n, key[:pos])
		if err != nil {
			return nil, n, true, err
		}
		value, newnode, _, err := t.get(child, key, pos)
		return value, newnode, true, err
	}
	return nil, n, false, fmt.Errorf("trie: invalid node type %T", n)
}

// Update stores value at key. An empty value deletes the key, as in
// go-ethereum: no key holds an empty value. The trie copies value.
func (t *Trie) Update(key, value []byte) error {
	if len(value) == 0 {
		return t.Delete(key)
	}
	// One allocation holds the hex key and the copy of the value.
	buf := make([]byte, 2*len(key)+1+len(value))
	hex := buf[: 2*len(key)+1 : 2*len(key)+1]
	for i, b := range key {
		hex[2*i], hex[2*i+1] = b>>4, b&0x0f
	}
	hex[len(hex)-1] = terminator
	v := valueNode(buf[len(hex):])
	copy(v, value)
	n, dirty, err := t.insert(t.root, hex, 0, v)
	if err != nil {
		return err
	}
	if dirty {
		t.root = n
		t.rootValid = false
	}
	return nil
}

// Delete removes key; a missing key is not an error.
func (t *Trie) Delete(key []byte) error {
	n, dirty, err := t.delete(t.root, keybytesToHex(key), 0)
	if err != nil {
		return err
	}
	if dirty {
		t.root = n
		t.rootValid = false
	}
	return nil
}

// release marks a node as changed or removed: a stored node's hash goes to
// the obsolete list, and the cached hash is dropped. Nodes are changed in
// place; every node on the path from the root to a change is released.
func (t *Trie) release(f *nodeFlags) {
	if f.hashed && !f.dirty {
		t.obsolete = append(t.obsolete, f.hash)
	}
	*f = nodeFlags{dirty: true}
}

func newFlags() nodeFlags { return nodeFlags{dirty: true} }

// insert puts value at key[pos:] below n. It returns the new node for n's
// position and whether anything changed.
func (t *Trie) insert(n node, key []byte, pos int, value valueNode) (node, bool, error) {
	rest := key[pos:]
	if len(rest) == 0 {
		if v, ok := n.(valueNode); ok && bytes.Equal(v, value) {
			return n, false, nil
		}
		return value, true, nil
	}
	switch n := n.(type) {
	case *shortNode:
		match := prefixLen(rest, n.key)
		if match == len(n.key) {
			child, dirty, err := t.insert(n.val, key, pos+match, value)
			if !dirty || err != nil {
				return n, false, err
			}
			t.release(&n.flags)
			n.val = child
			return n, true, nil
		}
		// The paths diverge at match: a branch goes there.
		t.release(&n.flags)
		branch := &fullNode{flags: newFlags()}
		// The existing entry moves below the branch; n itself is reused
		// for it when it is not needed as the extension above.
		if oldRest := n.key[match+1:]; len(oldRest) == 0 {
			branch.children[n.key[match]] = n.val
		} else if match == 0 {
			branch.children[n.key[0]] = n
			n.key = oldRest
		} else {
			branch.children[n.key[match]] = &shortNode{key: oldRest, val: n.val, flags: newFlags()}
		}
		if newRest := rest[match+1:]; len(newRest) == 0 {
			branch.children[rest[match]] = value
		} else {
			branch.children[rest[match]] = &shortNode{key: newRest, val: value, flags: newFlags()}
		}
		if match == 0 {
			return branch, true, nil
		}
		n.key, n.val = rest[:match], branch
		return n, true, nil
	case *fullNode:
		child, dirty, err := t.insert(n.children[rest[0]], key, pos+1, value)
		if !dirty || err != nil {
			return n, false, err
		}
		t.release(&n.flags)
		n.children[rest[0]] = child
		return n, true, nil
	case nil:
		return &shortNode{key: rest, val: value, flags: newFlags()}, true, nil
	case hashNode:
		resolved, err := t.resolveHash(n, key[:pos])
		if err != nil {
			return n, false, err
		}
		nn, dirty, err := t.insert(resolved, key, pos, value)
		if !dirty || err != nil {
			return n, false, err
		}
		return nn, true, nil
	}
	return n, false, fmt.Errorf("trie: invalid node type %T", n)
}

// delete removes key[pos:] below n.
func (t *Trie) delete(n node, key []byte, pos int) (node, bool, error) {
	rest := key[pos:]
	switch n := n.(type) {
	case nil:
		return nil, false, nil
	case valueNode:
		// The value lives inside its leaf or branch, which the caller
		// releases.
		return nil, true, nil
	case *shortNode:
		match := prefixLen(rest, n.key)
		if match < len(n.key) {
			return n, false, nil // key absent
		}
		if match == len(rest) {
			t.release(&n.flags) // the leaf itself
			return nil, true, nil
		}
		child, dirty, err := t.delete(n.val, key, pos+len(n.key))
		if !dirty || err != nil {
			return n, false, err
		}
		t.release(&n.flags)
		if c, ok := child.(*shortNode); ok {
			// The branch below collapsed into a short node: merge the
			// paths into it.
			t.release(&c.flags)
			c.key = concat(n.key, c.key)
			return c, true, nil
		}
		n.val = child
		return n, true, nil
	case *fullNode:
		nibble := rest[0]
		child, dirty, err := t.delete(n.children[nibble], key, pos+1)
		if !dirty || err != nil {
			return n, false, err
		}
		t.release(&n.flags)
		n.children[nibble] = child
		if child != nil {
			return n, true, nil
		}
		// If one entry remains, the branch collapses into a short node.
		only := -1
		for i, c := range &n.children {
			if c != nil {
				if only >= 0 {
					return n, true, nil
				}
				only = i
			}
		}
		if only < 0 {
			return nil, true, nil // cannot happen in a well-formed trie
		}
		if only == 16 {
			return &shortNode{key: []byte{terminator}, val: n.children[16], flags: newFlags()}, true, nil
		}
		cnode, err := t.resolve(n.children[only], append(bytes.Clone(key[:pos]), byte(only)))
		if err != nil {
			return n, false, err
		}
		if c, ok := cnode.(*shortNode); ok {
			t.release(&c.flags)
			c.key = concat([]byte{byte(only)}, c.key)
			return c, true, nil
		}
		return &shortNode{key: []byte{byte(only)}, val: cnode, flags: newFlags()}, true, nil
	case hashNode:
		resolved, err := t.resolveHash(n, key[:pos])
		if err != nil {
			return n, false, err
		}
		nn, dirty, err := t.delete(resolved, key, pos)
		if !dirty || err != nil {
			return n, false, err
		}
		return nn, true, nil
	}
	return n, false, fmt.Errorf("trie: invalid node type %T", n)
}

// resolve loads n if it is a hash reference.
func (t *Trie) resolve(n node, path []byte) (node, error) {
	if h, ok := n.(hashNode); ok {
		return t.resolveHash(h, path)
	}
	return n, nil
}

// resolveHash loads and decodes the stored node with the given hash.
func (t *Trie) resolveHash(h hashNode, path []byte) (node, error) {
	var hash Hash
	copy(hash[:], h)
	if t.db == nil {
		return nil, &MissingNodeError{Owner: t.owner, Hash: hash, Path: bytes.Clone(path)}
	}
	blob, err := t.db.Node(t.owner, hash)
	if err != nil {
		var mn *MissingNodeError
		if errors.As(err, &mn) && mn.Hash == hash {
			return nil, &MissingNodeError{Owner: t.owner, Hash: hash, Path: bytes.Clone(path), Err: mn.Err}
		}
		if errors.Is(err, ErrMissingNode) || errors.Is(err, kv.ErrNotFound) {
			return nil, &MissingNodeError{Owner: t.owner, Hash: hash, Path: bytes.Clone(path), Err: err}
		}
		return nil, err
	}
	n, err := decodeNode(&hash, blob)
	if err != nil {
		return nil, &kv.CorruptionError{Op: fmt.Sprintf("decode trie node %s", hash), Err: err}
	}
	return n, nil
}

// Hash returns the root hash. It hashes changed nodes and caches their
// hashes, but writes nothing.
func (t *Trie) Hash() Hash {
	if !t.rootValid {
		t.rootHash = t.h.hashRoot(t.root)
		t.rootValid = true
	}
	return t.rootHash
}

// Commit hashes the trie and returns its root and a NodeSet with every new
// or changed node to store and the stored nodes the new root no longer
// reaches. The nodes are marked clean; the trie stays usable, and the next
// Commit returns only what changes after this one. Commit does no I/O:
// persist the set with Database.Write.
func (t *Trie) Commit() (Hash, *NodeSet) {
	set := &NodeSet{Owner: t.owner}
	t.h.set = set
	root := t.h.hashRoot(t.root)
	t.h.set = nil
	t.rootHash, t.rootValid = root, true
	set.Root = root
	obsolete := t.obsolete
	if root != t.committed && t.committed != EmptyRoot {
		// The old root is stored under its hash even when it is shorter
		// than 32 bytes (then no node flag held it).
		obsolete = append(obsolete, t.committed)
	}
	set.finish(obsolete)
	t.obsolete = nil
	t.committed = root
	return root, set
}
