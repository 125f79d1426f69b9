package order

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/types"
)

// TestRaftScripts runs the scripts in testdata/raft: orderers made of a
// raft.RawNode and a Chain, driven step by step by a synchronous copy of
// Node's Ready loop (persist, send, apply, store blocks with their resume
// position, Advance) over an in-memory network the script controls. It
// shows that the blocks are a function of the committed log alone: through
// leader changes, lost proposals, stale cut requests and restarts, every
// orderer cuts the same blocks. `go test -run TestRaftScripts -rewrite`
// regenerates the expected output; review the diff like code.
//
// Commands (orderers are named by Raft ID, 1..n):
//
//	orderers n=N max-count=C max-bytes=B
//	    N orderers of a new cluster, next block 1 after the genesis block.
//	campaign <id>
//	    The orderer starts an election. No clock ticks in these scripts:
//	    leaders change only here, so runs are deterministic.
//	propose <id> [ts=T]
//	<tx> <bytes>   envelopes, as in testdata/chain
//	    The orderer proposes one entry batching the envelopes (a follower
//	    forwards it to the leader), stamped T (default: 100 after the last
//	    stamp).
//	timeout <id> [ts=T]
//	    The orderer's batch timeout fires: a leader with envelopes pending
//	    proposes a cut request for its next block (Node.maybeProposeCut).
//	stabilize
//	    Handles every Ready and delivers every message until nothing moves.
//	    Prints who became leader, then what each group of orderers applied
//	    (entry index/term) and the blocks they cut.
//	process-ready <id>...
//	    Handles one Ready of each orderer named, as stabilize does.
//	deliver-msgs [<id>...]
//	    Delivers the messages sent so far to the orderers named (default:
//	    all) and prints them; the rest stay in flight.
//	tick <id> [n=N]
//	    Ticks the orderer's Raft clock N times (default 1): one tick makes
//	    a leader send heartbeats, which is how a healed partition learns of
//	    a newer term. Followers are not ticked, so they never time out.
//	isolate <id> / heal
//	    Drops every message to and from the orderer / stops doing so.
//	crash <id> / restart <id>
//	    Loses the orderer's memory; keeps its Raft log, hard state, blocks
//	    and the resume position stored with the last block. Restart resumes
//	    the chain after the last block and replays the log from there.
//	blocks
//	    The blocks each group of orderers with identical chains holds.
//	status
//	    Each orderer's Raft role and term, commit and applied index, height,
//	    pending envelopes and stored resume position.
func TestRaftScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/raft", func(t *testing.T, path string) {
		e := &raftEnv{}
		datadriven.RunTest(t, path, e.handle)
	})
}

// raftEnv is the state of one Raft script.
type raftEnv struct {
	cfg         BatchConfig
	genesisHash []byte
	orderers    []*scriptOrderer // orderers[i] has Raft ID i+1
	msgs        []*pb.Message    // sent, not yet delivered
	isolated    map[uint64]bool
	clock       int64 // the last proposal's timestamp
}

// scriptOrderer is one orderer. storage, blocks and pos are its disk and
// survive a crash; the rest is its memory.
type scriptOrderer struct {
	id      uint64
	storage *raft.MemoryStorage
	blocks  []*foliov1.Block // after genesis
	pos     Position

	rn     *raft.RawNode // nil while crashed
	chain  *Chain
	index  memIndex
	leader bool
	// applied describes what the orderer applied during the current
	// stabilize.
	applied []string
}

