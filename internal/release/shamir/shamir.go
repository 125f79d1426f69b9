package shamir

import (
	"errors"
	"fmt"
	"io"
)

// Errors callers branch on.
var (
	// ErrParams means n, t or the secret length are out of range.
	ErrParams = errors.New("shamir: invalid parameters")
	// ErrShares means the shares given to Combine cannot be combined:
	// none, different lengths, a zero or repeated X.
	ErrShares = errors.New("shamir: invalid shares")
)

// MaxShares is the largest n: X values are the non-zero field elements.
const MaxShares = 255

// Share is one point of the secret's polynomials: X in 1..255 and one Y
// byte per secret byte.
type Share struct {
	X byte
	Y []byte
}

// MarshalBinary encodes the share as X followed by Y.
func (s Share) MarshalBinary() ([]byte, error) {
	if s.X == 0 || len(s.Y) == 0 {
		return nil, fmt.Errorf("%w: X must be non-zero and Y non-empty", ErrShares)
	}
	return append([]byte{s.X}, s.Y...), nil
}

// UnmarshalBinary decodes X followed by Y; Y is copied.
func (s *Share) UnmarshalBinary(b []byte) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: encoded share of %d bytes, want at least 2", ErrShares, len(b))
	}
	if b[0] == 0 {
		return fmt.Errorf("%w: share with X = 0 (that is the secret itself)", ErrShares)
	}
	s.X = b[0]
	s.Y = append([]byte(nil), b[1:]...)
	return nil
}

// Split divides secret into n shares, any t of which rebuild it. Random
// coefficients come from rand (crypto/rand.Reader in production).
func Split(secret []byte, n, t int, rand io.Reader) ([]Share, error) {
	switch {
	case len(secret) == 0:
		return nil, fmt.Errorf("%w: empty secret", ErrParams)
	case t < 2:
		return nil, fmt.Errorf("%w: threshold %d: must be at least 2 (1 would make every share the secret)", ErrParams, t)
	case n < t:
		return nil, fmt.Errorf("%w: %d shares with threshold %d: need n >= t", ErrParams, n, t)
	case n > MaxShares:
		return nil, fmt.Errorf("%w: %d shares: at most %d", ErrParams, n, MaxShares)
	}
	shares := make([]Share, n)
	for i := range shares {
		shares[i] = Share{X: byte(i + 1), Y: make([]byte, len(secret))}
	}
	coeffs := make([]byte, t) // coeffs[0] = secret byte; coeffs[1..] random
	for b, s := range secret {
		coeffs[0] = s
		if _, err := io.ReadFull(rand, coeffs[1:]); err != nil {
			return nil, fmt.Errorf("shamir: random coefficients: %w", err)
		}
		for i := range shares {
			shares[i].Y[b] = eval(coeffs, shares[i].X)
		}
	}
	clear(coeffs)
	return shares, nil
}

// eval evaluates the polynomial with the given coefficients (constant
// first) at x, by Horner's rule.
func eval(coeffs []byte, x byte) byte {
	var y byte
	for i := len(coeffs) - 1; i >= 0; i-- {
		y = mul(y, x) ^ coeffs[i]
	}
	return y
}

// Combine interpolates the shares at x = 0. With at least t shares of one
// split it returns the secret; see the package contract for the rest.
func Combine(shares []Share) ([]byte, error) {
	if len(shares) == 0 {
		return nil, fmt.Errorf("%w: no shares", ErrShares)
	}
	size := len(shares[0].Y)
	seen := map[byte]bool{}
	for _, s := range shares {
		if s.X == 0 {
			return nil, fmt.Errorf("%w: share with X = 0", ErrShares)
		}
		if seen[s.X] {
			return nil, fmt.Errorf("%w: share %d given twice", ErrShares, s.X)
		}
		seen[s.X] = true
		if len(s.Y) != size || size == 0 {
			return nil, fmt.Errorf("%w: shares of different lengths (%d and %d bytes)", ErrShares, size, len(s.Y))
		}
	}
	// Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_j - x_i); in
	// characteristic 2, subtraction is xor.
	basis := make([]byte, len(shares))
	for i, si := range shares {
		num, den := byte(1), byte(1)
		for j, sj := range shares {
			if i == j {
				continue
			}
			num = mul(num, sj.X)
			den = mul(den, sj.X^si.X)
		}
		basis[i] = mul(num, inv(den))
	}
	out := make([]byte, size)
	for b := range out {
		var acc byte
		for i, s := range shares {
			acc ^= mul(basis[i], s.Y[b])
		}
		out[b] = acc
	}
	return out, nil
}

// mul multiplies in GF(2^8) modulo 0x11b without secret-dependent
// branches or table lookups.
func mul(a, b byte) byte {
	var p byte
	for i := 0; i < 8; i++ {
		p ^= a & -(b & 1) // add a if the low bit of b is set
		hi := a >> 7
		a = a<<1 ^ 0x1b&-hi // multiply a by x, reducing when it overflows
		b >>= 1
	}
	return p
}

// inv returns the multiplicative inverse, a^254 (a^255 = 1 for a != 0);
// inv(0) = 0.
func inv(a byte) byte {
	// a^254 = a^2 * a^4 * ... * a^128, by square and multiply.
	r := byte(1)
	sq := a
	for i := 0; i < 7; i++ {
		sq = mul(sq, sq) // a^(2^(i+1))
		r = mul(r, sq)
	}
	return r
}
