package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// Gateway submits transactions and evaluates queries through one peer's
// gateway, signing as one identity. Safe for concurrent use.
type Gateway struct {
	id      *identity.SigningIdentity
	channel string
	svc     foliov1connect.GatewayServiceClient
}

// NewGateway connects to the gateway of the peer at addr (host:port).
func NewGateway(hc *http.Client, addr, channel string, id *identity.SigningIdentity) *Gateway {
	return &Gateway{id: id, channel: channel, svc: foliov1connect.NewGatewayServiceClient(hc, "https://"+addr)}
}

// Evaluate runs a query and returns the contract's response payload.
func (g *Gateway) Evaluate(ctx context.Context, contract, function string, args ...[]byte) ([]byte, error) {
	sp, _, err := NewProposal(g.id, g.channel, contract, function, args)
	if err != nil {
		return nil, err
	}
	resp, err := g.svc.Evaluate(ctx, connect.NewRequest(&foliov1.EvaluateRequest{Proposal: sp}))
	if err != nil {
		return nil, err
	}
	return resp.Msg.GetResult().GetPayload(), nil
}

// SubmitOptions tune Submit.
type SubmitOptions struct {
	// RetryConflicts resubmits the whole transaction this many times when
	// it loses an MVCC read conflict. Leave 0 for calls that must not run
	// twice (a retry is a new transaction).
	RetryConflicts int
}

// Result is a committed transaction.
type Result struct {
	TxID  string
	Block uint64
	Code  foliov1.ValidationCode
	// Reason says why the transaction is invalid (empty when valid).
	Reason string
	// Payload is the contract's response to the proposal.
	Payload []byte
	// Attempts is the number of transactions submitted (retries included).
	Attempts int
}

// InvalidError reports a transaction that was ordered but did not commit
// as valid.
type InvalidError struct{ Result *Result }

func (e *InvalidError) Error() string {
	return fmt.Sprintf("transaction %s is %s in block %d: %s", e.Result.TxID, e.Result.Code, e.Result.Block, e.Result.Reason)
}

// Submit proposes, collects endorsements, signs, submits and waits for the
// commit. A transaction that committed as invalid returns its Result and an
// *InvalidError. A transaction endorsed with a contract version that is no
// longer effective when it commits is re-endorsed once.
func (g *Gateway) Submit(ctx context.Context, contract, function string, args [][]byte, o SubmitOptions) (*Result, error) {
	versionRetry := 1
	var res *Result
	for attempt := 1; ; attempt++ {
		var err error
		res, err = g.submitOnce(ctx, contract, function, args)
		if err != nil {
			return res, err
		}
		res.Attempts = attempt
		switch {
		case res.Code == foliov1.ValidationCode_VALID:
			return res, nil
		case res.Code == foliov1.ValidationCode_MVCC_READ_CONFLICT && o.RetryConflicts > 0:
			o.RetryConflicts--
		case res.Code == foliov1.ValidationCode_CONTRACT_VERSION_NOT_EFFECTIVE && versionRetry > 0:
			versionRetry--
		default:
			return res, &InvalidError{Result: res}
		}
	}
}

func (g *Gateway) submitOnce(ctx context.Context, contract, function string, args [][]byte) (*Result, error) {
	sp, h, err := NewProposal(g.id, g.channel, contract, function, args)
	if err != nil {
		return nil, err
	}
	end, err := g.svc.Endorse(ctx, connect.NewRequest(&foliov1.EndorseRequest{Proposal: sp}))
	if err != nil {
		return nil, err
	}
	var payload foliov1.Payload
	if err := proto.Unmarshal(end.Msg.PreparedPayload, &payload); err != nil {
		return nil, fmt.Errorf("gateway returned an undecodable payload: %w", err)
	}
	// Sign only what we proposed: a gateway must not slip in another transaction.
	if err := checkPrepared(&payload, h, sp.ProposalBytes); err != nil {
		return nil, err
	}
	sig, err := g.id.Sign(types.DomainEnvelope, end.Msg.PreparedPayload)
	if err != nil {
		return nil, err
	}
	env := &foliov1.Envelope{Payload: end.Msg.PreparedPayload, Signature: sig}
	if _, err := g.svc.Submit(ctx, connect.NewRequest(&foliov1.SubmitRequest{TxId: h.TxId, Envelope: env})); err != nil {
		return &Result{TxID: h.TxId}, err
	}
	st, err := g.commitStatus(ctx, h.TxId)
	if err != nil {
		return &Result{TxID: h.TxId}, fmt.Errorf("transaction %s submitted, commit status unknown: %w", h.TxId, err)
	}
	return &Result{TxID: h.TxId, Block: st.BlockNumber, Code: st.Result, Reason: st.Reason, Payload: end.Msg.GetResult().GetPayload()}, nil
}

func checkPrepared(p *foliov1.Payload, h *foliov1.TxHeader, proposal []byte) error {
	if !proto.Equal(p.Header, h) {
		return errors.New("gateway returned a payload for another transaction header; refusing to sign")
	}
	var tx foliov1.Transaction
	if err := proto.Unmarshal(p.Data, &tx); err != nil || !bytes.Equal(tx.ProposalBytes, proposal) {
		return errors.New("gateway returned a payload that does not carry our proposal; refusing to sign")
	}
	return nil
}

// CommitStatus waits for a transaction's commit status at the gateway's peer.
func (g *Gateway) commitStatus(ctx context.Context, txID string) (*foliov1.CommitStatusResponse, error) {
	req, err := proto.Marshal(&foliov1.CommitStatusRequest{TxId: txID, Identity: g.id.Serialized()})
	if err != nil {
		return nil, err
	}
	sig, err := g.id.Sign(types.DomainCommitStatus, req)
	if err != nil {
		return nil, err
	}
	resp, err := g.svc.CommitStatus(ctx, connect.NewRequest(&foliov1.SignedCommitStatusRequest{Request: req, Signature: sig}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}
