package gateway

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/commit"
	"github.com/folio-ledger/folio/internal/endorse"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/quota"
)

// Current reads (reads.go): a read that needs a height waits for the
// blocks, bounded, then answers "behind"; the waits are capped per client
// and in all; a linearizable read asks the orderers first; a read that
// needs a height is forwarded only to peers that have it.

// fakeFeed is this peer's ledger height and its BlockFeed: commit raises
// the height, then wakes every subscriber as the committer does (a full
// buffer drops the wake-up). subscribed gets a value on every Subscribe,
// so a test knows a read is waiting.
type fakeFeed struct {
	height     atomic.Uint64
	subscribed chan struct{}

	mu   sync.Mutex
	subs map[chan *commit.Committed]struct{}
}

func newFakeFeed(h uint64) *fakeFeed {
	f := &fakeFeed{subscribed: make(chan struct{}, 64), subs: map[chan *commit.Committed]struct{}{}}
	f.height.Store(h)
	return f
}

func (f *fakeFeed) Height() uint64 { return f.height.Load() }

func (f *fakeFeed) Subscribe(buffer int) (<-chan *commit.Committed, func()) {
	ch := make(chan *commit.Committed, buffer)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	f.subscribed <- struct{}{}
	return ch, func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
	}
}

func (f *fakeFeed) commit(h uint64) {
	f.height.Store(h)
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- &commit.Committed{}:
		default:
		}
	}
}

var _ BlockFeed = (*fakeFeed)(nil)

// fakeHeights is a ChainHeightClient: each node's height, or its error.
type fakeHeights struct {
	mu     sync.Mutex
	height map[string]uint64
	err    map[string]error
	asked  []string
}

func (h *fakeHeights) ChainHeight(_ context.Context, n Node) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = append(h.asked, n.Name)
	if err := h.err[n.Name]; err != nil {
		return 0, err
	}
	if v, ok := h.height[n.Name]; ok {
		return v, nil
	}
	return 0, connect.NewError(connect.CodeUnavailable, errors.New("no session"))
}

func (h *fakeHeights) askedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.asked)
}

// creators gives each query a creator by its function name, so that the
// per-client limits can be told apart.
type creators struct {
	Endorser
	by map[string]string // function -> "name@Org"
}

func (c creators) CheckQueryFrom(sp *foliov1.SignedProposal, conn *x509.Certificate) (*endorse.Checked, error) {
	ch, err := c.Endorser.CheckQueryFrom(sp, conn)
	if err != nil {
		return nil, err
	}
	name, org, _ := strings.Cut(c.by[ch.Proposal.Invocation.Function], "@")
	ch.Creator = &identity.Identity{Name: name, Org: org}
	return ch, nil
}

// readGateway is txGateway with this peer's height and block feed in feed.
func readGateway(t *testing.T, feed *fakeFeed) (*Gateway, *fakePeers) {
	g, f := txGateway(t, "OR('Org1MSP.peer')")
	g.o.Height = feed.Height
	g.o.Blocks = feed
	return g, f
}

type evalResult struct {
	resp *connect.Response[foliov1.EvaluateResponse]
	err  error
}

// evaluateAsync runs one Evaluate in the background.
func evaluateAsync(ctx context.Context, g *Gateway, req *foliov1.EvaluateRequest) <-chan evalResult {
	out := make(chan evalResult, 1)
	go func() {
		resp, err := g.Evaluate(ctx, connect.NewRequest(req))
		out <- evalResult{resp, err}
	}()
	return out
}

