package workload

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/chaos/history"
)

// The outcome of a write must be exact and conservative: these are the
// shapes Gateway.Submit returns (client/gateway.go), each with the only
// outcome that is safe to claim.
func TestClassifyWrite(t *testing.T) {
	refusal := fmt.Errorf("endorse via peer0.org1: %w", connect.NewError(connect.CodeAlreadyExists,
		errors.New(`copyright.register refused by the contract on peer1.org2: work "w" is already registered (owner a@Org1, registered x) (status 409)`)))
	notOwner := fmt.Errorf("endorse via peer0.org1: %w", connect.NewError(connect.CodePermissionDenied,
		errors.New(`copyright.transfer refused by the contract on peer0.org1: b@Org2 may not transfer work "w": only its owner a@Org1 or an admin of Org1 may (status 403)`)))
	disagree := fmt.Errorf("endorse via peer0.org1: %w", connect.NewError(connect.CodeAborted,
		errors.New("endorsers disagree: peer0.org1 accepts copyright.transfer, peer0.org2 refuses it: ... (retry)")))
	// Not a contract refusal though the code is one the contract uses.
	notAuthorized := fmt.Errorf("endorse via peer0.org1: %w", connect.NewError(connect.CodePermissionDenied, errors.New("creator not authorized")))
	noGateway := &client.UnavailableError{Op: "endorse", Attempts: []*client.AttemptError{{Endpoint: "peer0.org1", Err: connect.NewError(connect.CodeUnavailable, errors.New("down"))}}}
	tx := &client.Result{TxID: "t1"}
	invalid := &client.Result{TxID: "t1", Block: 7, Code: foliov1.ValidationCode_MVCC_READ_CONFLICT}
	cases := []struct {
		name    string
		res     *client.Result
		err     error
		want    history.Outcome
		refused bool
		block   uint64
		txID    string
	}{
		{"committed valid", &client.Result{TxID: "t1", Block: 9}, nil, history.OK, false, 9, "t1"},
		{"committed invalid", invalid, &client.InvalidError{Result: invalid}, history.Fail, false, 7, "t1"},
		{"contract refused", nil, refusal, history.Fail, true, 0, ""},
		{"not the owner", nil, notOwner, history.Fail, true, 0, ""},
		{"endorsers disagree", nil, disagree, history.Fail, false, 0, ""},
		{"endorser refused the creator", nil, notAuthorized, history.Fail, false, 0, ""},
		{"no gateway endorsed", nil, noGateway, history.Fail, false, 0, ""},
		{"endorse cut by the caller", nil, &client.UnavailableError{Op: "endorse", Cause: context.DeadlineExceeded}, history.Fail, false, 0, ""},
		{"unknown outcome", tx, &client.UnknownOutcomeError{TxID: "t1", Err: noGateway}, history.Unknown, false, 0, "t1"},
		{"status unknown after hand-over", tx, fmt.Errorf("transaction t1 submitted, commit status unknown: %w", noGateway), history.Unknown, false, 0, "t1"},
		{"submit cut by the caller", tx, &client.UnavailableError{Op: "submit", Cause: context.DeadlineExceeded}, history.Unknown, false, 0, "t1"},
		// A gateway's refusal may follow its own timed-out attempt at
		// another orderer: never a certain Fail.
		{"gateway refused the envelope", tx, fmt.Errorf("submit via peer0.org1: %w", connect.NewError(connect.CodeInvalidArgument, errors.New("orderer1 refused the transaction: too old"))), history.Unknown, false, 0, "t1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := classifyWrite(history.Op{Kind: history.Register, Work: "w"}, c.res, c.err)
			if op.Outcome != c.want || op.Refused != c.refused || op.Block != c.block || op.TxID != c.txID {
				t.Errorf("got outcome %s refused %v block %d tx %q, want %s %v %d %q", op.Outcome, op.Refused, op.Block, op.TxID, c.want, c.refused, c.block, c.txID)
			}
			if c.err != nil && op.Error == "" {
				t.Error("no error recorded")
			}
		})
	}
}

func TestClassifyRead(t *testing.T) {
	found := &client.Answer{Payload: []byte(`{"id":"w","title":"t","owner":"a@Org1","version":{"block":3,"tx":0}}`), Height: 5, Via: "peer1.org2"}
	op := classifyRead(history.Op{Kind: history.Get, Work: "w"}, found, nil)
	if op.Outcome != history.OK || !op.Found || op.Read != "a@Org1" || op.ReadHeight != 5 || op.Via != "peer1.org2" {
		t.Errorf("found: %+v", op)
	}
	missing := fmt.Errorf("evaluate via peer0.org1: %w", connect.NewError(connect.CodeNotFound, errors.New(`copyright.get: work "w" is not registered (status 404)`)))
	if op := classifyRead(history.Op{Kind: history.Get, Work: "w"}, nil, missing); op.Outcome != history.OK || op.Found || op.Read != "" {
		t.Errorf("not registered: %+v", op)
	}
	for name, c := range map[string]struct {
		a   *client.Answer
		err error
	}{
		"other not found": {nil, connect.NewError(connect.CodeNotFound, errors.New("channel x"))},
		"no peer":         {nil, &client.UnavailableError{Op: "evaluate"}},
		"another work":    {&client.Answer{Payload: []byte(`{"id":"v","owner":"a@Org1"}`)}, nil},
		"no owner":        {&client.Answer{Payload: []byte(`{"id":"w"}`)}, nil},
		"not JSON":        {&client.Answer{Payload: []byte(`<html>`)}, nil},
	} {
		if op := classifyRead(history.Op{Kind: history.Get, Work: "w"}, c.a, c.err); op.Outcome != history.Fail || op.Found || op.Error == "" {
			t.Errorf("%s: %+v, want a failed read with an error", name, op)
		}
	}
}
