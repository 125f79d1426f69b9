package gateway

import (
	"errors"
	"testing"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

func answer(name string, status int32, msg string) endorsed {
	return endorsed{node: Node{Name: name}, resp: &foliov1.ProposalResponse{Response: &foliov1.Response{Status: status, Message: msg}, Payload: []byte(name)}}
}

// TestRefusalBesideAcceptanceIsADisagreement: an endorser refusing what
// another accepts is behind (or ahead), so the gateway must retry
// (CodeAborted) rather than report the refusal as the contract's answer;
// when every endorser refuses, the refusal is the answer.
func TestRefusalBesideAcceptanceIsADisagreement(t *testing.T) {
	g := &Gateway{}
	inv := &foliov1.ContractInvocation{Contract: "copyright", Function: "transfer"}
	code := func(err error) connect.Code {
		var ce *connect.Error
		if !errors.As(err, &ce) {
			t.Fatalf("not a connect error: %v", err)
		}
		return ce.Code()
	}

	_, _, _, _, err := g.checkEndorsed([]endorsed{answer("peer0.org1", 200, ""), answer("peer0.org2", 403, "may not transfer")}, inv)
	if err == nil || code(err) != connect.CodeAborted {
		t.Fatalf("accept + refuse: got %v, want CodeAborted", err)
	}
	_, _, _, _, err = g.checkEndorsed([]endorsed{answer("peer0.org1", 403, "may not transfer"), answer("peer0.org2", 200, "")}, inv)
	if err == nil || code(err) != connect.CodeAborted {
		t.Fatalf("refuse + accept: got %v, want CodeAborted", err)
	}
	_, _, _, _, err = g.checkEndorsed([]endorsed{answer("peer0.org1", 403, "may not transfer"), answer("peer0.org2", 403, "may not transfer")}, inv)
	if err == nil || code(err) != connect.CodePermissionDenied {
		t.Fatalf("refuse + refuse: got %v, want the refusal (CodePermissionDenied)", err)
	}
	_, _, _, _, err = g.checkEndorsed([]endorsed{{node: Node{Name: "peer0.org1"}, err: errors.New("Org1MSP: unavailable")}, answer("peer0.org2", 404, "not registered")}, inv)
	if err == nil || code(err) != connect.CodeNotFound {
		t.Fatalf("error + refuse: got %v, want the refusal (CodeNotFound)", err)
	}
}
