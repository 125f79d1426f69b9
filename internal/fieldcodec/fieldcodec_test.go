package fieldcodec

import (
	"errors"
	"testing"
)

// TestRoundTripAndCopy: fields decode as encoded; Copy decides whether
// byte fields alias the input.
func TestRoundTripAndCopy(t *testing.T) {
	var e Encoder
	e.Uvarint(300)
	e.Varint(-7)
	e.Bytes([]byte("abc"))
	e.Str("key")
	e.Bool(true)
	e.NBytes(nil)
	e.NBytes([]byte{})
	e.NBytes([]byte("x"))
	for _, copied := range []bool{false, true} {
		in := append([]byte(nil), e.B...)
		d := Decoder{B: in, Copy: copied}
		u, v, b, s, ok := d.Uvarint(), d.Varint(), d.Bytes(), d.Str(), d.Bool()
		n0, n1, n2 := d.NBytes(), d.NBytes(), d.NBytes()
		if err := d.Finish("sample"); err != nil {
			t.Fatal(err)
		}
		if u != 300 || v != -7 || string(b) != "abc" || s != "key" || !ok || n0 != nil || n1 == nil || len(n1) != 0 || string(n2) != "x" {
			t.Fatalf("decoded %v %v %q %q %v %v %v %q", u, v, b, s, ok, n0, n1, n2)
		}
		for i := range in {
			in[i] = 0
		}
		if aliased := string(b) != "abc" || string(n2) != "x"; aliased == copied {
			t.Fatalf("Copy %v: byte fields aliased the input: %v", copied, aliased)
		}
	}
}

// TestErrors: the first error sticks and wraps the decoder's sentinel.
func TestErrors(t *testing.T) {
	mine := errors.New("mine")
	for name, b := range map[string][]byte{
		"truncated length": {5, 'a'},
		"bad bool":         {2},
		"trailing":         {1, 9},
		"forged count":     {200, 1},
	} {
		for _, sentinel := range []error{nil, mine} {
			d := Decoder{B: b, Malformed: sentinel}
			switch name {
			case "truncated length":
				d.Bytes()
			case "bad bool", "trailing":
				d.Bool()
			case "forged count":
				d.Count(1)
			}
			want := sentinel
			if want == nil {
				want = ErrMalformed
			}
			if err := d.Finish(name); !errors.Is(err, want) {
				t.Errorf("%s: %v, want %v", name, err, want)
			}
		}
	}
}
