package seal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/crypto"
)

// Errors. ErrAuth marks a sealed value that does not authenticate under
// the key and associated data it should have (tampered, moved, or sealed
// under another key); it wraps crypto.ErrOpen. ErrMalformed marks bytes
// that do not even parse as a sealed value.
var (
	ErrAuth      = fmt.Errorf("seal: %w", crypto.ErrOpen)
	ErrMalformed = errors.New("seal: malformed sealed value")
	ErrKey       = errors.New("seal: bad key")
)

// HKDF parameters (see the package comment).
const (
	Salt          = "folio enclave sealing v1"
	InfoExternal  = "folio/enclave/v1/external-cache"
	InfoStateSeal = "folio/enclave/v1/state-seal"
	InfoNonce     = "folio/enclave/v1/state-nonce"
	InfoAnchor    = "folio/enclave/v1/state-key-anchor"
	domainState   = "folio/enclave/v1/state"
	formatV1      = 0x01
	flagAbsent    = 0x01
	nonceSize     = 12
	// KeySize is the size of the root and state keys.
	KeySize = 32
)

// Overhead is what sealing adds to a value, besides the external blob's
// header: nonce and tag.
const Overhead = nonceSize + 16

func derive(secret []byte, info string) ([]byte, error) {
	if len(secret) != KeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrKey, len(secret), KeySize)
	}
	return crypto.DeriveKey(secret, []byte(Salt), info, KeySize)
}

// BindStateKey derives the key confidential state is sealed under from
// the provisioned state key and the enclave's trust anchor (the hash of
// the genesis block it was provisioned with; HKDF-SHA256 with the anchor
// as salt, InfoAnchor as info). Every peer of one channel derives the same
// key; an enclave given another genesis block (a host substituting the
// organisations' roots, and with them who may sign modules) derives
// another, under which the channel's confidential state does not open
// (docs/enclave.md).
func BindStateKey(stateKey, anchor []byte) ([]byte, error) {
	if len(stateKey) != KeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrKey, len(stateKey), KeySize)
	}
	if len(anchor) == 0 {
		return nil, fmt.Errorf("%w: no trust anchor to bind the state key to", ErrKey)
	}
	return crypto.DeriveKey(stateKey, anchor, InfoAnchor, KeySize)
}

// NewRoot draws a fresh random root key.
func NewRoot() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("seal: root key: %w", err)
	}
	return k, nil
}

// ParseStateKey reads a state key file's contents: 32 raw bytes, or 64 hex
// digits (surrounding white space ignored).
func ParseStateKey(b []byte) ([]byte, error) {
	if len(b) == KeySize {
		return append([]byte(nil), b...), nil
	}
	s := strings.TrimSpace(string(b))
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: a state key file holds 32 bytes or 64 hex digits, this one %d bytes", ErrKey, len(b))
}

