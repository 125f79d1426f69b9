package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/ledger/blocks"
	"github.com/folio-ledger/folio/internal/order/raftlog"
	"github.com/folio-ledger/folio/internal/types"
)

// Errors a Broadcast caller branches on.
var (
	// ErrNoQuorum: the ordering service cannot commit right now (no leader,
	// or the leader lost its majority). Nothing was acknowledged; retry.
	ErrNoQuorum = errors.New("ordering service has no quorum")
	// ErrAlreadyOrdered: an envelope with this transaction ID is already in
	// the order; it will not be ordered twice.
	ErrAlreadyOrdered = errors.New("transaction already ordered")
	// ErrStopped: the orderer is shutting down.
	ErrStopped = errors.New("orderer stopped")
)

// Transport carries Raft messages to the other orderers. Send must not
// block on the network; undeliverable messages are dropped (Raft retries).
type Transport interface {
	Send(msgs []*pb.Message)
}

// BlockFetcher fetches blocks [from, to) from other orderers, used when a
// snapshot moves this orderer ahead of its block store.
type BlockFetcher interface {
	FetchBlocks(ctx context.Context, from, to uint64) ([]*foliov1.Block, error)
}

// Options configure a Node.
type Options struct {
	// ID is this orderer's Raft ID (channel.RaftID).
	ID uint64
	// Voters lists the Raft IDs of the genesis configuration's orderers:
	// every orderer's log starts from a snapshot naming them, including an
	// orderer added later, which then learns every membership change from
	// the log (or a newer snapshot) like the others.
	Voters []uint64
	// Self signs the blocks this orderer delivers.
	Self *identity.SigningIdentity
	// DB holds the Raft log and the orderer's position; Blocks the chain.
	DB     kv.Store
	Blocks *blocks.Store
	// Genesis is block 0, written at first start.
	Genesis   *foliov1.Block
	Batch     BatchConfig
	Transport Transport
	Fetcher   BlockFetcher
	// TickInterval is the Raft clock. Default 100ms; elections take
	// ElectionTicks ticks (default 10), heartbeats HeartbeatTicks (default 1).
	TickInterval   time.Duration
	ElectionTicks  int
	HeartbeatTicks int
	// SnapshotEntries: compact the Raft log once this many entries have been
	// consumed into blocks since the last snapshot. Default 10000.
	SnapshotEntries uint64
	// MaxProposalBytes caps one proposed entry (a batch of envelopes). Default 2 MiB.
	MaxProposalBytes int
	Logger           *slog.Logger
	// Now is the clock stamped into entries. Default time.Now.
	Now func() time.Time
	// PromoteLag: the leader promotes a learner to voter once its log is
	// at most this many entries behind the leader's. Default 64.
	PromoteLag uint64
	// MembershipRetry: how long the leader waits for a proposed membership
	// change to apply before proposing it again. Default 3s.
	MembershipRetry time.Duration
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.TickInterval == 0 {
		o.TickInterval = 100 * time.Millisecond
	}
	if o.ElectionTicks == 0 {
		o.ElectionTicks = 10
	}
	if o.HeartbeatTicks == 0 {
		o.HeartbeatTicks = 1
	}
	if o.SnapshotEntries == 0 {
		o.SnapshotEntries = 10000
	}
	if o.MaxProposalBytes == 0 {
		o.MaxProposalBytes = 2 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PromoteLag == 0 {
		o.PromoteLag = 64
	}
	if o.MembershipRetry == 0 {
		o.MembershipRetry = 3 * time.Second
	}
}

// Status is a snapshot of the orderer's Raft state.
type Status struct {
	ID      uint64
	Leader  uint64
	Role    string // "leader", "follower", "candidate", "pre-candidate"
	Term    uint64
	Applied uint64
	Height  uint64
	Pending int
	// Voters and Learners are the cluster as this orderer's log has
	// applied it; Match (leader only) is each member's replicated index.
	Voters   []uint64
	Learners []uint64
	Match    map[uint64]uint64
	// Removed: a membership change applied from the log removed this
	// orderer; it no longer takes part in ordering.
	Removed bool
}

type proposal struct {
	env   []byte
	txID  string
	reply chan error
}

// Node is one orderer: Raft member, block cutter and block signer. Run owns
// every piece of mutable state below except what mu guards.
type Node struct {
	opts Options
	log  *slog.Logger
	rlog *raftlog.Log
	rn   *raft.RawNode

	propc   chan proposal
	stepc   chan *pb.Message
	reportc chan report

	chain *Chain
	pos   Position // consumed position, persisted with every block

	// owned by Run
	waiters      map[string][]chan error
	pendingSince time.Time
	cutAsked     uint64 // block number a cut was last proposed for (+1; 0 = none)
	lastSnapshot uint64
	// Membership: the orderer set the channel configuration wants (set
	// through membersc), the applied Raft configuration after each
	// applied change (for snapshots), and the last change proposed.
	membersc     chan []uint64
	desired      map[uint64]bool
	confs        []confAt
	confProposed time.Time
	removed      bool
	wasMember    bool
	match        map[uint64]uint64

	mu     sync.RWMutex
	status Status
}

type report struct {
	to          uint64
	status      raft.SnapshotStatus
	unreachable bool
}

var keyPosition = []byte("ord/pos")

// New opens the orderer's state: Raft log, block store position, chain.
func New(opts Options) (*Node, error) {
	opts.EnsureDefaults()
	if opts.Self == nil || opts.DB == nil || opts.Blocks == nil || opts.Transport == nil || opts.Logger == nil || opts.ID == 0 || len(opts.Voters) == 0 {
		return nil, errors.New("order: ID, Voters, Self, DB, Blocks, Transport and Logger are required")
	}
	n := &Node{opts: opts, log: opts.Logger, propc: make(chan proposal, 4096), stepc: make(chan *pb.Message, 4096),
		reportc: make(chan report, 16), waiters: map[string][]chan error{}, membersc: make(chan []uint64, 1)}
	if opts.Blocks.Height() == 0 {
		if opts.Genesis == nil {
			return nil, errors.New("order: empty block store and no genesis block")
		}
		if err := opts.Blocks.Append(opts.Genesis, true); err != nil {
			return nil, fmt.Errorf("order: write genesis block: %w", err)
		}
	}
	rlog, err := raftlog.Open(opts.DB)
	if err != nil {
		return nil, err
	}
	n.rlog = rlog
	if fi, _ := rlog.Storage().FirstIndex(); fi == 1 {
		if last, _ := rlog.Storage().LastIndex(); last == 0 {
			// A new cluster: every orderer starts from the same snapshot at
			// index 1 holding the voters and the genesis position.
			data, _ := proto.Marshal(&foliov1.OrderSnapshot{Height: 1, LastHash: opts.Blocks.LastHash(), ConsumedIndex: 2})
			snap := &pb.Snapshot{Data: data, Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(1), Term: proto.Uint64(1),
				ConfState: &pb.ConfState{Voters: opts.Voters}}}
			if err := rlog.Save(nil, nil, snap); err != nil {
				return nil, err
			}
		}
	}
	pos, err := n.loadPosition()
	if err != nil {
		return nil, err
	}
	n.pos = pos
	last, err := opts.Blocks.Block(opts.Blocks.Height() - 1)
	if err != nil {
		return nil, err
	}
	n.chain = NewChain(opts.Batch, opts.Blocks, opts.Blocks.Height(), opts.Blocks.LastHash(), last.Header.TimestampUnixNano)
	snap, _ := rlog.Storage().Snapshot()
	n.lastSnapshot = snap.GetMetadata().GetIndex()
	n.confs = []confAt{{index: n.lastSnapshot, cs: confStateOf(snap.GetMetadata().GetConfState())}}
	// Raft hands back every committed entry after the snapshot, even those
	// already consumed into blocks (apply skips them by position): the
	// membership changes among them must be applied again, since Raft
	// restarts from the snapshot's configuration.
	rn, err := raft.NewRawNode(&raft.Config{
		ID: opts.ID, ElectionTick: opts.ElectionTicks, HeartbeatTick: opts.HeartbeatTicks,
		Storage: rlog.Storage(), Applied: n.lastSnapshot,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, MaxUncommittedEntriesSize: 64 << 20,
		CheckQuorum: true, PreVote: true, Logger: raftLogger{opts.Logger},
		// A removed leader stops leading at once, so the rest elect a
		// member without waiting for an election timeout of silence.
		StepDownOnRemoval: true,
	})
	if err != nil {
		return nil, fmt.Errorf("order: raft: %w", err)
	}
	n.rn = rn
	n.checkRemoved()
	n.setStatus()
	return n, nil
}

