package contract

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/folio-ledger/folio/contract/abi"
)

// Composite keys follow Hyperledger Fabric's layout: U+0000, the object
// type, U+0000, then each attribute followed by U+0000. They stay valid
// UTF-8, sort by object type then attributes, and never collide with
// simple keys, which may not start with U+0000.
const (
	compositeKeyNamespace = "\x00"
	minUnicodeRuneValue   = 0
	maxUnicodeRuneValue   = utf8.MaxRune // U+10FFFF, the upper bound of partial-key scans
	// simpleKeyFloor is where an unbounded simple range starts, just after
	// the composite key space.
	simpleKeyFloor = "\x01"
)

// CreateCompositeKey joins objectType and attrs into a composite key. Every
// part must be valid UTF-8 without U+0000 or U+10FFFF; objectType must not
// be empty.
func CreateCompositeKey(objectType string, attrs ...string) (string, error) {
	if objectType == "" {
		return "", fmt.Errorf("%w: composite key needs an object type", ErrInvalidKey)
	}
	if err := validCompositePart(objectType); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(compositeKeyNamespace)
	b.WriteString(objectType)
	b.WriteRune(minUnicodeRuneValue)
	for _, a := range attrs {
		if err := validCompositePart(a); err != nil {
			return "", err
		}
		b.WriteString(a)
		b.WriteRune(minUnicodeRuneValue)
	}
	k := b.String()
	if len(k) > abi.MaxKeyBytes {
		return "", fmt.Errorf("%w: composite key of %d bytes exceeds %d", ErrInvalidKey, len(k), abi.MaxKeyBytes)
	}
	return k, nil
}

// SplitCompositeKey splits a key made by CreateCompositeKey into its object
// type and attributes.
func SplitCompositeKey(key string) (objectType string, attrs []string, err error) {
	if !strings.HasPrefix(key, compositeKeyNamespace) || !strings.HasSuffix(key, "\x00") || len(key) < 3 {
		return "", nil, fmt.Errorf("%w: %q is not a composite key", ErrInvalidKey, key)
	}
	parts := strings.Split(key[1:len(key)-1], "\x00")
	if parts[0] == "" {
		return "", nil, fmt.Errorf("%w: composite key %q has no object type", ErrInvalidKey, key)
	}
	return parts[0], parts[1:], nil
}

func validCompositePart(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: composite key part %q is not valid UTF-8", ErrInvalidKey, s)
	}
	for _, r := range s {
		if r == minUnicodeRuneValue || r == maxUnicodeRuneValue {
			return fmt.Errorf("%w: composite key part %q contains U+%04X", ErrInvalidKey, s, r)
		}
	}
	return nil
}

// PartialCompositeKeyRange returns the half-open key range [start, end) that
// holds every composite key of objectType whose first attributes are attrs.
// Context implementations use it for GetStateByPartialCompositeKey.
func PartialCompositeKeyRange(objectType string, attrs ...string) (start, end string, err error) {
	start, err = CreateCompositeKey(objectType, attrs...)
	if err != nil {
		return "", "", err
	}
	return start, start + string(maxUnicodeRuneValue), nil
}

// SimpleKeyRange checks and normalises the bounds of GetStateRange: neither
// bound may be a composite key, an empty start becomes the first simple key
// and an empty end stays empty (unbounded). Context implementations use it.
func SimpleKeyRange(start, end string) (string, string, error) {
	for _, k := range []string{start, end} {
		if k == "" {
			continue
		}
		if strings.HasPrefix(k, compositeKeyNamespace) {
			return "", "", fmt.Errorf("%w: range bound %q is a composite key; use GetStateByPartialCompositeKey", ErrInvalidKey, k)
		}
		if err := abi.ValidKey(k); err != nil {
			return "", "", fmt.Errorf("%w: range bound: %v", ErrInvalidKey, err)
		}
	}
	if start == "" {
		start = simpleKeyFloor
	}
	if end != "" && end <= start {
		return "", "", fmt.Errorf("%w: empty range [%q, %q)", ErrInvalidArgument, start, end)
	}
	return start, end, nil
}

// CheckKey reports whether key may be read or written: non-empty, valid
// UTF-8, at most abi.MaxKeyBytes. The error wraps ErrInvalidKey.
func CheckKey(key string) error {
	if err := abi.ValidKey(key); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return nil
}

// truncateUTF8 shortens s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
