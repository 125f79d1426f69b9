// Package evidence builds and verifies Folio evidence bundles: a JSON file
// proving, to anyone holding the network's genesis block (or only the
// organisations' root CA certificates), that a record had a given value
// after a given block, and every valid change of it: who made it, under
// which endorsement policy, in which block (docs/evidence.md). Nothing in a
// bundle is taken on its word: organisations, orderers and policies come
// from the genesis block and the config updates and contract definitions
// the bundle proves from the chain.
//
// The trie part is in the Ethereum secure-trie layout (account proof from
// the state root to the namespace's account, storage proof from its storage
// root to the key), so any Ethereum-style proof verifier can check it
// independently.
package evidence

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
)

// Format names this bundle format; verifiers refuse other formats.
const Format = "folio-evidence/2"

// Bundle is the evidence file. Byte strings are lowercase hex.
type Bundle struct {
	Format    string `json:"format"`
	Channel   string `json:"channel"`
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	Value     string `json:"value"`
	// Record is Value decoded as JSON, for people; it must equal Value.
	Record            json.RawMessage `json:"record,omitempty"`
	Version           Version         `json:"version"`
	BlockNumber       uint64          `json:"block_number"`
	StateRoot         string          `json:"state_root"`
	Account           Account         `json:"account"`
	AccountProof      []string        `json:"account_proof"`
	StorageProof      []string        `json:"storage_proof"`
	BlockHeader       Header          `json:"block_header"`
	OrdererSignatures []Signature     `json:"orderer_signatures"`
	Attestations      []Attestation   `json:"attestations"`
	History           []TxProof       `json:"history"`
	// Definitions proves the contract's definitions (endorsement policies
	// and the blocks they are effective from) at BlockNumber.
	Definitions StateProof `json:"definitions"`
	// ConfigUpdates are every config update since genesis, and ConfigState
	// proves the last one is the one in force at BlockNumber.
	ConfigUpdates []TxProof  `json:"config_updates"`
	ConfigState   StateProof `json:"config_state"`
	// Genesis is the channel's genesis block (serialized), the anchor the
	// verifier compares with its pinned copy or its roots.
	Genesis string `json:"genesis"`
}

// StateProof proves a key's value, or its absence (Value ""), against the
// bundle's state root.
type StateProof struct {
	Namespace    string   `json:"namespace"`
	Key          string   `json:"key"`
	Value        string   `json:"value"`
	AccountProof []string `json:"account_proof"`
	StorageProof []string `json:"storage_proof"`
}

// Version is the (block, tx) that last wrote the key.
type Version struct {
	Block uint64 `json:"block"`
	Tx    uint64 `json:"tx"`
}

// Account is the namespace's account record in the state trie.
type Account struct {
	Nonce       uint64 `json:"nonce"`
	Balance     string `json:"balance"`
	StorageRoot string `json:"storage_root"`
	CodeHash    string `json:"code_hash"`
}

// Header is a block header.
type Header struct {
	Number            uint64 `json:"number"`
	PreviousHash      string `json:"previous_hash"`
	DataHash          string `json:"data_hash"`
	TimestampUnixNano int64  `json:"timestamp_unix_nano"`
}

// Signature is an orderer's signature over a block header; Signer is a
// serialized identity (it carries the certificate).
type Signature struct {
	Signer    string `json:"signer"`
	Signature string `json:"signature"`
}

// Attestation is a peer's signed statement of its state root after a block.
type Attestation struct {
	Attestation string `json:"attestation"`
	Signer      string `json:"signer"`
	Signature   string `json:"signature"`
}

// TxProof proves one change of the key: the signed envelope and its place
// in a block signed by the orderers.
type TxProof struct {
	TxID              string      `json:"tx_id"`
	BlockNumber       uint64      `json:"block_number"`
	TxIndex           uint32      `json:"tx_index"`
	TxCount           uint32      `json:"tx_count"`
	Envelope          string      `json:"envelope"`
	InclusionPath     []string    `json:"inclusion_path"`
	BlockHeader       Header      `json:"block_header"`
	OrdererSignatures []Signature `json:"orderer_signatures"`
	// ValidationCode is the outcome, for people; it must be the one
	// ValidationCodes gives the transaction.
	ValidationCode string `json:"validation_code"`
	// ValidationCodes are the block's codes, one byte per transaction;
	// Attestations are peers of every organisation signing their hash with
	// the block's hash.
	ValidationCodes string        `json:"validation_codes"`
	Attestations    []Attestation `json:"attestations"`
}

