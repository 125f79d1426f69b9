package trie

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
)

// buildRandom returns a trie of n random 32-byte keys with values of
// varied length, and its key-value map.
func buildRandom(t testing.TB, r *rand.Rand, n int) (*Trie, map[string][]byte) {
	t.Helper()
	tr := NewEmpty(nil)
	m := map[string][]byte{}
	for i := 0; i < n; i++ {
		k, _ := randomKV(r)
		v := randomValue(r)
		if len(v) == 0 {
			v = []byte{1}
		}
		if err := tr.Update(k, v); err != nil {
			t.Fatal(err)
		}
		m[string(k)] = v
	}
	return tr, m
}

func TestProofsInclusionExclusion(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, n := range []int{1, 2, 17, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			tr, m := buildRandom(t, r, n)
			db := newMemDB(t)
			root := commitVersion(t, db, 1, tr)
			re, err := New(ID{Root: root}, db)
			if err != nil {
				t.Fatal(err)
			}
			for _, src := range []*Trie{tr, re} {
				for k, v := range m {
					nodes, err := src.Prove([]byte(k))
					if err != nil {
						t.Fatal(err)
					}
					got, err := proof.VerifyProof(root, []byte(k), nodes)
					if err != nil || !bytes.Equal(got, v) {
						t.Fatalf("inclusion of %x: %x, %v; want %x", k, got, err, v)
					}
				}
				for i := 0; i < 200; i++ {
					k, _ := randomKV(r)
					if i%4 == 0 { // a neighbour of a present key
						for mk := range m {
							k = append([]byte(mk[:31]), mk[31]^1)
							break
						}
					}
					if _, ok := m[string(k)]; ok {
						continue
					}
					nodes, err := src.Prove(k)
					if err != nil {
						t.Fatal(err)
					}
					got, err := proof.VerifyProof(root, k, nodes)
					if err != nil || got != nil {
						t.Fatalf("exclusion of %x: %x, %v", k, got, err)
					}
				}
			}
		})
	}
	// The empty trie: empty proof, absence.
	nodes, err := NewEmpty(nil).Prove([]byte("k"))
	if err != nil || len(nodes) != 0 {
		t.Fatalf("empty trie proof = %x, %v", nodes, err)
	}
	if v, err := proof.VerifyProof(EmptyRoot, []byte("k"), nil); v != nil || err != nil {
		t.Fatalf("empty root verify = %x, %v", v, err)
	}
}

// TestProofTampering flips every bit position of every byte of every node
// of proofs (inclusion and exclusion), and drops, duplicates and appends
// nodes: verification must fail every time, never yield a value.
func TestProofTampering(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	tr, m := buildRandom(t, r, 300)
	// Short keys make embedded nodes, exercised too.
	small := NewEmpty(nil)
	for _, k := range []string{"a", "ab", "abc", "b", "ba"} {
		_ = small.Update([]byte(k), []byte{k[0]})
	}
	type probe struct {
		tr  *Trie
		key []byte
	}
	var probes []probe
	for k := range m {
		probes = append(probes, probe{tr, []byte(k)})
		if len(probes) == 5 {
			break
		}
	}
	absent, _ := randomKV(r)
	probes = append(probes, probe{tr, absent}, probe{small, []byte("ab")}, probe{small, []byte("abd")}, probe{small, []byte("c")})
	for _, p := range probes {
		root := p.tr.Hash()
		nodes, err := p.tr.Prove(p.key)
		if err != nil {
			t.Fatal(err)
		}
		want, err := proof.VerifyProof(root, p.key, nodes)
		if err != nil {
			t.Fatal(err)
		}
		mustFail := func(what string, bad [][]byte) {
			t.Helper()
			got, err := proof.VerifyProof(root, p.key, bad)
			if err == nil {
				t.Fatalf("%s: accepted (value %x, honest value %x)", what, got, want)
			}
			if !errors.Is(err, proof.ErrInvalidProof) {
				t.Fatalf("%s: error %v does not match ErrInvalidProof", what, err)
			}
		}
		for i := range nodes {
			for j := range nodes[i] {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					bad := cloneNodes(nodes)
					bad[i][j] ^= mask
					mustFail(fmt.Sprintf("node %d byte %d ^%02x", i, j, mask), bad)
				}
			}
			bad := cloneNodes(nodes)
			mustFail(fmt.Sprintf("node %d dropped", i), append(bad[:i], bad[i+1:]...))
			mustFail(fmt.Sprintf("node %d duplicated", i), append(cloneNodes(nodes[:i+1]), cloneNodes(nodes[i:])...))
			mustFail(fmt.Sprintf("node %d truncated", i), append(cloneNodes(nodes[:i]), append([][]byte{nodes[i][:len(nodes[i])-1]}, cloneNodes(nodes[i+1:])...)...))
		}
		mustFail("extra node", append(cloneNodes(nodes), []byte{0xc0}))
		if _, err := proof.VerifyProof(Keccak256([]byte("other root")), p.key, nodes); !errors.Is(err, proof.ErrHashMismatch) {
			t.Fatalf("wrong root: %v", err)
		}
	}
}

