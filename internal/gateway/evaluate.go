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
//
// A read may need a height (min_height, or the orderers' chain height when
// linearizable; reads.go): the proposal is checked first, then the peer
// waits, bounded, until its ledger has that height, or answers
// CodeUnavailable (*BehindError) so that the client asks another peer. The
// response carries the height the query ran at.
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
	height, need, err := g.currentEnough(ctx, clientOf(c), req.Msg)
	if err != nil {
		return nil, err
	}
	resp, err := g.o.Endorser.Query(ctx, c)
	switch {
	case errors.Is(err, endorse.ErrUnavailable):
		// This peer cannot run the version in force (halted, or the
		// package is missing): a peer of the same organisation that can
		// answers instead, so a halted peer does not fail its clients.
		// A read that needs a height goes only to peers that have it.
		if resp, err = g.evaluateElsewhere(ctx, req.Msg.GetProposal(), err, need); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, connect.NewError(endorseCode(err), err)
	}
	if resp.GetStatus() < 200 || resp.GetStatus() > 299 {
		inv := c.Proposal.Invocation
		return nil, connect.NewError(statusCode(resp.Status), fmt.Errorf("%s.%s: %s (status %d)", inv.Contract, inv.Function, resp.Message, resp.Status))
	}
	return connect.NewResponse(&foliov1.EvaluateResponse{Result: resp, Height: height}), nil
}

// currentEnough waits until this peer's ledger is as current as the read
// asks (reads.go) and returns its height then (the query that follows runs
// at that height or a later one) and the height the read needs (0: none).
func (g *Gateway) currentEnough(ctx context.Context, client string, req *foliov1.EvaluateRequest) (height, need uint64, err error) {
	if !req.GetLinearizable() {
		need = req.GetMinHeight()
		height, err = g.awaitHeight(ctx, client, need)
		return height, need, err
	}
	// Asking the orderers is waiting too: it holds a read slot.
	release, setting, err := g.acquireRead(client)
	if err != nil {
		g.o.Refused(setting)
		return 0, 0, connect.NewError(connect.CodeResourceExhausted, err)
	}
	defer release()
	if need, err = g.readNeed(ctx, req); err != nil {
		return 0, 0, err
	}
	height, err = g.waitHeight(ctx, need)
	return height, need, err
}

// clientOf names the creator of a checked query, for the per-client
// limits.
func clientOf(c *endorse.Checked) string {
	if c.Creator == nil {
		return "unknown client"
	}
	return c.Creator.Label()
}

// evaluateElsewhere runs the query on the other peers of this peer's
// organisation, healthy and least busy first, hedged like endorsements
// (firstEndorsement), and returns the first answer. With need > 0 only
// the peers whose ledger height is at least need are asked (they run the
// query at their latest height, which only grows).
func (g *Gateway) evaluateElsewhere(ctx context.Context, sp *foliov1.SignedProposal, local error, need uint64) (*foliov1.Response, error) {
	var cands []candidate
	for _, c := range g.candidates(g.o.Self.MSPID) {
		if c.node.Name != g.o.Self.Name {
			cands = append(cands, c)
		}
	}
	var behind []attemptError
	if need > 0 {
		cands, behind = g.currentPeers(ctx, cands, need)
	}
	_, resp, failures, decisive := g.firstEndorsement(ctx, cands, sp, g.o.EndorseTimeout)
	failures = append(behind, failures...)
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
	code := connect.CodeFailedPrecondition
	if len(behind) > 0 {
		code = connect.CodeUnavailable // another organisation's peer, or later, may have the height
	}
	return nil, connect.NewError(code, fmt.Errorf("no peer of %s can run the query: %s", g.o.Self.MSPID, msg))
}
