package abi

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/folio-ledger/folio/internal/fieldcodec"
)

// ErrMalformed marks bytes that do not decode as the expected value.
var ErrMalformed = errors.New("abi: malformed encoding")

// ValidKey reports whether k may be used as a state key: non-empty, valid
// UTF-8 and at most MaxKeyBytes long. Both the SDK and the host apply it.
func ValidKey(k string) error {
	switch {
	case k == "":
		return errors.New("empty key")
	case len(k) > MaxKeyBytes:
		return fmt.Errorf("key of %d bytes exceeds the limit of %d bytes", len(k), MaxKeyBytes)
	case !utf8.ValidString(k):
		return fmt.Errorf("key %q is not valid UTF-8", k)
	}
	return nil
}

// The encoding is internal/fieldcodec's. Decoded byte fields are copies:
// the contract keeps them beyond the host call's buffer.
type (
	encoder = fieldcodec.Encoder
	decoder = fieldcodec.Decoder
)

func newDecoder(b []byte) decoder { return decoder{B: b, Malformed: ErrMalformed, Copy: true} }