// Build turns a peer's Prove response into a bundle.
func Build(channel, namespace, key string, r *foliov1.ProveResponse) (*Bundle, error) {
	acct, err := proof.DecodeAccount(r.Account)
	if err != nil {
		return nil, fmt.Errorf("account record: %w", err)
	}
	bal := "0"
	if acct.Balance != nil {
		bal = acct.Balance.String()
	}
	b := &Bundle{Format: Format, Channel: channel, Namespace: hx([]byte(namespace)), Key: hx([]byte(key)), Value: hx(r.Value),
		Version: Version{Block: r.GetVersion().GetBlockNum(), Tx: r.GetVersion().GetTxNum()}, BlockNumber: r.BlockNumber, StateRoot: hx(r.StateRoot),
		Account:      Account{Nonce: acct.Nonce, Balance: bal, StorageRoot: hx(acct.StorageRoot[:]), CodeHash: hx(acct.CodeHash[:])},
		AccountProof: hxs(r.AccountProof), StorageProof: hxs(r.StorageProof), BlockHeader: header(r.Header),
		OrdererSignatures: sigs(r.OrdererSignatures)}
	if json.Valid(r.Value) {
		var buf bytes.Buffer
		if err := json.Compact(&buf, r.Value); err == nil {
			b.Record = buf.Bytes()
		}
	}
	b.Attestations = attestations(r.Attestations)
	b.History = txProofs(r.History)
	b.ConfigUpdates = txProofs(r.ConfigUpdates)
	b.Definitions, b.ConfigState = stateProof(r.Definitions), stateProof(r.ConfigState)
	if r.Genesis == nil {
		return nil, errors.New("the peer's answer holds no genesis block (a peer older than evidence format 2?)")
	}
	g, err := proto.MarshalOptions{Deterministic: true}.Marshal(r.Genesis)
	if err != nil {
		return nil, fmt.Errorf("genesis block: %w", err)
	}
	b.Genesis = hx(g)
	return b, nil
}

func attestations(as []*foliov1.SignedAttestation) []Attestation {
	out := make([]Attestation, 0, len(as))
	for _, a := range as {
		out = append(out, Attestation{Attestation: hx(a.Attestation), Signer: hx(a.Signer), Signature: hx(a.Signature)})
	}
	return out
}

func txProofs(ts []*foliov1.TxProof) []TxProof {
	out := make([]TxProof, 0, len(ts))
	for _, t := range ts {
		out = append(out, TxProof{TxID: t.TxId, BlockNumber: t.BlockNumber, TxIndex: t.TxIndex, TxCount: t.TxCount,
			Envelope: hx(t.Envelope), InclusionPath: hxs(t.InclusionPath), BlockHeader: header(t.Header),
			OrdererSignatures: sigs(t.OrdererSignatures), ValidationCode: t.ValidationCode.String(),
			ValidationCodes: hx(t.ValidationCodes), Attestations: attestations(t.Attestations)})
	}
	return out
}

func stateProof(p *foliov1.StateProof) StateProof {
	return StateProof{Namespace: hx([]byte(p.GetNamespace())), Key: hx([]byte(p.GetKey())), Value: hx(p.GetValue()),
		AccountProof: hxs(p.GetAccountProof()), StorageProof: hxs(p.GetStorageProof())}
}

// Encode writes the bundle in its canonical form (the form Verify requires).
func (b *Bundle) Encode() ([]byte, error) {
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func hx(b []byte) string { return hex.EncodeToString(b) }

func hxs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = hx(b)
	}
	return out
}

func header(h *foliov1.BlockHeader) Header {
	return Header{Number: h.GetNumber(), PreviousHash: hx(h.GetPreviousHash()), DataHash: hx(h.GetDataHash()), TimestampUnixNano: h.GetTimestampUnixNano()}
}

func sigs(ss []*foliov1.OrdererSignature) []Signature {
	out := make([]Signature, len(ss))
	for i, s := range ss {
		out[i] = Signature{Signer: hx(s.Signer), Signature: hx(s.Signature)}
	}
	return out
}

func (a Account) decode() (*proof.Account, error) {
	bal, ok := new(big.Int).SetString(a.Balance, 10)
	if !ok {
		return nil, fmt.Errorf("balance %q is not a decimal number", a.Balance)
	}
	sr, err := hash32(a.StorageRoot)
	if err != nil {
		return nil, fmt.Errorf("storage_root: %w", err)
	}
	ch, err := hash32(a.CodeHash)
	if err != nil {
		return nil, fmt.Errorf("code_hash: %w", err)
	}
	return &proof.Account{Nonce: a.Nonce, Balance: bal, StorageRoot: sr, CodeHash: ch}, nil
}

func (h Header) decode() (*foliov1.BlockHeader, error) {
	prev, err := unhex(h.PreviousHash)
	if err != nil {
		return nil, err
	}
	data, err := unhex(h.DataHash)
	if err != nil {
		return nil, err
	}
	return &foliov1.BlockHeader{Number: h.Number, PreviousHash: prev, DataHash: data, TimestampUnixNano: h.TimestampUnixNano}, nil
}

func hash32(s string) ([32]byte, error) {
	var out [32]byte
	b, err := unhex(s)
	if err != nil {
		return out, err
	}
	if len(b) != 32 {
		return out, fmt.Errorf("%d bytes, want 32", len(b))
	}
	copy(out[:], b)
	return out, nil
}

func unhexAll(ss []string) ([][]byte, error) {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		b, err := unhex(s)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out[i] = b
	}
	return out, nil
}

// unhex decodes lowercase hex, the only spelling Encode writes: another
// spelling of the same bytes (upper case) is refused, so one set of facts
// has one bundle.
func unhex(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if hex.EncodeToString(b) != s {
		return nil, errors.New("hex must be lowercase")
	}
	return b, nil
}
