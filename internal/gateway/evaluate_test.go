package gateway

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/endorse"
	"github.com/folio-ledger/folio/internal/identity"
)

// Evaluate runs a query on this peer; only when this peer cannot run the
// contract version in force does another peer of its organisation answer.
func TestEvaluate(t *testing.T) {
	notHere := reply{err: fmt.Errorf("%w: copyright v2 is not installed", endorse.ErrUnavailable)}
	for _, tc := range []struct {
		name      string
		scripts   map[string][]reply
		checkErr  error
		wantCode  connect.Code
		wantMsg   []string
		wantCalls string // peers of Org1 asked
	}{{
		name:      "this peer answers",
		wantCalls: "peer0.org1",
	}, {
		name:      "a contract error is the answer",
		scripts:   map[string][]reply{"peer0.org1": {{status: 404}}},
		wantCode:  connect.CodeNotFound,
		wantMsg:   []string{"copyright.get: status 404 from peer0.org1 (status 404)"},
		wantCalls: "peer0.org1",
	}, {
		name:      "a bad query is refused",
		checkErr:  fmt.Errorf("%w: creator revoked", endorse.ErrNotAuthorized),
		wantCode:  connect.CodePermissionDenied,
		wantCalls: "",
	}, {
		name:      "this peer is unhealthy: unavailable, not asked elsewhere",
		scripts:   map[string][]reply{"peer0.org1": {{err: fmt.Errorf("%w: diverged", endorse.ErrUnhealthy)}}},
		wantCode:  connect.CodeUnavailable,
		wantCalls: "peer0.org1",
	}, {
		name:      "this peer cannot run the version in force: another peer of its organisation answers",
		scripts:   map[string][]reply{"peer0.org1": {notHere}},
		wantCalls: "peer0.org1,peer1.org1",
	}, {
		name:      "the other peer refuses: that is the answer",
		scripts:   map[string][]reply{"peer0.org1": {notHere}, "peer1.org1": {failing(connect.CodePermissionDenied, "creator revoked")}},
		wantCode:  connect.CodePermissionDenied,
		wantMsg:   []string{"creator revoked"},
		wantCalls: "peer0.org1,peer1.org1",
	}, {
		name:      "no peer of the organisation can run it",
		scripts:   map[string][]reply{"peer0.org1": {notHere}, "peer1.org1": {failing(connect.CodeFailedPrecondition, "not installed either")}},
		wantCode:  connect.CodeFailedPrecondition,
		wantMsg:   []string{"no peer of Org1MSP can run the query: peer0.org1: ", "copyright v2 is not installed", "peer1.org1: failed_precondition: not installed either"},
		wantCalls: "peer0.org1,peer1.org1",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g, f := txGateway(t, "OR('Org1MSP.peer')")
			for peer, s := range tc.scripts {
				f.script(peer, s...)
			}
			f.checkErr = tc.checkErr
			resp, err := g.Evaluate(context.Background(), connect.NewRequest(&foliov1.EvaluateRequest{Proposal: proposal(t, "get")}))
			if got := connect.CodeOf(err); err != nil && got != tc.wantCode || err == nil && tc.wantCode != 0 {
				t.Fatalf("got %v, want code %v", err, tc.wantCode)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q\nlacks %q", err, m)
				}
			}
			if err == nil && string(resp.Msg.Result.GetPayload()) != "result" {
				t.Errorf("result %q", resp.Msg.Result.GetPayload())
			}
			if got := f.calledIn(".org1"); got != tc.wantCalls {
				t.Errorf("peers asked: %q, want %q", got, tc.wantCalls)
			}
		})
	}
}

// TestEvaluatePassesTheConnectionsIdentity: the certificate the TLS
// handshake proved reaches the endorser's check (which then may skip the
// proposal signature); without a Caller none does.
func TestEvaluatePassesTheConnectionsIdentity(t *testing.T) {
	g, f := txGateway(t, "OR('Org1MSP.peer')")
	cert := &x509.Certificate{Raw: []byte("client cert")}
	g.o.Caller = func(context.Context) (*identity.Identity, bool) { return &identity.Identity{Cert: cert}, true }
	if _, err := g.Evaluate(context.Background(), connect.NewRequest(&foliov1.EvaluateRequest{Proposal: proposal(t, "get")})); err != nil {
		t.Fatal(err)
	}
	if f.conn != cert {
		t.Fatalf("the check got certificate %v, want the connection's", f.conn)
	}
	g.o.Caller = nil
	if _, err := g.Evaluate(context.Background(), connect.NewRequest(&foliov1.EvaluateRequest{Proposal: proposal(t, "get")})); err != nil {
		t.Fatal(err)
	}
	if f.conn != nil {
		t.Fatal("without a Caller the check must not be told of a connection")
	}
}
