package shamir

import (
	"bytes"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"testing"
)

// Reference field: exp/log tables over the generator 3 (the AES field),
// built by repeated naive multiplication, to check mul and inv.
func refTables() (exp [510]byte, log [256]byte) {
	x := byte(1)
	for i := 0; i < 255; i++ {
		exp[i], exp[i+255] = x, x
		log[x] = byte(i)
		// x *= 3: x*2 xor x, reduced by 0x11b
		x2 := x << 1
		if x&0x80 != 0 {
			x2 ^= 0x1b
		}
		x ^= x2
	}
	return
}

func TestFieldAgainstTables(t *testing.T) {
	exp, log := refTables()
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b++ {
			want := byte(0)
			if a != 0 && b != 0 {
				want = exp[int(log[a])+int(log[b])]
			}
			if got := mul(byte(a), byte(b)); got != want {
				t.Fatalf("mul(%d, %d) = %d, want %d", a, b, got, want)
			}
		}
		if a != 0 {
			if got := mul(byte(a), inv(byte(a))); got != 1 {
				t.Fatalf("a * inv(a) = %d for a = %d", got, a)
			}
		}
	}
	if inv(0) != 0 {
		t.Fatal("inv(0) != 0")
	}
}

// naiveEval evaluates sum c_k x^k with explicit powers (no Horner).
func naiveEval(coeffs []byte, x byte) byte {
	var y byte
	for k, c := range coeffs {
		p := byte(1)
		for i := 0; i < k; i++ {
			p = mul(p, x)
		}
		y ^= mul(c, p)
	}
	return y
}

func TestEvalAgainstNaive(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		coeffs := make([]byte, 1+r.IntN(10))
		for j := range coeffs {
			coeffs[j] = byte(r.IntN(256))
		}
		x := byte(r.IntN(256))
		if got, want := eval(coeffs, x), naiveEval(coeffs, x); got != want {
			t.Fatalf("eval(%x, %d) = %d, naive %d", coeffs, x, got, want)
		}
	}
}

// subsets calls f with every subset of size k of 0..n-1.
func subsets(n, k int, f func([]int)) {
	idx := make([]int, k)
	var rec func(start, depth int)
	rec = func(start, depth int) {
		if depth == k {
			f(idx)
			return
		}
		for i := start; i < n; i++ {
			idx[depth] = i
			rec(i+1, depth+1)
		}
	}
	rec(0, 0)
}

func TestEveryThresholdSubsetRebuilds(t *testing.T) {
	for _, c := range []struct{ n, t int }{{2, 2}, {3, 2}, {3, 3}, {5, 3}, {7, 4}} {
		secret := make([]byte, 32)
		rand.Read(secret)
		shares, err := Split(secret, c.n, c.t, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for k := c.t; k <= c.n; k++ {
			subsets(c.n, k, func(idx []int) {
				var pick []Share
				for _, i := range idx {
					pick = append(pick, shares[i])
				}
				got, err := Combine(pick)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, secret) {
					t.Fatalf("%d-of-%d: subset %v rebuilt %x, want %x", c.t, c.n, idx, got, secret)
				}
			})
		}
		// Fewer than t: never the secret (for a 32-byte secret the chance
		// of a coincidence is 2^-256).
		subsets(c.n, c.t-1, func(idx []int) {
			var pick []Share
			for _, i := range idx {
				pick = append(pick, shares[i])
			}
			if len(pick) == 0 {
				return
			}
			got, err := Combine(pick)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(got, secret) {
				t.Fatalf("%d-of-%d: %d shares rebuilt the secret", c.t, c.n, len(pick))
			}
		})
	}
}

// With t-1 shares every secret is equally likely: for a fixed set of t-1
// share values of a 1-byte secret, each of the 256 secrets has exactly one
// polynomial through them. Checked by counting, for 2-of-3, over all
// polynomials: the distribution of share 1 is uniform whatever the secret.
func TestFewerThanThresholdRevealNothing(t *testing.T) {
	for _, s := range []byte{0, 1, 0x5a, 0xff} {
		var count [256]int
		for a1 := 0; a1 < 256; a1++ {
			count[eval([]byte{s, byte(a1)}, 1)]++
		}
		for y, c := range count {
			if c != 1 {
				t.Fatalf("secret %d: share value %d appears %d times, want 1", s, y, c)
			}
		}
	}
}

func TestSplitRejects(t *testing.T) {
	for _, c := range []struct {
		secret []byte
		n, t   int
	}{{nil, 3, 2}, {[]byte{1}, 3, 1}, {[]byte{1}, 2, 3}, {[]byte{1}, 256, 2}} {
		if _, err := Split(c.secret, c.n, c.t, rand.Reader); !errors.Is(err, ErrParams) {
			t.Errorf("Split(%x, %d, %d) = %v, want ErrParams", c.secret, c.n, c.t, err)
		}
	}
}

func TestCombineRejects(t *testing.T) {
	a := Share{X: 1, Y: []byte{1, 2}}
	for name, shares := range map[string][]Share{
		"none":      nil,
		"zero x":    {{X: 0, Y: []byte{1, 2}}, a},
		"duplicate": {a, a},
		"lengths":   {a, {X: 2, Y: []byte{1}}},
	} {
		if _, err := Combine(shares); !errors.Is(err, ErrShares) {
			t.Errorf("%s: Combine = %v, want ErrShares", name, err)
		}
	}
}

func FuzzShareRoundTrip(f *testing.F) {
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{0, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Share
		if err := s.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := s.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("round trip %x -> %x (%v)", b, out, err)
		}
	})
}

// FuzzCombine checks that Combine never panics and that t shares of a
// split always rebuild the secret, for fuzzer-chosen secrets and sizes.
func FuzzCombine(f *testing.F) {
	f.Add([]byte("secret"), uint8(3), uint8(2), uint64(7))
	f.Fuzz(func(t *testing.T, secret []byte, n, th uint8, seed uint64) {
		var s [32]byte
		s[0], s[1] = byte(seed), byte(seed>>8)
		shares, err := Split(secret, int(n), int(th), mrand.NewChaCha8(s))
		if err != nil {
			return
		}
		got, err := Combine(shares[len(shares)-int(th):])
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("combine: %x, %v; want %x", got, err, secret)
		}
	})
}
