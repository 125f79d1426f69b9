package trie

import (
	"math/rand/v2"
	"testing"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
)

// benchKeys returns n random 32-byte keys with 32-byte values, the same
// for every run (bench/trie uses the same generator for go-ethereum).
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

// BenchmarkInsertHash100k: build a trie of 100k random 32-byte keys with
// 32-byte values and compute its root, per op.
func BenchmarkInsertHash100k(b *testing.B) {
	keys, values := benchKeys(benchN)
	b.ReportAllocs()
	for b.Loop() {
		tr := NewEmpty(nil)
		for i := range keys {
			if err := tr.Update(keys[i], values[i]); err != nil {
				b.Fatal(err)
			}
		}
		tr.Hash()
	}
}

func benchTrie(b *testing.B) (*Trie, [][]byte) {
	keys, values := benchKeys(benchN)
	tr := NewEmpty(nil)
	for i := range keys {
		if err := tr.Update(keys[i], values[i]); err != nil {
			b.Fatal(err)
		}
	}
	tr.Hash()
	return tr, keys
}

// BenchmarkProve100k: one proof of a present key in a 100k-key trie, per op.
func BenchmarkProve100k(b *testing.B) {
	tr, keys := benchTrie(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := tr.Prove(keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkVerify100k: verifying one such proof, per op.
func BenchmarkVerify100k(b *testing.B) {
	tr, keys := benchTrie(b)
	root := [32]byte(tr.Hash())
	proofs := make([][][]byte, 1000)
	for i := range proofs {
		p, err := tr.Prove(keys[i])
		if err != nil {
			b.Fatal(err)
		}
		proofs[i] = p
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		j := i % len(proofs)
		if v, err := proof.VerifyProof(root, keys[j], proofs[j]); err != nil || v == nil {
			b.Fatal(err)
		}
		i++
	}
}

func openBenchPebble(b *testing.B) (kv.Store, *Database) {
	s, err := pebblekv.Open(b.TempDir(), pebblekv.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	db, err := NewDatabase(s, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return s, db
}

// BenchmarkCommitPebble100k: commit a freshly built 100k-key trie to Pebble
// on disk (Commit, Write, synced batch commit), per op. Building the trie
// is not timed.
func BenchmarkCommitPebble100k(b *testing.B) {
	s, db := openBenchPebble(b)
	keys, values := benchKeys(benchN)
	version := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		tr := NewEmpty(db)
		for i := range keys {
			keys[i][0]++ // new keys every round
			if err := tr.Update(keys[i], values[i]); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		version++
		_, set := tr.Commit()
		batch := s.NewBatch()
		if err := db.Write(batch, version, set); err != nil {
			b.Fatal(err)
		}
		if err := batch.Commit(kv.WriteOptions{Sync: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlockCommitPebble: the per-block pattern: 1,000 random updates to
// a committed 100k-key secure trie opened at its last root, then Commit,
// Write and a synced batch commit, per op.
func BenchmarkBlockCommitPebble(b *testing.B) {
	s, db := openBenchPebble(b)
	keys, values := benchKeys(benchN)
	tr := NewSecureEmpty(db)
	for i := range keys {
		_ = tr.Update(keys[i], values[i])
	}
	root, set := tr.Commit()
	batch := s.NewBatch()
	if err := db.Write(batch, 1, set); err != nil {
		b.Fatal(err)
	}
	if err := batch.Commit(kv.WriteOptions{Sync: true}); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	version := uint64(1)
	b.ReportAllocs()
	for b.Loop() {
		st, err := NewSecure(ID{Root: root}, db)
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 1000; j++ {
			v := values[r.IntN(len(values))]
			if err := st.Update(keys[r.IntN(len(keys))], v); err != nil {
				b.Fatal(err)
			}
		}
		version++
		root, set = st.Commit()
		batch := s.NewBatch()
		if err := db.Write(batch, version, set); err != nil {
			b.Fatal(err)
		}
		if err := batch.Commit(kv.WriteOptions{Sync: true}); err != nil {
			b.Fatal(err)
		}
	}
}