func cloneNodes(nodes [][]byte) [][]byte {
	out := make([][]byte, len(nodes))
	for i, n := range nodes {
		out[i] = bytes.Clone(n)
	}
	return out
}

// TestTwoLevelStateProof builds Folio's state layout (an account trie of
// namespaces, a storage trie per namespace) and checks account and storage
// proofs end to end, including absent keys and absent namespaces.
func TestTwoLevelStateProof(t *testing.T) {
	db := newMemDB(t)
	namespaces := map[string]map[string]string{
		"copyright": {"work/1": "title one", "work/2": "title two"},
		"registry":  {"owner/alice": "1,2"},
		"empty":     {},
	}
	accounts := NewSecureEmpty(db)
	storage := map[string]*SecureTrie{}
	var sets []*NodeSet
	for ns, kvs := range namespaces {
		st := NewSecureEmpty(db)
		st.trie.owner = HashKey([]byte(ns))
		for k, v := range kvs {
			if err := st.Update([]byte(k), proof.EncodeStorageValue([]byte(v))); err != nil {
				t.Fatal(err)
			}
		}
		sroot, set := st.Commit()
		sets = append(sets, set)
		storage[ns] = st
		acct := proof.Account{Nonce: 1, Balance: big.NewInt(0), StorageRoot: sroot, CodeHash: proof.Keccak256([]byte("code of " + ns))}
		enc, err := acct.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := accounts.Update([]byte(ns), enc); err != nil {
			t.Fatal(err)
		}
	}
	stateRoot, aset := accounts.Commit()
	b := db.store.NewBatch()
	if err := db.Write(b, 1, append(sets, aset)...); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(kvSync); err != nil {
		t.Fatal(err)
	}

	check := func(ns, key string, want []byte) {
		t.Helper()
		ap, err := accounts.Prove([]byte(ns))
		if err != nil {
			t.Fatal(err)
		}
		var sp [][]byte
		if st := storage[ns]; st != nil {
			if sp, err = st.Prove([]byte(key)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := proof.VerifyStorage(stateRoot, []byte(ns), ap, []byte(key), sp)
		if err != nil {
			t.Fatalf("%s/%s: %v", ns, key, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s/%s = %q, want %q", ns, key, got, want)
		}
		// Tampering with the account proof breaks the storage proof.
		if len(ap) > 0 {
			bad := cloneNodes(ap)
			bad[len(bad)-1][len(bad[len(bad)-1])-1] ^= 1
			if _, err := proof.VerifyStorage(stateRoot, []byte(ns), bad, []byte(key), sp); err == nil {
				t.Fatalf("%s/%s: tampered account proof accepted", ns, key)
			}
		}
	}
	for ns, kvs := range namespaces {
		for k, v := range kvs {
			check(ns, k, []byte(v))
		}
		check(ns, "no-such-key", nil)
	}
	check("no-such-namespace", "k", nil)

	// An account record round-trips and is read back from the proof.
	ap, _ := accounts.Prove([]byte("copyright"))
	acct, err := proof.VerifyAccount(stateRoot, []byte("copyright"), ap)
	if err != nil || acct == nil || acct.StorageRoot != storage["copyright"].Hash() {
		t.Fatalf("VerifyAccount = %+v, %v", acct, err)
	}
}
