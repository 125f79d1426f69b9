package release

import (
	"context"
	"encoding/hex"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// GetKeyServer returns this peer's certified key-agreement key.
func (a *api) GetKeyServer(ctx context.Context, _ *connect.Request[foliov1.GetKeyServerRequest]) (*connect.Response[foliov1.GetKeyServerResponse], error) {
	if _, err := a.caller(ctx); err != nil {
		return nil, err
	}
	i := a.p.info
	pub, err1 := hex.DecodeString(i.KexPub)
	sig, err2 := hex.DecodeString(i.KexSig)
	if err1 != nil || err2 != nil {
		// keys.Describe encodes them: not reached.
		return nil, errorf(connect.CodeInternal, "this peer's key-agreement key is not encoded as hex")
	}
	return connect.NewResponse(&foliov1.GetKeyServerResponse{Name: i.Name, Org: i.Org, MspId: i.MSPID, NodeId: i.NodeID, NodeCert: i.NodeCert,
		KexPub: pub, KexSig: sig}), nil
}

// GetReleaseStatus is this peer's view of a release, a refused one too.
func (a *api) GetReleaseStatus(ctx context.Context, req *connect.Request[foliov1.GetReleaseStatusRequest]) (*connect.Response[foliov1.GetReleaseStatusResponse], error) {
	_, r, err := a.open(ctx, req.Msg.GetReleaseId(), true)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(r.status()), nil
}

// GetShares returns the released shares held with their signed
// statements: only at or after the release time by this peer's clock,
// and only while its clock agrees with its peers'.
func (a *api) GetShares(ctx context.Context, req *connect.Request[foliov1.GetSharesRequest]) (*connect.Response[foliov1.GetSharesResponse], error) {
	_, r, err := a.open(ctx, req.Msg.GetReleaseId(), false)
	if err != nil {
		return nil, err
	}
	if now := a.p.now(); now.Before(r.releaseAt) {
		return nil, errorf(connect.CodeFailedPrecondition, "%v: release %s opens at %s, it is %s", ErrTooEarly, r.rec.ID, r.rec.ReleaseAt, now.UTC().Format(time.RFC3339Nano))
	}
	if _, ok, _ := a.p.clock.skew(); !ok {
		return nil, errorf(connect.CodeUnavailable, "%v: ask another peer", ErrClockSkew)
	}
	out := &foliov1.GetSharesResponse{}
	for _, m := range r.shares.statements() {
		p, err := wire.ShareProto(m)
		if err != nil {
			return nil, codeOf(err)
		}
		out.Shares = append(out.Shares, p)
	}
	return connect.NewResponse(out), nil
}