// loadPosition reads the consumed position saved with the last block; a new
// orderer starts after the genesis snapshot.
func (n *Node) loadPosition() (Position, error) {
	v, err := n.opts.DB.Get(keyPosition)
	if errors.Is(err, kv.ErrNotFound) {
		return Position{Index: 2}, nil
	}
	if err != nil {
		return Position{}, fmt.Errorf("order: position: %w", err)
	}
	var s foliov1.OrderSnapshot
	if err := proto.Unmarshal(v, &s); err != nil {
		return Position{}, &kv.CorruptionError{Op: "order position", Err: err}
	}
	if s.Height != n.opts.Blocks.Height() {
		return Position{}, &kv.CorruptionError{Op: "order position", Err: fmt.Errorf("position recorded at height %d, block store has %d", s.Height, n.opts.Blocks.Height())}
	}
	return Position{Index: s.ConsumedIndex, Offset: s.ConsumedOffset}, nil
}

// Status returns the current Raft state. Safe for concurrent use.
func (n *Node) Status() Status {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.status
}

func (n *Node) setStatus() {
	st := n.rn.BasicStatus()
	cs := n.confs[len(n.confs)-1].cs
	status := Status{ID: n.opts.ID, Leader: st.Lead, Role: roleName(st.RaftState), Term: st.GetTerm(), Applied: st.Applied,
		Height: n.opts.Blocks.Height(), Pending: n.chain.Pending(), Voters: cs.Voters, Learners: cs.Learners, Removed: n.removed}
	if n.removed {
		status.Role = "removed"
	}
	if st.RaftState == raft.StateLeader {
		status.Match = n.match // refreshed on ticks: reconcileMembers
	}
	n.mu.Lock()
	n.status = status
	n.mu.Unlock()
}

