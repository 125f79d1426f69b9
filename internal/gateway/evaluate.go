package gateway

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/endorse"
)

// QueryRunner checks and runs queries on this peer (endorse.Endorser).
// Implementations are safe for concurrent use.
type QueryRunner interface {
	// CheckQueryFrom checks a query proposal that arrived over a
	// connection whose TLS client certificate is conn (nil: unknown);
	// errors wrap the endorse package's sentinels.
	CheckQueryFrom(sp *foliov1.SignedProposal, conn *x509.Certificate) (*endorse.Checked, error)
	// Query runs a checked query against the latest committed state and
	// returns the contract's response, whatever its status. It fails
	// with endorse.ErrUnavailable when this peer cannot run the contract
	// version in force.
	Query(ctx context.Context, c *endorse.Checked) (*foliov1.Response, error)
}

// Evaluate runs a query on this peer against its latest committed state and
// returns the contract's response; nothing is endorsed or ordered. A
// contract error (4xx/5xx) comes back as an RPC error with its message.
func (g *Gateway) Evaluate(ctx context.Context, req *connect.Request[foliov1.EvaluateRequest]) (*connect.Response[foliov1.EvaluateResponse], error) {
	var conn *x509.Certificate
	if g.o.Caller != nil {
		if id, ok := g.o.Caller(ctx); ok {
			conn = id.Cert
		}
	}
	c, err := g.o.Endorser.CheckQueryFrom(req.Msg.GetProposal(), conn)
	if err != nil {
		return nil, connect.NewError(endorseCode(err), err)
	}
	resp, err := g.o.Endorser.Query(ctx, c)
	switch {
	case errors.Is(err, endorse.ErrUnavailable):
		// This peer cannot run the version in force (halted, or the
		// package is missing): a peer of the same organisation that can
		// answers instead, so a halted peer does not fail its clients.
		if resp, err = g.evaluateElsewhere(ctx, req.Msg.GetProposal(), err); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, connect.NewError(endorseCode(err), err)
	}
	if resp.GetStatus() < 200 || resp.GetStatus() > 299 {
		inv := c.Proposal.Invocation
		return nil, connect.NewError(statusCode(resp.Status), fmt.Errorf("%s.%s: %s (status %d)", inv.Contract, inv.Function, resp.Message, resp.Status))
	}
	return connect.NewResponse(&foliov1.EvaluateResponse{Result: resp}), nil
}

// evaluateElsewhere runs the query on the other peers of this peer's
// organisation, healthy and least busy first, hedged like endorsements
// (firstEndorsement), and returns the first answer.
func (g *Gateway) evaluateElsewhere(ctx context.Context, sp *foliov1.SignedProposal, local error) (*foliov1.Response, error) {
	var cands []candidate
	for _, c := range g.candidates(g.o.Self.MSPID) {
		if c.node.Name != g.o.Self.Name {
			cands = append(cands, c)
		}
	}
	_, resp, failures, decisive := g.firstEndorsement(ctx, cands, sp, g.o.EndorseTimeout)
	if resp != nil {
		return resp.GetResponse(), nil
	}
	if decisive != nil {
		return nil, decisive // the peer ran it and refused: that is the answer
	}
	msg := fmt.Sprintf("%s: %v", g.o.Self.Name, local)
	if len(failures) > 0 {
		msg += "; " + joinAttempts(failures, "; ")
	}
	return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("no peer of %s can run the query: %s", g.o.Self.MSPID, msg))
}
