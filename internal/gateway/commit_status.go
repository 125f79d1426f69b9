package gateway

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/commit"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/types"
)

// CommitFinder tells when a transaction commits on this peer
// (commit.Committer). Implementations are safe for concurrent use.
type CommitFinder interface {
	// Wait returns the commit status of a transaction, valid or not,
	// waiting until it is committed or ctx is done (then ctx's error).
	Wait(ctx context.Context, txID string) (commit.Status, error)
}

// CommitStatus waits until a transaction is committed on this peer (valid
// or not) and returns its validation code and block, for a consortium
// member whose request is signed. The wait ends with the caller's deadline
// or MaxCommitWait, whichever comes first; the waits one identity (and the
// gateway) holds open at once are bounded.
func (g *Gateway) CommitStatus(ctx context.Context, req *connect.Request[foliov1.SignedCommitStatusRequest]) (*connect.Response[foliov1.CommitStatusResponse], error) {
	var r foliov1.CommitStatusRequest
	if err := proto.Unmarshal(req.Msg.GetRequest(), &r); err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("commit status request: %w", err))
	}
	id, err := g.o.MSP.ValidateSerialized(r.Identity)
	if err != nil {
		return nil, connect.NewError(connect.CodePermissionDenied, err)
	}
	if err := fcrypto.Verify(id.Cert.PublicKey, types.DomainCommitStatus, req.Msg.Request, req.Msg.Signature); err != nil {
		return nil, connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("commit status request of %s: %w", id.Label(), err))
	}
	if err := g.o.MSP.Admit(id); err != nil {
		return nil, connect.NewError(connect.CodePermissionDenied, err)
	}
	release, setting, err := g.acquireWait(id.Label())
	if err != nil {
		g.o.Refused(setting)
		return nil, connect.NewError(connect.CodeResourceExhausted, err)
	}
	defer release()
	maxWait := fmt.Errorf("waited %s, the most one wait may take (limit %s): ask again", g.o.MaxCommitWait, SettingMaxCommitWait)
	ctx, cancel := context.WithTimeoutCause(ctx, g.o.MaxCommitWait, maxWait)
	defer cancel()
	st, err := g.o.Committer.Wait(ctx, r.TxId)
	if err != nil {
		if context.Cause(ctx) == maxWait {
			g.o.Refused(SettingMaxCommitWait)
			err = maxWait
		}
		return nil, connect.NewError(connect.CodeDeadlineExceeded, fmt.Errorf("transaction %s not committed on %s yet: %w", r.TxId, g.o.Self.Name, err))
	}
	return connect.NewResponse(&foliov1.CommitStatusResponse{Result: st.Code, BlockNumber: st.Block, Reason: st.Reason}), nil
}
