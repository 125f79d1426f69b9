package order

import (
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Membership changes. The channel configuration on chain says which
// orderers form the ordering service (DESIGN 6: identity changes are config
// transactions); the Raft log says which orderers vote. The node wiring
// tells the Node the wanted set (SetMembers) after each config block, and
// the leader moves the Raft configuration towards it one step at a time, as
// etcd's runtime reconfiguration does:
//
//   - an orderer the channel added joins as a learner: it receives the log
//     (or a snapshot, then the blocks from the other orderers) without a
//     vote, so a slow newcomer never costs the cluster its quorum;
//   - once its log is within PromoteLag entries of the leader's it is
//     promoted to voter;
//   - an orderer the channel removed is removed from Raft (a removed leader
//     steps down at once, StepDownOnRemoval) and stops ordering.
//
// Every change is a Raft entry, so every orderer applies the same changes at
// the same log index, and a restart or a snapshot reproduces them. Which
// blocks count is not decided here: peers accept a block signature only
// from an orderer the configuration in force at that block lists.

// confAt is the Raft configuration in force from a log index on.
type confAt struct {
	index uint64
	cs    *pb.ConfState
}

func confStateOf(cs *pb.ConfState) *pb.ConfState {
	if cs == nil {
		return &pb.ConfState{}
	}
	return proto.Clone(cs).(*pb.ConfState)
}

// SetMembers tells the orderer which Raft IDs the channel configuration in
// force lists. The leader adds, promotes and removes members until Raft
// agrees. Safe for concurrent use; the latest call wins.
func (n *Node) SetMembers(ids []uint64) {
	ids = slices.Clone(ids)
	for {
		select {
		case n.membersc <- ids:
			return
		default:
		}
		select { // replace a value Run has not taken yet
		case <-n.membersc:
		default:
		}
	}
}

// confAt returns the Raft configuration in force at log index idx.
func (n *Node) confAt(idx uint64) pb.ConfState {
	cs := n.confs[0].cs
	for _, c := range n.confs {
		if c.index <= idx {
			cs = c.cs
		}
	}
	return *confStateOf(cs)
}

// trimConfs forgets configurations a snapshot at idx superseded.
func (n *Node) trimConfs(idx uint64) {
	keep := 0
	for i, c := range n.confs {
		if c.index <= idx {
			keep = i
		}
	}
	n.confs = n.confs[keep:]
}

// applyConfChange applies a committed membership change.
func (n *Node) applyConfChange(e *pb.Entry) error {
	var cc pb.ConfChangeI
	if e.GetType() == pb.EntryType_EntryConfChange {
		var c pb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &c); err != nil {
			return fmt.Errorf("order: membership change at index %d does not decode: %w", e.GetIndex(), err)
		}
		cc = &c
	} else {
		var c pb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &c); err != nil {
			return fmt.Errorf("order: membership change at index %d does not decode: %w", e.GetIndex(), err)
		}
		cc = &c
	}
	cs := n.rn.ApplyConfChange(cc)
	n.confs = append(n.confs, confAt{index: e.GetIndex(), cs: confStateOf(cs)})
	n.confProposed = time.Time{}
	n.log.Info("raft membership changed", "index", e.GetIndex(), "voters", cs.GetVoters(), "learners", cs.GetLearners())
	n.checkRemoved()
	return nil
}

// checkRemoved notices that the applied configuration no longer lists this
// orderer. Raft stops it from campaigning; Submit refuses from now on.
func (n *Node) checkRemoved() {
	cs := n.confs[len(n.confs)-1].cs
	member := slices.Contains(cs.GetVoters(), n.opts.ID) || slices.Contains(cs.GetLearners(), n.opts.ID)
	if !member && (len(cs.GetVoters()) > 0) {
		// An orderer that has not yet been added (a newcomer replaying the
		// genesis configuration) is not "removed": only one that was a
		// member once.
		if n.wasMember {
			if !n.removed {
				n.log.Warn("this orderer was removed from the ordering service", "voters", cs.GetVoters())
				n.failWaiters(fmt.Errorf("%w: this orderer was removed from the ordering service", ErrNoQuorum))
			}
			n.removed = true
		}
		return
	}
	if member {
		n.wasMember = true
		n.removed = false
	}
}

