package index

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
)

// chainServer is a peer's ChainService over connect in this process,
// serving StreamBlocks from blocks; it fails (Unavailable) after sending
// failAfter blocks of a stream when failAfter >= 0.
type chainServer struct {
	foliov1connect.UnimplementedChainServiceHandler
	blocks    []*foliov1.Block
	failAfter int

	mu     sync.Mutex
	starts []uint64
}

func (s *chainServer) StreamBlocks(ctx context.Context, req *connect.Request[foliov1.StreamBlocksRequest], st *connect.ServerStream[foliov1.Block]) error {
	s.mu.Lock()
	s.starts = append(s.starts, req.Msg.Start)
	s.mu.Unlock()
	if !req.Msg.Follow {
		return connect.NewError(connect.CodeInvalidArgument, errors.New("the explorer must follow"))
	}
	for i, n := 0, req.Msg.Start; n < uint64(len(s.blocks)); i, n = i+1, n+1 {
		if s.failAfter >= 0 && i == s.failAfter {
			return connect.NewError(connect.CodeUnavailable, errors.New("peer stopping"))
		}
		if err := st.Send(s.blocks[n]); err != nil {
			return err
		}
	}
	<-ctx.Done() // follow: no more blocks until the client leaves
	return ctx.Err()
}

func serve(t *testing.T, s *chainServer) Peer {
	path, h := foliov1connect.NewChainServiceHandler(s)
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return Peer{Name: srv.URL, Chain: foliov1connect.NewChainServiceClient(srv.Client(), srv.URL)}
}

func TestPeerSourceMovesToTheNextPeer(t *testing.T) {
	s := newScenario(t)
	down := &chainServer{blocks: s.c.blocks, failAfter: 0}  // answers nothing
	flaky := &chainServer{blocks: s.c.blocks, failAfter: 2} // dies after two blocks
	good := &chainServer{blocks: s.c.blocks, failAfter: -1}
	peers := []Peer{serve(t, down), serve(t, flaky), serve(t, good)}
	src, err := NewPeerSource(peers, nil)
	if err != nil {
		t.Fatal(err)
	}
	ix := open(t, t.TempDir())
	defer ix.Close()
	stop := runIndex(ix, src)
	waitHeight(t, ix, 4)
	// The dashboard's view of the peers: the two that failed, and why.
	ps := ix.SourceStatus().Peers
	if len(ps) != 3 || ps[0].State != "failed" || !strings.Contains(ps[0].LastError, "peer stopping") || ps[0].LastErrorAt.IsZero() ||
		ps[1].State != "failed" || ps[2].State != "streaming" || ps[2].LastError != "" || ps[2].Name != peers[2].Name {
		t.Fatalf("peer status %+v", ps)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if down.starts[0] != 0 || flaky.starts[0] != 0 || len(good.starts) != 1 || good.starts[0] != 2 {
		t.Fatalf("starts: down %v flaky %v good %v", down.starts, flaky.starts, good.starts)
	}
	if src.Name() != peers[2].Name || ix.Status().Source != peers[2].Name {
		t.Fatalf("source %q, status %+v", src.Name(), ix.Status())
	}
	if _, err := NewPeerSource(nil, nil); err == nil {
		t.Fatal("a source without peers")
	}
}

func TestPeerSourceReportsWhenEveryPeerFails(t *testing.T) {
	s := newScenario(t)
	a, b := &chainServer{blocks: s.c.blocks, failAfter: 0}, &chainServer{blocks: s.c.blocks, failAfter: 0}
	src, _ := NewPeerSource([]Peer{serve(t, a), serve(t, b)}, nil)
	err := src.Blocks(context.Background(), 1, func(*foliov1.Block) error { return nil })
	if connect.CodeOf(err) != connect.CodeUnavailable || len(a.starts) != 1 || len(b.starts) != 1 {
		t.Fatalf("err %v, starts %v %v", err, a.starts, b.starts)
	}
	for _, p := range src.PeerStatus() {
		if p.State != "failed" || p.LastError == "" {
			t.Errorf("after every peer failed: %+v", p)
		}
	}
}