func (e *raftEnv) handle(t *testing.T, d *datadriven.TestData) string {
	if d.Cmd != "orderers" && e.orderers == nil {
		d.Fatalf(t, "%s before orderers", d.Cmd)
	}
	var out strings.Builder
	switch d.Cmd {
	case "orderers":
		var n int
		d.ScanArgs(t, "n", &n)
		e.cfg = BatchConfig{}
		d.ScanArgs(t, "max-count", &e.cfg.MaxTxCount)
		d.ScanArgs(t, "max-bytes", &e.cfg.MaxBytes)
		g := &foliov1.BlockHeader{PreviousHash: types.GenesisPreviousHash(), DataHash: types.DataHash(nil)}
		e.genesisHash, _ = types.HeaderHash(g)
		e.orderers, e.msgs, e.isolated, e.clock = nil, nil, map[uint64]bool{}, 0
		var voters []uint64
		for id := uint64(1); id <= uint64(n); id++ {
			voters = append(voters, id)
		}
		for _, id := range voters {
			// Every orderer of a new cluster starts from the same snapshot
			// at index 1 holding the voters, as Node.New writes it.
			o := &scriptOrderer{id: id, storage: raft.NewMemoryStorage(), pos: Position{Index: 2}}
			snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(1), Term: proto.Uint64(1), ConfState: &pb.ConfState{Voters: voters}}}
			if err := o.storage.ApplySnapshot(snap); err != nil {
				t.Fatal(err)
			}
			e.orderers = append(e.orderers, o)
			e.start(t, o)
		}
	case "campaign":
		if err := e.orderer(t, d).rn.Campaign(); err != nil {
			fmt.Fprintf(&out, "campaign: %v\n", err)
		}
	case "propose":
		o := e.orderer(t, d)
		envs, err := parseEnvelopes(d.Input)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		data, _ := proto.Marshal(&foliov1.OrderEntry{TimestampUnixNano: e.stamp(t, d),
			Kind: &foliov1.OrderEntry_Envelopes{Envelopes: &foliov1.EnvelopeBatch{Envelopes: envs}}})
		if err := o.rn.Propose(data); err != nil {
			fmt.Fprintf(&out, "n%d: proposal dropped: %v\n", o.id, err)
		}
	case "timeout":
		o := e.orderer(t, d)
		switch {
		case o.rn.BasicStatus().RaftState != raft.StateLeader:
			fmt.Fprintf(&out, "n%d is not the leader: no cut request\n", o.id)
		case o.chain.Pending() == 0:
			fmt.Fprintf(&out, "n%d has nothing pending: no cut request\n", o.id)
		default:
			data, _ := proto.Marshal(cutEntry(e.stamp(t, d), o.chain.Next()))
			if err := o.rn.Propose(data); err != nil {
				fmt.Fprintf(&out, "n%d: cut request dropped: %v\n", o.id, err)
				break
			}
			fmt.Fprintf(&out, "n%d proposes a cut of block %d\n", o.id, o.chain.Next())
		}
	case "tick":
		o := e.orderer(t, d)
		n := 1
		d.MaybeScanArgs(t, "n", &n)
		for range n {
			o.rn.Tick()
		}
	case "stabilize":
		e.stabilize(t, &out)
	case "process-ready":
		for _, o := range e.named(t, d) {
			if !o.rn.HasReady() {
				fmt.Fprintf(&out, "n%d has nothing ready\n", o.id)
				continue
			}
			e.handleReady(t, o, &out)
		}
		e.printApplied(&out)
	case "deliver-msgs":
		to := map[uint64]bool{}
		for _, o := range e.named(t, d) {
			to[o.id] = true
		}
		if len(d.CmdArgs) == 0 {
			for _, o := range e.orderers {
				to[o.id] = true
			}
		}
		var later []*pb.Message
		for _, m := range e.msgs {
			if !to[m.GetTo()] {
				later = append(later, m)
				continue
			}
			fmt.Fprintf(&out, "n%d->n%d %s term=%d", m.GetFrom(), m.GetTo(), m.GetType(), m.GetTerm())
			if !e.deliver(m) {
				out.WriteString(" (dropped)")
			}
			out.WriteString("\n")
		}
		e.msgs = later
	case "isolate":
		e.isolated[e.orderer(t, d).id] = true
	case "heal":
		clear(e.isolated)
	case "crash":
		o := e.orderer(t, d)
		o.rn, o.chain, o.index, o.leader = nil, nil, nil, false
	case "restart":
		o := e.orderer(t, d)
		if o.rn != nil {
			d.Fatalf(t, "n%d is running", o.id)
		}
		e.start(t, o)
		fmt.Fprintf(&out, "n%d resumes at block %d and replays the log from %d/%d\n", o.id, o.chain.Next(), o.pos.Index, o.pos.Offset)
	case "blocks":
		e.printBlocks(&out)
	case "status":
		for _, o := range e.orderers {
			if o.rn == nil {
				fmt.Fprintf(&out, "n%d crashed, blocks=%d stored, resume=%d/%d\n", o.id, len(o.blocks), o.pos.Index, o.pos.Offset)
				continue
			}
			st := o.rn.Status()
			fmt.Fprintf(&out, "n%d %s term=%d commit=%d applied=%d blocks=%d resume=%d/%d; ",
				o.id, roleName(st.RaftState), st.GetTerm(), st.GetCommit(), st.Applied, len(o.blocks), o.pos.Index, o.pos.Offset)
			writePending(&out, o.chain)
		}
	default:
		d.Fatalf(t, "unknown command %s", d.Cmd)
	}
	return out.String()
}

