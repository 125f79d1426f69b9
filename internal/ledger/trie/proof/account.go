package proof

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/folio-ledger/folio/internal/ledger/rlp"
)

// Account is the record the global state trie holds for each namespace
// (contract), in Ethereum's account layout.
type Account struct {
	Nonce       uint64
	Balance     *big.Int // nil means zero; at most 256 bits
	StorageRoot [32]byte // root of the namespace's storage trie
	CodeHash    [32]byte // keccak256 of the contract code
}

// EmptyCodeHash is keccak256 of empty code.
var EmptyCodeHash = Keccak256(nil)

// ErrMalformedAccount is wrapped by DecodeAccount's errors.
var ErrMalformedAccount = errors.New("proof: malformed account record")

// Encode returns the account's canonical RLP encoding:
// [nonce, balance, storage_root, code_hash].
func (a *Account) Encode() ([]byte, error) {
	if a.Balance != nil && (a.Balance.Sign() < 0 || a.Balance.BitLen() > 256) {
		return nil, fmt.Errorf("%w: balance %v outside [0, 2^256)", ErrMalformedAccount, a.Balance)
	}
	body := rlp.AppendUint(nil, a.Nonce)
	body, err := rlp.AppendBigInt(body, a.Balance)
	if err != nil {
		return nil, err
	}
	body = rlp.AppendString(body, a.StorageRoot[:])
	body = rlp.AppendString(body, a.CodeHash[:])
	return rlp.AppendList(nil, body), nil
}

// DecodeAccount decodes a canonical account record; anything else (other
// item counts, non-canonical integers, roots of the wrong size, trailing
// bytes) is an error wrapping ErrMalformedAccount.
func DecodeAccount(b []byte) (*Account, error) {
	body, rest, err := rlp.SplitList(b)
	if err == nil && len(rest) != 0 {
		err = rlp.ErrTrailingBytes
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedAccount, err)
	}
	var a Account
	if a.Nonce, body, err = rlp.SplitUint(body); err != nil {
		return nil, fmt.Errorf("%w: nonce: %w", ErrMalformedAccount, err)
	}
	if a.Balance, body, err = rlp.SplitBigInt(body, 32); err != nil {
		return nil, fmt.Errorf("%w: balance: %w", ErrMalformedAccount, err)
	}
	for _, field := range []*[32]byte{&a.StorageRoot, &a.CodeHash} {
		var s []byte
		if s, body, err = rlp.SplitString(body); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformedAccount, err)
		}
		if len(s) != 32 {
			return nil, fmt.Errorf("%w: %d-byte hash", ErrMalformedAccount, len(s))
		}
		copy(field[:], s)
	}
	if len(body) != 0 {
		return nil, fmt.Errorf("%w: more than four fields", ErrMalformedAccount)
	}
	return &a, nil
}

// AccountKey is the account trie path of a namespace: keccak256(namespace).
func AccountKey(namespace []byte) [32]byte { return Keccak256(namespace) }

// StorageKey is the storage trie path of a key: keccak256(key).
func StorageKey(key []byte) [32]byte { return Keccak256(key) }

// EncodeStorageValue is what a storage trie holds for value: RLP(value).
func EncodeStorageValue(value []byte) []byte { return rlp.AppendString(nil, value) }

// VerifyAccount checks an account proof against the state root and returns
// the namespace's account, or nil if the proof shows it does not exist.
func VerifyAccount(stateRoot [32]byte, namespace []byte, accountProof [][]byte) (*Account, error) {
	key := AccountKey(namespace)
	enc, err := VerifyProof(stateRoot, key[:], accountProof)
	if err != nil || enc == nil {
		return nil, err
	}
	return DecodeAccount(enc)
}

// VerifyStorage checks the two levels of a state proof: accountProof
// against stateRoot for the namespace's account, then storageProof against
// that account's storage root for key. It returns the value, or nil if the
// proofs show the key (or the whole namespace) absent; when the namespace is
// absent the storage proof must be empty.
func VerifyStorage(stateRoot [32]byte, namespace []byte, accountProof [][]byte, key []byte, storageProof [][]byte) ([]byte, error) {
	acct, err := VerifyAccount(stateRoot, namespace, accountProof)
	if err != nil {
		return nil, fmt.Errorf("account proof: %w", err)
	}
	if acct == nil {
		if len(storageProof) != 0 {
			return nil, fmt.Errorf("storage proof: %w", fail(0, ErrUnusedNodes, "the namespace does not exist"))
		}
		return nil, nil
	}
	skey := StorageKey(key)
	enc, err := VerifyProof(acct.StorageRoot, skey[:], storageProof)
	if err != nil {
		return nil, fmt.Errorf("storage proof: %w", err)
	}
	if enc == nil {
		return nil, nil
	}
	value, rest, err := rlp.SplitString(enc)
	if err == nil && len(rest) != 0 {
		err = rlp.ErrTrailingBytes
	}
	if err != nil {
		return nil, fmt.Errorf("storage proof: value is not an RLP string: %w", err)
	}
	return value, nil
}
