package benchtrie

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	gethtrie "github.com/ethereum/go-ethereum/trie"
	"github.com/ethereum/go-ethereum/triedb"

	"github.com/folio-ledger/folio/internal/ledger/trie"
	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
)

// TestSameRootsAsGeth applies the same random operations (updates with
// keys of varied lengths and values of varied sizes, deletes) to Folio's
// trie and go-ethereum's, plain and secure, and compares the roots after
// every batch of operations.
func TestSameRootsAsGeth(t *testing.T) {
	for seed := uint64(0); seed < 6; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			ours, theirs := trie.NewEmpty(nil), newGeth()
			sOurs := trie.NewSecureEmpty(nil)
			sTheirs, err := gethtrie.NewStateTrie(gethtrie.TrieID(common.Hash{}), triedb.NewDatabase(rawdb.NewMemoryDatabase(), nil))
			if err != nil {
				t.Fatal(err)
			}
			var keys [][]byte
			for step := 0; step < 3000; step++ {
				var k []byte
				if len(keys) > 0 && r.IntN(4) == 0 {
					k = keys[r.IntN(len(keys))]
				} else {
					k = make([]byte, []int{1, 2, 5, 20, 32}[r.IntN(5)])
					for i := range k {
						k[i] = byte(r.IntN(4) * 60)
					}
					keys = append(keys, k)
				}
				v := make([]byte, []int{0, 1, 10, 31, 32, 60}[r.IntN(6)])
				for i := range v {
					v[i] = byte(r.Uint32())
				}
				sTheirs.MustUpdate(k, v) // go-ethereum hashes the key; empty deletes
				for _, err := range []error{ours.Update(k, v), theirs.Update(k, v), sOurs.Update(k, v)} {
					if err != nil {
						t.Fatal(err)
					}
				}
				if step%250 == 0 || step == 2999 {
					if a, b := ours.Hash(), theirs.Hash(); a != trie.Hash(b) {
						t.Fatalf("step %d: root %s, go-ethereum %s", step, a, b)
					}
					if a, b := sOurs.Hash(), sTheirs.Hash(); a != trie.Hash(b) {
						t.Fatalf("step %d: secure root %s, go-ethereum %s", step, a, b)
					}
				}
			}
		})
	}
}

// TestSameRootsBenchData checks the benchmark workload itself.
func TestSameRootsBenchData(t *testing.T) {
	keys, values := benchKeys(benchN)
	ours, theirs := trie.NewEmpty(nil), newGeth()
	for i := range keys {
		_ = ours.Update(keys[i], values[i])
		_ = theirs.Update(keys[i], values[i])
	}
	if a, b := ours.Hash(), theirs.Hash(); a != trie.Hash(b) {
		t.Fatalf("root %s, go-ethereum %s", a, b)
	}
}

// TestProofInterop: go-ethereum's VerifyProof accepts Folio's proofs, and
// Folio's verifier accepts go-ethereum's, for present and absent keys.
func TestProofInterop(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	ours, theirs := trie.NewEmpty(nil), newGeth()
	var keys [][]byte
	for i := 0; i < 2000; i++ {
		k := crypto.Keccak256([]byte{byte(i), byte(i >> 8)})[:1+r.IntN(32)]
		v := bytes.Repeat([]byte{byte(i)}, 1+r.IntN(40))
		keys = append(keys, k)
		_ = ours.Update(k, v)
		_ = theirs.Update(k, v)
	}
	root := ours.Hash()
	if root != trie.Hash(theirs.Hash()) {
		t.Fatal("roots differ")
	}
	probes := append(keys[:300:300], []byte("absent"), []byte{0xff, 0xff}, nil)
	for _, k := range probes {
		want, _ := theirs.Get(k)
		// Ours verified by go-ethereum.
		nodes, err := ours.Prove(k)
		if err != nil {
			t.Fatal(err)
		}
		db := memorydb.New()
		for _, n := range nodes {
			_ = db.Put(crypto.Keccak256(n), n)
		}
		got, err := gethtrie.VerifyProof(common.Hash(root), k, db)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("go-ethereum verifying our proof of %x: %x, %v; want %x", k, got, err, want)
		}
		// Theirs verified by ours, and identical to ours.
		var list proofList
		if err := theirs.Prove(k, &list); err != nil {
			t.Fatal(err)
		}
		got, err = proof.VerifyProof(root, k, list)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("verifying go-ethereum's proof of %x: %x, %v; want %x", k, got, err, want)
		}
		if len(list) != len(nodes) {
			t.Fatalf("proof of %x: %d nodes, go-ethereum %d", k, len(nodes), len(list))
		}
		for i := range nodes {
			if !bytes.Equal(nodes[i], list[i]) {
				t.Fatalf("proof of %x: node %d differs from go-ethereum's", k, i)
			}
		}
	}
}
