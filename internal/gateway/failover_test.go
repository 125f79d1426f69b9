package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

// Failover tests with fake endorser and orderer clients: no network, and
// no sleeps beyond the small attempt timeouts the tests set.

// behaviour is how a fake node answers one call: nil is success.
type behaviour func(ctx context.Context) error

var (
	answers behaviour = func(context.Context) error { return nil }
	dead    behaviour = func(context.Context) error {
		return connect.NewError(connect.CodeUnavailable, errors.New("connection refused"))
	}
	// hangs models a node that accepted the call and never answers (or a
	// node whose session is down: the session layer waits for one).
	hangs behaviour = func(ctx context.Context) error {
		<-ctx.Done()
		return connect.NewError(connect.CodeDeadlineExceeded, ctx.Err())
	}
)

func fails(code connect.Code, msg string) behaviour {
	return func(context.Context) error { return connect.NewError(code, errors.New(msg)) }
}

// fakeNet is an EndorserClient, OrdererClient and SessionState over nodes
// described by their behaviour.
type fakeNet struct {
	mu    sync.Mutex
	nodes map[string]behaviour // by name
	down  map[string]bool      // by node ID: no session
	calls []string             // names, in call order
}

func (f *fakeNet) call(ctx context.Context, n Node) error {
	f.mu.Lock()
	f.calls = append(f.calls, n.Name)
	b := f.nodes[n.Name]
	f.mu.Unlock()
	return b(ctx)
}

func (f *fakeNet) Endorse(ctx context.Context, p Node, _ *foliov1.SignedProposal) (*foliov1.ProposalResponse, error) {
	if err := f.call(ctx, p); err != nil {
		return nil, err
	}
	return &foliov1.ProposalResponse{Response: &foliov1.Response{Status: 200}, Payload: []byte("result"),
		Endorsement: &foliov1.Endorsement{Endorser: []byte(p.Name)}}, nil
}

func (f *fakeNet) Broadcast(ctx context.Context, o Node, _ *foliov1.Envelope) error {
	return f.call(ctx, o)
}

func (f *fakeNet) Up(nodeID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.down[nodeID]
}

func (f *fakeNet) set(name string, b behaviour) {
	f.mu.Lock()
	f.nodes[name] = b
	f.mu.Unlock()
}

// called returns the calls so far and forgets them.
func (f *fakeNet) called() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := strings.Join(f.calls, ",")
	f.calls = nil
	return s
}

var _ interface {
	EndorserClient
	OrdererClient
	SessionState
} = (*fakeNet)(nil)

func node(name, msp string) Node { return Node{Name: name, MSPID: msp, NodeID: "id-" + name} }

// testGateway is a gateway of peer "gw" (an organisation no policy here
// names) over fake peers peer0/peer1 of Org1 and Org2 and orderers
// orderer0..2, all answering until told otherwise. Each organisation's
// attempt gets half of endorse; each orderer a third of submit.
func testGateway(t *testing.T, endorse, submit time.Duration) (*Gateway, *fakeNet, *fakeClock) {
	t.Helper()
	f := &fakeNet{nodes: map[string]behaviour{}, down: map[string]bool{}}
	peers := []Node{node("peer0.org1", "Org1MSP"), node("peer1.org1", "Org1MSP"), node("peer0.org2", "Org2MSP"), node("peer1.org2", "Org2MSP")}
	orderers := []Node{node("orderer0", "OrdererMSP"), node("orderer1", "OrdererMSP"), node("orderer2", "OrdererMSP")}
	for _, n := range append(append([]Node(nil), peers...), orderers...) {
		f.nodes[n.Name] = answers
	}
	g := newGateway(Options{Self: node("gw", "Org3MSP"), Peers: peers, Orderers: orderers,
		EndorseClient: f, OrderClient: f, Sessions: f,
		EndorseTimeout: endorse, SubmitTimeout: submit, MinAttemptTimeout: time.Millisecond})
	clk := &fakeClock{}
	clk.t.Store(time.Unix(1000, 0).UnixNano())
	g.now = clk.now
	// The orderers are tried from a rotating start; make it orderer0.
	g.nextOrd.Store(uint64(len(orderers) - 1))
	return g, f, clk
}

