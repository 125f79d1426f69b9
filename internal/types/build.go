package types

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
)

// This file builds the signed messages whose bytes the rest of this package
// parses and checks: the one place that decides what a client signs. The
// SDK (client) and server-side callers (release key servers, the installer,
// load tools) all build through here.

// Signer is what building a signed message needs of an identity: the
// SerializedIdentity bytes that name it in the message, and a signature in
// a domain. *identity.SigningIdentity and the SDK's identity implement it.
type Signer interface {
	Serialized() []byte
	Sign(domain fcrypto.Domain, msg []byte) ([]byte, error)
}

// deterministic is the encoding of every message this file signs.
var deterministic = proto.MarshalOptions{Deterministic: true}

// NewHeader returns a fresh transaction header for id: a random nonce, the
// tx ID derived from it, and the current time.
func NewHeader(id Signer, channel string, typ foliov1.TxType) (*foliov1.TxHeader, error) {
	nonce := make([]byte, MinNonceBytes)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	creator := id.Serialized()
	return &foliov1.TxHeader{Type: typ, ChannelId: channel, TxId: TxID(nonce, creator), Creator: creator, Nonce: nonce,
		TimestampUnixNano: time.Now().UnixNano()}, nil
}

// SignEnvelope serializes payload and signs it as id, making the envelope
// the orderers accept.
func SignEnvelope(id Signer, payload *foliov1.Payload) (*foliov1.Envelope, error) {
	raw, err := deterministic.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	sig, err := id.Sign(DomainEnvelope, raw)
	if err != nil {
		return nil, err
	}
	return &foliov1.Envelope{Payload: raw, Signature: sig}, nil
}

// NewProposal builds and signs a proposal to call contract.function(args)
// as id. It returns the signed proposal and its header (which carries the
// tx ID).
func NewProposal(id Signer, channel, contract, function string, args [][]byte) (*foliov1.SignedProposal, *foliov1.TxHeader, error) {
	h, err := NewHeader(id, channel, foliov1.TxType_TX_TYPE_ENDORSER)
	if err != nil {
		return nil, nil, err
	}
	raw, err := deterministic.Marshal(&foliov1.Proposal{
		Header: h, Invocation: &foliov1.ContractInvocation{Contract: contract, Function: function, Args: args}})
	if err != nil {
		return nil, nil, fmt.Errorf("encode proposal: %w", err)
	}
	sig, err := id.Sign(DomainProposal, raw)
	if err != nil {
		return nil, nil, err
	}
	return &foliov1.SignedProposal{ProposalBytes: raw, Signature: sig}, h, nil
}

// NewLifecycleEnvelope builds a signed lifecycle transaction: req signed
// into an envelope by creator, with the approvals of approvers (admins)
// over the request bytes.
func NewLifecycleEnvelope(creator Signer, channel string, req *foliov1.LifecycleRequest, approvers []Signer) (*foliov1.Envelope, string, error) {
	raw, err := deterministic.Marshal(req)
	if err != nil {
		return nil, "", err
	}
	aps, err := approve(raw, DomainActivation, approvers)
	if err != nil {
		return nil, "", err
	}
	return approvedEnvelope(creator, channel, foliov1.TxType_TX_TYPE_LIFECYCLE, &foliov1.LifecycleTx{Request: raw, Approvals: aps})
}

// NewConfigEnvelope signs a config update into a TX_TYPE_CONFIG envelope
// by creator, with the approvals of approvers (admins) over the update's
// bytes.
func NewConfigEnvelope(creator Signer, u *foliov1.ConfigUpdate, approvers []Signer) (*foliov1.Envelope, string, error) {
	raw, err := deterministic.Marshal(u)
	if err != nil {
		return nil, "", err
	}
	aps, err := approve(raw, DomainConfig, approvers)
	if err != nil {
		return nil, "", err
	}
	return approvedEnvelope(creator, u.ChannelId, foliov1.TxType_TX_TYPE_CONFIG, &foliov1.ConfigUpdateTx{Update: raw, Approvals: aps})
}

// approve signs raw in domain by every approver.
func approve(raw []byte, domain fcrypto.Domain, approvers []Signer) ([]*foliov1.Approval, error) {
	out := make([]*foliov1.Approval, 0, len(approvers))
	for i, a := range approvers {
		sig, err := a.Sign(domain, raw)
		if err != nil {
			who := fmt.Sprintf("approver %d", i+1)
			if l, ok := a.(interface{ Label() string }); ok {
				who = l.Label()
			}
			return nil, fmt.Errorf("approval of %s: %w", who, err)
		}
		out = append(out, &foliov1.Approval{Signer: a.Serialized(), Signature: sig})
	}
	return out, nil
}

// approvedEnvelope signs data (a LifecycleTx or ConfigUpdateTx) into an
// envelope of type typ by creator.
func approvedEnvelope(creator Signer, channel string, typ foliov1.TxType, data proto.Message) (*foliov1.Envelope, string, error) {
	raw, err := deterministic.Marshal(data)
	if err != nil {
		return nil, "", err
	}
	h, err := NewHeader(creator, channel, typ)
	if err != nil {
		return nil, "", err
	}
	env, err := SignEnvelope(creator, &foliov1.Payload{Header: h, Data: raw})
	if err != nil {
		return nil, "", err
	}
	return env, h.TxId, nil
}

// PackageContract makes a signed contract package of a wasm module, as
// packager.
func PackageContract(packager Signer, name, version string, wasm []byte, confidential bool) (*foliov1.SignedContractPackage, error) {
	sum := sha256.Sum256(wasm)
	raw, err := deterministic.Marshal(&foliov1.ContractPackage{Name: name, Version: version, Wasm: wasm,
		WasmSha256: sum[:], Packager: packager.Serialized(), CreatedUnixNano: time.Now().UnixNano(), Confidential: confidential})
	if err != nil {
		return nil, err
	}
	sig, err := packager.Sign(DomainPackage, raw)
	if err != nil {
		return nil, err
	}
	return &foliov1.SignedContractPackage{Package: raw, Signature: sig}, nil
}

// ErrBadPackage is wrapped by ParsePackage's errors.
var ErrBadPackage = errors.New("bad contract package")

// ParsePackage decodes a signed package and checks what needs no identity:
// its required fields and the module's hash. The packager's signature is
// checked by whoever trusts an MSP (lifecycle.OpenPackage).
func ParsePackage(spkg *foliov1.SignedContractPackage) (*foliov1.ContractPackage, error) {
	var pkg foliov1.ContractPackage
	if err := proto.Unmarshal(spkg.GetPackage(), &pkg); err != nil {
		return nil, fmt.Errorf("%w: does not decode: %v", ErrBadPackage, err)
	}
	if pkg.Name == "" || pkg.Version == "" || len(pkg.Wasm) == 0 {
		return nil, fmt.Errorf("%w: name, version and module are required", ErrBadPackage)
	}
	if sum := sha256.Sum256(pkg.Wasm); !bytes.Equal(sum[:], pkg.WasmSha256) {
		return nil, fmt.Errorf("%w: the module's SHA-256 is %x, the package says %x", ErrBadPackage, sum, pkg.WasmSha256)
	}
	return &pkg, nil
}

// PackageID names a package: name:version:sha256-hex.
func PackageID(name, version string, hash []byte) string {
	return name + ":" + version + ":" + hex.EncodeToString(hash)
}
