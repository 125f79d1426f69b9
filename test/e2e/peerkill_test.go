package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/types"
)

// committedTx is a transaction the SDK reported committed as VALID.
type committedTx struct {
	txID  string
	block uint64
}

// benchLoop is a closed loop of copyright registrations, like `folio
// bench --workload register`, that keeps every transaction reported
// committed.
type benchLoop struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	done    []committedTx
	failed  map[string]int // first line of the error -> count
	started atomic.Int64
}

// runBenchLoop starts c clients, alternating between the gateways of the
// given peers, as user1 of the gateway's organisation.
func runBenchLoop(s *sdk, c int, gateways []string) *benchLoop {
	l := &benchLoop{stop: make(chan struct{}), failed: map[string]int{}}
	for i := 0; i < c; i++ {
		peer := gateways[i%len(gateways)]
		gw := s.gateway(peer, s.identity("user1@"+s.node(peer).Org))
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
				args, _ := json.Marshal(map[string]string{"id": fmt.Sprintf("KILL-%d", k), "title": "t", "author": "a",
					"content_hash": fmt.Sprintf("sha256:%064x", k)})
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				res, err := gw.Submit(ctx, "copyright", "register", [][]byte{args}, client.SubmitOptions{})
				cancel()
				l.mu.Lock()
				if err == nil && res.Code == foliov1.ValidationCode_VALID {
					l.done = append(l.done, committedTx{res.TxID, res.Block})
				} else {
					msg := fmt.Sprint(err)
					if err == nil {
						msg = res.Code.String()
					}
					if len(msg) > 120 {
						msg = msg[:120]
					}
					l.failed[msg]++
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *benchLoop) committed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.done)
}

// finish stops the clients and returns what they saw.
func (l *benchLoop) finish() ([]committedTx, map[string]int) {
	close(l.stop)
	l.wg.Wait()
	return l.done, l.failed
}

// checkCommitted waits until every peer is at the same height, then
// checks that every transaction in done is VALID in its block on every
// peer (none acknowledged is lost) and that every peer has the same state
// root after every block. It returns the height and the roots.
func checkCommitted(t *testing.T, s *sdk, done []committedTx) (uint64, [][]byte) {
	t.Helper()
	var height uint64
	eventually(t, 60*time.Second, "every peer at the same height", func() error {
		hs := map[string]uint64{}
		for _, p := range s.peers() {
			hs[p.Name] = s.height(p.Name)
		}
		height = hs[s.peers()[0].Name]
		for _, h := range hs {
			if h != height {
				return fmt.Errorf("heights %v", hs)
			}
		}
		return nil
	})
	var refRoots [][]byte
	for _, p := range s.peers() {
		valid, roots := chainTxs(t, s, p.Name, height)
		for _, tx := range done {
			if b, ok := valid[tx.txID]; !ok || b != tx.block {
				t.Fatalf("%s: transaction %s acknowledged in block %d is lost (VALID in block %d: %v)", p.Name, tx.txID, tx.block, b, ok)
			}
		}
		if refRoots == nil {
			refRoots = roots
			continue
		}
		for num := range roots {
			if !bytes.Equal(roots[num], refRoots[num]) {
				t.Fatalf("block %d: %s has state root %x, %s %x", num, p.Name, roots[num], s.peers()[0].Name, refRoots[num])
			}
		}
	}
	return height, refRoots
}

// chainTxs reads a peer's blocks [0, height) and returns each valid
// transaction's block, and the state root recorded after every block.
func chainTxs(t *testing.T, s *sdk, peer string, height uint64) (map[string]uint64, [][]byte) {
	t.Helper()
	valid := map[string]uint64{}
	roots := make([][]byte, height)
	for num := uint64(0); num < height; num++ {
		b := s.block(peer, num)
		roots[num] = b.GetMetadata().GetStateRoot()
		codes := b.GetMetadata().GetValidationCodes()
		for i, raw := range b.GetData().GetEnvelopes() {
			if i >= len(codes) || foliov1.ValidationCode(codes[i]) != foliov1.ValidationCode_VALID {
				continue
			}
			env := &foliov1.Envelope{}
			if err := proto.Unmarshal(raw, env); err != nil {
				t.Fatal(err)
			}
			p, err := types.ParseEnvelope(env)
			if err != nil {
				t.Fatal(err)
			}
			valid[p.GetHeader().GetTxId()] = num
		}
	}
	return valid, roots
}

