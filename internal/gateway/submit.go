package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/types"
)

// Submit hands a signed transaction to the ordering service: to one
// orderer at a time (never two at once), each within its share of
// SubmitTimeout, the next as soon as one fails for a reason of its own or
// its share is used up (orderers).
// A transaction already ordered counts as submitted (submitting is
// idempotent; should two orderers both order it, validation marks the
// later copy DUPLICATE_TXID and the first one's status is reported).
func (g *Gateway) Submit(ctx context.Context, req *connect.Request[foliov1.SubmitRequest]) (*connect.Response[foliov1.SubmitResponse], error) {
	env := req.Msg.GetEnvelope()
	p, err := types.ParseEnvelope(env)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	if id := req.Msg.GetTxId(); id != "" && id != p.Header.TxId {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("tx_id %s does not match the envelope's %s", id, p.Header.TxId))
	}
	orderers := g.ordererList()
	if len(orderers) == 0 {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("the channel has no orderers"))
	}
	ctx, cancel := context.WithTimeout(ctx, g.o.SubmitTimeout)
	defer cancel()
	share := g.attemptTimeout(g.o.SubmitTimeout, len(orderers))
	var failures []attemptError
	// mayBeOrdered names an earlier orderer whose attempt may have
	// ordered the envelope (it timed out, or the stream broke without an
	// answer). A later orderer's refusal then does not mean the
	// transaction will never commit: say Unavailable, so that the client
	// treats the outcome as unknown (the SDK asks the commit status)
	// instead of as refused. (A later orderer with a jumped clock that
	// refuses the envelope's timestamp is how a chaos run meets this.)
	mayBeOrdered := ""
	for _, c := range g.orderers(orderers) {
		g.began(c.node)
		t0 := time.Now()
		actx, acancel := context.WithTimeout(ctx, share)
		err := g.o.OrderClient.Broadcast(actx, c.node, env)
		timedOut := actx.Err() == context.DeadlineExceeded
		acancel()
		took := time.Since(t0)
		if err == nil || connect.CodeOf(err) == connect.CodeAlreadyExists {
			g.mu.Lock()
			g.mu.health.succeeded(c.node.Name)
			g.mu.orderer = c.node.Name
			g.mu.Unlock()
			return connect.NewResponse(&foliov1.SubmitResponse{}), nil
		}
		if ctx.Err() != nil {
			failures = append(failures, attemptError{node: c.node, err: err, took: took, late: c.late})
			break // the budget ended or the caller left: says nothing about the orderer
		}
		broken := connect.CodeOf(err) == connect.CodeUnknown
		if broken {
			err = connect.NewError(connect.CodeUnavailable, err)
		}
		if !nodeFault(err) {
			g.succeeded(c.node) // it answered
			if mayBeOrdered != "" {
				return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("%s refused the transaction (%s), but the attempt at %s may have ordered it: its outcome is unknown; ask its commit status",
					c.node.Name, connectMessage(err), mayBeOrdered))
			}
			return nil, connect.NewError(connect.CodeOf(err), fmt.Errorf("%s refused the transaction: %s", c.node.Name, connectMessage(err)))
		}
		if timedOut || broken || connect.CodeOf(err) == connect.CodeDeadlineExceeded {
			mayBeOrdered = c.node.Name
		}
		if timedOut && connect.CodeOf(err) != connect.CodeDeadlineExceeded {
			err = connect.NewError(connect.CodeDeadlineExceeded, err)
		}
		g.failed(c.node, err)
		failures = append(failures, attemptError{node: c.node, err: err, took: took, late: c.late})
	}
	return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("no orderer accepted transaction %s: %s", p.Header.TxId, joinAttempts(failures, " | ")))
}

// orderers returns the orderers in the order to try: the one that
// accepted the latest envelope first (the broadcast reply does not say
// which orderer leads Raft; followers forward to the leader, so the last
// one to accept is the proxy for a working path), the others in turn from
// a rotating start, then reordered by health (rank).
func (g *Gateway) orderers(list []Node) []candidate {
	n := len(list)
	start := int(g.nextOrd.Add(1))
	g.mu.Lock()
	pref := g.mu.orderer
	g.mu.Unlock()
	out := make([]Node, 0, n)
	for i := range n {
		o := list[(start+i)%n]
		if o.Name == pref {
			out = append([]Node{o}, out...)
		} else {
			out = append(out, o)
		}
	}
	return g.rank(out, g.now())
}

// connectMessage is err's message without the code prefix.
func connectMessage(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return err.Error()
}
