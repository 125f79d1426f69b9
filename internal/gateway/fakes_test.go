package gateway

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/commit"
	"github.com/folio-ledger/folio/internal/endorse"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/policy"
)

// Hand-written fakes of the gateway's collaborators (STYLE 17), for the
// table-driven tests of the transaction path. They answer at once, as
// scripted: nothing here waits on a clock but the gateway's own
// disagreement backoff and the commit-status timeouts under test.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// reply is one scripted reply of a peer to an endorsement request or a
// query: err, or a response with status (0 means 200) and payload ("" means
// "result"). A 2xx response carries an endorsement by endorser (default:
// the peer's name, which fakeMSP knows).
type reply struct {
	err      error
	status   int32
	payload  string
	endorser string
	// unsigned leaves the endorsement out of a 2xx response.
	unsigned bool
}

func (a reply) response(peer string) *foliov1.ProposalResponse {
	st, payload, endorser := a.status, a.payload, a.endorser
	if st == 0 {
		st = 200
	}
	if payload == "" {
		payload = "result"
	}
	if endorser == "" {
		endorser = peer
	}
	r := &foliov1.ProposalResponse{Response: &foliov1.Response{Status: st, Message: fmt.Sprintf("status %d from %s", st, peer), Payload: []byte(payload)},
		Payload: []byte(payload)}
	if st >= 200 && st < 300 && !a.unsigned {
		r.Endorsement = &foliov1.Endorsement{Endorser: []byte(endorser), Signature: []byte("sig of " + endorser)}
	}
	return r
}

func failing(code connect.Code, msg string) reply {
	return reply{err: connect.NewError(code, errors.New(msg))}
}

// fakePeers scripts every peer of a test channel, the gateway's own peer
// included: it is the EndorserClient (the others) and the Endorser (this
// peer). Each call to a peer takes the peer's next reply; the last one
// repeats; a peer without a script answers with a 200 and "result".
type fakePeers struct {
	self string

	mu      sync.Mutex
	scripts map[string][]reply
	calls   []string // peer names, in call order

	// checkErr fails Check and CheckQueryFrom; conn records the
	// certificate CheckQueryFrom was given.
	checkErr error
	conn     *x509.Certificate
}

var (
	_ EndorserClient = (*fakePeers)(nil)
	_ Endorser       = localEndorser{}
)

func (f *fakePeers) script(peer string, as ...reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.scripts == nil {
		f.scripts = map[string][]reply{}
	}
	f.scripts[peer] = as
}

func (f *fakePeers) next(peer string) reply {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, peer)
	s := f.scripts[peer]
	if len(s) == 0 {
		return reply{}
	}
	a := s[0]
	if len(s) > 1 {
		f.scripts[peer] = s[1:]
	}
	return a
}

// calledIn returns the calls so far to the peers whose name ends in org
// (".org2"), in order, comma-separated.
func (f *fakePeers) calledIn(org string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if strings.HasSuffix(c, org) {
			out = append(out, c)
		}
	}
	return strings.Join(out, ",")
}

func (f *fakePeers) endorse(peer string) (*foliov1.ProposalResponse, error) {
	a := f.next(peer)
	if a.err != nil {
		return nil, a.err
	}
	return a.response(peer), nil
}

// Endorse is the remote peers' EndorserClient.
func (f *fakePeers) Endorse(_ context.Context, p Node, _ *foliov1.SignedProposal) (*foliov1.ProposalResponse, error) {
	return f.endorse(p.Name)
}

// localEndorser is this peer's Endorser: the same script, under Self's name.
type localEndorser struct{ *fakePeers }

func (l localEndorser) Endorse(_ context.Context, _ *foliov1.SignedProposal) (*foliov1.ProposalResponse, error) {
	return l.endorse(l.self)
}

func (f *fakePeers) Check(sp *foliov1.SignedProposal, _ bool) (*endorse.Checked, error) {
	if f.checkErr != nil {
		return nil, f.checkErr
	}
	var p foliov1.Proposal
	if err := proto.Unmarshal(sp.GetProposalBytes(), &p); err != nil {
		return nil, fmt.Errorf("%w: %v", endorse.ErrBadProposal, err)
	}
	return &endorse.Checked{Signed: sp, Proposal: &p}, nil
}

func (f *fakePeers) CheckQueryFrom(sp *foliov1.SignedProposal, conn *x509.Certificate) (*endorse.Checked, error) {
	f.mu.Lock()
	f.conn = conn
	f.mu.Unlock()
	return f.Check(sp, true)
}

func (f *fakePeers) Query(context.Context, *endorse.Checked) (*foliov1.Response, error) {
	a := f.next(f.self)
	if a.err != nil {
		return nil, a.err
	}
	return a.response(f.self).Response, nil
}

// fakeMSP knows the peers of the test channel by name: the endorser bytes
// of a fake endorsement are the peer's name.
type fakeMSP struct{ ids map[string]*identity.Identity }

func newFakeMSP(peers []Node) *fakeMSP {
	m := &fakeMSP{ids: map[string]*identity.Identity{}}
	for _, p := range peers {
		m.ids[p.Name] = &identity.Identity{MSPID: p.MSPID, Org: strings.TrimSuffix(p.MSPID, "MSP"), Name: p.Name, Role: identity.RolePeer,
			Cert: &x509.Certificate{Raw: []byte(p.Name)}}
	}
	return m
}