// orderer returns the orderer the command names first.
func (e *raftEnv) orderer(t *testing.T, d *datadriven.TestData) *scriptOrderer {
	named := e.named(t, d)
	if len(named) == 0 {
		d.Fatalf(t, "%s: which orderer?", d.Cmd)
	}
	return named[0]
}

// named returns the orderers the command's positional arguments name;
// they must be running, except for restart.
func (e *raftEnv) named(t *testing.T, d *datadriven.TestData) []*scriptOrderer {
	var named []*scriptOrderer
	for _, a := range d.CmdArgs {
		if len(a.Vals) > 0 {
			continue // key=value, not an orderer
		}
		var id uint64
		if _, err := fmt.Sscan(a.Key, &id); err != nil || id == 0 || id > uint64(len(e.orderers)) {
			d.Fatalf(t, "%s: no orderer %s", d.Cmd, a.Key)
		}
		o := e.orderers[id-1]
		if o.rn == nil && d.Cmd != "restart" {
			d.Fatalf(t, "%s: n%d has crashed", d.Cmd, id)
		}
		named = append(named, o)
	}
	return named
}

// stamp is the timestamp of a proposal: ts= or 100 after the last one.
func (e *raftEnv) stamp(t *testing.T, d *datadriven.TestData) int64 {
	e.clock += 100
	d.MaybeScanArgs(t, "ts", &e.clock)
	return e.clock
}

// start opens an orderer from its disk as Node.New does: the chain
// resumes after the last stored block, and Raft hands out the committed
// entries from the stored resume position on.
func (e *raftEnv) start(t *testing.T, o *scriptOrderer) {
	o.index = memIndex{}
	next, prev, last := uint64(1), e.genesisHash, int64(0)
	for _, b := range o.blocks {
		o.index.add(b)
		next = b.Header.Number + 1
		prev, _ = types.HeaderHash(b.Header)
		last = b.Header.TimestampUnixNano
	}
	o.chain = NewChain(e.cfg, o.index, next, prev, last)
	snap, _ := o.storage.Snapshot()
	applied := max(o.pos.Index-1, snap.GetMetadata().GetIndex())
	// Unlike Node, no PreVote or CheckQuorum: without ticks, followers
	// would stay in the leader's lease and refuse every campaign. How a
	// leader is elected does not matter to the chain, only the log does.
	rn, err := raft.NewRawNode(&raft.Config{
		ID: o.id, ElectionTick: 10, HeartbeatTick: 1, Storage: o.storage, Applied: applied,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, Logger: raftLogger{testLogger},
	})
	if err != nil {
		t.Fatal(err)
	}
	o.rn, o.leader = rn, false
}

func (e *raftEnv) stabilize(t *testing.T, out *strings.Builder) {
	for {
		moved := false
		for _, o := range e.orderers {
			for o.rn != nil && o.rn.HasReady() {
				e.handleReady(t, o, out)
				moved = true
			}
		}
		if len(e.msgs) > 0 {
			msgs := e.msgs
			e.msgs = nil
			for _, m := range msgs {
				e.deliver(m)
			}
			moved = true
		}
		if !moved {
			break
		}
	}
	e.printApplied(out)
}

// deliver steps m into its recipient unless the network or a crash drops
// it, and reports whether it arrived.
func (e *raftEnv) deliver(m *pb.Message) bool {
	to := e.orderers[m.GetTo()-1]
	if e.isolated[m.GetFrom()] || e.isolated[m.GetTo()] || to.rn == nil {
		return false
	}
	// A rejected message (from a stale term, say) is Raft's business; the
	// script sees its effects.
	_ = to.rn.Step(m)
	return true
}

// printApplied prints and forgets what the orderers applied since the
// last call; orderers that applied the same entries with the same results
// print as one group.
func (e *raftEnv) printApplied(out *strings.Builder) {
	var groups []string
	members := map[string][]string{}
	for _, o := range e.orderers {
		if len(o.applied) == 0 {
			continue
		}
		text := strings.Join(o.applied, "\n")
		if _, ok := members[text]; !ok {
			groups = append(groups, text)
		}
		members[text] = append(members[text], fmt.Sprintf("n%d", o.id))
		o.applied = nil
	}
	for _, g := range groups {
		fmt.Fprintf(out, "%s applied:\n", strings.Join(members[g], " "))
		for _, line := range strings.Split(g, "\n") {
			fmt.Fprintf(out, "  %s\n", line)
		}
	}
}

