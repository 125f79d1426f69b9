package gateway

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

// Submit's failover between orderers, with orderers that answer at once
// (refusing, failing or accepting): which orderers are asked, in which
// order, and what the client is told. The hung orderer, which costs an
// attempt's share of the budget, is TestSubmitOrdererFailover's.
func TestSubmitFailover(t *testing.T) {
	noLeader := fails(connect.CodeUnavailable, "no Raft leader is known (election under way)")
	for _, tc := range []struct {
		name      string
		orderers  map[string]behaviour
		noSession []string
		wantCode  connect.Code
		wantMsg   []string
		wantCalls string
	}{{
		name:      "the first orderer accepts",
		wantCalls: "orderer0",
	}, {
		name:      "one orderer down: the next accepts",
		orderers:  map[string]behaviour{"orderer0": dead},
		wantCalls: "orderer0,orderer1",
	}, {
		name:      "leader election under way on one orderer: the next accepts",
		orderers:  map[string]behaviour{"orderer0": noLeader},
		wantCalls: "orderer0,orderer1",
	}, {
		name:      "orderer failing internally: the next",
		orderers:  map[string]behaviour{"orderer0": fails(connect.CodeInternal, "raft log write failed")},
		wantCalls: "orderer0,orderer1",
	}, {
		name:      "an error without a code counts as unreachable",
		orderers:  map[string]behaviour{"orderer0": func(context.Context) error { return errors.New("stream reset") }},
		wantCalls: "orderer0,orderer1",
	}, {
		name:      "an orderer without a session is asked last",
		noSession: []string{"orderer0"},
		wantCalls: "orderer1",
	}, {
		name:      "already ordered counts as submitted",
		orderers:  map[string]behaviour{"orderer0": fails(connect.CodeAlreadyExists, "transaction already ordered")},
		wantCalls: "orderer0",
	}, {
		name:      "a refusal is the answer: no other orderer is asked",
		orderers:  map[string]behaviour{"orderer0": fails(connect.CodeInvalidArgument, "envelope of 3 MiB exceeds the 1 MiB limit")},
		wantCode:  connect.CodeInvalidArgument,
		wantMsg:   []string{"orderer0 refused the transaction: envelope of 3 MiB exceeds the 1 MiB limit"},
		wantCalls: "orderer0",
	}, {
		name:     "every orderer down: unavailable, naming each",
		orderers: map[string]behaviour{"orderer0": dead, "orderer1": noLeader, "orderer2": fails(connect.CodeResourceExhausted, "queue full")},
		wantCode: connect.CodeUnavailable,
		wantMsg: []string{"no orderer accepted transaction ", "orderer0: unavailable: connection refused",
			"orderer1: unavailable: no Raft leader is known", "orderer2: resource_exhausted: queue full"},
		wantCalls: "orderer0,orderer1,orderer2",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g, f, _ := testGateway(t, time.Second, 15*time.Second)
			for name, b := range tc.orderers {
				f.set(name, b)
			}
			for _, name := range tc.noSession {
				f.down["id-"+name] = true
			}
			err, _ := submit(g, testEnvelope(t))
			if got := connect.CodeOf(err); err != nil && got != tc.wantCode || err == nil && tc.wantCode != 0 {
				t.Fatalf("got %v, want code %v", err, tc.wantCode)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q\nlacks %q", err, m)
				}
			}
			if got := f.called(); got != tc.wantCalls {
				t.Errorf("orderers asked: %s, want %s", got, tc.wantCalls)
			}
		})
	}
}

// TestSubmitFollowsLeaderChange: the orderer that accepted last is asked
// first; when it loses its leader (or goes down), the next that accepts
// becomes the first to ask, and the failed one is asked last until its
// backoff ends.
func TestSubmitFollowsLeaderChange(t *testing.T) {
	g, f, clk := testGateway(t, time.Second, 15*time.Second)
	env := testEnvelope(t)
	steps := []struct {
		change    func()
		wantCalls string
	}{
		{func() { f.set("orderer0", dead) }, "orderer0,orderer1"},
		{func() {}, "orderer1"},
		{func() {
			clk.advance(healthBackoff / 2)
			f.set("orderer1", fails(connect.CodeUnavailable, "not the leader and no leader known"))
		}, "orderer1,orderer2"},
		{func() {}, "orderer2"},
		// The new leader goes down; orderer0 and orderer1 still back off
		// but are asked rather than failing the call, the one due soonest
		// (orderer0, which failed first) first.
		{func() {
			f.set("orderer2", dead)
			f.set("orderer0", answers)
		}, "orderer2,orderer0"},
		// Backoffs over: the working orderer stays first.
		{func() { clk.advance(maxHealthBackoff) }, "orderer0"},
	}
	for i, s := range steps {
		s.change()
		if err, _ := submit(g, env); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := f.called(); got != s.wantCalls {
			t.Fatalf("step %d: orderers asked %s, want %s", i, got, s.wantCalls)
		}
	}
}

// TestSubmitRefusesBadRequests: a malformed envelope, a tx_id that is not
// the envelope's, or a channel without orderers fail before any orderer is
// asked.
func TestSubmitRefusesBadRequests(t *testing.T) {
	g, f, _ := testGateway(t, time.Second, time.Second)
	env := testEnvelope(t)
	for _, tc := range []struct {
		name     string
		req      *foliov1.SubmitRequest
		wantCode connect.Code
		wantMsg  string
	}{
		{"no envelope", &foliov1.SubmitRequest{}, connect.CodeInvalidArgument, "payload missing"},
		{"undecodable payload", &foliov1.SubmitRequest{Envelope: &foliov1.Envelope{Payload: []byte{0xff, 0xff}, Signature: []byte("s")}}, connect.CodeInvalidArgument, "envelope payload"},
		{"another tx_id", &foliov1.SubmitRequest{Envelope: env, TxId: "abc"}, connect.CodeInvalidArgument, "tx_id abc does not match the envelope's"},
	} {
		_, err := g.Submit(context.Background(), connect.NewRequest(tc.req))
		if connect.CodeOf(err) != tc.wantCode || !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("%s: got %v, want %v containing %q", tc.name, err, tc.wantCode, tc.wantMsg)
		}
	}
	g.SetNodes(g.peers(), nil)
	if err, _ := submit(g, env); connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "the channel has no orderers") {
		t.Errorf("no orderers: %v", err)
	}
	if got := f.called(); got != "" {
		t.Errorf("orderers asked: %s", got)
	}
}