// A read that needs a block this peer has not committed waits for it, runs
// the query only then, and reports the height it ran at.
func TestReadWaitsForTheBlock(t *testing.T) {
	feed := newFakeFeed(7)
	g, f := readGateway(t, feed)
	done := evaluateAsync(context.Background(), g, &foliov1.EvaluateRequest{Proposal: proposal(t, "get"), MinHeight: 9})
	<-feed.subscribed // it waits
	feed.commit(8)    // not enough yet
	feed.commit(9)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.resp.Msg.Height != 9 || string(r.resp.Msg.Result.GetPayload()) != "result" {
		t.Fatalf("answer at height %d: %q", r.resp.Msg.Height, r.resp.Msg.Result.GetPayload())
	}
	if got := f.calledIn(".org1"); got != "peer0.org1" {
		t.Fatalf("queries run: %q", got)
	}
	if total, _ := g.readers.Held(); total != 0 {
		t.Fatalf("%d read slots still held", total)
	}
	// A read this peer is current enough for answers at once, with its
	// height, and holds no slot (no Subscribe).
	resp, err := g.Evaluate(context.Background(), connect.NewRequest(&foliov1.EvaluateRequest{Proposal: proposal(t, "get"), MinHeight: 5}))
	if err != nil || resp.Msg.Height != 9 {
		t.Fatalf("current read: %v, height %d", err, resp.Msg.GetHeight())
	}
	if len(feed.subscribed) != 0 {
		t.Fatal("a read that needed no wait subscribed to blocks")
	}
}

// A peer that does not get the blocks in time answers Unavailable (the
// client asks another peer), saying how far behind it is and which bound
// ended the wait; the query is not run.
func TestReadBehindAnswersUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(g *Gateway) context.Context
		wantMsg string
		refused string
	}{{
		name: "limits.max_read_wait",
		setup: func(g *Gateway) context.Context {
			g.o.MaxReadWait = time.Millisecond
			return context.Background()
		},
		wantMsg: "waited 1ms, the most one read may wait (limit limits.max_read_wait)",
		refused: SettingMaxReadWait,
	}, {
		name: "the caller's deadline",
		setup: func(g *Gateway) context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		},
		wantMsg: "the caller's deadline",
	}, {
		name: "no block feed",
		setup: func(g *Gateway) context.Context {
			g.o.Blocks = nil
			return context.Background()
		},
		wantMsg: "this peer cannot wait for blocks",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			feed := newFakeFeed(7)
			g, f := readGateway(t, feed)
			var refused []string
			g.o.Refused = func(s string) { refused = append(refused, s) }
			ctx := tc.setup(g)
			_, err := g.Evaluate(ctx, connect.NewRequest(&foliov1.EvaluateRequest{Proposal: proposal(t, "get"), MinHeight: 10}))
			if connect.CodeOf(err) != connect.CodeUnavailable {
				t.Fatalf("got %v, want unavailable", err)
			}
			for _, m := range []string{"peer peer0.org1 is behind: at height 7, the read needs 10 (behind by 3 blocks)", tc.wantMsg} {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q\nlacks %q", err, m)
				}
			}
			var be *BehindError
			if !errors.As(err, &be) || be.Height != 7 || be.Need != 10 {
				t.Errorf("not a BehindError{7, 10}: %#v", be)
			}
			if got := f.calledIn(".org1"); got != "" {
				t.Errorf("the query ran on a peer behind: %q", got)
			}
			if tc.refused != "" && (len(refused) != 1 || refused[0] != tc.refused) {
				t.Errorf("refusals counted: %v, want %s", refused, tc.refused)
			}
		})
	}
}