type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.t.Add(int64(d)) }
func (c *fakeClock) String() string          { return c.now().String() }
func (g *Gateway) standingOf(name string) standing {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mu.health.standing(name, g.now())
}

// endorseOrg2 collects Org2's endorsement and returns it and the time taken.
func endorseOrg2(g *Gateway) (endorsed, time.Duration) {
	t0 := time.Now()
	rs := g.collect(context.Background(), []string{"Org2MSP"}, &foliov1.SignedProposal{})
	return rs[0], time.Since(t0)
}

// TestEndorseDeadPeerFailsOver: a peer that refuses connections fails at
// once and its organisation's other peer answers without waiting for any
// timeout; the dead peer is then tried last until its backoff ends, when
// it is probed again, and a success makes it first again.
func TestEndorseDeadPeerFailsOver(t *testing.T) {
	g, f, clk := testGateway(t, 10*time.Second, 15*time.Second)
	f.set("peer0.org2", dead)
	r, took := endorseOrg2(g)
	if r.err != nil || r.node.Name != "peer1.org2" {
		t.Fatalf("got %+v, want peer1.org2's endorsement", r)
	}
	if took > time.Second {
		t.Fatalf("took %s: a dead peer must fail fast (its share is 5s)", took)
	}
	if got := f.called(); got != "peer0.org2,peer1.org2" {
		t.Fatalf("calls %s", got)
	}
	if st := g.standingOf("peer0.org2"); st != backingOff {
		t.Fatalf("peer0.org2 is %s after failing, want backing off", st)
	}
	// While it backs off, the live peer is asked first and alone.
	if r, _ := endorseOrg2(g); r.node.Name != "peer1.org2" || f.called() != "peer1.org2" {
		t.Fatalf("second call: %+v, calls %s", r, f.called())
	}
	// After the backoff it is probed (asked first again); it is back.
	clk.advance(healthBackoff)
	f.set("peer0.org2", answers)
	if r, _ := endorseOrg2(g); r.node.Name != "peer0.org2" {
		t.Fatalf("probe: %+v, calls %s", r, f.called())
	}
	if st := g.standingOf("peer0.org2"); st != healthy {
		t.Fatalf("peer0.org2 is %s after answering, want healthy", st)
	}
}

// TestEndorseSlowPeerIsHedged: a peer that accepted the call and hangs
// does not use up the organisation's budget: once its share (budget / 2)
// is used, the other peer is asked and its answer taken, well within the
// budget; the slow one is cancelled and tried late next time.
func TestEndorseSlowPeerIsHedged(t *testing.T) {
	const budget = time.Second
	g, f, _ := testGateway(t, budget, time.Second)
	f.set("peer0.org2", hangs)
	r, took := endorseOrg2(g)
	if r.err != nil || r.node.Name != "peer1.org2" {
		t.Fatalf("got %+v, want peer1.org2's endorsement", r)
	}
	if took < budget/2 || took > budget*9/10 {
		t.Fatalf("took %s, want about one share (%s)", took, budget/2)
	}
	if st := g.standingOf("peer0.org2"); st != backingOff {
		t.Fatalf("the slow peer is %s, want backing off", st)
	}
	f.called()
	if r, took := endorseOrg2(g); r.node.Name != "peer1.org2" || took > budget/4 || f.called() != "peer1.org2" {
		t.Fatalf("second call: %+v in %s", r, took)
	}
}

// TestEndorseSessionDownTriedLast: a peer without a session is not asked
// while its organisation's other peer answers (the measured outage: every
// call waited for peer0.org2's session until the budget ended).
func TestEndorseSessionDownTriedLast(t *testing.T) {
	g, f, _ := testGateway(t, 10*time.Second, time.Second)
	f.set("peer0.org2", hangs)
	f.down["id-peer0.org2"] = true
	r, took := endorseOrg2(g)
	if r.err != nil || r.node.Name != "peer1.org2" || took > time.Second || f.called() != "peer1.org2" {
		t.Fatalf("got %+v in %s", r, took)
	}
}

