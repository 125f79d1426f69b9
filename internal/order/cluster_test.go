package order

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/kv/memkv"
	"github.com/folio-ledger/folio/internal/ledger/blocks"
	"github.com/folio-ledger/folio/internal/types"
)

// memNet connects in-process orderers; a node marked down neither sends nor
// receives, like a killed process whose disk (its memkv) survives.
var testLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

type memNet struct {
	mu    sync.Mutex
	nodes map[uint64]*Node
	down  map[uint64]bool
	// muteRemoved drops every message an orderer sends once it has applied
	// its own removal: the worst case of a removed node's last messages
	// being lost (read on the sender's own Run goroutine, so not racy).
	muteRemoved bool
}

type memTransport struct {
	net  *memNet
	from uint64
}

func (t memTransport) Send(msgs []*pb.Message) {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	if t.net.down[t.from] {
		return
	}
	if t.net.muteRemoved && t.net.nodes[t.from] != nil && t.net.nodes[t.from].removed {
		return
	}
	for _, m := range msgs {
		to := m.GetTo()
		dst := t.net.nodes[to]
		if dst == nil || t.net.down[to] {
			continue
		}
		select {
		case dst.stepc <- proto.Clone(m).(*pb.Message):
			if m.GetType() == pb.MessageType_MsgSnap {
				t.net.nodes[t.from].ReportSnapshot(to, true)
			}
		default: // a full inbox drops the message; Raft retransmits
		}
	}
}

// memFetcher fetches blocks from any other live orderer's store.
type memFetcher struct {
	net  *memNet
	self uint64
}

func (f memFetcher) FetchBlocks(_ context.Context, from, to uint64) ([]*foliov1.Block, error) {
	f.net.mu.Lock()
	defer f.net.mu.Unlock()
	for id, n := range f.net.nodes {
		if id == f.self || f.net.down[id] || n.opts.Blocks.Height() < to {
			continue
		}
		var out []*foliov1.Block
		for i := from; i < to; i++ {
			b, err := n.opts.Blocks.Block(i)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
		return out, nil
	}
	return nil, errors.New("no orderer has those blocks")
}

type member struct {
	id     uint64
	db     *memkv.Store
	blocks *blocks.Store
	node   *Node
	cancel context.CancelFunc
	done   chan error
}

type cluster struct {
	t       *testing.T
	mu      sync.Mutex // guards each member's node and cancel while tests run concurrently
	net     *memNet
	members map[uint64]*member
	genesis *foliov1.Block
	signer  *identity.SigningIdentity
	batch   BatchConfig
	snapN   uint64
	// genesis voters: every member starts from a snapshot naming them,
	// including one added later (addMember).
	genesisVoters []uint64
}

func newCluster(t *testing.T, n int, batch BatchConfig, snapEvery uint64) *cluster {
	key, _ := fcrypto.GenerateKey()
	root, _ := identity.NewRootCA("OrdererOrg", "ca", key, time.Now(), time.Hour)
	okey, _ := fcrypto.GenerateKey()
	cert, _ := identity.Issue(root, key, identity.LeafRequest{Name: "orderer", Role: identity.RoleOrderer, PublicKey: okey.Public()})
	signer, _ := identity.NewSigningIdentity(identity.Identity{MSPID: "OrdererMSP", Org: "OrdererOrg", Name: "orderer", Role: identity.RoleOrderer, Cert: cert}, okey)
	g := &foliov1.Block{Header: &foliov1.BlockHeader{PreviousHash: types.GenesisPreviousHash(), DataHash: types.DataHash(nil), TimestampUnixNano: 1}, Data: &foliov1.BlockData{}}
	c := &cluster{t: t, net: &memNet{nodes: map[uint64]*Node{}, down: map[uint64]bool{}}, members: map[uint64]*member{},
		genesis: g, signer: signer, batch: batch, snapN: snapEvery}
	for i := 1; i <= n; i++ {
		db := memkv.New()
		bs, err := blocks.Open(db)
		if err != nil {
			t.Fatal(err)
		}
		c.members[uint64(i)] = &member{id: uint64(i), db: db, blocks: bs}
	}
	c.genesisVoters = c.voters()
	for id := range c.members {
		c.start(id)
	}
	t.Cleanup(func() {
		for id := range c.members {
			c.stop(id)
		}
	})
	return c
}

func (c *cluster) voters() []uint64 {
	var v []uint64
	for id := uint64(1); id <= uint64(len(c.members)); id++ {
		v = append(v, id)
	}
	return v
}

// start (re)opens a member from its surviving database and runs it.
func (c *cluster) start(id uint64) {
	m := c.members[id]
	bs, err := blocks.Open(m.db)
	if err != nil {
		c.t.Fatal(err)
	}
	m.blocks = bs
	n, err := New(Options{ID: id, Voters: c.genesisVoters, Self: c.signer, DB: m.db, Blocks: bs, Genesis: c.genesis, Batch: c.batch,
		Transport: memTransport{net: c.net, from: id}, Fetcher: memFetcher{net: c.net, self: id},
		TickInterval: 10 * time.Millisecond, SnapshotEntries: c.snapN, Logger: testLogger})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	m.node, m.cancel, m.done = n, cancel, make(chan error, 1)
	c.mu.Unlock()
	c.net.mu.Lock()
	c.net.nodes[id] = n
	c.net.down[id] = false
	c.net.mu.Unlock()
	go func() {
		err := n.Run(ctx)
		if err != nil {
			c.t.Errorf("orderer %d stopped: %v", id, err)
		}
		m.done <- err
	}()
}

// stop is a crash: the node stops at once and its network goes silent.
func (c *cluster) stop(id uint64) {
	m := c.members[id]
	c.net.mu.Lock()
	c.net.down[id] = true
	c.net.mu.Unlock()
	c.mu.Lock()
	cancel := m.cancel
	m.cancel = nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		<-m.done
	}
}