// TestPeerKilledDuringBenchLosesNothing is issue 7's "killing one peer
// during `folio bench` does not lose any transaction reported as
// committed; the peer catches up after restart to the same state root".
// Eight closed-loop clients register works through the gateways of
// peer0.org1 and peer0.org2 while peer1.org2 is killed with SIGKILL and,
// a few seconds later, restarted by `network up --detach` (clients keep
// running throughout). Then every transaction reported committed is VALID
// in the same block on all four peers, every peer has the same state root
// after every block, and each peer's signed attestation of the last block
// names that same root, as `network status` confirms without flagging
// anyone.
func TestPeerKilledDuringBenchLosesNothing(t *testing.T) {
	start := time.Now()
	n := newCopyrightNet(t)
	s := newSDK(t, n)
	const victim = "peer1.org2"
	load := runBenchLoop(s, 8, []string{"peer0.org1", "peer0.org2"})
	stopped := false
	defer func() {
		if !stopped {
			load.finish()
		}
	}()
	eventually(t, 30*time.Second, "50 transactions committed before the kill", func() error {
		if c := load.committed(); c < 50 {
			return fmt.Errorf("%d so far", c)
		}
		return nil
	})
	pid := n.peerPID(t, victim)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	atKill := load.committed()
	t.Logf("killed %s (pid %d) after %d committed transactions", victim, pid, atKill)
	eventually(t, 30*time.Second, "100 more transactions committed with "+victim+" dead", func() error {
		if c := load.committed(); c < atKill+100 {
			return fmt.Errorf("%d since the kill", c-atKill)
		}
		return nil
	})
	for _, nd := range n.status() {
		if nd.Name == victim && nd.State != localnet.StateDown {
			t.Fatalf("%s is %s after SIGKILL", victim, nd.State)
		}
	}
	restart := time.Now()
	n.must("network", "up", "--detach") // starts only the killed peer
	t.Logf("%s restarted and ready in %s", victim, time.Since(restart).Truncate(time.Millisecond))
	atRestart := load.committed()
	eventually(t, 30*time.Second, "50 more transactions committed after the restart", func() error {
		if c := load.committed(); c < atRestart+50 {
			return fmt.Errorf("%d since the restart", c-atRestart)
		}
		return nil
	})
	done, failed := load.finish()
	stopped = true
	t.Logf("%d transactions reported committed (%d before the kill, %d while %s was down, %d after its restart); failures %v",
		len(done), atKill, atRestart-atKill, victim, len(done)-atRestart, failed)
	nFailed := 0
	for _, c := range failed {
		nFailed += c
	}
	if nFailed > len(done)/10 {
		t.Errorf("%d failed transactions against %d committed: the gateways did not fail over", nFailed, len(done))
	}

	// Every peer catches up; every committed transaction is VALID in its
	// block on every peer, and every peer has the same state root after
	// every block.
	height, refRoots := checkCommitted(t, s, done)

	// The signed attestations agree on the last block's root, and status
	// flags nobody.
	last := height - 1
	want := refRoots[last]
	for _, p := range s.peers() {
		if a := attest(t, s, p.Name, last); !bytes.Equal(a.StateRoot, want) {
			t.Fatalf("%s attests state root %x after block %d, the blocks say %x", p.Name, a.StateRoot, last, want)
		}
	}
	st := rootStatus(n)
	var names []string
	for _, p := range s.peers() {
		ps := st[p.Name]
		if ps.StateRootDisagrees || ps.Attestation == nil || ps.Attestation.Block != last || ps.Attestation.StateRoot != fmt.Sprintf("%x", want) {
			t.Fatalf("network status of %s: flagged %v (%s), attestation %+v, want root %x after block %d", p.Name, ps.StateRootDisagrees, ps.Disagreement, ps.Attestation, want, last)
		}
		names = append(names, p.Name)
	}
	sort.Strings(names)
	t.Logf("%v agree on state root %x after block %d; %s in all", names, want, last, time.Since(start).Truncate(time.Second))
}