// TestEndorseErrors: an error of the peer's own (it cannot run the
// contract version in force) fails over; an error that is the proposal's
// fault is the answer, and the other peer is not asked.
func TestEndorseErrors(t *testing.T) {
	g, f, _ := testGateway(t, 10*time.Second, time.Second)
	f.set("peer0.org2", fails(connect.CodeFailedPrecondition, "contract copyright v2 is halted on this peer"))
	if r, _ := endorseOrg2(g); r.node.Name != "peer1.org2" || f.called() != "peer0.org2,peer1.org2" {
		t.Fatalf("failed precondition: %+v", r)
	}
	g, f, _ = testGateway(t, 10*time.Second, time.Second)
	f.set("peer0.org2", fails(connect.CodePermissionDenied, "creator user9@Org1 is revoked"))
	r, _ := endorseOrg2(g)
	if r.err == nil || !strings.Contains(r.err.Error(), "peer0.org2: permission_denied: creator user9@Org1 is revoked") {
		t.Fatalf("permission denied: got %+v", r)
	}
	if got := f.called(); got != "peer0.org2" {
		t.Fatalf("calls %s: the refusal is the answer, no other peer is asked", got)
	}
	if st := g.standingOf("peer0.org2"); st != healthy {
		t.Fatalf("a peer refusing a proposal is %s, want healthy", st)
	}
}

// TestEndorseOrganisationDown: with every peer of an organisation down the
// error names each one, what it said, how long it took and why it was
// tried late; the other organisation's endorsement is unaffected.
func TestEndorseOrganisationDown(t *testing.T) {
	g, f, _ := testGateway(t, 400*time.Millisecond, time.Second)
	f.set("peer0.org2", hangs)
	f.down["id-peer0.org2"] = true
	f.set("peer1.org2", dead)
	t0 := time.Now()
	rs := g.collect(context.Background(), []string{"Org1MSP", "Org2MSP"}, &foliov1.SignedProposal{})
	if took := time.Since(t0); took > 800*time.Millisecond {
		t.Fatalf("took %s, budget 400ms", took)
	}
	var org1, org2 endorsed
	for _, r := range rs {
		if r.err == nil {
			org1 = r
		} else {
			org2 = r
		}
	}
	if org1.node.Name != "peer0.org1" {
		t.Fatalf("Org1: %+v", org1)
	}
	msg := org2.err.Error()
	for _, want := range []string{
		"Org2MSP: peer1.org2: unavailable: connection refused (after ",
		"; peer0.org2: deadline_exceeded: ",
		"tried late: session down",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q\nlacks %q", msg, want)
		}
	}
}

// TestEndorseConcurrentCalls: concurrent calls with peers failing and
// recovering at random keep the tracker consistent (run with -race).
func TestEndorseConcurrentCalls(t *testing.T) {
	g, f, _ := testGateway(t, time.Second, time.Second)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%4 == 0 {
				f.set("peer0.org2", dead)
			} else if i%4 == 2 {
				f.set("peer0.org2", answers)
			}
			if r, _ := endorseOrg2(g); r.err != nil {
				t.Errorf("call %d: %v", i, r.err)
			}
		}()
	}
	wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.mu.health.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