func roleName(s raft.StateType) string {
	switch s {
	case raft.StateLeader:
		return "leader"
	case raft.StateCandidate:
		return "candidate"
	case raft.StatePreCandidate:
		return "pre-candidate"
	default:
		return "follower"
	}
}

// Step hands a Raft message from another orderer to this one.
func (n *Node) Step(ctx context.Context, m *pb.Message) error {
	select {
	case n.stepc <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ReportSnapshot tells Raft whether a snapshot message reached its target.
func (n *Node) ReportSnapshot(to uint64, ok bool) {
	st := raft.SnapshotFinish
	if !ok {
		st = raft.SnapshotFailure
	}
	select {
	case n.reportc <- report{to: to, status: st}:
	default:
	}
}

// ReportUnreachable tells Raft a message to an orderer could not be sent,
// so it stops streaming appends to it until it answers again.
func (n *Node) ReportUnreachable(to uint64) {
	select {
	case n.reportc <- report{to: to, unreachable: true}:
	default:
	}
}

// Submit proposes a validated envelope and waits until it is committed in
// the Raft log (ErrAlreadyOrdered if its tx ID already was). Validation of
// the envelope is the caller's job (see Broadcaster).
func (n *Node) Submit(ctx context.Context, txID string, env []byte) error {
	if st := n.Status(); st.Removed {
		return fmt.Errorf("%w: orderer %d was removed from the channel's ordering service; ask another orderer", ErrNoQuorum, st.ID)
	} else if st.Leader == raft.None {
		return fmt.Errorf("%w: no Raft leader is known (orderer %d is %s in term %d); retry when a majority of orderers is up", ErrNoQuorum, st.ID, st.Role, st.Term)
	}
	reply := make(chan error, 1)
	select {
	case n.propc <- proposal{env: env, txID: txID, reply: reply}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: envelope %s not committed in time: %v", ErrNoQuorum, txID, ctx.Err())
	}
}

// Run drives Raft until ctx is cancelled.
func (n *Node) Run(ctx context.Context) error {
	ticker := time.NewTicker(n.opts.TickInterval)
	defer ticker.Stop()
	cutTimer := time.NewTimer(time.Hour)
	cutTimer.Stop()
	defer cutTimer.Stop()
	defer n.failWaiters(ErrStopped)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			n.rn.Tick()
			n.reconcileMembers()
		case ids := <-n.membersc:
			n.desired = map[uint64]bool{}
			for _, id := range ids {
				n.desired[id] = true
			}
			n.reconcileMembers()
		case m := <-n.stepc:
			if err := n.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
				n.log.Debug("raft step", "from", m.GetFrom(), "type", m.GetType().String(), "err", err)
			}
		case r := <-n.reportc:
			if r.unreachable {
				n.rn.ReportUnreachable(r.to)
			} else {
				n.rn.ReportSnapshot(r.to, r.status)
			}
		case p := <-n.propc:
			n.propose(p)
		case <-cutTimer.C:
			n.maybeProposeCut()
		}
		// Advance can make a new Ready available at once (the leader's own
		// append advancing the commit index), so drain them all rather than
		// wait for the next event.
		for n.rn.HasReady() {
			if err := n.handleReady(ctx); err != nil {
				return err
			}
		}
		n.resetCutTimer(cutTimer)
		n.setStatus()
	}
}

