package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
)

// Current reads in the SDK: the client remembers the highest height it has
// seen (commit statuses, query answers) and asks at least that of every
// query; a peer behind answers Unavailable and the next endpoint is asked.

// heightGateway is a peer's gateway at a ledger height: it answers a
// query only when it has the height asked (else "behind", Unavailable, as
// internal/gateway does), with its height; it records what each query
// asked.
type heightGateway struct {
	foliov1connect.UnimplementedGatewayServiceHandler
	name   string
	height uint64
	block  uint64 // the block its commit statuses report

	mu    sync.Mutex
	asked []*foliov1.EvaluateRequest
}

func (f *heightGateway) Evaluate(_ context.Context, req *connect.Request[foliov1.EvaluateRequest]) (*connect.Response[foliov1.EvaluateResponse], error) {
	f.mu.Lock()
	f.asked = append(f.asked, req.Msg)
	f.mu.Unlock()
	if need := req.Msg.MinHeight; need > f.height {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("peer %s is behind: at height %d, the read needs %d (behind by %d blocks)", f.name, f.height, need, need-f.height))
	}
	return connect.NewResponse(&foliov1.EvaluateResponse{Result: &foliov1.Response{Payload: []byte("answer from " + f.name)}, Height: f.height}), nil
}

func (f *heightGateway) CommitStatus(context.Context, *connect.Request[foliov1.SignedCommitStatusRequest]) (*connect.Response[foliov1.CommitStatusResponse], error) {
	return connect.NewResponse(&foliov1.CommitStatusResponse{Result: foliov1.ValidationCode_VALID, BlockNumber: f.block}), nil
}

// last returns the latest query's (min_height, linearizable).
func (f *heightGateway) last() (uint64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.asked) == 0 {
		return 0, false
	}
	r := f.asked[len(f.asked)-1]
	return r.MinHeight, r.Linearizable
}

func (f *heightGateway) queries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.asked)
}

func (h *harness) serveHeights(f *heightGateway) Endpoint {
	mux := http.NewServeMux()
	mux.Handle(foliov1connect.NewGatewayServiceHandler(f))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	h.t.Cleanup(srv.Close)
	h.roots.AddCert(srv.Certificate())
	return Endpoint{Name: f.name, Addr: srv.Listener.Addr().String()}
}

// The client passes the highest height it has seen with every query: the
// height its earlier answers came from, the block after its commits, the
// caller's minimum when higher; ObserveHeight only raises it.
func TestEvaluatePassesTheRememberedHeight(t *testing.T) {
	h := newHarness(t)
	peer := &heightGateway{name: "peer0.org1", height: 5, block: 8}
	gw := h.gateway(h.serveHeights(peer))
	ctx := testContext(t)
	step := func(what string, o EvaluateOptions, wantMin uint64, wantLin bool, wantHeight uint64) {
		t.Helper()
		if _, err := gw.EvaluateWithOptions(ctx, o, "copyright", "get"); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got, lin := peer.last(); got != wantMin || lin != wantLin {
			t.Fatalf("%s: asked min height %d linearizable %v, want %d %v", what, got, lin, wantMin, wantLin)
		}
		if gw.Height() != wantHeight {
			t.Fatalf("%s: remembered height %d, want %d", what, gw.Height(), wantHeight)
		}
	}
	step("first query", EvaluateOptions{}, 0, false, 5)
	step("after a query answered at 5", EvaluateOptions{}, 5, false, 5)
	peer.height = 9
	res, err := gw.CommitStatus(ctx, "tx1") // committed in block 8: height 9
	if err != nil {
		t.Fatalf("commit status: %v", err)
	}
	if res.Height() != 9 {
		t.Fatalf("result height %d, want 9", res.Height())
	}
	if _, err := gw.Evaluate(ctx, "copyright", "get"); err != nil { // the old signature
		t.Fatal(err)
	}
	if got, _ := peer.last(); got != 9 {
		t.Fatalf("after a commit in block 8 the query asked %d, want 9 (read your writes)", got)
	}
	step("a lower minimum", EvaluateOptions{MinHeight: 3}, 9, false, 9)
	step("a higher minimum, linearizable", EvaluateOptions{MinHeight: 9, Linearizable: true}, 9, true, 9)
	gw.ObserveHeight(4)
	if gw.Height() != 9 {
		t.Fatalf("ObserveHeight lowered the height to %d", gw.Height())
	}
	gw.ObserveHeight(9)
	peer.height = 30
	gw.ObserveHeight(30) // carried over from another process
	step("an observed height", EvaluateOptions{}, 30, false, 30)
}

// A peer behind the height a query needs answers Unavailable; the next
// endpoint that has it answers, and is preferred afterwards. When none
// has it, the error names each peer and how far behind it is.
func TestEvaluateFailsOverFromAPeerBehind(t *testing.T) {
	h := newHarness(t)
	behind := &heightGateway{name: "peer0.org2", height: 3}
	current := &heightGateway{name: "peer1.org2", height: 12}
	gw := h.gateway(h.serveHeights(behind), h.serveHeights(current))
	ctx := testContext(t)
	gw.ObserveHeight(10)
	out, err := gw.Evaluate(ctx, "copyright", "get")
	if err != nil || string(out) != "answer from peer1.org2" {
		t.Fatalf("got %q, %v", out, err)
	}
	if behind.queries() != 1 || gw.Preferred().Name != "peer1.org2" {
		t.Fatalf("peer behind asked %d times, preferred %s", behind.queries(), gw.Preferred().Name)
	}
	if gw.Height() != 12 {
		t.Fatalf("remembered height %d, want 12", gw.Height())
	}

	_, err = gw.EvaluateWithOptions(ctx, EvaluateOptions{MinHeight: 20}, "copyright", "get")
	var ue *UnavailableError
	if !errors.As(err, &ue) || len(ue.Attempts) != 2 || connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("every peer behind: %v", err)
	}
	for _, m := range []string{"peer1.org2 is behind: at height 12, the read needs 20 (behind by 8 blocks)", "peer0.org2 is behind: at height 3, the read needs 20 (behind by 17 blocks)"} {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q\nlacks %q", err, m)
		}
	}
}

// ObserveHeight from many goroutines keeps the highest.
func TestObserveHeightKeepsTheHighest(t *testing.T) {
	g := &Gateway{}
	var wg sync.WaitGroup
	for i := 1; i <= 64; i++ {
		wg.Add(1)
		go func(h uint64) {
			defer wg.Done()
			g.ObserveHeight(h)
		}(uint64(i * 7 % 65))
	}
	wg.Wait()
	if g.Height() != 64 {
		t.Fatalf("height %d, want 64", g.Height())
	}
}
