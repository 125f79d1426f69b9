package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/endorse"
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

// endorseCase is one run of the Endorse RPC against scripted peers.
type endorseCase struct {
	name string
	// policy of copyright; default AND('Org1MSP.peer','Org2MSP.peer').
	policy string
	// asked is the request's endorsing_orgs.
	asked []string
	// scripts per peer (see reply); setup runs before the call.
	scripts map[string][]reply
	setup   func(g *Gateway, f *fakePeers)

	// wantCode is the error's code (0: success) and wantMsg what the
	// message must contain; wantEndorsers the peers whose endorsements
	// the prepared transaction carries, in order.
	wantCode      connect.Code
	wantMsg       []string
	wantEndorsers string
	// wantCalls lists, per organisation suffix (".org1"), the peers asked
	// in order.
	wantCalls map[string]string
}

func TestEndorseCollection(t *testing.T) {
	unavailable := failing(connect.CodeUnavailable, "connection refused")
	for _, tc := range []endorseCase{{
		name:          "one peer of each organisation the policy names, this peer for its own",
		wantEndorsers: "peer0.org1,peer0.org2",
		wantCalls:     map[string]string{".org1": "peer0.org1", ".org2": "peer0.org2", ".org3": ""},
	}, {
		name:          "this peer is asked first even when busier",
		setup:         func(g *Gateway, _ *fakePeers) { g.members.Load().inFlight["peer0.org1"].Add(5) },
		wantEndorsers: "peer0.org1,peer0.org2",
		wantCalls:     map[string]string{".org1": "peer0.org1"},
	}, {
		name:          "among other peers the least busy is asked first",
		setup:         func(g *Gateway, _ *fakePeers) { g.members.Load().inFlight["peer0.org2"].Add(3) },
		wantEndorsers: "peer0.org1,peer1.org2",
		wantCalls:     map[string]string{".org2": "peer1.org2"},
	}, {
		name:          "this peer unhealthy: the next peer of its organisation",
		scripts:       map[string][]reply{"peer0.org1": {{err: fmt.Errorf("%w: diverged", endorse.ErrUnhealthy)}}},
		wantEndorsers: "peer0.org2,peer1.org1",
		wantCalls:     map[string]string{".org1": "peer0.org1,peer1.org1"},
	}, {
		name:          "peer unreachable: the next peer of its organisation",
		scripts:       map[string][]reply{"peer0.org2": {unavailable}},
		wantEndorsers: "peer0.org1,peer1.org2",
		wantCalls:     map[string]string{".org2": "peer0.org2,peer1.org2"},
	}, {
		name:          "peer timed out: the next peer of its organisation",
		scripts:       map[string][]reply{"peer0.org2": {failing(connect.CodeDeadlineExceeded, "no answer within 5s")}},
		wantEndorsers: "peer0.org1,peer1.org2",
		wantCalls:     map[string]string{".org2": "peer0.org2,peer1.org2"},
	}, {
		name:          "peer cannot run the version in force: the next",
		scripts:       map[string][]reply{"peer0.org2": {failing(connect.CodeFailedPrecondition, "copyright v2 is not installed")}},
		wantEndorsers: "peer0.org1,peer1.org2",
		wantCalls:     map[string]string{".org2": "peer0.org2,peer1.org2"},
	}, {
		name:          "peer overloaded: the next",
		scripts:       map[string][]reply{"peer0.org2": {failing(connect.CodeResourceExhausted, "too many proposals")}},
		wantEndorsers: "peer0.org1,peer1.org2",
		wantCalls:     map[string]string{".org2": "peer0.org2,peer1.org2"},
	}, {
		name:      "the proposal's fault is the answer: no other peer is asked",
		scripts:   map[string][]reply{"peer0.org2": {failing(connect.CodePermissionDenied, "creator user9@Org1 is revoked")}},
		wantCode:  connect.CodeUnavailable,
		wantMsg:   []string{"not satisfied", "endorsers that failed: Org2MSP: peer0.org2: permission_denied: creator user9@Org1 is revoked"},
		wantCalls: map[string]string{".org2": "peer0.org2"},
	}, {
		name:     "an organisation with no reachable peer: the error names each",
		scripts:  map[string][]reply{"peer0.org2": {unavailable}, "peer1.org2": {failing(connect.CodeDeadlineExceeded, "no answer")}},
		wantCode: connect.CodeUnavailable,
		wantMsg: []string{"endorsement policy", "('Org2MSP.peer')", "endorsers that failed: Org2MSP: ",
			"peer0.org2: unavailable: connection refused", "peer1.org2: deadline_exceeded: no answer"},
		wantCalls: map[string]string{".org2": "peer0.org2,peer1.org2"},
	}, {
		name:      "no organisation answers",
		scripts:   map[string][]reply{"peer0.org1": {unavailable}, "peer1.org1": {unavailable}, "peer0.org2": {unavailable}, "peer1.org2": {unavailable}},
		wantCode:  connect.CodeUnavailable,
		wantMsg:   []string{"no endorsement: ", "Org1MSP: peer0.org1: ", "Org2MSP: peer0.org2: "},
		wantCalls: map[string]string{".org1": "peer0.org1,peer1.org1", ".org2": "peer0.org2,peer1.org2"},
	}, {
		name:     "an organisation without peers in the channel",
		policy:   "AND('Org1MSP.peer','Org4MSP.peer')",
		wantCode: connect.CodeUnavailable,
		wantMsg:  []string{"Org4MSP: no peer of this organisation in the channel"},
	}, {
		name:          "repeated endorsing organisations are asked once",
		policy:        "OR('Org1MSP.peer','Org2MSP.peer')",
		asked:         repeat([]string{"Org2MSP"}, 1000),
		wantEndorsers: "peer0.org2",
		wantCalls:     map[string]string{".org1": "", ".org2": "peer0.org2"},
	}, {
		name:          "endorsing organisations are capped at the policy's",
		asked:         repeat([]string{"Org2MSP", "Org1MSP"}, 500),
		wantEndorsers: "peer0.org1,peer0.org2",
		wantCalls:     map[string]string{".org1": "peer0.org1", ".org2": "peer0.org2", ".org3": ""},
	}, {
		name:      "an endorsing organisation outside the policy is refused before asking anyone",
		asked:     []string{"Org1MSP", "Org3MSP"},
		wantCode:  connect.CodeInvalidArgument,
		wantMsg:   []string{`endorsing organisation "Org3MSP" is not named by the endorsement policy of copyright`},
		wantCalls: map[string]string{".org1": "", ".org2": "", ".org3": ""},
	}, {
		name:      "every endorser refuses: the contract's answer",
		scripts:   map[string][]reply{"peer0.org1": {{status: 403}}, "peer0.org2": {{status: 403}}},
		wantCode:  connect.CodePermissionDenied,
		wantMsg:   []string{"copyright.transfer refused by the contract on peer0.org1: status 403 from peer0.org1 (status 403)"},
		wantCalls: map[string]string{".org1": "peer0.org1", ".org2": "peer0.org2"},
	}, {
		// A client of an organisation outside the policy (one that joined
		// later) transfers a work its own peer has just acknowledged: the
		// endorsers have not committed that block yet.
		name:          "every endorser refuses what this peer, outside the policy, accepts: asked again, then they agree",
		policy:        "AND('Org2MSP.peer','Org3MSP.peer')",
		scripts:       map[string][]reply{"peer0.org2": {{status: 404}, {}}, "peer0.org3": {{status: 404}, {}}},
		wantEndorsers: "peer0.org2,peer0.org3",
		wantCalls:     map[string]string{".org1": "peer0.org1", ".org2": "peer0.org2,peer0.org2", ".org3": "peer0.org3,peer0.org3"},
	}, {
		name:      "every endorser refuses and so does this peer, outside the policy: the contract's answer",
		policy:    "AND('Org2MSP.peer','Org3MSP.peer')",
		scripts:   map[string][]reply{"peer0.org1": {{status: 404}}, "peer0.org2": {{status: 404}}, "peer0.org3": {{status: 404}}},
		wantCode:  connect.CodeNotFound,
		wantMsg:   []string{"copyright.transfer refused by the contract on peer0.org2"},
		wantCalls: map[string]string{".org1": "peer0.org1", ".org2": "peer0.org2", ".org3": "peer0.org3"},
	}, {
		name:          "one refuses what the other accepts: asked again, then they agree",
		scripts:       map[string][]reply{"peer0.org2": {{status: 403}, {}}},
		wantEndorsers: "peer0.org1,peer0.org2",
		wantCalls:     map[string]string{".org1": "peer0.org1,peer0.org1", ".org2": "peer0.org2,peer0.org2"},
	}, {
		name:          "different results: asked again, then they agree",
		scripts:       map[string][]reply{"peer0.org2": {{payload: "one block behind"}, {payload: "one block behind"}, {}}},
		wantEndorsers: "peer0.org1,peer0.org2",
		wantCalls:     map[string]string{".org2": "peer0.org2,peer0.org2,peer0.org2"},
	}, {
		// After the five retries (about 2s of backoff, within EndorseTimeout).
		name:     "results that stay different: aborted, naming both peers",
		scripts:  map[string][]reply{"peer0.org2": {{payload: "diverged"}}},
		wantCode: connect.CodeAborted,
		wantMsg:  []string{"endorsers disagree: peer0.org1 and peer0.org2 produced different results for copyright.transfer"},
	}, {
		name: "a bad proposal is refused before asking anyone",
		setup: func(_ *Gateway, f *fakePeers) {
			f.checkErr = fmt.Errorf("%w: signature missing", endorse.ErrBadProposal)
		},
		wantCode:  connect.CodeInvalidArgument,
		wantMsg:   []string{"bad proposal: signature missing"},
		wantCalls: map[string]string{".org1": "", ".org2": ""},
	}, {
		name: "a committed transaction is not endorsed again",
		setup: func(_ *Gateway, f *fakePeers) {
			f.checkErr = fmt.Errorf("%w: tx-transfer", endorse.ErrAlreadyCommitted)
		},
		wantCode: connect.CodeAlreadyExists,
	}, {
		name:     "an endorsement by an identity the MSP refuses",
		scripts:  map[string][]reply{"peer0.org2": {{endorser: "stranger"}}},
		wantCode: connect.CodeInternal,
		wantMsg:  []string{"endorsement from peer0.org2: ", "unknown"},
	}, {
		name:     "an endorsement by a peer of another organisation does not count",
		scripts:  map[string][]reply{"peer0.org2": {{endorser: "peer1.org1"}}},
		wantCode: connect.CodeUnavailable,
		wantMsg:  []string{"('Org2MSP.peer')"},
	}, {
		name:     "a 2xx response without an endorsement",
		scripts:  map[string][]reply{"peer0.org2": {{unsigned: true}}},
		wantCode: connect.CodeInternal,
		wantMsg:  []string{"peer0.org2 returned a response without an endorsement"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			pol := cmp.Or(tc.policy, "AND('Org1MSP.peer','Org2MSP.peer')")
			g, f := txGateway(t, pol)
			for peer, s := range tc.scripts {
				f.script(peer, s...)
			}
			if tc.setup != nil {
				tc.setup(g, f)
			}
			resp, err := g.Endorse(context.Background(), connect.NewRequest(&foliov1.EndorseRequest{Proposal: proposal(t, "transfer"), EndorsingOrgs: tc.asked}))
			if got := connect.CodeOf(err); err != nil && got != tc.wantCode || err == nil && tc.wantCode != 0 {
				t.Fatalf("got %v, want code %v", err, tc.wantCode)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q\nlacks %q", err, m)
				}
			}
			if err == nil {
				if got := preparedEndorsers(t, resp.Msg); got != tc.wantEndorsers {
					t.Errorf("endorsed by %s, want %s", got, tc.wantEndorsers)
				}
				if string(resp.Msg.Result.GetPayload()) != "result" {
					t.Errorf("result %q, want the endorsers' result", resp.Msg.Result.GetPayload())
				}
			}
			for org, want := range tc.wantCalls {
				if got := f.calledIn(org); got != want {
					t.Errorf("peers of %s asked: %q, want %q", org, got, want)
				}
			}
		})
	}
}

// preparedEndorsers decodes a prepared transaction and names its
// endorsers (the fakes' endorser bytes are peer names), comma-separated.
func preparedEndorsers(t *testing.T, r *foliov1.EndorseResponse) string {
	t.Helper()
	var p foliov1.Payload
	var tx foliov1.Transaction
	if err := proto.Unmarshal(r.PreparedPayload, &p); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(p.Data, &tx); err != nil {
		t.Fatal(err)
	}
	if p.Header.GetTxId() != "tx-transfer" || string(tx.ResponsePayload) != "result" {
		t.Fatalf("prepared transaction %s carries result %q", p.Header.GetTxId(), tx.ResponsePayload)
	}
	var names []string
	for _, e := range tx.Endorsements {
		names = append(names, string(e.Endorser))
	}
	return strings.Join(names, ",")
}

func repeat(s []string, n int) []string {
	var out []string
	for range n {
		out = append(out, s...)
	}
	return out
}