func (m *fakeMSP) ValidateSerialized(b []byte) (*identity.Identity, error) {
	if id := m.ids[string(b)]; id != nil {
		return id, nil
	}
	return nil, fmt.Errorf("%q: %w", b, identity.ErrUnknownMSP)
}

func (m *fakeMSP) Admit(*identity.Identity) error { return nil }

// rules is EndorsementRules with one contract, "copyright", under a policy.
type rules struct{ policy *policy.Policy }

func (r rules) EndorsementRule(contract string, _ uint64) (*policy.Policy, string, error) {
	if contract != "copyright" {
		return nil, "", fmt.Errorf("%w: %q", lifecycle.ErrUnknownContract, contract)
	}
	return r.policy, "1", nil
}

// fakeCommits is a CommitFinder: Wait answers from committed, or blocks
// until commit delivers the status or ctx ends. waiting receives the tx
// ID of every Wait that blocks, once it is registered (so a test commits
// after the gateway waits, without sleeping).
type fakeCommits struct {
	mu        sync.Mutex
	committed map[string]commit.Status
	waiters   map[string]chan commit.Status
	waiting   chan string
}

func newFakeCommits() *fakeCommits {
	return &fakeCommits{committed: map[string]commit.Status{}, waiters: map[string]chan commit.Status{}, waiting: make(chan string, 16)}
}

func (c *fakeCommits) Wait(ctx context.Context, txID string) (commit.Status, error) {
	c.mu.Lock()
	if st, ok := c.committed[txID]; ok {
		c.mu.Unlock()
		return st, nil
	}
	ch := make(chan commit.Status, 1)
	c.waiters[txID] = ch
	c.mu.Unlock()
	c.waiting <- txID
	select {
	case st := <-ch:
		return st, nil
	case <-ctx.Done():
		return commit.Status{}, ctx.Err()
	}
}

// commit records a status and wakes its waiter.
func (c *fakeCommits) commit(st commit.Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.committed[st.TxID] = st
	if ch := c.waiters[st.TxID]; ch != nil {
		ch <- st
		delete(c.waiters, st.TxID)
	}
}

// fakeHost is a Host whose calls are answered by call and whose sessions
// are fixed.
type fakeHost struct {
	handlers map[string]p2p.CallHandler
	call     func(ctx context.Context, nodeID, protocol string, req []byte) ([]byte, error)
	sessions []p2p.SessionInfo
}

var _ Host = (*fakeHost)(nil)

func (h *fakeHost) HandleCall(protocol string, handler p2p.CallHandler) error {
	if h.handlers == nil {
		h.handlers = map[string]p2p.CallHandler{}
	}
	if _, dup := h.handlers[protocol]; dup {
		return fmt.Errorf("protocol %s registered twice", protocol)
	}
	h.handlers[protocol] = handler
	return nil
}

func (h *fakeHost) Call(ctx context.Context, nodeID, protocol string, req []byte) ([]byte, error) {
	return h.call(ctx, nodeID, protocol, req)
}

func (h *fakeHost) Sessions() []p2p.SessionInfo { return h.sessions }

// txChannel is the test channel: this peer peer0.org1, a second peer of
// Org1, two peers of Org2 and one of Org3, in configuration order.
var txChannel = []Node{node("peer0.org1", "Org1MSP"), node("peer1.org1", "Org1MSP"), node("peer0.org2", "Org2MSP"),
	node("peer1.org2", "Org2MSP"), node("peer0.org3", "Org3MSP")}

// txGateway is a gateway of peer0.org1 over fakePeers, with copyright
// under pol. Each test gets its own, so the health of its nodes starts
// clean.
func txGateway(t *testing.T, pol string) (*Gateway, *fakePeers) {
	t.Helper()
	p, err := policy.Parse(pol)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePeers{self: "peer0.org1"}
	o := Options{ChannelID: "folio", Self: txChannel[0], Peers: txChannel, Endorser: localEndorser{f}, EndorseClient: f,
		Committer: newFakeCommits(), Height: func() uint64 { return 7 }, Contracts: rules{p}, MSP: newFakeMSP(txChannel),
		Sessions: allUp{}, Host: &fakeHost{}, Logger: quiet, EndorseTimeout: 5 * time.Second}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	return newGateway(o), f
}

// allUp is a SessionState in which every node has a session.
type allUp struct{}

func (allUp) Up(string) bool { return true }

// proposal is a signed proposal to call copyright.fn (the fakes do not
// check signatures).
func proposal(t *testing.T, fn string) *foliov1.SignedProposal {
	t.Helper()
	raw, err := proto.Marshal(&foliov1.Proposal{Header: &foliov1.TxHeader{Type: foliov1.TxType_TX_TYPE_ENDORSER, ChannelId: "folio", TxId: "tx-" + fn},
		Invocation: &foliov1.ContractInvocation{Contract: "copyright", Function: fn}})
	if err != nil {
		t.Fatal(err)
	}
	return &foliov1.SignedProposal{ProposalBytes: raw, Signature: []byte("sig")}
}
