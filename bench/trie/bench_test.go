package benchtrie

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	gethtrie "github.com/ethereum/go-ethereum/trie"
	"github.com/ethereum/go-ethereum/trie/trienode"
	"github.com/ethereum/go-ethereum/triedb"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/memkv"
	"github.com/folio-ledger/folio/internal/ledger/trie"
	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
)

func newGeth() *gethtrie.Trie {
	return gethtrie.NewEmpty(triedb.NewDatabase(rawdb.NewMemoryDatabase(), nil))
}

// BenchmarkInsertHash100k: insert 100k random 32-byte keys with 32-byte
// values into an empty trie and compute the root, per op.
func BenchmarkInsertHash100k(b *testing.B) {
	keys, values := benchKeys(benchN)
	b.Run("impl=folio", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tr := trie.NewEmpty(nil)
			for i := range keys {
				if err := tr.Update(keys[i], values[i]); err != nil {
					b.Fatal(err)
				}
			}
			tr.Hash()
		}
	})
	b.Run("impl=geth", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tr := newGeth()
			for i := range keys {
				if err := tr.Update(keys[i], values[i]); err != nil {
					b.Fatal(err)
				}
			}
			tr.Hash()
		}
	})
}

// BenchmarkProve100k: one proof of a present key in a 100k-key trie.
func BenchmarkProve100k(b *testing.B) {
	keys, values := benchKeys(benchN)
	b.Run("impl=folio", func(b *testing.B) {
		tr := trie.NewEmpty(nil)
		for i := range keys {
			_ = tr.Update(keys[i], values[i])
		}
		tr.Hash()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := tr.Prove(keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("impl=geth", func(b *testing.B) {
		tr := newGeth()
		for i := range keys {
			_ = tr.Update(keys[i], values[i])
		}
		tr.Hash()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			var p proofList
			if err := tr.Prove(keys[i%len(keys)], &p); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkVerify100k: verify one such proof.
func BenchmarkVerify100k(b *testing.B) {
	keys, values := benchKeys(benchN)
	tr := trie.NewEmpty(nil)
	for i := range keys {
		_ = tr.Update(keys[i], values[i])
	}
	root := tr.Hash()
	const nproofs = 1000
	proofs := make([][][]byte, nproofs)
	for i := range proofs {
		p, err := tr.Prove(keys[i])
		if err != nil {
			b.Fatal(err)
		}
		proofs[i] = p
	}
	b.Run("impl=folio", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			j := i % nproofs
			if v, err := proof.VerifyProof(root, keys[j], proofs[j]); err != nil || v == nil {
				b.Fatal(err)
			}
			i++
		}
	})
	// go-ethereum's VerifyProof reads nodes from a database keyed by their
	// hashes and does not hash them itself: a verifier holding the
	// EIP-1186 list builds that database, hashing each node, so that is
	// timed too (both sides start from the same list of RLP nodes).
	b.Run("impl=geth", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			j := i % nproofs
			db := memorydb.New()
			for _, n := range proofs[j] {
				_ = db.Put(crypto.Keccak256(n), n)
			}
			if v, err := gethtrie.VerifyProof(common.Hash(root), keys[j], db); err != nil || v == nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkCommitMemory100k: build a 100k-key trie (not timed), then commit
// its nodes to an in-memory node store (timed): Folio's Commit and
// Database.Write into a memkv batch; go-ethereum's Commit, triedb Update
// and Commit into its memory database.
func BenchmarkCommitMemory100k(b *testing.B) {
	keys, values := benchKeys(benchN)
	b.Run("impl=folio", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			store := memkv.New()
			db, _ := trie.NewDatabase(store, trie.Options{})
			tr := trie.NewEmpty(db)
			for i := range keys {
				_ = tr.Update(keys[i], values[i])
			}
			b.StartTimer()
			_, set := tr.Commit()
			batch := store.NewBatch()
			if err := db.Write(batch, 1, set); err != nil {
				b.Fatal(err)
			}
			if err := batch.Commit(kv.WriteOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=geth", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			tdb := triedb.NewDatabase(rawdb.NewMemoryDatabase(), nil)
			tr := gethtrie.NewEmpty(tdb)
			for i := range keys {
				_ = tr.Update(keys[i], values[i])
			}
			b.StartTimer()
			root, set := tr.Commit(false)
			if err := tdb.Update(root, common.Hash{}, 0, trienode.NewWithNodeSet(set), nil); err != nil {
				b.Fatal(err)
			}
			if err := tdb.Commit(root, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}
