package state

import (
	"errors"
	"fmt"

	"github.com/folio-ledger/folio/contract/abi"
)

// Limits on what the state accepts. They are part of the ledger's
// consensus: validators must refuse larger writes (the committer marks such
// transactions invalid) because Commit refuses them.
const (
	// MaxNamespaceBytes is the longest namespace name.
	MaxNamespaceBytes = 64
	// MaxKeyBytes is the longest key: the bound the wire format and
	// contracts enforce (abi.MaxKeyBytes).
	MaxKeyBytes = abi.MaxKeyBytes
	// MaxValueBytes is the largest value: 1 MiB. A block envelope is at
	// most 4 MiB on the wire, and copyright records are a few hundred bytes;
	// large works are stored off-chain by content hash.
	MaxValueBytes = 1 << 20
)

// Errors callers branch on.
var (
	// ErrInvalidNamespace: the namespace name breaks the naming rule.
	ErrInvalidNamespace = errors.New("state: invalid namespace")
	// ErrInvalidKey: the key is empty, not valid UTF-8, or longer than
	// MaxKeyBytes.
	ErrInvalidKey = errors.New("state: invalid key")
	// ErrValueTooLarge: the value is longer than MaxValueBytes.
	ErrValueTooLarge = errors.New("state: value too large")
	// ErrInvalidRange: a range whose start is after its end.
	ErrInvalidRange = errors.New("state: invalid range")
)

// ValidateNamespace checks ns against [A-Za-z][A-Za-z0-9_.-]{0,63}.
func ValidateNamespace(ns string) error {
	if ns == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidNamespace)
	}
	if len(ns) > MaxNamespaceBytes {
		return fmt.Errorf("%w: %q is %d bytes, the limit is %d", ErrInvalidNamespace, ns[:16]+"...", len(ns), MaxNamespaceBytes)
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !letter {
			return fmt.Errorf("%w: %q must start with a letter", ErrInvalidNamespace, ns)
		}
		if !letter && !(c >= '0' && c <= '9') && c != '_' && c != '.' && c != '-' {
			return fmt.Errorf("%w: %q holds %q; allowed are letters, digits, '_', '.' and '-'", ErrInvalidNamespace, ns, c)
		}
	}
	return nil
}

// ValidateKey checks that key is non-empty, valid UTF-8 and at most
// MaxKeyBytes long.
func ValidateKey(key string) error {
	if err := abi.ValidKey(key); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return nil
}

// ValidateValue checks that value is at most MaxValueBytes long.
func ValidateValue(value []byte) error {
	if len(value) > MaxValueBytes {
		return fmt.Errorf("%w: value of %d bytes exceeds the limit of %d bytes (1 MiB)", ErrValueTooLarge, len(value), MaxValueBytes)
	}
	return nil
}
