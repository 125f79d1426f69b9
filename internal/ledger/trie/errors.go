package trie

import (
	"errors"
	"fmt"
)

// ErrMissingNode is matched by every *MissingNodeError.
var ErrMissingNode = errors.New("trie: missing node")

// MissingNodeError reports a node the trie needed but the node store does not
// hold: a root that was never committed, or one pruned away.
type MissingNodeError struct {
	Owner Hash   // the trie's owner (zero for the account trie)
	Hash  Hash   // the missing node
	Path  []byte // hex path from the root to the node
	Err   error  // the store's error, if any
}

func (e *MissingNodeError) Error() string {
	msg := fmt.Sprintf("trie: missing node %s (owner %s, path %x)", e.Hash, e.Owner, e.Path)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the store's error.
func (e *MissingNodeError) Unwrap() error { return e.Err }

// Is matches ErrMissingNode.
func (e *MissingNodeError) Is(target error) bool { return target == ErrMissingNode }
