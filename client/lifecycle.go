package client

import (
	"context"
	"errors"
	"fmt"
	"math"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/types"
)

// This file is the client side of the contract lifecycle
// (docs/lifecycle.md): packages, activations, and lifecycle transactions.

// PackageContract makes a signed contract package of a wasm module, as
// packager.
func PackageContract(packager *Identity, name, version string, wasm []byte, confidential bool) (*foliov1.SignedContractPackage, error) {
	return types.PackageContract(packager.signer(), name, version, wasm, confidential)
}

// ErrBadPackage is wrapped by OpenPackage's errors.
var ErrBadPackage = types.ErrBadPackage

// OpenPackage decodes a signed package and checks what needs no network
// and no roots: required fields and the module's hash. Peers also check
// the packager's identity and signature when the package is installed.
func OpenPackage(spkg *foliov1.SignedContractPackage) (*foliov1.ContractPackage, error) {
	return types.ParsePackage(spkg)
}

// PackageID names a package: name:version:sha256-hex.
func PackageID(name, version string, hash []byte) string { return types.PackageID(name, version, hash) }

// NewLifecycleEnvelope builds a signed lifecycle transaction: req signed
// into an envelope by creator, with the approvals of approvers (admins)
// over the request bytes. The creator counts as an approver only if it is
// among approvers.
func NewLifecycleEnvelope(creator *Identity, channel string, req *foliov1.LifecycleRequest, approvers []*Identity) (*foliov1.Envelope, string, error) {
	return types.NewLifecycleEnvelope(creator.signer(), channel, req, signers(approvers))
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
