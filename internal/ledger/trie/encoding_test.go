package trie

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"github.com/folio-ledger/folio/internal/ledger/rlp"
)

// compactOf returns the compact (hex-prefix) bytes the hasher writes for a
// hex path.
func compactOf(t *testing.T, path []byte) []byte {
	t.Helper()
	var h hasher
	h.appendPath(path)
	c, rest, err := rlp.SplitString(h.buf)
	if err != nil || len(rest) != 0 {
		t.Fatalf("path %v: bad RLP %x: %v", path, h.buf, err)
	}
	return c
}

// Examples of the hex-prefix encoding (Yellow Paper appendix C).
func TestHexPrefixExamples(t *testing.T) {
	cases := []struct {
		path    []byte
		compact string
	}{
		{[]byte{}, "00"},
		{[]byte{terminator}, "20"},
		{[]byte{1, 2, 3, 4, 5}, "112345"},
		{[]byte{0, 1, 2, 3, 4, 5}, "00012345"},
		{[]byte{0, 15, 1, 12, 11, 8, terminator}, "200f1cb8"},
		{[]byte{15, 1, 12, 11, 8, terminator}, "3f1cb8"},
	}
	for _, c := range cases {
		got := compactOf(t, c.path)
		if hex.EncodeToString(got) != c.compact {
			t.Errorf("compact(%v) = %x, want %s", c.path, got, c.compact)
		}
		back, ok := compactToHex(got)
		if !ok || !bytes.Equal(back, c.path) {
			t.Errorf("compactToHex(%x) = %v, %v; want %v", got, back, ok, c.path)
		}
	}
}

func TestHexRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 2000; i++ {
		key := make([]byte, r.IntN(40))
		for j := range key {
			key[j] = byte(r.Uint32())
		}
		h := keybytesToHex(key)
		if back := hexToKeybytes(nil, h); !bytes.Equal(back, key) {
			t.Fatalf("hexToKeybytes(keybytesToHex(%x)) = %x", key, back)
		}
		// Any sub-path, leaf or not, survives compact encoding.
		from := r.IntN(len(h))
		for _, p := range [][]byte{h[from:], h[from : len(h)-1]} {
			back, ok := compactToHex(compactOf(t, p))
			if !ok || !bytes.Equal(back, p) {
				t.Fatalf("compact round trip of %v gave %v", p, back)
			}
		}
	}
	for _, bad := range []string{"", "40", "01", "2f"} {
		b, _ := hex.DecodeString(bad)
		if _, ok := compactToHex(b); ok {
			t.Errorf("compactToHex(%s) accepted", bad)
		}
	}
}
