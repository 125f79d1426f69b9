package rlp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The examples of the RLP specification (Ethereum wiki / Yellow Paper
// appendix B).
func TestEncodeSpecExamples(t *testing.T) {
	long := []byte("Lorem ipsum dolor sit amet, consectetur adipisicing elit")
	cases := []struct {
		name string
		v    Value
		want string
	}{
		{"dog", Bytes([]byte("dog")), "83646f67"},
		{"cat-dog", ListOf(Bytes([]byte("cat")), Bytes([]byte("dog"))), "c88363617483646f67"},
		{"empty string", Bytes(nil), "80"},
		{"empty list", ListOf(), "c0"},
		{"byte 0x00", Bytes([]byte{0}), "00"},
		{"byte 0x0f", Bytes([]byte{0x0f}), "0f"},
		{"bytes 0x0400", Bytes([]byte{4, 0}), "820400"},
		{"set theory", ListOf(ListOf(), ListOf(ListOf()), ListOf(ListOf(), ListOf(ListOf()))), "c7c0c1c0c3c0c1c0"},
		{"56-byte string", Bytes(long), "b838" + hex.EncodeToString(long)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.v.Encode()
			if hex.EncodeToString(got) != c.want {
				t.Fatalf("encode = %x, want %s", got, c.want)
			}
			if c.v.Size() != len(got) {
				t.Fatalf("Size() = %d, encoding has %d bytes", c.v.Size(), len(got))
			}
			dec, err := Decode(got)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !dec.Equal(c.v) {
				t.Fatalf("decode(encode(v)) != v")
			}
		})
	}
}

func TestUint(t *testing.T) {
	cases := []struct {
		v    uint64
		want string
	}{
		{0, "80"}, {1, "01"}, {0x7f, "7f"}, {0x80, "8180"}, {1024, "820400"},
		{0xffffffffffffffff, "88ffffffffffffffff"},
	}
	for _, c := range cases {
		got := AppendUint(nil, c.v)
		if hex.EncodeToString(got) != c.want {
			t.Errorf("AppendUint(%d) = %x, want %s", c.v, got, c.want)
		}
		v, rest, err := SplitUint(got)
		if err != nil || v != c.v || len(rest) != 0 {
			t.Errorf("SplitUint(%x) = %d, %x, %v", got, v, rest, err)
		}
		bi, err := AppendBigInt(nil, new(big.Int).SetUint64(c.v))
		if err != nil || !bytes.Equal(bi, got) {
			t.Errorf("AppendBigInt(%d) = %x, %v; want %x", c.v, bi, err, got)
		}
	}
	if _, err := AppendBigInt(nil, big.NewInt(-1)); !errors.Is(err, ErrNegativeInt) {
		t.Errorf("AppendBigInt(-1) err = %v, want ErrNegativeInt", err)
	}
	if _, _, err := SplitUint(unhex(t, "820001")); !errors.Is(err, ErrNonCanonicalInt) {
		t.Errorf("leading zero integer: err = %v", err)
	}
	if _, _, err := SplitUint(unhex(t, "00")); !errors.Is(err, ErrNonCanonicalInt) {
		t.Errorf("integer zero as 0x00: err = %v", err)
	}
	if _, _, err := SplitUint(unhex(t, "89010000000000000000")); !errors.Is(err, ErrUintOverflow) {
		t.Errorf("9-byte integer: err = %v", err)
	}
	if v, _, err := SplitBigInt(unhex(t, "89010000000000000000"), 32); err != nil || v.String() != "18446744073709551616" {
		t.Errorf("SplitBigInt = %v, %v", v, err)
	}
	if _, _, err := SplitBigInt(unhex(t, "820001"), 32); !errors.Is(err, ErrNonCanonicalInt) {
		t.Errorf("SplitBigInt leading zero: err = %v", err)
	}
	if _, _, err := SplitBigInt(unhex(t, "83010203"), 2); !errors.Is(err, ErrUintOverflow) {
		t.Errorf("SplitBigInt too wide: err = %v", err)
	}
}

