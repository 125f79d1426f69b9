package client

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

// These tests run the gateway client against real HTTP/2 TLS servers that
// serve a fake GatewayService, and against addresses that refuse
// connections or accept them and never answer.

// ordering is the fake ordering service the fake gateways share: it
// remembers every envelope handed over, by tx ID.
type ordering struct {
	mu      sync.Mutex
	ordered map[string][]byte // tx ID -> envelope bytes
}

// fakeGateway is one peer's gateway.
type fakeGateway struct {
	name string
	ord  *ordering
	// submitFails makes Submit hand the envelope to the orderers and then
	// fail as a gateway would that lost the orderer's answer.
	submitFails bool
	// delay holds Evaluate and Endorse back this long (or until the
	// request is cancelled).
	delay time.Duration
	// evalErr, when set, is Evaluate's answer.
	evalErr error
	// submitLost makes Submit fail the same way without handing over.
	submitLost bool

	mu        sync.Mutex
	endorsed  int
	evaluated int
	submitted [][]byte // envelopes received, in order
	statuses  int
}

func (f *fakeGateway) wait(ctx context.Context) error {
	select {
	case <-time.After(f.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeGateway) Evaluate(ctx context.Context, req *connect.Request[foliov1.EvaluateRequest]) (*connect.Response[foliov1.EvaluateResponse], error) {
	f.mu.Lock()
	f.evaluated++
	f.mu.Unlock()
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	if f.evalErr != nil {
		return nil, f.evalErr
	}
	return connect.NewResponse(&foliov1.EvaluateResponse{Result: &foliov1.Response{Payload: []byte("answer from " + f.name)}}), nil
}

func (f *fakeGateway) Endorse(ctx context.Context, req *connect.Request[foliov1.EndorseRequest]) (*connect.Response[foliov1.EndorseResponse], error) {
	f.mu.Lock()
	f.endorsed++
	f.mu.Unlock()
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	sp := req.Msg.GetProposal()
	var p foliov1.Proposal
	if err := proto.Unmarshal(sp.GetProposalBytes(), &p); err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	data, _ := proto.Marshal(&foliov1.Transaction{ProposalBytes: sp.ProposalBytes})
	prepared, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.Payload{Header: p.Header, Data: data})
	return connect.NewResponse(&foliov1.EndorseResponse{PreparedPayload: prepared, Result: &foliov1.Response{Payload: []byte("endorsed by " + f.name)}}), nil
}

func (f *fakeGateway) Submit(_ context.Context, req *connect.Request[foliov1.SubmitRequest]) (*connect.Response[foliov1.SubmitResponse], error) {
	env, _ := proto.Marshal(req.Msg.GetEnvelope())
	f.mu.Lock()
	f.submitted = append(f.submitted, env)
	f.mu.Unlock()
	if f.submitLost {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("no orderer accepted the transaction: orderer0: connection reset"))
	}
	f.ord.mu.Lock()
	_, dup := f.ord.ordered[req.Msg.TxId]
	f.ord.ordered[req.Msg.TxId] = env
	f.ord.mu.Unlock()
	switch {
	case f.submitFails:
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("no orderer accepted the transaction: orderer0: timeout"))
	case dup:
		return nil, connect.NewError(connect.CodeAlreadyExists, errors.New("transaction already ordered"))
	}
	return connect.NewResponse(&foliov1.SubmitResponse{}), nil
}

func (f *fakeGateway) CommitStatus(_ context.Context, req *connect.Request[foliov1.SignedCommitStatusRequest]) (*connect.Response[foliov1.CommitStatusResponse], error) {
	f.mu.Lock()
	f.statuses++
	f.mu.Unlock()
	var r foliov1.CommitStatusRequest
	if err := proto.Unmarshal(req.Msg.Request, &r); err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	f.ord.mu.Lock()
	_, ok := f.ord.ordered[r.TxId]
	f.ord.mu.Unlock()
	if !ok {
		return nil, connect.NewError(connect.CodeDeadlineExceeded, errors.New("not committed yet"))
	}
	return connect.NewResponse(&foliov1.CommitStatusResponse{Result: foliov1.ValidationCode_VALID, BlockNumber: 7}), nil
}

