package benchtrie

import "math/rand/v2"

// benchKeys returns n random 32-byte keys with 32-byte values; the same
// generator as the trie package's benchmarks, so the figures compare.
func benchKeys(n int) (keys, values [][]byte) {
	r := rand.New(rand.NewPCG(2024, uint64(n)))
	keys, values = make([][]byte, n), make([][]byte, n)
	for i := range keys {
		k, v := make([]byte, 32), make([]byte, 32)
		for j := 0; j < 32; j += 8 {
			x, y := r.Uint64(), r.Uint64()
			for b := 0; b < 8; b++ {
				k[j+b], v[j+b] = byte(x>>(8*b)), byte(y>>(8*b))
			}
		}
		keys[i], values[i] = k, v
	}
	return keys, values
}

const benchN = 100_000

// proofList collects go-ethereum's proof nodes in order (it implements
// ethdb.KeyValueWriter).
type proofList [][]byte

func (p *proofList) Put(_, value []byte) error {
	*p = append(*p, append([]byte(nil), value...))
	return nil
}

func (p *proofList) Delete([]byte) error { return nil }