func TestDecodeRejectsNonCanonical(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want error
	}{
		{"empty input", "", ErrTruncated},
		{"single byte wrapped", "8100", ErrNonCanonicalSize},
		{"single byte 0x7f wrapped", "817f", ErrNonCanonicalSize},
		{"long string form for short payload", "b80161", ErrNonCanonicalSize},
		{"long list form for short payload", "f80180", ErrNonCanonicalSize},
		{"leading zero in string size", "b90038" + strings.Repeat("61", 56), ErrNonCanonicalSize},
		{"leading zero in list size", "f90038" + strings.Repeat("80", 56), ErrNonCanonicalSize},
		{"string truncated", "83646f", ErrTruncated},
		{"valid list of three", "c3808080", nil},
		{"list truncated", "c48080", ErrTruncated},
		{"size field truncated", "b9", ErrTruncated},
		{"huge size", "bfffffffffffffffff", ErrTruncated},
		{"trailing bytes", "8080", ErrTrailingBytes},
		{"bad item inside list", "c28100", ErrNonCanonicalSize},
		{"list item overruns list", "c283646f67", ErrTruncated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(unhex(t, c.in))
			if c.want == nil {
				if err != nil {
					t.Fatalf("Decode(%s) = %v, want success", c.in, err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode(%s) err = %v, want %v", c.in, err, c.want)
			}
		})
	}
}

func TestDecodeDepthLimit(t *testing.T) {
	// MaxDepth+1 nested empty lists: c1 c1 ... c0.
	var b []byte
	b = append(b, 0xc0)
	for i := 0; i < MaxDepth+1; i++ {
		b = AppendList(nil, b)
	}
	if _, err := Decode(b); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("err = %v, want ErrTooDeep", err)
	}
}

func TestSplitKinds(t *testing.T) {
	if _, _, err := SplitString(unhex(t, "c0")); !errors.Is(err, ErrExpectedString) {
		t.Errorf("SplitString(list) err = %v", err)
	}
	if _, _, err := SplitList(unhex(t, "80")); !errors.Is(err, ErrExpectedList) {
		t.Errorf("SplitList(string) err = %v", err)
	}
	n, err := CountValues(unhex(t, "8080c0"))
	if err != nil || n != 3 {
		t.Errorf("CountValues = %d, %v; want 3", n, err)
	}
	if _, err := CountValues(unhex(t, "8081")); !errors.Is(err, ErrTruncated) {
		t.Errorf("CountValues(truncated) err = %v", err)
	}
	if List.String() != "list" || String.String() != "string" {
		t.Errorf("Kind.String wrong")
	}
}

// randomValue builds a random tree of strings and lists, with string
// lengths chosen around the 55/56-byte boundary and multi-byte sizes.
func randomValue(r *rand.Rand, depth int) Value {
	if depth > 4 || r.IntN(3) > 0 {
		var n int
		switch r.IntN(5) {
		case 0:
			n = 0
		case 1:
			n = 1
		case 2:
			n = 54 + r.IntN(4)
		case 3:
			n = r.IntN(300)
		default:
			n = r.IntN(20)
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return Bytes(b)
	}
	items := make([]Value, r.IntN(6))
	for i := range items {
		items[i] = randomValue(r, depth+1)
	}
	return ListOf(items...)
}

func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		v := randomValue(r, 0)
		enc := v.Encode()
		if len(enc) != v.Size() {
			t.Fatalf("Size mismatch")
		}
		dec, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%x): %v", enc, err)
		}
		if !dec.Equal(v) {
			t.Fatalf("round trip mismatch for %x", enc)
		}
	}
}

// FuzzDecode checks that Decode never panics and that every accepted input
// is canonical: re-encoding the decoded value gives back the input exactly.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"80", "c0", "83646f67", "c88363617483646f67", "8100", "b80161", "f90038", "c7c0c1c0c3c0c1c0"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := Decode(in)
		if err != nil {
			return
		}
		if out := v.Encode(); !bytes.Equal(out, in) {
			t.Fatalf("accepted non-canonical input %x (re-encodes as %x)", in, out)
		}
		if v.Size() != len(in) {
			t.Fatalf("Size() = %d for %d-byte input", v.Size(), len(in))
		}
	})
}
