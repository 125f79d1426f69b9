package wire

import (
	"errors"

	"github.com/folio-ledger/folio/internal/fieldcodec"
)

// ErrMalformed marks bytes that do not decode as the expected message.
var ErrMalformed = errors.New("wire: malformed message")

// The payload format is internal/fieldcodec's.
type (
	encoder = fieldcodec.Encoder
	decoder = fieldcodec.Decoder
)

func newDecoder(b []byte) decoder { return decoder{B: b, Malformed: ErrMalformed} }