// memberIDs lists the members, while a test may add one.
func (c *cluster) memberIDs() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []uint64
	for id := range c.members {
		ids = append(ids, id)
	}
	return ids
}

// live returns a running member's node.
func (c *cluster) live(id uint64) (*Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[id]
	return m.node, m.cancel != nil
}

// leader returns a live orderer that is Raft leader, or 0.
func (c *cluster) leader() uint64 {
	for _, id := range c.memberIDs() {
		if n, ok := c.live(id); ok && n.Status().Role == "leader" {
			return id
		}
	}
	return 0
}

func (c *cluster) waitLeader() uint64 {
	var id uint64
	waitFor(c.t, "a leader elected among the live orderers", 10*time.Second, func() error {
		if id = c.leader(); id == 0 {
			return errors.New("no live orderer is leader")
		}
		return nil
	})
	return id
}

// awaitLeader is waitLeader for goroutines other than the test's: it
// returns ctx's error instead of failing the test.
func (c *cluster) awaitLeader(ctx context.Context) (uint64, error) {
	var id uint64
	err := poll(ctx, func() error {
		if id = c.leader(); id == 0 {
			return errors.New("no live orderer is leader")
		}
		return nil
	})
	return id, err
}

// waitFor polls cond until it returns nil, failing the test with what and
// cond's last error if that takes longer than within: a guard against a
// hang, not a way to let time pass. Call it from the test's goroutine.
func waitFor(t *testing.T, what string, within time.Duration, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := poll(ctx, cond); err != nil {
		t.Fatalf("%s: not within %s: %v", what, within, err)
	}
}

// poll calls cond every few milliseconds until it returns nil, or returns
// cond's last error once ctx is done. The orderers offer no event to wait
// on for these conditions (leadership, heights), only Status.
func poll(ctx context.Context, cond func() error) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return err
		}
	}
}