func appendLP(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Entry is what an external-cache blob holds: a committed value (or the
// fact that the key is absent), its version, and the first height at
// which it is the key's committed state.
type Entry struct {
	Value     []byte
	Absent    bool
	Version   abi.KeyVersion
	ValidFrom uint64
}

// External seals external-cache entries under a key derived from the
// enclave's root key. Safe for concurrent use.
type External struct{ s *crypto.Sealer }

// NewExternal derives the external-cache key from root.
func NewExternal(root []byte) (*External, error) {
	k, err := derive(root, InfoExternal)
	if err != nil {
		return nil, err
	}
	s, err := crypto.NewSealer(k)
	if err != nil {
		return nil, err
	}
	return &External{s: s}, nil
}

func externalHeader(e *Entry) []byte {
	h := make([]byte, 2, 2+3*binary.MaxVarintLen64)
	h[0] = formatV1
	if e.Absent {
		h[1] = flagAbsent
	}
	h = binary.AppendUvarint(h, e.Version.Block)
	h = binary.AppendUvarint(h, e.Version.Tx)
	return binary.AppendUvarint(h, e.ValidFrom)
}

func externalAAD(ns, key string, header []byte) []byte {
	aad := make([]byte, 0, len(InfoExternal)+1+len(ns)+len(key)+len(header)+8)
	aad = append(aad, InfoExternal...)
	aad = append(aad, 0)
	aad = appendLP(aad, ns)
	aad = appendLP(aad, key)
	return append(aad, header...)
}

// Seal seals e for key in namespace ns. An absent entry carries no value.
func (x *External) Seal(ns, key string, e Entry) ([]byte, error) {
	if e.Absent {
		e.Value = nil
	}
	h := externalHeader(&e)
	out := make([]byte, 0, len(h)+Overhead+len(e.Value))
	out = append(out, h...)
	return x.s.Seal(out, e.Value, externalAAD(ns, key, h))
}

// parseExternalHeader splits a blob into its header and sealed part.
func parseExternalHeader(blob []byte) (Entry, []byte, []byte, error) {
	var e Entry
	if len(blob) < 2 || blob[0] != formatV1 || blob[1]&^flagAbsent != 0 {
		return e, nil, nil, fmt.Errorf("%w: bad external-cache header", ErrMalformed)
	}
	e.Absent = blob[1]&flagAbsent != 0
	rest := blob[2:]
	var vals [3]uint64
	for i := range vals {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return e, nil, nil, fmt.Errorf("%w: bad external-cache header", ErrMalformed)
		}
		vals[i], rest = v, rest[n:]
	}
	e.Version = abi.KeyVersion{Block: vals[0], Tx: vals[1]}
	e.ValidFrom = vals[2]
	return e, blob[:len(blob)-len(rest)], rest, nil
}

// Open authenticates and decrypts an external-cache blob of key in ns.
// Errors: ErrMalformed, ErrAuth.
func (x *External) Open(ns, key string, blob []byte) (Entry, error) {
	e, header, sealed, err := parseExternalHeader(blob)
	if err != nil {
		return Entry{}, err
	}
	v, err := x.s.Open(nil, sealed, externalAAD(ns, key, header))
	if err != nil {
		return Entry{}, fmt.Errorf("%w: external-cache entry %q/%q", ErrAuth, ns, key)
	}
	if e.Absent {
		if len(v) != 0 {
			return Entry{}, fmt.Errorf("%w: absent entry with a value", ErrMalformed)
		}
		v = nil
	} else if v == nil {
		v = []byte{}
	}
	e.Value = v
	return e, nil
}

// State seals the values of confidential contracts under the provisioned
// state key, deterministically. Safe for concurrent use.
type State struct {
	s        *crypto.Sealer
	nonceKey []byte
}

// NewState derives the state sealing and nonce keys from stateKey.
func NewState(stateKey []byte) (*State, error) {
	k, err := derive(stateKey, InfoStateSeal)
	if err != nil {
		return nil, err
	}
	nk, err := derive(stateKey, InfoNonce)
	if err != nil {
		return nil, err
	}
	s, err := crypto.NewSealer(k)
	if err != nil {
		return nil, err
	}
	return &State{s: s, nonceKey: nk}, nil
}

func stateAAD(ns, key string) []byte {
	aad := make([]byte, 0, len(domainState)+1+len(ns)+len(key)+4)
	aad = append(aad, domainState...)
	aad = append(aad, 0)
	aad = appendLP(aad, ns)
	return appendLP(aad, key)
}

// Nonce returns the nonce Seal uses (exported for the documentation's
// test vectors).
func (x *State) Nonce(txID, ns, key string, plaintext []byte) []byte {
	m := hmac.New(sha256.New, x.nonceKey)
	var b []byte
	b = append(b, InfoNonce...)
	b = append(b, 0)
	b = appendLP(b, txID)
	b = appendLP(b, ns)
	b = appendLP(b, key)
	m.Write(b)
	d := sha256.Sum256(plaintext)
	m.Write(d[:])
	return m.Sum(nil)[:nonceSize]
}

// Seal seals the value a transaction writes to key in ns. Equal arguments
// give equal bytes.
func (x *State) Seal(txID, ns, key string, plaintext []byte) ([]byte, error) {
	out := make([]byte, 1, 1+Overhead+len(plaintext))
	out[0] = formatV1
	return x.s.SealWithNonce(out, x.Nonce(txID, ns, key, plaintext), plaintext, stateAAD(ns, key))
}

// Open authenticates and decrypts a confidential value of key in ns.
// Errors: ErrMalformed, ErrAuth.
func (x *State) Open(ns, key string, blob []byte) ([]byte, error) {
	if len(blob) < 1+Overhead || blob[0] != formatV1 {
		return nil, fmt.Errorf("%w: not a sealed state value (%d bytes)", ErrMalformed, len(blob))
	}
	v, err := x.s.Open(nil, blob[1:], stateAAD(ns, key))
	if err != nil {
		return nil, fmt.Errorf("%w: state value %q/%q", ErrAuth, ns, key)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}
