package cache

// sketch is a count-min sketch of 4 rows of 4-bit saturating counters,
// packed 16 to a uint64. After sampleSize increments every counter is
// halved, so old popularity fades.
type sketch struct {
	rows       [4][]uint64
	mask       uint64 // counters per row - 1 (a power of two)
	additions  int
	sampleSize int
	seed       uint64
}

func newSketch(counters int, seed uint64) *sketch {
	n := 64
	for n < counters && n < 1<<22 {
		n <<= 1
	}
	s := &sketch{mask: uint64(n - 1), sampleSize: 10 * n, seed: seed}
	for i := range s.rows {
		s.rows[i] = make([]uint64, n/16)
	}
	return s
}

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashKey is FNV-1a of the key, seeded and finalised.
func hashKey(seed uint64, key string) uint64 {
	h := uint64(14695981039346656037) ^ seed
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return mix64(h)
}

func (s *sketch) index(h uint64, row int) (word int, shift uint) {
	x := mix64(h + uint64(row+1)*0x9e3779b97f4a7c15)
	i := x & s.mask
	return int(i >> 4), uint(i&15) * 4
}

// increment counts one access of the key with hash h.
func (s *sketch) increment(h uint64) {
	added := false
	for r := range s.rows {
		w, sh := s.index(h, r)
		if (s.rows[r][w]>>sh)&15 < 15 {
			s.rows[r][w] += 1 << sh
			added = true
		}
	}
	if !added {
		return
	}
	s.additions++
	if s.additions >= s.sampleSize {
		s.age()
	}
}

// age halves every counter.
func (s *sketch) age() {
	for r := range s.rows {
		row := s.rows[r]
		for i := range row {
			row[i] = (row[i] >> 1) & 0x7777777777777777
		}
	}
	s.additions /= 2
}

// frequency estimates how often the key with hash h was accessed (0..15).
func (s *sketch) frequency(h uint64) int {
	f := 15
	for r := range s.rows {
		w, sh := s.index(h, r)
		if c := int((s.rows[r][w] >> sh) & 15); c < f {
			f = c
		}
	}
	return f
}

func (s *sketch) reset() {
	for r := range s.rows {
		clear(s.rows[r])
	}
	s.additions = 0
}