// The reads waiting for blocks are bounded per client and in all; a read
// that needs no wait is never refused; released slots are reusable.
func TestReadWaitersAreCapped(t *testing.T) {
	feed := newFakeFeed(7)
	g, _ := readGateway(t, feed)
	g.o.Endorser = creators{Endorser: g.o.Endorser, by: map[string]string{
		"a1": "user1@Org1", "a2": "user1@Org1", "a3": "user1@Org1", "b1": "user1@Org2", "c1": "user2@Org2", "c2": "user2@Org2"}}
	g.readers = quota.New(2, 1)
	var refused []string
	var mu sync.Mutex
	g.o.Refused = func(s string) { mu.Lock(); refused = append(refused, s); mu.Unlock() }
	ctx := context.Background()
	req := func(fn string, need uint64) *foliov1.EvaluateRequest {
		return &foliov1.EvaluateRequest{Proposal: proposal(t, fn), MinHeight: need}
	}
	a1 := evaluateAsync(ctx, g, req("a1", 10))
	<-feed.subscribed
	_, err := g.Evaluate(ctx, connect.NewRequest(req("a2", 10)))
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "user1@Org1 already has 1 reads waiting") || !strings.Contains(err.Error(), SettingReadWaitersPerClient) {
		t.Fatalf("second wait of one client: %v", err)
	}
	b1 := evaluateAsync(ctx, g, req("b1", 10))
	<-feed.subscribed
	_, err = g.Evaluate(ctx, connect.NewRequest(req("c1", 10)))
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), SettingReadWaiters+")") {
		t.Fatalf("a wait beyond the total: %v", err)
	}
	// A linearizable read holds a slot while it asks the orderers: refused too.
	_, err = g.Evaluate(ctx, connect.NewRequest(&foliov1.EvaluateRequest{Proposal: proposal(t, "c1"), Linearizable: true}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("a linearizable read beyond the total: %v", err)
	}
	if _, err := g.Evaluate(ctx, connect.NewRequest(req("c2", 7))); err != nil {
		t.Fatalf("a read that needs no wait: %v", err)
	}
	feed.commit(10)
	for _, ch := range []<-chan evalResult{a1, b1} {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	if total, clients := g.readers.Held(); total != 0 || clients != 0 {
		t.Fatalf("slots held after the reads: %d of %d clients", total, clients)
	}
	a3 := evaluateAsync(ctx, g, req("a3", 11))
	<-feed.subscribed
	feed.commit(11)
	if r := <-a3; r.err != nil {
		t.Fatalf("a released slot: %v", r.err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(refused, ",") != SettingReadWaitersPerClient+","+SettingReadWaiters+","+SettingReadWaiters {
		t.Fatalf("refusals counted: %v", refused)
	}
}

var testOrderers = []Node{node("orderer0", "OrdererMSP"), node("orderer1", "OrdererMSP"), node("orderer2", "OrdererMSP")}

// A linearizable read asks every orderer, takes the highest height (an
// orderer whose block store lags must not hide blocks another cut), and
// waits for it; with no orderer answering it is Unavailable.
func TestLinearizableReadWaitsForTheOrderersHeight(t *testing.T) {
	feed := newFakeFeed(10)
	g, _ := readGateway(t, feed)
	heights := &fakeHeights{height: map[string]uint64{"orderer0": 9, "orderer1": 12}}
	g.o.HeightClient = heights
	g.SetNodes(g.peers(), testOrderers)
	done := evaluateAsync(context.Background(), g, &foliov1.EvaluateRequest{Proposal: proposal(t, "get"), MinHeight: 11, Linearizable: true})
	<-feed.subscribed
	feed.commit(11) // the minimum, not yet the orderers' height
	feed.commit(12)
	r := <-done
	if r.err != nil || r.resp.Msg.Height != 12 {
		t.Fatalf("linearizable read: %v", r.err)
	}
	if n := heights.askedCount(); n != 3 {
		t.Fatalf("%d orderers asked, want 3", n)
	}

	heights.height = nil
	heights.err = map[string]error{"orderer0": connect.NewError(connect.CodeUnavailable, errors.New("no quorum"))}
	_, err := g.Evaluate(context.Background(), connect.NewRequest(&foliov1.EvaluateRequest{Proposal: proposal(t, "get"), Linearizable: true}))
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "no orderer told peer0.org1 the chain height") || !strings.Contains(err.Error(), "orderer0: unavailable: no quorum") {
		t.Fatalf("no orderer answering: %v", err)
	}
	// The minimum alone is not enough: the orderers' height counts too.
	// One orderer of three is not a majority: it may be on the minority
	// side of a partition, behind blocks the others cut.
	heights.err = nil
	heights.height = map[string]uint64{"orderer2": 14}
	_, err = g.Evaluate(context.Background(), connect.NewRequest(&foliov1.EvaluateRequest{Proposal: proposal(t, "get"), Linearizable: true}))
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "only 1 of 3 orderers told peer0.org1 the chain height; a linearizable read needs a majority (2)") {
		t.Fatalf("one orderer of three answering: %v", err)
	}
	heights.height = map[string]uint64{"orderer0": 13, "orderer2": 14}
	g.o.MaxReadWait = time.Millisecond
	_, err = g.Evaluate(context.Background(), connect.NewRequest(&foliov1.EvaluateRequest{Proposal: proposal(t, "get"), MinHeight: 3, Linearizable: true}))
	if !strings.Contains(fmt.Sprint(err), "at height 12, the read needs 14 (behind by 2 blocks)") {
		t.Fatalf("behind the orderers: %v", err)
	}
}

// A peer that cannot run the contract forwards a read that needs a height
// only to the peers of its organisation that have it; without a height it
// forwards as before, asking no heights.
func TestForwardedReadGoesToPeersThatHaveTheHeight(t *testing.T) {
	notHere := reply{err: fmt.Errorf("%w: copyright v2 is not installed", endorse.ErrUnavailable)}
	feed := newFakeFeed(7)
	g, f := readGateway(t, feed)
	heights := &fakeHeights{height: map[string]uint64{"peer1.org1": 5}}
	g.o.HeightClient = heights
	f.script("peer0.org1", notHere)

	_, err := g.Evaluate(context.Background(), connect.NewRequest(&foliov1.EvaluateRequest{Proposal: proposal(t, "get"), MinHeight: 7}))
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "peer peer1.org1 is behind: at height 5, the read needs 7 (behind by 2 blocks)") {
		t.Fatalf("forward to a peer behind: %v", err)
	}
	if got := f.calledIn(".org1"); got != "peer0.org1" {
		t.Fatalf("peers asked: %q (the one behind must not be)", got)
	}

	heights.height["peer1.org1"] = 8
	resp, err := g.Evaluate(context.Background(), connect.NewRequest(&foliov1.EvaluateRequest{Proposal: proposal(t, "get"), MinHeight: 7}))
	if err != nil || string(resp.Msg.Result.GetPayload()) != "result" {
		t.Fatalf("forward to a current peer: %v", err)
	}
	if got := f.calledIn(".org1"); got != "peer0.org1,peer0.org1,peer1.org1" {
		t.Fatalf("peers asked: %q", got)
	}

	asked := heights.askedCount()
	if _, err := g.Evaluate(context.Background(), connect.NewRequest(&foliov1.EvaluateRequest{Proposal: proposal(t, "get")})); err != nil {
		t.Fatal(err)
	}
	if heights.askedCount() != asked {
		t.Fatal("a read without a height asked the peers' heights")
	}
}