// propose batches p with whatever else is queued into one entry.
func (n *Node) propose(first proposal) {
	batch := &foliov1.EnvelopeBatch{}
	var ps []proposal
	size := 0
	add := func(p proposal) {
		batch.Envelopes = append(batch.Envelopes, p.env)
		ps = append(ps, p)
		size += len(p.env)
	}
	add(first)
drain:
	for size < n.opts.MaxProposalBytes {
		select {
		case p := <-n.propc:
			add(p)
		default:
			break drain
		}
	}
	data, err := proto.Marshal(&foliov1.OrderEntry{TimestampUnixNano: n.opts.Now().UnixNano(), Kind: &foliov1.OrderEntry_Envelopes{Envelopes: batch}})
	if err == nil {
		err = n.rn.Propose(data)
	}
	if err != nil {
		if errors.Is(err, raft.ErrProposalDropped) {
			err = fmt.Errorf("%w: proposal dropped (no leader or leadership changing); retry", ErrNoQuorum)
		}
		for _, p := range ps {
			p.reply <- err
		}
		return
	}
	for _, p := range ps {
		n.waiters[p.txID] = append(n.waiters[p.txID], p.reply)
	}
}

func (n *Node) maybeProposeCut() {
	if n.rn.BasicStatus().RaftState != raft.StateLeader || n.chain.Pending() == 0 {
		return
	}
	next := n.chain.Next()
	if n.cutAsked == next+1 {
		return
	}
	data, _ := proto.Marshal(&foliov1.OrderEntry{TimestampUnixNano: n.opts.Now().UnixNano(), Kind: &foliov1.OrderEntry_Cut{Cut: &foliov1.CutRequest{BlockNumber: next}}})
	if err := n.rn.Propose(data); err == nil {
		n.cutAsked = next + 1
	}
}

// resetCutTimer arms the batch timeout while envelopes are pending on the leader.
func (n *Node) resetCutTimer(t *time.Timer) {
	if n.chain.Pending() == 0 {
		n.pendingSince = time.Time{}
		return
	}
	if n.rn.BasicStatus().RaftState != raft.StateLeader {
		n.pendingSince = time.Time{}
		return
	}
	if n.pendingSince.IsZero() {
		n.pendingSince = time.Now()
		t.Reset(n.opts.Batch.Timeout)
		return
	}
	if n.cutAsked != n.chain.Next()+1 {
		if d := n.opts.Batch.Timeout - time.Since(n.pendingSince); d <= 0 {
			n.maybeProposeCut()
		}
	}
}

