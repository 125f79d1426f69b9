package release

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// Chain is the ledger access the release service needs: queries of the
// release and copyright contracts, and submissions (share publications).
type Chain interface {
	// Evaluate runs a query and returns the contract's payload.
	Evaluate(ctx context.Context, contract, function string, arg []byte) ([]byte, error)
	// Submit runs a transaction to commit; it returns once it committed
	// as valid, or an error saying why not.
	Submit(ctx context.Context, contract, function string, arg []byte) error
}

// gatewayChain calls this peer's gateway in-process, signing as the peer.
type gatewayChain struct {
	gw      foliov1connect.GatewayServiceHandler
	self    *identity.SigningIdentity
	channel string
}

var _ Chain = (*gatewayChain)(nil)

func (c *gatewayChain) Evaluate(ctx context.Context, contract, function string, arg []byte) ([]byte, error) {
	sp, _, err := types.NewProposal(c.self, c.channel, contract, function, [][]byte{arg})
	if err != nil {
		return nil, err
	}
	resp, err := c.gw.Evaluate(ctx, connect.NewRequest(&foliov1.EvaluateRequest{Proposal: sp}))
	if err != nil {
		return nil, err
	}
	return resp.Msg.GetResult().GetPayload(), nil
}

func (c *gatewayChain) Submit(ctx context.Context, contract, function string, arg []byte) error {
	sp, h, err := types.NewProposal(c.self, c.channel, contract, function, [][]byte{arg})
	if err != nil {
		return err
	}
	end, err := c.gw.Endorse(ctx, connect.NewRequest(&foliov1.EndorseRequest{Proposal: sp}))
	if err != nil {
		return err
	}
	sig, err := c.self.Sign(types.DomainEnvelope, end.Msg.PreparedPayload)
	if err != nil {
		return err
	}
	env := &foliov1.Envelope{Payload: end.Msg.PreparedPayload, Signature: sig}
	if _, err := c.gw.Submit(ctx, connect.NewRequest(&foliov1.SubmitRequest{TxId: h.TxId, Envelope: env})); err != nil {
		return err
	}
	req, err := proto.Marshal(&foliov1.CommitStatusRequest{TxId: h.TxId, Identity: c.self.Serialized()})
	if err != nil {
		return err
	}
	rsig, err := c.self.Sign(types.DomainCommitStatus, req)
	if err != nil {
		return err
	}
	st, err := c.gw.CommitStatus(ctx, connect.NewRequest(&foliov1.SignedCommitStatusRequest{Request: req, Signature: rsig}))
	if err != nil {
		return err
	}
	if st.Msg.Result != foliov1.ValidationCode_VALID {
		return fmt.Errorf("transaction %s is %s: %s", h.TxId, st.Msg.Result, st.Msg.Reason)
	}
	return nil
}

// isNotFound reports a contract 404 (or a missing record) from Evaluate.
func isNotFound(err error) bool {
	return connect.CodeOf(err) == connect.CodeNotFound || errors.Is(err, errNotFound)
}

// errNotFound is what test chains return for a missing record.
var errNotFound = errors.New("not found")
