package ledger

import (
	"bytes"
	"errors"
	"fmt"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/ledger/rlp"
	"github.com/folio-ledger/folio/internal/ledger/state"
	"github.com/folio-ledger/folio/internal/ledger/trie"
	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
)

// Proof proves the value of one key (or its absence) against the state
// root of a committed block, in the EIP-1186 shape (docs/ledger-trie.md §5,
// docs/ledger.md): the account proof leads from the state root to the
// namespace's account record, whose storage_root the storage proof leads
// from to the key. A third party checks it with proof.VerifyStorage
// (package trie/proof) given StateRoot from a signed block's metadata.
type Proof struct {
	// BlockNum is the block after which StateRoot is the state root.
	BlockNum  uint64
	StateRoot [32]byte
	Namespace string
	Key       string
	// Account is the namespace's account record, nil if the namespace
	// does not exist (then StorageProof is empty).
	Account *proof.Account
	// AccountProof lists the RLP trie nodes from the state root towards
	// keccak256(Namespace), root first.
	AccountProof [][]byte
	// StorageProof lists the RLP trie nodes from Account.StorageRoot
	// towards keccak256(Key), root first.
	StorageProof [][]byte
	// Value is the key's value; nil, with Version nil, if it is absent.
	Value []byte
	// Version is the key's version (not covered by the proof: the trie
	// commits to values only).
	Version *foliov1.Version
}

// ErrProofMismatch: a proof that verifies, but to a different value or
// account than the Proof states.
var ErrProofMismatch = errors.New("ledger: proof does not match its stated value")

// Verify checks the proof offline with package trie/proof: the account
// proof against StateRoot, the storage proof against the account's storage
// root, and that they establish Account and Value (or absence).
func (p *Proof) Verify() error {
	acct, err := proof.VerifyAccount(p.StateRoot, []byte(p.Namespace), p.AccountProof)
	if err != nil {
		return err
	}
	if (acct == nil) != (p.Account == nil) || acct != nil && !sameAccount(acct, p.Account) {
		return fmt.Errorf("%w: account of %q", ErrProofMismatch, p.Namespace)
	}
	value, err := proof.VerifyStorage(p.StateRoot, []byte(p.Namespace), p.AccountProof, []byte(p.Key), p.StorageProof)
	if err != nil {
		return err
	}
	if (value == nil) != (p.Version == nil) || !bytes.Equal(value, p.Value) {
		return fmt.Errorf("%w: %s/%q", ErrProofMismatch, p.Namespace, p.Key)
	}
	return nil
}

func sameAccount(a, b *proof.Account) bool {
	ea, err1 := a.Encode()
	eb, err2 := b.Encode()
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb)
}

// Prove returns the proof of key in namespace ns at the reader's block. It
// reads the trie nodes of the reader's root, which must not have been
// pruned (the reader's block within Options.KeepRoots of the tip, else the
// error matches trie.ErrMissingNode). The value proven by the trie is
// checked against the state entry; a disagreement is kv.ErrCorruption.
func (r *Reader) Prove(ns, key string) (*Proof, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	if err := state.ValidateNamespace(ns); err != nil {
		return nil, err
	}
	if err := state.ValidateKey(key); err != nil {
		return nil, err
	}
	if r.v.height == 0 {
		return nil, fmt.Errorf("%w: no block committed, nothing to prove against", ErrNotFound)
	}
	num := r.v.height - 1
	p := &Proof{BlockNum: num, StateRoot: r.v.root, Namespace: ns, Key: key}
	fail := func(err error) (*Proof, error) {
		return nil, fmt.Errorf("ledger: prove %s/%q at block %d: %w", ns, truncate(key), num, err)
	}
	accounts, err := trie.NewSecure(trie.ID{Root: r.v.root}, r.l.tries)
	if err != nil {
		return fail(err)
	}
	if p.AccountProof, err = accounts.Prove([]byte(ns)); err != nil {
		return fail(err)
	}
	value, ver, err := r.v.state.Get(ns, key)
	if err != nil {
		return fail(err)
	}
	enc, err := accounts.Get([]byte(ns))
	if err != nil {
		return fail(err)
	}
	if enc == nil {
		if ver != nil {
			return fail(corrupt("prove", "block %d: the state holds %s/%q but the trie has no account for %q", num, ns, truncate(key), ns))
		}
		return p, nil
	}
	if p.Account, err = proof.DecodeAccount(enc); err != nil {
		return fail(corrupt("prove", "block %d: account of %q: %v", num, ns, err))
	}
	storage, err := trie.NewSecure(trie.ID{Owner: trie.Keccak256([]byte(ns)), Root: p.Account.StorageRoot}, r.l.tries)
	if err != nil {
		return fail(err)
	}
	if p.StorageProof, err = storage.Prove([]byte(key)); err != nil {
		return fail(err)
	}
	sv, err := storage.Get([]byte(key))
	if err != nil {
		return fail(err)
	}
	if sv == nil {
		if ver != nil {
			return fail(corrupt("prove", "block %d: the state holds %s/%q but the storage trie does not", num, ns, truncate(key)))
		}
		return p, nil
	}
	tv, rest, err := rlp.SplitString(sv)
	if err != nil || len(rest) != 0 {
		return fail(corrupt("prove", "block %d: storage trie value of %s/%q is not an RLP string", num, ns, truncate(key)))
	}
	if ver == nil || !bytes.Equal(tv, value) {
		return fail(corrupt("prove", "block %d: the state entry of %s/%q (present: %v) differs from the storage trie's value", num, ns, truncate(key), ver != nil))
	}
	p.Value, p.Version = append([]byte{}, tv...), ver
	return p, nil
}

// Prove returns the proof of key in namespace ns at the last committed
// block (see Reader.Prove).
func (l *Ledger) Prove(ns, key string) (*Proof, error) {
	r, err := l.NewReader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Prove(ns, key)
}
