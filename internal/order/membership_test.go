package order

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/kv/memkv"
	"github.com/folio-ledger/folio/internal/ledger/blocks"
)

// addMember creates an orderer that is not in the genesis voters, with an
// empty store, and runs it: the newcomer of a membership change.
func (c *cluster) addMember(id uint64) {
	db := memkv.New()
	bs, err := blocks.Open(db)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.members[id] = &member{id: id, db: db, blocks: bs}
	c.mu.Unlock()
	c.start(id)
}

// setMembers tells every live orderer the members the configuration wants.
func (c *cluster) setMembers(ids ...uint64) {
	for _, id := range c.memberIDs() {
		if n, ok := c.live(id); ok {
			n.SetMembers(ids)
		}
	}
}

// raftMembers returns the leader's applied voters and learners.
func (c *cluster) raftMembers() (voters, learners []uint64, err error) {
	l := c.leader()
	if l == 0 {
		return nil, nil, fmt.Errorf("no leader")
	}
	n, _ := c.live(l)
	st := n.Status()
	v, ls := slices.Clone(st.Voters), slices.Clone(st.Learners)
	slices.Sort(v)
	slices.Sort(ls)
	return v, ls, nil
}

// loadUntil submits envelopes through changing leaders until stop is closed
// and returns the acknowledged ones.
func (c *cluster) loadUntil(stop <-chan struct{}, prefix string) (func() map[string]bool, *sync.WaitGroup) {
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			id := fmt.Sprintf("%s-%04d", prefix, i)
			via, err := c.awaitLeader(ctx)
			if err == nil {
				err = c.submit(ctx, id, via)
			}
			cancel()
			if err == nil {
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		}
	}()
	return func() map[string]bool {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[string]bool, len(acked))
		for k := range acked {
			out[k] = true
		}
		return out
	}, &wg
}

// TestMembershipChangesUnderLoad adds an orderer that is not in the genesis
// configuration (learner, caught up by snapshot and block fetch, then
// voter), removes the leader, restarts the newcomer, all while envelopes
// are submitted: every acknowledged envelope is ordered exactly once and
// every member holds the same chain.
func TestMembershipChangesUnderLoad(t *testing.T) {
	c := newCluster(t, 3, BatchConfig{MaxTxCount: 4, MaxBytes: 1 << 20, Timeout: 20 * time.Millisecond}, 8)
	c.waitLeader()
	stop := make(chan struct{})
	acked, wg := c.loadUntil(stop, "m")
	waitFor(t, "some load ordered and the log compacted", 20*time.Second, func() error {
		if fi, _ := c.members[1].node.rlog.Storage().FirstIndex(); fi < 20 || len(acked()) < 40 {
			return fmt.Errorf("first index %d, %d acknowledged", fi, len(acked()))
		}
		return nil
	})

	// Add orderer 4: it must first join as a learner, then vote.
	c.addMember(4)
	c.setMembers(1, 2, 3, 4)
	sawLearner := false
	waitFor(t, "orderer 4 a voter", 20*time.Second, func() error {
		v, l, err := c.raftMembers()
		if err != nil {
			return err
		}
		if slices.Contains(l, 4) {
			sawLearner = true
		}
		if !slices.Equal(v, []uint64{1, 2, 3, 4}) {
			return fmt.Errorf("voters %v learners %v", v, l)
		}
		return nil
	})
	t.Logf("orderer 4 seen as a learner before it voted: %v", sawLearner)
	if h := c.members[4].blocks.Height(); h < 2 {
		t.Fatalf("orderer 4 holds %d blocks after joining", h)
	}
	if fi, _ := c.members[4].node.rlog.Storage().FirstIndex(); fi <= 2 {
		t.Fatalf("orderer 4 replayed the log from its start (first index %d): the test meant it to catch up from a snapshot", fi)
	}

	// Remove the leader: it steps down, the rest go on without it.
	old := c.waitLeader()
	var rest []uint64
	for _, id := range []uint64{1, 2, 3, 4} {
		if id != old {
			rest = append(rest, id)
		}
	}
	c.setMembers(rest...)
	// The rest remove it without it: once the removal commits, the new
	// leader stops sending to it, so it may never hear the commit (as in
	// etcd). It then applied its removal or lost its leader; either way it
	// orders nothing more.
	waitFor(t, fmt.Sprintf("orderer %d removed", old), 20*time.Second, func() error {
		v, _, err := c.raftMembers()
		if err != nil {
			return err
		}
		if !slices.Equal(v, rest) {
			return fmt.Errorf("voters %v, want %v", v, rest)
		}
		n, _ := c.live(old)
		if st := n.Status(); !st.Removed && st.Leader != 0 {
			return fmt.Errorf("orderer %d still follows leader %d: %+v", old, st.Leader, st)
		}
		return nil
	})
	n, _ := c.live(old)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := n.Submit(sctx, "after-removal", testEnv("after-removal"))
	cancel()
	if err == nil {
		t.Fatal("a removed orderer accepted an envelope")
	}
	c.stop(old)

	// The newcomer restarts: it re-applies the membership changes from its
	// log and snapshot, and keeps voting.
	c.stop(4)
	c.start(4)
	c.setMembers(rest...)
	waitFor(t, "orderer 4 a voter again after restart", 20*time.Second, func() error {
		n4, _ := c.live(4)
		if st := n4.Status(); !slices.Contains(st.Voters, 4) || st.Removed {
			return fmt.Errorf("orderer 4: %+v", st)
		}
		return nil
	})
	before := len(acked())
	waitFor(t, "load continuing after the changes", 20*time.Second, func() error {
		if len(acked()) < before+20 {
			return fmt.Errorf("%d acknowledged since", len(acked())-before)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	c.converge(acked())
}

// TestRemoveLeaderOfTwo removes the leader of a two-orderer cluster, whose
// messages are all lost once it applied its removal, and then stops it:
// the remaining orderer must be the only voter, lead, and order alone.
// (The leader hands leadership over instead of removing itself, so the
// removal commits under the remaining orderer's leadership; with in-process
// delivery the old way also passes, since the commit reaches the follower
// in the same batch of messages, but over real sessions a lost message left
// a CLI test's remaining orderer waiting for a vote that never came.)
func TestRemoveLeaderOfTwo(t *testing.T) {
	c := newCluster(t, 2, BatchConfig{MaxTxCount: 2, MaxBytes: 1 << 20, Timeout: 20 * time.Millisecond}, 1000)
	c.net.mu.Lock()
	c.net.muteRemoved = true
	c.net.mu.Unlock()
	old := c.waitLeader()
	other := uint64(3) - old
	c.setMembers(other)
	waitFor(t, "the remaining orderer the only voter, and leader", 20*time.Second, func() error {
		n, _ := c.live(other)
		st := n.Status()
		if !slices.Equal(st.Voters, []uint64{other}) || st.Role != "leader" {
			return fmt.Errorf("orderer %d: %+v", other, st)
		}
		return nil
	})
	c.stop(old)
	acked := map[string]bool{}
	for i := 0; i < 6; i++ {
		id := fmt.Sprintf("alone-%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.submit(ctx, id, other); err != nil {
			cancel()
			t.Fatalf("ordering alone: %v", err)
		}
		cancel()
		acked[id] = true
	}
	c.converge(acked)
}