// handleReady is Node.handleReady with in-memory storage and network.
func (e *raftEnv) handleReady(t *testing.T, o *scriptOrderer, out *strings.Builder) {
	rd := o.rn.Ready()
	if rd.SoftState != nil {
		switch leader := rd.SoftState.RaftState == raft.StateLeader; {
		case leader && !o.leader:
			fmt.Fprintf(out, "n%d is leader at term %d\n", o.id, o.rn.BasicStatus().GetTerm())
		case !leader && o.leader:
			fmt.Fprintf(out, "n%d is no longer leader (term %d)\n", o.id, o.rn.BasicStatus().GetTerm())
		}
		o.leader = rd.SoftState.RaftState == raft.StateLeader
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := o.storage.ApplySnapshot(rd.Snapshot); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.storage.Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := o.storage.SetHardState(rd.HardState); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range rd.Messages {
		e.msgs = append(e.msgs, proto.Clone(m).(*pb.Message))
	}
	for _, ent := range rd.CommittedEntries {
		e.apply(t, o, ent)
	}
	o.rn.Advance(rd)
}

// apply is Node.apply: consume one committed entry into the chain and
// store the blocks it cuts with their resume positions.
func (e *raftEnv) apply(t *testing.T, o *scriptOrderer, ent *pb.Entry) {
	at := fmt.Sprintf("%d/t%d", ent.GetIndex(), ent.GetTerm())
	if ent.GetType() != pb.EntryType_EntryNormal || ent.GetIndex() < o.pos.Index {
		return
	}
	if len(ent.GetData()) == 0 {
		o.applied = append(o.applied, at+" empty (new leader)")
		return
	}
	skip := uint32(0)
	if ent.GetIndex() == o.pos.Index {
		skip = o.pos.Offset
	}
	var oe foliov1.OrderEntry
	if err := proto.Unmarshal(ent.GetData(), &oe); err != nil {
		t.Fatalf("entry %s: %v", at, err)
	}
	res, err := o.chain.Apply(ent.GetIndex(), &oe, skip)
	if err != nil {
		t.Fatal(err)
	}
	line := at + " "
	if b := oe.GetEnvelopes(); b != nil {
		ids := make([]string, len(b.GetEnvelopes()))
		for i, env := range b.GetEnvelopes() {
			if ids[i], _ = envelopeTxID(env); ids[i] == "" {
				ids[i] = "?"
			}
		}
		line += fmt.Sprintf("envelopes %s", strings.Join(ids, " "))
		if skip > 0 {
			line += fmt.Sprintf(" (first %d already in blocks)", skip)
		}
		line += ": " + describeApplied(res)
	} else {
		line += describeEntry(&oe, res)
	}
	o.applied = append(o.applied, line)
	for _, c := range res.Cuts {
		o.blocks = append(o.blocks, c.Block)
		o.index.add(c.Block)
		o.pos = c.After
		o.applied = append(o.applied, "  "+describeCut(c))
	}
}

// printBlocks prints each group of orderers with identical chains, and
// any broken link or transaction ordered twice.
func (e *raftEnv) printBlocks(out *strings.Builder) {
	var groups []string
	members := map[string][]string{}
	for _, o := range e.orderers {
		var lines []string
		for _, b := range o.blocks {
			lines = append(lines, describeBlock(b))
		}
		text := checkLinks(e.genesisHash, o.blocks) + checkOnce(o.blocks) + strings.Join(lines, "\n")
		if _, ok := members[text]; !ok {
			groups = append(groups, text)
		}
		members[text] = append(members[text], fmt.Sprintf("n%d", o.id))
	}
	for _, g := range groups {
		fmt.Fprintf(out, "%s:\n", strings.Join(members[g], " "))
		if g == "" {
			out.WriteString("  no blocks\n")
			continue
		}
		for _, line := range strings.Split(strings.TrimSuffix(g, "\n"), "\n") {
			fmt.Fprintf(out, "  %s\n", line)
		}
	}
}

// checkOnce returns a line for every transaction in more than one block.
func checkOnce(blocks []*foliov1.Block) string {
	in := map[string][]uint64{}
	var ids []string
	for _, b := range blocks {
		for _, env := range b.Data.Envelopes {
			id, _ := envelopeTxID(env)
			if in[id] == nil {
				ids = append(ids, id)
			}
			in[id] = append(in[id], b.Header.Number)
		}
	}
	var out strings.Builder
	for _, id := range ids {
		if len(in[id]) > 1 {
			fmt.Fprintf(&out, "BROKEN: %s is in blocks %v\n", id, slices.Compact(in[id]))
		}
	}
	return out.String()
}