func testEnv(txID string) []byte {
	p, _ := proto.Marshal(&foliov1.Payload{Header: &foliov1.TxHeader{TxId: txID}, Data: make([]byte, 300)})
	e, _ := proto.Marshal(&foliov1.Envelope{Payload: p, Signature: []byte("s")})
	return e
}

// submit retries until the envelope is acknowledged: first via the given
// orderer, then, after each failure, via the live leader once there is one.
func (c *cluster) submit(ctx context.Context, txID string, via uint64) error {
	for ctx.Err() == nil {
		if n, ok := c.live(via); ok {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := n.Submit(sctx, txID, testEnv(txID))
			cancel()
			if err == nil || errors.Is(err, ErrAlreadyOrdered) {
				return err
			}
		}
		// The failure was no quorum, a crashed orderer or a leader change:
		// retry when a live orderer leads.
		leader, err := c.awaitLeader(ctx)
		if err != nil {
			return err
		}
		via = leader
	}
	return ctx.Err()
}

// converge waits until every live member holds the same chain containing
// every acknowledged tx exactly once, and returns the height.
func (c *cluster) converge(acked map[string]bool) uint64 {
	waitFor(c.t, "every live orderer holding the same chain with every acknowledged envelope once", 20*time.Second, func() error {
		if err := c.check(acked); err != nil {
			return fmt.Errorf("%w\n%s", err, c.describe())
		}
		return nil
	})
	var h uint64
	for _, m := range c.members {
		if m.cancel != nil {
			h = m.blocks.Height()
		}
	}
	return h
}

// describe prints every live orderer's Raft state, log range and position.
func (c *cluster) describe() string {
	var b strings.Builder
	for id, m := range c.members {
		if m.cancel != nil {
			fi, _ := m.node.rlog.Storage().FirstIndex()
			li, _ := m.node.rlog.Storage().LastIndex()
			fmt.Fprintf(&b, "orderer %d: %+v log [%d,%d]\n", id, m.node.Status(), fi, li)
		}
	}
	return b.String()
}

func (c *cluster) check(acked map[string]bool) error {
	var ref *member
	for _, m := range c.members {
		if m.cancel == nil {
			continue
		}
		if ref == nil {
			ref = m
			continue
		}
		if m.blocks.Height() != ref.blocks.Height() {
			return fmt.Errorf("heights %d vs %d", m.blocks.Height(), ref.blocks.Height())
		}
	}
	count := map[string]int{}
	for i := uint64(0); i < ref.blocks.Height(); i++ {
		want, _ := ref.blocks.Block(i)
		wh, _ := types.HeaderHash(want.Header)
		for _, m := range c.members {
			if m.cancel == nil {
				continue
			}
			got, err := m.blocks.Block(i)
			if err != nil {
				return err
			}
			if gh, _ := types.HeaderHash(got.Header); string(gh) != string(wh) {
				c.t.Fatalf("orderers %d and %d disagree on block %d", ref.id, m.id, i)
			}
		}
		for _, e := range want.Data.Envelopes {
			id, _ := envelopeTxID(e)
			count[id]++
		}
	}
	for id := range acked {
		if count[id] != 1 {
			return fmt.Errorf("acknowledged %s is in %d blocks", id, count[id])
		}
	}
	for id, n := range count {
		if n != 1 {
			c.t.Fatalf("%s ordered %d times", id, n)
		}
	}
	return nil
}

