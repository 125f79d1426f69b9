package proof_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/internal/ledger/trie"
	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
	"github.com/folio-ledger/folio/internal/testvectors"
)

// TestDependencies enforces the package's promise: the verifier depends on
// the standard library, x/crypto/sha3 and Folio's rlp package only.
func TestDependencies(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"golang.org/x/crypto/sha3":                          true,
		"github.com/folio-ledger/folio/internal/ledger/rlp": true,
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[path] && strings.Contains(strings.Split(path, "/")[0], ".") {
				t.Errorf("%s imports %s: the verifier must stay standalone", f, path)
			}
		}
	}
}

func TestEmptyRootAndCodeHash(t *testing.T) {
	if proof.EmptyRoot != [32]byte(trie.EmptyRoot) {
		t.Fatal("EmptyRoot differs from the trie's")
	}
	if hex.EncodeToString(proof.EmptyRoot[:4]) != "56e81f17" {
		t.Fatalf("EmptyRoot = %x", proof.EmptyRoot)
	}
	if hex.EncodeToString(proof.EmptyCodeHash[:4]) != "c5d24601" {
		t.Fatalf("EmptyCodeHash = %x", proof.EmptyCodeHash)
	}
}

// TestAccountRecordsFromVectors decodes the real Ethereum account records
// that hex_encoded_securetrie_test.json stores as values, and re-encodes
// them byte for byte.
func TestAccountRecordsFromVectors(t *testing.T) {
	data, err := os.ReadFile(testvectors.File(t, "ethereum-trie", "hex_encoded_securetrie_test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]struct {
		In map[string]string `json:"in"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	n := 0
	for name, c := range cases {
		for k, v := range c.In {
			enc, err := hex.DecodeString(strings.TrimPrefix(v, "0x"))
			if err != nil {
				t.Fatal(err)
			}
			acct, err := proof.DecodeAccount(enc)
			if err != nil {
				t.Fatalf("%s/%s: %v", name, k, err)
			}
			again, err := acct.Encode()
			if err != nil || !bytes.Equal(again, enc) {
				t.Fatalf("%s/%s: re-encoded %x, want %x", name, k, again, enc)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no account records found")
	}
}

func TestAccountEncoding(t *testing.T) {
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	for _, a := range []proof.Account{
		{},
		{Nonce: 1<<64 - 1, Balance: max, StorageRoot: proof.EmptyRoot, CodeHash: proof.EmptyCodeHash},
	} {
		enc, err := a.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := proof.DecodeAccount(enc)
		if err != nil {
			t.Fatal(err)
		}
		if got.Nonce != a.Nonce || got.StorageRoot != a.StorageRoot || got.CodeHash != a.CodeHash ||
			got.Balance.Cmp(new(big.Int).Set(orZero(a.Balance))) != 0 {
			t.Fatalf("round trip %+v -> %+v", a, got)
		}
	}
	if _, err := (&proof.Account{Balance: big.NewInt(-1)}).Encode(); err == nil {
		t.Fatal("negative balance encoded")
	}
	if _, err := (&proof.Account{Balance: new(big.Int).Lsh(big.NewInt(1), 256)}).Encode(); err == nil {
		t.Fatal("257-bit balance encoded")
	}
	good, _ := (&proof.Account{Nonce: 5}).Encode()
	bad := [][]byte{
		nil, {0xc0}, append(bytes.Clone(good), 0x80), // empty, no fields, trailing
		{0xc4, 0x80, 0x80, 0x80, 0x80},       // hashes of 0 bytes
		{0xc5, 0x82, 0x00, 0x05, 0x80, 0x80}, // nonce with a leading zero
	}
	for _, b := range bad {
		if _, err := proof.DecodeAccount(b); !errors.Is(err, proof.ErrMalformedAccount) {
			t.Errorf("DecodeAccount(%x) = %v, want ErrMalformedAccount", b, err)
		}
	}
}

func orZero(b *big.Int) *big.Int {
	if b == nil {
		return new(big.Int)
	}
	return b
}

// packProof serialises (key, proof) for the fuzz corpus: key length, key,
// then length-prefixed nodes.
func packProof(key []byte, nodes [][]byte) []byte {
	out := []byte{byte(len(key))}
	out = append(out, key...)
	for _, n := range nodes {
		out = binary.BigEndian.AppendUint16(out, uint16(len(n)))
		out = append(out, n...)
	}
	return out
}

func unpackProof(in []byte) (key []byte, nodes [][]byte) {
	if len(in) == 0 {
		return nil, nil
	}
	kl := min(int(in[0]), len(in)-1)
	key, in = in[1:1+kl], in[1+kl:]
	for len(in) >= 2 {
		n := min(int(binary.BigEndian.Uint16(in)), len(in)-2)
		nodes = append(nodes, in[2:2+n])
		in = in[2+n:]
	}
	return key, nodes
}

// FuzzVerifyProof feeds arbitrary proofs to the verifier against the root of
// a fixed trie (and against the first node's own hash, so that node 0 always
// matches and the fuzzer reaches deeper checks). It must never panic; a
// proof it accepts for a key must agree with the trie.
func FuzzVerifyProof(f *testing.F) {
	tr := trie.NewEmpty(nil)
	keys := []string{"do", "dog", "doge", "horse", "a much longer key to make a stored leaf", "\x00", "\x00\x01"}
	for _, k := range keys {
		_ = tr.Update([]byte(k), []byte("value:"+k))
	}
	root := [32]byte(tr.Hash())
	for _, k := range append(keys, "dox", "zzz", "") {
		nodes, err := tr.Prove([]byte(k))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(packProof([]byte(k), nodes))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		key, nodes := unpackProof(in)
		val, err := proof.VerifyProof(root, key, nodes)
		if err == nil {
			want, gerr := tr.Get(key)
			if gerr != nil || !bytes.Equal(val, want) {
				t.Fatalf("accepted proof for %q gives %q, trie holds %q", key, val, want)
			}
		} else if !errors.Is(err, proof.ErrInvalidProof) {
			t.Fatalf("error %v does not match ErrInvalidProof", err)
		}
		if len(nodes) > 0 {
			_, _ = proof.VerifyProof(proof.Keccak256(nodes[0]), key, nodes)
		}
	})
}