func (n *Node) handleReady(ctx context.Context) error {
	rd := n.rn.Ready()
	if rd.SoftState != nil && rd.SoftState.Lead == raft.None {
		n.failWaiters(fmt.Errorf("%w: leadership lost before commit; retry", ErrNoQuorum))
	}
	if err := n.rlog.Save(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
		return fmt.Errorf("order: persist raft state: %w", err)
	}
	if rd.Snapshot != nil && !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.restoreSnapshot(ctx, rd.Snapshot); err != nil {
			return err
		}
	}
	if len(rd.Messages) > 0 {
		n.opts.Transport.Send(rd.Messages)
	}
	for _, e := range rd.CommittedEntries {
		if err := n.apply(e); err != nil {
			return err
		}
	}
	n.rn.Advance(rd)
	return n.maybeCompact()
}

func (n *Node) apply(e *pb.Entry) error {
	if e.GetType() == pb.EntryType_EntryConfChange || e.GetType() == pb.EntryType_EntryConfChangeV2 {
		return n.applyConfChange(e)
	}
	if e.GetType() != pb.EntryType_EntryNormal || len(e.GetData()) == 0 || e.GetIndex() < n.pos.Index {
		return nil
	}
	skip := uint32(0)
	if e.GetIndex() == n.pos.Index {
		skip = n.pos.Offset
	}
	var oe foliov1.OrderEntry
	if err := proto.Unmarshal(e.GetData(), &oe); err != nil {
		n.log.Warn("undecodable raft entry skipped by every orderer", "index", e.GetIndex(), "err", err)
		return nil
	}
	res, err := n.chain.Apply(e.GetIndex(), &oe, skip)
	if err != nil {
		return err
	}
	for _, cut := range res.Cuts {
		if err := n.storeBlock(cut); err != nil {
			return err
		}
	}
	for _, id := range res.Accepted {
		n.reply(id, nil)
	}
	for _, id := range res.Duplicates {
		n.reply(id, fmt.Errorf("%w: %s", ErrAlreadyOrdered, id))
	}
	if res.Dropped > 0 {
		n.log.Warn("undecodable envelopes dropped", "index", e.GetIndex(), "count", res.Dropped)
	}
	return nil
}

// storeBlock signs a cut block and stores it with the new position, atomically.
func (n *Node) storeBlock(cut Cut) error {
	b := cut.Block
	hdr, _ := types.HeaderBytes(b.Header)
	sig, err := n.opts.Self.Sign(types.DomainBlock, hdr)
	if err != nil {
		return fmt.Errorf("order: sign block %d: %w", b.Header.Number, err)
	}
	b.Metadata = &foliov1.BlockMetadata{Signatures: []*foliov1.OrdererSignature{{Signer: n.opts.Self.Serialized(), Signature: sig}}}
	hash, _ := types.HeaderHash(b.Header)
	pos, _ := proto.Marshal(&foliov1.OrderSnapshot{Height: b.Header.Number + 1, LastHash: hash, ConsumedIndex: cut.After.Index, ConsumedOffset: cut.After.Offset})
	batch := n.opts.DB.NewBatch()
	defer batch.Close()
	if err := n.opts.Blocks.Stage(batch, b); err != nil {
		return fmt.Errorf("order: block %d: %w", b.Header.Number, err)
	}
	if err := batch.Set(keyPosition, pos); err != nil {
		return err
	}
	if err := batch.Commit(kv.WriteOptions{Sync: true}); err != nil {
		return fmt.Errorf("order: store block %d: %w", b.Header.Number, err)
	}
	if err := n.opts.Blocks.Committed(b); err != nil {
		return err
	}
	n.pos = cut.After
	n.log.Debug("block cut", "number", b.Header.Number, "txs", len(b.Data.Envelopes))
	return nil
}

