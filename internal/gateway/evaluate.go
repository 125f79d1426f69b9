package gateway

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

// Evaluate runs a query on this peer against its latest committed state and
// returns the contract's response; nothing is endorsed or ordered. A
// contract error (4xx/5xx) comes back as an RPC error with its message.
func (g *Gateway) Evaluate(ctx context.Context, req *connect.Request[foliov1.EvaluateRequest]) (*connect.Response[foliov1.EvaluateResponse], error) {
	c, err := g.o.Endorser.Check(req.Msg.GetProposal(), true)
	if err != nil {
		return nil, connect.NewError(endorseCode(err), err)
	}
	res, _, err := g.o.Endorser.Run(ctx, c, true)
	if err != nil {
		return nil, connect.NewError(endorseCode(err), err)
	}
	resp := res.Response
	if resp.GetStatus() < 200 || resp.GetStatus() > 299 {
		inv := c.Proposal.Invocation
		return nil, connect.NewError(statusCode(resp.Status), fmt.Errorf("%s.%s: %s (status %d)", inv.Contract, inv.Function, resp.Message, resp.Status))
	}
	return connect.NewResponse(&foliov1.EvaluateResponse{Result: resp}), nil
}