func TestClusterOrdersOnceAndIdentically(t *testing.T) {
	c := newCluster(t, 3, BatchConfig{MaxTxCount: 10, MaxBytes: 1 << 20, Timeout: 50 * time.Millisecond}, 10000)
	c.waitLeader()
	ctx := context.Background()
	acked := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 120; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("tx-%03d", i)
			if err := c.submit(ctx, id, uint64(i%3+1)); err != nil {
				t.Errorf("%s: %v", id, err)
				return
			}
			mu.Lock()
			acked[id] = true
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	h := c.converge(acked)
	if h < 13 {
		t.Fatalf("height %d: 120 envelopes at 10 per block need at least 12 blocks after genesis", h)
	}
	// The same transaction again is refused, whichever orderer gets it.
	for id := uint64(1); id <= 3; id++ {
		if err := c.members[id].node.Submit(ctx, "tx-007", testEnv("tx-007")); !errors.Is(err, ErrAlreadyOrdered) {
			t.Fatalf("duplicate via orderer %d: %v", id, err)
		}
	}
	// Every block is signed by the orderer that stored it.
	b, _ := c.members[2].blocks.Block(1)
	hdr, _ := types.HeaderBytes(b.Header)
	if len(b.Metadata.Signatures) != 1 || fcrypto.Verify(c.signer.Cert.PublicKey, types.DomainBlock, hdr, b.Metadata.Signatures[0].Signature) != nil {
		t.Fatal("block 1 lacks a valid orderer signature")
	}
}

func TestLeaderCrashUnderLoadLosesNothing(t *testing.T) {
	c := newCluster(t, 3, BatchConfig{MaxTxCount: 25, MaxBytes: 1 << 20, Timeout: 30 * time.Millisecond}, 10000)
	leader := c.waitLeader()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acked := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				id := fmt.Sprintf("w%d-%02d", w, i)
				// "Already ordered" after a retry means an earlier attempt committed.
				if err := c.submit(ctx, id, uint64(w%3+1)); err == nil || errors.Is(err, ErrAlreadyOrdered) {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
				if w == 0 && i == 10 {
					c.stop(leader)
				}
			}
		}(w)
	}
	wg.Wait()
	if nl := c.waitLeader(); nl == leader {
		t.Fatal("the crashed leader is still leader")
	}
	c.converge(acked)
	c.start(leader)
	c.converge(acked)
	if len(acked) != 320 {
		t.Fatalf("%d of 320 envelopes acknowledged", len(acked))
	}
}

func TestNoQuorumFailsFastThenResumes(t *testing.T) {
	c := newCluster(t, 3, BatchConfig{MaxTxCount: 5, MaxBytes: 1 << 20, Timeout: 20 * time.Millisecond}, 10000)
	c.waitLeader()
	ctx := context.Background()
	if err := c.submit(ctx, "before", 1); err != nil {
		t.Fatal(err)
	}
	c.stop(2)
	c.stop(3)
	// CheckQuorum makes a cut-off leader step down within an election timeout.
	waitFor(t, "orderer 1, cut off, forgetting its leader", 5*time.Second, func() error {
		if st := c.members[1].node.Status(); st.Leader != 0 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	start := time.Now()
	err := c.members[1].node.Submit(ctx, "during", testEnv("during"))
	if !errors.Is(err, ErrNoQuorum) || time.Since(start) > time.Second {
		t.Fatalf("submit without quorum: %v after %s", err, time.Since(start))
	}
	c.start(2)
	if err := c.submit(ctx, "after", 1); err != nil {
		t.Fatal(err)
	}
	c.start(3)
	c.converge(map[string]bool{"before": true, "after": true})
}

func TestSnapshotCatchUp(t *testing.T) {
	c := newCluster(t, 3, BatchConfig{MaxTxCount: 3, MaxBytes: 1 << 20, Timeout: 20 * time.Millisecond}, 8)
	c.waitLeader()
	ctx := context.Background()
	c.stop(3)
	acked := map[string]bool{}
	for i := 0; i < 90; i++ {
		id := fmt.Sprintf("s-%02d", i)
		if err := c.submit(ctx, id, uint64(i%2+1)); err != nil {
			t.Fatal(err)
		}
		acked[id] = true
	}
	c.converge(acked)
	if fi, _ := c.members[1].node.rlog.Storage().FirstIndex(); fi < 10 {
		t.Fatalf("log not compacted (first index %d)", fi)
	}
	c.start(3)
	c.converge(acked)
	if c.members[3].blocks.Height() != c.members[1].blocks.Height() {
		t.Fatal("restarted orderer did not catch up")
	}
}