func (n *Node) reply(txID string, err error) {
	for _, ch := range n.waiters[txID] {
		ch <- err
	}
	delete(n.waiters, txID)
}

func (n *Node) failWaiters(err error) {
	for id := range n.waiters {
		n.reply(id, err)
	}
}

// maybeCompact snapshots the Raft log once enough consumed entries piled up.
// The snapshot sits just before the consumed position, so its data (the
// position) is exactly the state after its index.
func (n *Node) maybeCompact() error {
	idx := n.pos.Index - 1
	if idx <= n.lastSnapshot || idx-n.lastSnapshot < n.opts.SnapshotEntries {
		return nil
	}
	if applied := n.rn.BasicStatus().Applied; idx > applied {
		return nil
	}
	data, _ := proto.Marshal(&foliov1.OrderSnapshot{Height: n.opts.Blocks.Height(), LastHash: n.opts.Blocks.LastHash(),
		ConsumedIndex: n.pos.Index, ConsumedOffset: n.pos.Offset})
	cs := n.confAt(idx)
	if err := n.rlog.Compact(idx, &cs, data); err != nil {
		return err
	}
	n.lastSnapshot = idx
	n.trimConfs(idx)
	n.log.Info("raft log compacted", "index", idx, "height", n.opts.Blocks.Height())
	return nil
}

// restoreSnapshot moves this orderer to a snapshot a leader sent: it
// fetches the blocks it lacks from other orderers, then resumes its chain
// at the snapshot's position.
func (n *Node) restoreSnapshot(ctx context.Context, snap *pb.Snapshot) error {
	var s foliov1.OrderSnapshot
	if err := proto.Unmarshal(snap.GetData(), &s); err != nil {
		return fmt.Errorf("order: snapshot data: %w", err)
	}
	n.lastSnapshot = snap.GetMetadata().GetIndex()
	// Raft took the snapshot's configuration; later changes come as entries.
	n.confs = []confAt{{index: n.lastSnapshot, cs: confStateOf(snap.GetMetadata().GetConfState())}}
	n.checkRemoved()
	have := n.opts.Blocks.Height()
	if s.Height <= have {
		// Not behind in blocks: the position saved with the last block is at
		// or past the snapshot's, and apply skips consumed entries.
		return nil
	}
	if n.opts.Fetcher == nil {
		return fmt.Errorf("order: snapshot at height %d, block store at %d, and no block fetcher", s.Height, have)
	}
	n.log.Info("catching up blocks from other orderers", "from", have, "to", s.Height)
	got, err := n.opts.Fetcher.FetchBlocks(ctx, have, s.Height)
	if err != nil {
		return fmt.Errorf("order: fetch blocks %d-%d: %w", have, s.Height, err)
	}
	for _, b := range got {
		if err := n.opts.Blocks.Append(b, false); err != nil {
			return fmt.Errorf("order: caught-up block: %w", err)
		}
	}
	if n.opts.Blocks.Height() != s.Height {
		return fmt.Errorf("order: block store at %d after catch-up, snapshot needs %d", n.opts.Blocks.Height(), s.Height)
	}
	pos, _ := proto.Marshal(&foliov1.OrderSnapshot{Height: s.Height, LastHash: n.opts.Blocks.LastHash(), ConsumedIndex: s.ConsumedIndex, ConsumedOffset: s.ConsumedOffset})
	b := n.opts.DB.NewBatch()
	defer b.Close()
	if err := b.Set(keyPosition, pos); err != nil {
		return err
	}
	if err := b.Commit(kv.WriteOptions{Sync: true}); err != nil {
		return err
	}
	last, err := n.opts.Blocks.Block(s.Height - 1)
	if err != nil {
		return err
	}
	n.chain = NewChain(n.opts.Batch, n.opts.Blocks, s.Height, n.opts.Blocks.LastHash(), last.Header.TimestampUnixNano)
	n.pos = Position{Index: s.ConsumedIndex, Offset: s.ConsumedOffset}
	return nil
}
