package e2e

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/types"
)

// orderingNet is a small network (1 org, 1 peer, 3 orderers) driven by a
// Go client that broadcasts envelopes as user1@Org1.
type orderingNet struct {
	*network
	user *identity.SigningIdentity
	hc   *http.Client
	net  *localnet.Network
}

func newOrderingNet(t *testing.T) *orderingNet {
	n := newNetwork(t, "FOLIO_LOG_LEVEL=info")
	n.must("network", "up", "--detach", "--orgs", "1", "--peers-per-org", "1", "--orderers", "3", "--block-timeout", "100ms")
	netw, err := localnet.Load(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	user, err := wallet.Open(filepath.Join(n.dir, "wallet")).Load("user1@Org1")
	if err != nil {
		t.Fatal(err)
	}
	roots, err := localnet.RootPool(n.dir, netw)
	if err != nil {
		t.Fatal(err)
	}
	return &orderingNet{network: n, user: serverIdentity(t, user), hc: client.HTTPClient(user, roots), net: netw}
}

func (o *orderingNet) nodes(role string) []localnet.Node {
	var out []localnet.Node
	for _, nd := range o.net.Nodes {
		if nd.Role == role {
			out = append(out, nd)
		}
	}
	return out
}

func (o *orderingNet) envelope(t *testing.T) (string, *foliov1.Envelope) {
	h, err := types.NewHeader(o.user, o.net.Channel, foliov1.TxType_TX_TYPE_ENDORSER)
	if err != nil {
		t.Fatal(err)
	}
	env, err := types.SignEnvelope(o.user, &foliov1.Payload{Header: h, Data: make([]byte, 512)})
	if err != nil {
		t.Fatal(err)
	}
	return h.TxId, env
}

func (o *orderingNet) broadcast(ctx context.Context, orderer localnet.Node, env *foliov1.Envelope) error {
	_, err := foliov1connect.NewOrdererServiceClient(o.hc, "https://"+orderer.API).Broadcast(ctx, connect.NewRequest(env))
	return err
}

func (o *orderingNet) chain(nd localnet.Node) foliov1connect.ChainServiceClient {
	return foliov1connect.NewChainServiceClient(o.hc, "https://"+nd.API)
}

// blocksOf reads the whole chain of a node.
func (o *orderingNet) blocksOf(ctx context.Context, nd localnet.Node) ([]*foliov1.Block, error) {
	c := o.chain(nd)
	info, err := c.GetChainInfo(ctx, connect.NewRequest(&foliov1.GetChainInfoRequest{}))
	if err != nil {
		return nil, err
	}
	var out []*foliov1.Block
	for i := uint64(0); i < info.Msg.Height; i++ {
		b, err := c.GetBlock(ctx, connect.NewRequest(&foliov1.GetBlockRequest{Selector: &foliov1.GetBlockRequest_Number{Number: i}}))
		if err != nil {
			return nil, err
		}
		out = append(out, b.Msg)
	}
	return out, nil
}

// converged checks every orderer and peer holds the same chain, with every
// acknowledged envelope in exactly one block.
func (o *orderingNet) converged(ctx context.Context, acked map[string]bool) error {
	var ref []*foliov1.Block
	var refName string
	for _, nd := range append(o.nodes("orderer"), o.nodes("peer")...) {
		chain, err := o.blocksOf(ctx, nd)
		if err != nil {
			return fmt.Errorf("%s: %w", nd.Name, err)
		}
		if ref == nil {
			ref, refName = chain, nd.Name
			continue
		}
		if len(chain) != len(ref) {
			return fmt.Errorf("%s has %d blocks, %s has %d", nd.Name, len(chain), refName, len(ref))
		}
		for i := range chain {
			a, _ := types.HeaderHash(chain[i].Header)
			b, _ := types.HeaderHash(ref[i].Header)
			if hex.EncodeToString(a) != hex.EncodeToString(b) {
				o.t.Fatalf("%s and %s disagree on block %d", nd.Name, refName, i)
			}
		}
	}
	seen := map[string]int{}
	for _, b := range ref[1:] {
		for _, raw := range b.Data.Envelopes {
			var env foliov1.Envelope
			var p foliov1.Payload
			if proto.Unmarshal(raw, &env) == nil && proto.Unmarshal(env.Payload, &p) == nil {
				seen[p.Header.GetTxId()]++
			}
		}
	}
	for id, c := range seen {
		if c != 1 {
			o.t.Fatalf("transaction %s is in %d blocks", id, c)
		}
	}
	for id := range acked {
		if seen[id] != 1 {
			return fmt.Errorf("acknowledged %s is in %d blocks", id, seen[id])
		}
	}
	return nil
}

func (o *orderingNet) leader(t *testing.T) nodeStatus {
	var found nodeStatus
	eventually(t, 20*time.Second, "a Raft leader", func() error {
		var s struct {
			Nodes []struct {
				nodeStatus
				RaftRole string `json:"raft_role"`
			} `json:"nodes"`
		}
		o.json(&s, "network", "status")
		for _, nd := range s.Nodes {
			if nd.RaftRole == "leader" && nd.State == "up" {
				found = nd.nodeStatus
				return nil
			}
		}
		return errors.New("none yet")
	})
	return found
}

// TestOrderingLeaderKillUnderLoad kills the Raft leader with SIGKILL while
// clients broadcast: a new leader takes over, every acknowledged envelope is
// in exactly one block, every node holds identical blocks, and the killed
// orderer catches up when restarted.
func TestOrderingLeaderKillUnderLoad(t *testing.T) {
	o := newOrderingNet(t)
	orderers := o.nodes("orderer")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id, env := o.envelope(t)
				// Retry one envelope through the orderers until it is
				// acknowledged (or reported already ordered).
				for try := 0; try < 60; try++ {
					bctx, bcancel := context.WithTimeout(ctx, 3*time.Second)
					err := o.broadcast(bctx, orderers[(w+i+try)%len(orderers)], env)
					bcancel()
					if err == nil || connect.CodeOf(err) == connect.CodeAlreadyExists {
						mu.Lock()
						acked[id] = true
						mu.Unlock()
						break
					}
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
		}(w)
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	eventually(t, 30*time.Second, "100 acknowledged envelopes", func() error {
		if c := count(); c < 100 {
			return fmt.Errorf("%d so far", c)
		}
		return nil
	})
	leader := o.leader(t)
	if err := syscall.Kill(leader.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	before := count()
	eventually(t, 30*time.Second, "load continues after the leader was killed", func() error {
		if c := count(); c < before+150 {
			return fmt.Errorf("%d acknowledged since the kill", c-before)
		}
		return nil
	})
	if nl := o.leader(t); nl.Name == leader.Name {
		t.Fatalf("killed %s is still reported leader", leader.Name)
	}
	close(stop)
	wg.Wait()

	o.must("network", "up", "--detach") // restarts only the killed orderer
	mu.Lock()
	defer mu.Unlock()
	eventually(t, 60*time.Second, "every node holds the same chain with each acknowledged envelope once", func() error {
		return o.converged(ctx, acked)
	})
	t.Logf("%d envelopes acknowledged; %s killed and caught up", len(acked), leader.Name)
}

// TestOrderingNoQuorumFailsFastAndResumes stops two of three orderers:
// broadcasts fail quickly with Unavailable, nothing acknowledged is lost,
// and service resumes when they return.
func TestOrderingNoQuorumFailsFastAndResumes(t *testing.T) {
	o := newOrderingNet(t)
	orderers := o.nodes("orderer")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	acked := map[string]bool{}
	for i := 0; i < 5; i++ {
		id, env := o.envelope(t)
		if err := o.broadcast(ctx, orderers[i%3], env); err != nil {
			t.Fatal(err)
		}
		acked[id] = true
	}
	var st struct{ Nodes []nodeStatus }
	o.json(&st, "network", "status")
	pids := map[string]int{}
	for _, s := range st.Nodes {
		pids[s.Name] = s.PID
	}
	for _, nd := range orderers[1:] {
		if err := syscall.Kill(pids[nd.Name], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	survivor := orderers[0]
	// Once the survivor knows it has no leader, a broadcast fails at once.
	eventually(t, 20*time.Second, survivor.Name+" fails fast without quorum", func() error {
		_, env := o.envelope(t)
		bctx, bcancel := context.WithTimeout(ctx, 15*time.Second)
		defer bcancel()
		start := time.Now()
		err := o.broadcast(bctx, survivor, env)
		if err == nil {
			return errors.New("accepted without quorum")
		}
		if connect.CodeOf(err) != connect.CodeUnavailable || time.Since(start) > time.Second {
			return fmt.Errorf("%v after %s", err, time.Since(start))
		}
		return nil
	})
	o.must("network", "up", "--detach")
	eventually(t, 30*time.Second, "broadcast works again", func() error {
		id, env := o.envelope(t)
		bctx, bcancel := context.WithTimeout(ctx, 5*time.Second)
		defer bcancel()
		if err := o.broadcast(bctx, survivor, env); err != nil {
			return err
		}
		acked[id] = true
		return nil
	})
	eventually(t, 30*time.Second, "chains converge", func() error { return o.converged(ctx, acked) })
}

// TestOrdererRefusesCorruptStateAtStart flips bytes in a stopped orderer's
// stored block, then in a Raft log entry: each time the orderer refuses to
// start, naming what is damaged, instead of serving wrong blocks.
func TestOrdererRefusesCorruptStateAtStart(t *testing.T) {
	o := newOrderingNet(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 0; i < 3; i++ {
		_, env := o.envelope(t)
		if err := o.broadcast(ctx, o.nodes("orderer")[0], env); err != nil {
			t.Fatal(err)
		}
	}
	orderer := o.nodes("orderer")[1]
	eventually(t, 10*time.Second, orderer.Name+" has block 1", func() error {
		info, err := o.chain(orderer).GetChainInfo(ctx, connect.NewRequest(&foliov1.GetChainInfoRequest{}))
		if err != nil || info.Msg.Height < 2 {
			return fmt.Errorf("height %v, %v", info, err)
		}
		return nil
	})
	o.must("network", "down")
	dbDir := filepath.Join(o.dir, "nodes", orderer.Name, "data", "db")
	cfg := filepath.Join(o.dir, orderer.Config)

	flipValue(t, dbDir, "blk/b/\x00\x00\x00\x00\x00\x00\x00\x01")
	r, err := o.runRaw("orderer", "start", "--config", cfg)
	if err == nil || !contains(r.stderr, "corruption") || !contains(r.stderr, "block 1") {
		t.Fatalf("orderer started on a damaged block:\n%s", r)
	}
	t.Logf("damaged block: %s", lastLine(r.stderr))
	flipValue(t, dbDir, "blk/b/\x00\x00\x00\x00\x00\x00\x00\x01") // restore

	key := firstKeyWithPrefix(t, dbDir, "raft/e/")
	flipValue(t, dbDir, key)
	r, err = o.runRaw("orderer", "start", "--config", cfg)
	if err == nil || !contains(r.stderr, "corruption") || !contains(r.stderr, "raft log") {
		t.Fatalf("orderer started on a damaged Raft entry:\n%s", r)
	}
	t.Logf("damaged Raft entry: %s", lastLine(r.stderr))
	if !contains(r.stderr, "start the node empty") {
		t.Fatalf("no recovery advice:\n%s", r.stderr)
	}

	// The advice works: started empty, the orderer rebuilds its chain from
	// the others.
	if err := os.Rename(filepath.Join(o.dir, "nodes", orderer.Name, "data"), filepath.Join(o.dir, "damaged-data")); err != nil {
		t.Fatal(err)
	}
	o.must("network", "up", "--detach")
	eventually(t, 30*time.Second, orderer.Name+" rebuilt", func() error { return o.converged(ctx, nil) })
}
