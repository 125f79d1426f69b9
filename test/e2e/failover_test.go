package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
)

// op is one operation of the timed closed loop.
type op struct {
	start, end time.Time
	err        string // "" when committed VALID
	txID       string
	block      uint64
}

// timedLoop is a closed loop of copyright registrations, like `folio bench
// --workload register`, whose clients use every peer of their
// organisation (failing over between them), recording every operation.
type timedLoop struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	ops     []op
	started atomic.Int64
}

// orgGateway is an SDK gateway over every peer of org, in an order rotated
// by k so that clients spread over the peers, failing over between them.
func (s *sdk) orgGateway(org string, id *client.Identity, k int) *client.Gateway {
	s.t.Helper()
	var eps []client.Endpoint
	for _, p := range s.peers() {
		if p.Org == org {
			eps = append(eps, client.Endpoint{Name: p.Name, Addr: p.API})
		}
	}
	k %= len(eps)
	eps = append(eps[k:], eps[:k]...)
	gw, err := client.NewGatewayWithOptions(client.HTTPClient(id, s.roots), id, client.GatewayOptions{Channel: s.net.Channel, Endpoints: eps})
	if err != nil {
		s.t.Fatal(err)
	}
	return gw
}

func runTimedLoop(s *sdk, c int) *timedLoop {
	l := &timedLoop{stop: make(chan struct{})}
	for i := 0; i < c; i++ {
		org := []string{"Org1", "Org2"}[i%2]
		gw := s.orgGateway(org, s.identity("user1@"+org), i/2)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				k := l.started.Add(1)
				args, _ := json.Marshal(map[string]string{"id": fmt.Sprintf("FAIL-%d", k), "title": "t", "author": "a",
					"content_hash": fmt.Sprintf("sha256:%064x", k)})
				o := op{start: time.Now()}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				res, err := gw.Submit(ctx, "copyright", "register", [][]byte{args}, client.SubmitOptions{})
				cancel()
				o.end = time.Now()
				switch {
				case err != nil:
					o.err = firstLine(err.Error())
				case res.Code != foliov1.ValidationCode_VALID:
					o.err = res.Code.String()
				default:
					o.txID, o.block = res.TxID, res.Block
				}
				l.mu.Lock()
				l.ops = append(l.ops, o)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:160]
	}
	return s
}

func (l *timedLoop) committed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, o := range l.ops {
		if o.err == "" {
			n++
		}
	}
	return n
}

// since returns the operations that ended at or after t.
func (l *timedLoop) since(t time.Time) []op {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []op
	for _, o := range l.ops {
		if !o.end.Before(t) {
			out = append(out, o)
		}
	}
	return out
}

func (l *timedLoop) finish() []op {
	close(l.stop)
	l.wg.Wait()
	return l.ops
}

// window is what one fault did to the load: the operations that failed
// from the kill on, and the failure window, from the kill until the end of
// the last failed operation (0 when none failed).
type window struct {
	node   string
	failed int
	errors map[string]int
	window time.Duration
	// slowest is the longest operation that started within 15 s of the
	// kill (a stall the clients felt without failing), ok how many
	// committed in that time.
	slowest time.Duration
	ok      int
}

func measure(node string, ops []op, kill time.Time) window {
	w := window{node: node, errors: map[string]int{}}
	for _, o := range ops {
		if !o.start.Before(kill) && o.start.Before(kill.Add(15*time.Second)) {
			w.slowest = max(w.slowest, o.end.Sub(o.start))
			if o.err == "" {
				w.ok++
			}
		}
		if o.err == "" {
			continue
		}
		w.failed++
		w.errors[o.err]++
		if d := o.end.Sub(kill); d > w.window {
			w.window = d
		}
	}
	return w
}