// reconcileMembers, on the leader, proposes the next step towards the
// members the configuration wants: add a missing member as a learner,
// promote a learner that caught up, remove a member the configuration no
// longer lists. One change at a time: Raft refuses a second while one is
// pending, and waiting for the first keeps quorum arithmetic simple.
func (n *Node) reconcileMembers() {
	if n.rn.BasicStatus().RaftState != raft.StateLeader {
		n.match = nil
		return
	}
	st := n.rn.Status()
	n.match = make(map[uint64]uint64, len(st.Progress))
	for id, pr := range st.Progress {
		n.match[id] = pr.Match
	}
	if n.desired == nil || n.removed {
		return
	}
	if !n.confProposed.IsZero() && time.Since(n.confProposed) < n.opts.MembershipRetry {
		return
	}
	cs := n.confs[len(n.confs)-1].cs
	voters, learners := cs.GetVoters(), cs.GetLearners()
	var cc *pb.ConfChangeV2
	change := func(t pb.ConfChangeType, id uint64) *pb.ConfChangeV2 {
		return &pb.ConfChangeV2{Changes: []*pb.ConfChangeSingle{{Type: t.Enum(), NodeId: proto.Uint64(id)}}}
	}
	for _, id := range sortedIDs(n.desired) {
		if !slices.Contains(voters, id) && !slices.Contains(learners, id) {
			cc = change(pb.ConfChangeType_ConfChangeAddLearnerNode, id)
			break
		}
	}
	if cc == nil {
		last := n.rn.BasicStatus().GetCommit()
		for _, id := range learners {
			// Caught up: past this leader's last snapshot (so it holds the
			// blocks the snapshot stands for) and within PromoteLag.
			m := n.match[id]
			if n.desired[id] && m > 0 && m >= n.lastSnapshot && m+n.opts.PromoteLag >= last {
				cc = change(pb.ConfChangeType_ConfChangeAddNode, id)
				break
			}
		}
	}
	if cc == nil {
		for _, id := range append(slices.Clone(learners), voters...) {
			if n.desired[id] || (len(voters) == 1 && voters[0] == id) {
				continue
			}
			if id == n.opts.ID {
				// The leader does not remove itself: once the change
				// commits it stops leading, and a follower that had not yet
				// heard the commit (in a cluster of two, always) would wait
				// for a vote the removed node no longer gives. Hand the
				// leadership to the most advanced remaining voter; it
				// removes this orderer.
				n.handOver(voters)
				return
			}
			cc = change(pb.ConfChangeType_ConfChangeRemoveNode, id)
			break
		}
	}
	if cc == nil {
		return
	}
	if err := n.rn.ProposeConfChange(cc); err != nil {
		n.log.Debug("membership change not proposed", "change", cc.String(), "err", err)
		return
	}
	n.confProposed = time.Now()
	n.log.Info("proposed raft membership change", "change", cc.String())
}

// handOver transfers leadership to the remaining voter with the longest
// log, when the configuration removes the leader.
func (n *Node) handOver(voters []uint64) {
	var to, best uint64
	for _, id := range voters {
		if id != n.opts.ID && n.desired[id] && (to == 0 || n.match[id] > best) {
			to, best = id, n.match[id]
		}
	}
	if to == 0 {
		return
	}
	n.rn.TransferLeader(to)
	n.confProposed = time.Now()
	n.log.Info("the channel removed this orderer: handing Raft leadership over", "to", to)
}

func sortedIDs(m map[uint64]bool) []uint64 {
	out := make([]uint64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
