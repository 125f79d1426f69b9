package ledger

import (
	"errors"
	"fmt"
	"strings"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/ledger/blocks"
	"github.com/folio-ledger/folio/internal/ledger/trie"
)

// Errors callers branch on. Damaged data is reported as *kv.CorruptionError
// (errors.Is kv.ErrCorruption) naming the block, namespace or key.
var (
	// ErrNotFound: no such block (or no block committed yet). It is the
	// block store's sentinel, so errors.Is works with either name.
	ErrNotFound = blocks.ErrNotFound
	// ErrDoesNotFollow: the block's number or previous hash does not
	// extend the chain. It is the block store's sentinel.
	ErrDoesNotFollow = blocks.ErrDoesNotFollow
	// ErrInvalidUpdates: the updates do not fit the block (transaction
	// numbers out of range or out of order, a write for a transaction the
	// block marks invalid, a namespace, key, value or transaction ID
	// breaking a limit). Every such error is an *UpdateError.
	ErrInvalidUpdates = errors.New("ledger: invalid updates")
	// ErrClosed: the ledger (or the reader) was closed.
	ErrClosed = errors.New("ledger: closed")
)

// UpdateError reports an update that Commit refused before writing
// anything. It matches ErrInvalidUpdates and unwraps to the cause (for
// example state.ErrValueTooLarge).
type UpdateError struct {
	Block     uint64
	Tx        int64  // the transaction number, or -1 if the error concerns none
	Namespace string // the namespace concerned, if any
	Key       string // the key concerned (shortened to 64 bytes), if any
	Err       error
}

// Error implements error.
func (e *UpdateError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ledger: block %d", e.Block)
	if e.Tx >= 0 {
		fmt.Fprintf(&b, " tx %d", e.Tx)
	}
	if e.Namespace != "" {
		fmt.Fprintf(&b, " namespace %q", e.Namespace)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, " key %q", e.Key)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

// Unwrap returns the cause.
func (e *UpdateError) Unwrap() error { return e.Err }

// Is matches ErrInvalidUpdates.
func (e *UpdateError) Is(target error) bool { return target == ErrInvalidUpdates }

// corrupt returns a *kv.CorruptionError for op.
func corrupt(op, format string, args ...any) error {
	return &kv.CorruptionError{Op: "ledger " + op, Err: fmt.Errorf(format, args...)}
}

// missingIsCorruption turns a missing trie node of the latest state root,
// which the ledger must always hold, into a *kv.CorruptionError.
func missingIsCorruption(op string, err error) error {
	if errors.Is(err, trie.ErrMissingNode) && !errors.Is(err, kv.ErrCorruption) {
		return &kv.CorruptionError{Op: "ledger " + op, Err: err}
	}
	return err
}