// The chain-height protocol over the node sessions: the height, a wrong
// channel refused, an undecodable reply unavailable.
func TestChainHeightProtocol(t *testing.T) {
	serve := ServeChainHeight("folio", func() uint64 { return 42 })
	host := &fakeHost{call: func(ctx context.Context, nodeID, protocol string, req []byte) ([]byte, error) {
		if protocol != HeightProtocol {
			return nil, fmt.Errorf("protocol %s", protocol)
		}
		return serve(ctx, p2p.PeerIdentity{Name: "peer0.org1"}, req), nil
	}}
	orderer := testOrderers[0]
	h, err := hostHeights{host: host, channelID: "folio"}.ChainHeight(context.Background(), orderer)
	if err != nil || h != 42 {
		t.Fatalf("height %d, %v", h, err)
	}
	_, err = hostHeights{host: host, channelID: "other"}.ChainHeight(context.Background(), orderer)
	if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), `channel "other"`) {
		t.Fatalf("wrong channel: %v", err)
	}
	if out := serve(context.Background(), p2p.PeerIdentity{}, []byte{0xff, 0xff}); !strings.Contains(string(out), "undecodable") {
		t.Fatalf("garbage request answered %q", out)
	}
	host.call = func(context.Context, string, string, []byte) ([]byte, error) {
		b, _ := proto.Marshal(&foliov1.ChainHeightReply{})
		return b, nil
	}
	if _, err := (hostHeights{host: host, channelID: "folio"}).ChainHeight(context.Background(), orderer); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("empty reply: %v", err)
	}
}
