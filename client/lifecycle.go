package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// This file is the client side of the contract lifecycle
// (docs/lifecycle.md): packages, activations, and lifecycle transactions.

// PackageContract makes a signed contract package of a wasm module, as
// packager.
func PackageContract(packager *identity.SigningIdentity, name, version string, wasm []byte, confidential bool) (*foliov1.SignedContractPackage, error) {
	sum := sha256.Sum256(wasm)
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.ContractPackage{Name: name, Version: version, Wasm: wasm,
		WasmSha256: sum[:], Packager: packager.Serialized(), CreatedUnixNano: time.Now().UnixNano(), Confidential: confidential})
	if err != nil {
		return nil, err
	}
	sig, err := packager.Sign(types.DomainPackage, raw)
	if err != nil {
		return nil, err
	}
	return &foliov1.SignedContractPackage{Package: raw, Signature: sig}, nil
}

// ErrBadPackage is wrapped by OpenPackage's errors.
var ErrBadPackage = errors.New("bad contract package")

// OpenPackage decodes a signed package and checks what needs no network:
// the module's hash and, given a verifier, the packager's identity and
// signature.
func OpenPackage(spkg *foliov1.SignedContractPackage, msp *identity.Verifier) (*foliov1.ContractPackage, *identity.Identity, error) {
	var pkg foliov1.ContractPackage
	if err := proto.Unmarshal(spkg.GetPackage(), &pkg); err != nil {
		return nil, nil, fmt.Errorf("%w: does not decode: %v", ErrBadPackage, err)
	}
	if pkg.Name == "" || pkg.Version == "" || len(pkg.Wasm) == 0 {
		return nil, nil, fmt.Errorf("%w: name, version and module are required", ErrBadPackage)
	}
	if sum := sha256.Sum256(pkg.Wasm); !bytes.Equal(sum[:], pkg.WasmSha256) {
		return nil, nil, fmt.Errorf("%w: the module's SHA-256 is %x, the package says %x", ErrBadPackage, sum, pkg.WasmSha256)
	}
	if msp == nil {
		return &pkg, nil, nil
	}
	id, err := msp.ValidateSerialized(pkg.Packager)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: packager: %v", ErrBadPackage, err)
	}
	if err := fcrypto.Verify(id.Cert.PublicKey, types.DomainPackage, spkg.Package, spkg.Signature); err != nil {
		return nil, nil, fmt.Errorf("%w: signature of packager %s: %v", ErrBadPackage, id.Label(), err)
	}
	return &pkg, id, nil
}

// PackageID names a package: name:version:sha256-hex.
func PackageID(name, version string, hash []byte) string {
	return name + ":" + version + ":" + hex.EncodeToString(hash)
}

// NewLifecycleEnvelope builds a signed lifecycle transaction: req signed
// into an envelope by creator, with the approvals of approvers (admins)
// over the request bytes. The creator counts as an approver.
func NewLifecycleEnvelope(creator *identity.SigningIdentity, channel string, req *foliov1.LifecycleRequest, approvers []*identity.SigningIdentity) (*foliov1.Envelope, string, error) {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return nil, "", err
	}
	aps, err := approve(raw, types.DomainActivation, approvers)
	if err != nil {
		return nil, "", err
	}
	return approvedEnvelope(creator, channel, foliov1.TxType_TX_TYPE_LIFECYCLE, &foliov1.LifecycleTx{Request: raw, Approvals: aps})
}

// approve signs raw in domain by every approver.
func approve(raw []byte, domain fcrypto.Domain, approvers []*identity.SigningIdentity) ([]*foliov1.Approval, error) {
	var out []*foliov1.Approval
	for _, a := range approvers {
		sig, err := a.Sign(domain, raw)
		if err != nil {
			return nil, fmt.Errorf("approval of %s: %w", a.Label(), err)
		}
		out = append(out, &foliov1.Approval{Signer: a.Serialized(), Signature: sig})
	}
	return out, nil
}

// approvedEnvelope signs data (a LifecycleTx or ConfigUpdateTx) into an
// envelope of type typ by creator.
func approvedEnvelope(creator *identity.SigningIdentity, channel string, typ foliov1.TxType, data proto.Message) (*foliov1.Envelope, string, error) {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(data)
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

// DefaultActivationExpiry is how many blocks after the peer's height an
// activation may still commit, unless told otherwise (`folio contract
// activate --expires-after-blocks`).
const DefaultActivationExpiry uint64 = 100

// BindActivation fills in what an activation's approvals bind from
// capability level 2 on (docs/lifecycle.md): channel, the contract
// definition's sequence the activation creates (st.Sequence + 1), and the
// last block it may commit in (st.Height + expiresAfter). st is the
// contract's status as a peer reports it (ContractStatusOf); since
// approvals sign the request, call it before collecting them. Channels
// at level 1 ignore these fields, so filling them is always safe.
func BindActivation(a *foliov1.Activation, channel string, st *foliov1.ContractStatus, expiresAfter uint64) error {
	if expiresAfter == 0 {
		return errors.New("an activation must stay valid for at least one block: expiry of 0 blocks")
	}
	if st.GetHeight() > math.MaxUint64-expiresAfter {
		return fmt.Errorf("expiry of %d blocks after height %d overflows", expiresAfter, st.GetHeight())
	}
	a.ChannelId = channel
	a.Sequence = st.GetSequence() + 1
	a.ExpiresAtBlock = st.GetHeight() + expiresAfter
	return nil
}

// ContractStatusOf asks a peer for a contract's status. A contract the
// peer knows no definition of is reported as sequence 0 at the peer's
// height (from chain), with no installs or versions; its first activation
// carries sequence 1.
func ContractStatusOf(ctx context.Context, lc foliov1connect.LifecycleServiceClient, chain foliov1connect.ChainServiceClient, name string) (*foliov1.ContractStatus, error) {
	resp, err := lc.Status(ctx, connect.NewRequest(&foliov1.ContractStatusRequest{Name: name}))
	if err == nil {
		return resp.Msg, nil
	}
	if connect.CodeOf(err) != connect.CodeNotFound {
		return nil, fmt.Errorf("status of %s: %w", name, err)
	}
	info, ierr := chain.GetChainInfo(ctx, connect.NewRequest(&foliov1.GetChainInfoRequest{}))
	if ierr != nil {
		return nil, fmt.Errorf("%s is not defined on the peer (%v); its height: %w", name, err, ierr)
	}
	return &foliov1.ContractStatus{Name: name, Height: info.Msg.Height}, nil
}

// SubmitEnvelope hands a signed transaction to the orderers through the
// gateways (failing over between them, always with this same envelope; see
// Gateway) and waits for its commit status. A transaction that committed
// as invalid returns its Result and an *InvalidError.
func (g *Gateway) SubmitEnvelope(ctx context.Context, env *foliov1.Envelope, txID string) (*Result, error) {
	res, err := g.submitEnvelope(ctx, env, txID, g.start())
	if err != nil {
		return res, err
	}
	res.Attempts = 1
	if res.Code != foliov1.ValidationCode_VALID {
		return res, &InvalidError{Result: res}
	}
	return res, nil
}