// counts returns what the fake saw (under its lock: the test's reads race
// with the server's handlers otherwise).
func (f *fakeGateway) counts() (endorsed, evaluated, statuses int, submitted [][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.endorsed, f.evaluated, f.statuses, slices.Clone(f.submitted)
}

func (h *harness) orderedCount() int {
	h.ord.mu.Lock()
	defer h.ord.mu.Unlock()
	return len(h.ord.ordered)
}

type harness struct {
	t     *testing.T
	id    *Identity
	ord   *ordering
	roots *x509.CertPool
}

func newHarness(t *testing.T) *harness {
	key, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := identity.NewRootCA("Org1", "user1", key, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewIdentity("Org1MSP", cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, id: id, ord: &ordering{ordered: map[string][]byte{}}, roots: x509.NewCertPool()}
}

// serve starts a fake gateway on an HTTP/2 TLS test server.
func (h *harness) serve(name string) (*fakeGateway, Endpoint) {
	f := &fakeGateway{name: name, ord: h.ord}
	mux := http.NewServeMux()
	mux.Handle(foliov1connect.NewGatewayServiceHandler(f))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	h.t.Cleanup(srv.Close)
	h.roots.AddCert(srv.Certificate())
	return f, Endpoint{Name: name, Addr: srv.Listener.Addr().String()}
}

// refusing returns an address nothing listens on.
func (h *harness) refusing(name string) Endpoint {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return Endpoint{Name: name, Addr: addr}
}

// hanging returns an address that accepts connections and never answers.
func (h *harness) hanging(name string) Endpoint {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	h.t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return Endpoint{Name: name, Addr: l.Addr().String()}
}

// Short bounds for the tests: a connection within 300ms, an answer within 1s.
const (
	testConnect = 300 * time.Millisecond
	testAttempt = time.Second
)

func (h *harness) gateway(eps ...Endpoint) *Gateway {
	g, err := NewGatewayWithOptions(HTTPClient(nil, h.roots), h.id, GatewayOptions{Channel: "ch", Endpoints: eps,
		ConnectTimeout: testConnect, AttemptTimeout: testAttempt, CommitWait: 2 * time.Second})
	if err != nil {
		h.t.Fatal(err)
	}
	return g
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A refused first endpoint: evaluate, endorse, submit and commit status all
// go to the second, which is then preferred.
func TestFailoverConnectionRefused(t *testing.T) {
	h := newHarness(t)
	down := h.refusing("peer0.org1")
	f, up := h.serve("peer1.org1")
	g := h.gateway(down, up)
	ctx := testContext(t)

	out, err := g.Evaluate(ctx, "copyright", "get")
	if err != nil || string(out) != "answer from peer1.org1" {
		t.Fatalf("Evaluate = %q, %v", out, err)
	}
	if g.Preferred() != up {
		t.Fatalf("preferred %v after evaluate, want %v", g.Preferred(), up)
	}
	res, err := g.Submit(ctx, "copyright", "register", [][]byte{[]byte("{}")}, SubmitOptions{})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if res.Code != foliov1.ValidationCode_VALID || res.Block != 7 || res.Via != "peer1.org1" || string(res.Payload) != "endorsed by peer1.org1" {
		t.Fatalf("Submit = %+v", res)
	}
	if e, _, st, sub := f.counts(); e != 1 || len(sub) != 1 || st != 1 {
		t.Fatalf("peer1 saw %d endorsements, %d submits, %d status requests; want 1 each", e, len(sub), st)
	}
}

// A first endpoint that accepts connections and never answers: each call
// waits one attempt timeout there, then the second endpoint answers; the
// next call starts at the second endpoint and does not wait.
func TestFailoverHangingEndpoint(t *testing.T) {
	h := newHarness(t)
	stuck := h.hanging("peer0.org1")
	f, up := h.serve("peer1.org1")
	const attempt = testConnect
	g := h.gateway(stuck, up)
	ctx := testContext(t)

	start := time.Now()
	if _, err := g.Evaluate(ctx, "copyright", "get"); err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if d := time.Since(start); d < attempt {
		t.Fatalf("Evaluate answered after %s, before the attempt timeout %s at the hanging endpoint", d, attempt)
	}
	start = time.Now()
	if _, err := g.Submit(ctx, "copyright", "register", nil, SubmitOptions{}); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if d := time.Since(start); d >= attempt {
		t.Fatalf("Submit took %s: it went back to the hanging endpoint instead of the one that answered", d)
	}

	// A fresh client (no preference yet) endorses through the timeout too.
	g2 := h.gateway(stuck, up)
	if _, err := g2.Submit(ctx, "copyright", "register", nil, SubmitOptions{}); err != nil {
		t.Fatalf("Submit via a fresh client: %v", err)
	}
	if e, _, _, _ := f.counts(); e != 2 {
		t.Fatalf("peer1 endorsed %d times, want 2", e)
	}
}

// A gateway that is connected but slower than ConnectTimeout (as one that
// fails over between endorsers itself) is waited for; one that does not
// answer within AttemptTimeout is left for the next.
func TestSlowGatewayWaitedForStuckOneLeft(t *testing.T) {
	h := newHarness(t)
	slow, a := h.serve("peer0.org1")
	slow.delay = 2 * testConnect
	other, b := h.serve("peer1.org1")
	g := h.gateway(a, b)
	ctx := testContext(t)
	if _, err := g.Submit(ctx, "copyright", "register", nil, SubmitOptions{}); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if es, _, _, _ := slow.counts(); es != 1 {
		t.Fatalf("the slow gateway endorsed %d times, want 1", es)
	}
	if eo, _, _, _ := other.counts(); eo != 0 {
		t.Fatalf("the other gateway was asked to endorse %d times; the slow one was within its attempt", eo)
	}

	slow.delay = time.Hour
	start := time.Now()
	out, err := g.Evaluate(ctx, "copyright", "get")
	if err != nil || string(out) != "answer from peer1.org1" {
		t.Fatalf("Evaluate = %q, %v", out, err)
	}
	if d := time.Since(start); d < testAttempt {
		t.Fatalf("Evaluate answered after %s, before the attempt timeout %s", d, testAttempt)
	}
}

// A submit that fails after the envelope may have reached the orderers:
// the same signed envelope goes to the next gateway, which reports it
// already ordered; nothing is endorsed a second time.
func TestAmbiguousSubmitResendsSameEnvelope(t *testing.T) {
	h := newHarness(t)
	fa, a := h.serve("peer0.org1")
	fa.submitFails = true
	fb, b := h.serve("peer1.org1")
	g := h.gateway(a, b)
	ctx := testContext(t)

	res, err := g.Submit(ctx, "copyright", "register", nil, SubmitOptions{RetryConflicts: 3})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if res.Code != foliov1.ValidationCode_VALID || res.Attempts != 1 {
		t.Fatalf("Submit = %+v", res)
	}
	ea, _, _, sa := fa.counts()
	eb, _, _, sb := fb.counts()
	if ea+eb != 1 {
		t.Fatalf("%d endorsements, want exactly 1", ea+eb)
	}
	if len(sa) != 1 || len(sb) != 1 || !bytes.Equal(sa[0], sb[0]) {
		t.Fatalf("submits: %d at peer0, %d at peer1; want one each, of the same envelope", len(sa), len(sb))
	}
	if n := h.orderedCount(); n != 1 {
		t.Fatalf("%d transactions ordered, want 1", n)
	}
}

// When no gateway takes the envelope after an ambiguous failure, the
// client asks the commit status instead of re-endorsing, and reports the
// transaction committed if it did.
func TestAmbiguousSubmitAsksCommitStatus(t *testing.T) {
	h := newHarness(t)
	fa, a := h.serve("peer0.org1")
	fa.submitFails = true
	g := h.gateway(a, h.refusing("peer1.org1"))
	ctx := testContext(t)

	res, err := g.Submit(ctx, "copyright", "register", nil, SubmitOptions{})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if e, _, st, _ := fa.counts(); res.Code != foliov1.ValidationCode_VALID || e != 1 || st != 1 {
		t.Fatalf("Submit = %+v after %d endorsements and %d status requests", res, e, st)
	}

	// Same, but the envelope never reached an orderer: the outcome is
	// unknown and the error says so, still with a single endorsement.
	fc, c := h.serve("peer2.org1")
	fc.submitLost = true
	g = h.gateway(c, h.refusing("peer1.org1"))
	_, err = g.Submit(ctx, "copyright", "register", nil, SubmitOptions{})
	var unknown *UnknownOutcomeError
	if !errors.As(err, &unknown) || unknown.TxID == "" {
		t.Fatalf("Submit error = %v, want an *UnknownOutcomeError", err)
	}
	if e, _, st, _ := fc.counts(); e != 1 || st != 1 {
		t.Fatalf("%d endorsements and %d status requests, want 1 each", e, st)
	}
}

// A gateway's definitive answer (not "unavailable") is final: no other
// endpoint is tried.
func TestDefinitiveErrorIsFinal(t *testing.T) {
	h := newHarness(t)
	fa, a := h.serve("peer0.org1")
	fa.evalErr = connect.NewError(connect.CodeNotFound, errors.New("no work W1"))
	fb, b := h.serve("peer1.org1")
	g := h.gateway(a, b)
	ctx := testContext(t)
	if _, err := g.Evaluate(ctx, "copyright", "get"); connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), "peer0.org1") {
		t.Fatalf("Evaluate error = %v, want peer0's not-found", err)
	}
	if _, ev, _, _ := fb.counts(); ev != 0 {
		t.Fatalf("peer1 evaluated %d times after peer0's definitive answer", ev)
	}
	res, err := g.SubmitEnvelope(ctx, &foliov1.Envelope{Payload: []byte("x")}, "tx-1")
	if err != nil || res.Code != foliov1.ValidationCode_VALID {
		t.Fatalf("SubmitEnvelope = %+v, %v", res, err)
	}
	// Ordered already, so the second copy is AlreadyExists: still success.
	if res, err := g.SubmitEnvelope(ctx, &foliov1.Envelope{Payload: []byte("x")}, "tx-1"); err != nil || res.Code != foliov1.ValidationCode_VALID {
		t.Fatalf("second SubmitEnvelope = %+v, %v", res, err)
	}
	if _, _, _, sb := fb.counts(); len(sb) != 0 {
		t.Fatalf("peer1 got %d submits; the first gateway answered", len(sb))
	}
}

// With every endpoint down, the error names each one and why it failed.
func TestAllEndpointsDown(t *testing.T) {
	h := newHarness(t)
	g := h.gateway(h.refusing("peer0.org1"), h.hanging("peer1.org1"))
	ctx := testContext(t)

	_, err := g.Evaluate(ctx, "copyright", "get")
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrNoGateway) || len(ue.Attempts) != 2 {
		t.Fatalf("Evaluate error = %v, want an *UnavailableError with 2 attempts", err)
	}
	msg := err.Error()
	for _, want := range []string{"peer0.org1", "connection refused", "peer1.org1", "no connection within 300ms"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Errorf("connect.CodeOf = %v, want unavailable", connect.CodeOf(err))
	}

	// A submit that reached no gateway is not ambiguous: a plain error.
	_, err = g.Submit(ctx, "copyright", "register", nil, SubmitOptions{})
	if !errors.As(err, &ue) || ue.Op != "endorse" {
		t.Fatalf("Submit error = %v, want endorse unavailable", err)
	}
}