// TestFailoverUnderLoad is issue 16's acceptance on real processes: while
// 16 closed-loop clients register works (each using both peers of its
// organisation), a peer of each organisation, a follower orderer and the
// Raft leader are killed with SIGKILL in turn, each for 10 s, then
// restarted. For each, the failure window (from the kill until the last
// failed operation) and the number of failed operations are reported;
// the test asserts that the load returns to 100% success after each
// fault, that no transaction reported committed is lost (each is VALID in
// its block on every peer) and that every peer has the same state root
// after every block.
func TestFailoverUnderLoad(t *testing.T) {
	n := newCopyrightNet(t)
	s := newSDK(t, n)
	load := runTimedLoop(s, 16)
	finished := false
	defer func() {
		if !finished {
			load.finish()
		}
	}()
	eventually(t, 60*time.Second, "50 transactions committed before the first fault", func() error {
		if c := load.committed(); c < 50 {
			return fmt.Errorf("%d so far", c)
		}
		return nil
	})

	leaderAndFollower := func() (leader, follower string) {
		var st struct {
			Nodes []struct {
				nodeStatus
				RaftRole string `json:"raft_role"`
			} `json:"nodes"`
		}
		n.json(&st, "network", "status")
		for _, nd := range st.Nodes {
			if nd.State != "up" {
				continue
			}
			switch nd.RaftRole {
			case "leader":
				leader = nd.Name
			case "follower":
				if follower == "" {
					follower = nd.Name
				}
			}
		}
		return leader, follower
	}
	var windows []window
	for _, pick := range []func() string{
		func() string { return "peer0.org1" },
		func() string { return "peer0.org2" },
		func() string { _, f := leaderAndFollower(); return f },
		func() string { l, _ := leaderAndFollower(); return l },
	} {
		victim := pick()
		if victim == "" {
			t.Fatal("no such node in network status (Raft leader or follower)")
		}
		pid := n.peerPID(t, victim)
		kill := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second) // the point: the load runs 10 s with the victim down
		n.must("network", "start", victim)
		restarted := time.Now()
		// Back to 100%: 5 s of operations, all committed, after the restart.
		eventually(t, 90*time.Second, "every operation succeeding again after "+victim+" came back", func() error {
			recent := load.since(restarted.Add(2 * time.Second))
			var last time.Time
			for _, o := range recent {
				if o.err != "" {
					return fmt.Errorf("failed at %s: %s", o.end.Format("15:04:05.000"), o.err)
				}
				if o.end.After(last) {
					last = o.end
				}
			}
			if len(recent) < 20 || last.Sub(restarted.Add(2*time.Second)) < 5*time.Second {
				return fmt.Errorf("%d operations so far", len(recent))
			}
			return nil
		})
		w := measure(victim, load.since(kill), kill)
		windows = append(windows, w)
		t.Logf("%s killed for 10 s: %d failed operations, failure window %s, slowest operation %s, %d committed in the 15 s from the kill; errors %v",
			victim, w.failed, w.window.Round(10*time.Millisecond), w.slowest.Round(10*time.Millisecond), w.ok, w.errors)
	}
	ops := load.finish()
	finished = true

	var done []committedTx
	for _, o := range ops {
		if o.err == "" {
			done = append(done, committedTx{o.txID, o.block})
		}
	}
	t.Logf("%d operations, %d committed", len(ops), len(done))
	checkCommitted(t, s, done)

	// The CLI: with the default gateway peer of user1@Org1 killed, a
	// register and a get go through the other peer of the organisation,
	// also when the dead peer is named with --peer.
	if err := syscall.Kill(n.peerPID(t, "peer0.org1"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "peer0.org1 down", func() error {
		for _, nd := range n.status() {
			if nd.Name == "peer0.org1" && nd.State != "down" {
				return fmt.Errorf("%s", nd.State)
			}
		}
		return nil
	})
	var reg struct {
		Status string `json:"status"`
	}
	n.json(&reg, "work", "register", "--id", "CLI-FAILOVER", "--title", "t", "--author", "a", "--hash", "sha256:"+strings.Repeat("7", 64))
	if reg.Status != "VALID" {
		t.Fatalf("register with peer0.org1 down: %+v", reg)
	}
	var got struct {
		ID string `json:"id"`
	}
	n.json(&got, "work", "get", "--id", "CLI-FAILOVER", "--peer", "peer0.org1")
	if got.ID != "CLI-FAILOVER" {
		t.Fatalf("get through --peer peer0.org1 (down): %+v", got)
	}
	n.must("network", "start", "peer0.org1")

	sort.Slice(windows, func(i, j int) bool { return windows[i].node < windows[j].node })
	for _, w := range windows {
		t.Logf("failure window: %-10s %6s, %d failed operations, slowest operation %s", w.node, w.window.Round(10*time.Millisecond), w.failed, w.slowest.Round(10*time.Millisecond))
	}
}
