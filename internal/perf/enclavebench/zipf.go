package enclavebench

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// zipf draws ranks in [0, n) with P(rank i) proportional to 1/(i+1)^s,
// for any s in (0, 1) ∪ (1, ∞) — Go's rand.Zipf needs s > 1, and YCSB's
// default is 0.99 — using the rejection-free approximation of Gray et
// al., "Quickly generating billion-record synthetic databases" (SIGMOD
// 1994), as YCSB does. Not safe for concurrent use.
type zipf struct {
	n                    float64
	s, alpha, zetan, eta float64
	half                 float64 // 1 + 0.5^s
	r                    *rand.Rand
}

func newZipf(r *rand.Rand, n int, s float64) *zipf {
	return newZipfZeta(r, n, s, zeta(n, s))
}

// zeta is the generalised harmonic number H(n, s), the normaliser.
func zeta(n int, s float64) float64 {
	var z float64
	for i := 1; i <= n; i++ {
		z += 1 / math.Pow(float64(i), s)
	}
	return z
}

// newZipfZeta reuses a computed zeta (it costs O(n)).
func newZipfZeta(r *rand.Rand, n int, s, zetan float64) *zipf {
	zeta2 := 1 + math.Pow(0.5, s)
	return &zipf{
		n: float64(n), s: s, alpha: 1 / (1 - s), zetan: zetan,
		eta:  (1 - math.Pow(2/float64(n), 1-s)) / (1 - zeta2/zetan),
		half: zeta2, r: r,
	}
}

// next returns a rank; 0 is the most popular.
func (z *zipf) next() int {
	u := z.r.Float64()
	uz := u * z.zetan
	switch {
	case uz < 1:
		return 0
	case uz < z.half:
		return 1
	}
	i := int(z.n * math.Pow(z.eta*u-z.eta+1, z.alpha))
	if i >= int(z.n) {
		i = int(z.n) - 1
	}
	return i
}

// scramble maps a rank to a work index, spreading the popular works over
// the key space (as YCSB's scrambled Zipfian does) so that they are not
// neighbours in the store. It is a permutation of [0, n): rank times the
// prime 2^61-1, modulo n (the prime is coprime to every n below it), so
// that n ranks reach all n works. (A hash modulo n, which it replaces,
// reached only 40% of a million works: the benchmark ran on 400,000.)
func scramble(rank, n int) int {
	if n <= 1 {
		return 0
	}
	const p = 1<<61 - 1
	hi, lo := bits.Mul64(uint64(rank)%uint64(n), p)
	return int(bits.Rem64(hi, lo, uint64(n)))
}

func pow(x, y float64) float64 { return math.Pow(x, y) }
