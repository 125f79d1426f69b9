package ledger

import (
	"bytes"
	"testing"
)

// FuzzDecodeFormat: the format record decoder never panics, and what it
// accepts re-encodes to the same bytes.
func FuzzDecodeFormat(f *testing.F) {
	f.Add(encodeFormat(1))
	f.Add(encodeFormat(0))
	f.Add([]byte("folio/ledger"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeFormat(b)
		if err != nil {
			return
		}
		if v == 0 || !bytes.Equal(encodeFormat(v), b) {
			t.Fatalf("%x decodes to version %d", b, v)
		}
	})
}

// FuzzDecodeRoot: the state root record decoder never panics and accepts
// exactly 32 bytes.
func FuzzDecodeRoot(f *testing.F) {
	f.Add(make([]byte, 32))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeRoot(7, b)
		if (err == nil) != (len(b) == 32) || err == nil && !bytes.Equal(h[:], b) {
			t.Fatalf("%x: %x %v", b, h, err)
		}
	})
}