// testEnvelope is a well-formed (unsigned, never verified here) envelope.
func testEnvelope(t *testing.T) *foliov1.Envelope {
	t.Helper()
	nonce, creator := make([]byte, 24), []byte("creator")
	sum := sha256.Sum256(append(append([]byte(nil), nonce...), creator...))
	payload, err := proto.Marshal(&foliov1.Payload{Data: []byte("tx"), Header: &foliov1.TxHeader{Type: foliov1.TxType_TX_TYPE_ENDORSER,
		ChannelId: "ch", TxId: hex.EncodeToString(sum[:]), Creator: creator, Nonce: nonce, TimestampUnixNano: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return &foliov1.Envelope{Payload: payload, Signature: []byte("sig")}
}

func submit(g *Gateway, env *foliov1.Envelope) (error, time.Duration) {
	t0 := time.Now()
	_, err := g.Submit(context.Background(), connect.NewRequest(&foliov1.SubmitRequest{Envelope: env}))
	return err, time.Since(t0)
}

// TestSubmitOrdererFailover: a hung orderer costs one attempt's share
// (SubmitTimeout / 3), then the next orderer accepts; the one that
// accepted is asked first from then on.
func TestSubmitOrdererFailover(t *testing.T) {
	const budget = 900 * time.Millisecond
	g, f, _ := testGateway(t, time.Second, budget)
	env := testEnvelope(t)
	f.set("orderer0", hangs)
	err, took := submit(g, env)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.called(); got != "orderer0,orderer1" {
		t.Fatalf("calls %s", got)
	}
	if took < budget/3 || took > 2*budget/3 {
		t.Fatalf("took %s, want about one share (%s)", took, budget/3)
	}
	for range 3 {
		if err, took := submit(g, env); err != nil || took > budget/3 {
			t.Fatalf("next submit: %v in %s", err, took)
		}
		if got := f.called(); got != "orderer1" {
			t.Fatalf("next submit called %s, want the orderer that accepted last", got)
		}
	}
	// A dead orderer fails at once; AlreadyExists counts as accepted.
	f.set("orderer1", dead)
	f.set("orderer2", fails(connect.CodeAlreadyExists, "transaction already ordered"))
	if err, took := submit(g, env); err != nil || took > budget/3 {
		t.Fatalf("after orderer1 died: %v in %s", err, took)
	}
	if got := f.called(); got != "orderer1,orderer2" {
		t.Fatalf("calls %s (orderer0 backs off, so it comes last and is not needed)", got)
	}
}

// TestSubmitRefusalAndAllDown: a refusal (not the orderer's fault) is the
// answer, with no failover; with every orderer down the error names each.
func TestSubmitRefusalAndAllDown(t *testing.T) {
	g, f, _ := testGateway(t, time.Second, 300*time.Millisecond)
	env := testEnvelope(t)
	f.set("orderer0", fails(connect.CodePermissionDenied, "creator is not a valid consortium member"))
	err, _ := submit(g, env)
	if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "orderer0 refused the transaction: creator is not") {
		t.Fatalf("refusal: %v", err)
	}
	if got := f.called(); got != "orderer0" {
		t.Fatalf("calls %s", got)
	}
	f.set("orderer0", dead)
	f.set("orderer1", hangs)
	f.set("orderer2", fails(connect.CodeUnavailable, "no Raft leader is known"))
	f.down["id-orderer2"] = true
	err, took := submit(g, env)
	if connect.CodeOf(err) != connect.CodeUnavailable || took > 600*time.Millisecond {
		t.Fatalf("all down: %v in %s", err, took)
	}
	for _, want := range []string{"no orderer accepted transaction ", "orderer0: unavailable: connection refused",
		"orderer1: deadline_exceeded", "orderer2: unavailable: no Raft leader is known", "tried late: session down"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
}

// TestSubmitRefusalAfterAPossibleOrder: an orderer that timed out may have
// ordered the envelope, so a refusal by the next one must not reach the
// client as a final refusal (it would tell its user the transaction will
// never commit): the answer is Unavailable, naming both.
func TestSubmitRefusalAfterAPossibleOrder(t *testing.T) {
	g, f, _ := testGateway(t, time.Second, 600*time.Millisecond)
	env := testEnvelope(t)
	f.set("orderer0", hangs)
	f.set("orderer1", fails(connect.CodeInvalidArgument, "envelope timestamp is 10m0s ahead of this orderer's clock"))
	err, _ := submit(g, env)
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("refusal after a timeout: %v (code %s), want unavailable", err, connect.CodeOf(err))
	}
	for _, want := range []string{"orderer1 refused the transaction", "orderer0 may have ordered it", "outcome is unknown"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// A dead orderer (connection refused) took nothing: the refusal stands.
	f.set("orderer0", dead)
	f.set("orderer1", fails(connect.CodePermissionDenied, "creator is not a valid consortium member"))
	f.set("orderer2", fails(connect.CodePermissionDenied, "creator is not a valid consortium member"))
	err, _ = submit(g, env)
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("refusal after a dead orderer: %v (code %s), want permission_denied", err, connect.CodeOf(err))
	}
}
