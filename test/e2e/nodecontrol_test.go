package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallNet is the smallest network the size flags allow.
var smallNet = []string{"--orgs", "1", "--peers-per-org", "1", "--orderers", "1"}

// foreground is a `folio network up` running in the foreground as a child
// of the test, its stdout and stderr one pipe that the test reads.
type foreground struct {
	cmd    *exec.Cmd
	out    *os.File // the read end of the output pipe
	ready  chan struct{}
	exited chan error
	lines  chan string
}

// startForeground starts `folio network up` without --detach and returns
// once it printed that it runs in the foreground (every node ready).
func startForeground(t *testing.T, n *network) *foreground {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(folioBin, append([]string{"--network", n.dir, "network", "up"}, smallNet...)...)
	cmd.Env = append(os.Environ(), n.env...)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close() // the child holds the only write end
	f := &foreground{cmd: cmd, out: r, ready: make(chan struct{}), exited: make(chan error, 1), lines: make(chan string, 1000)}
	go func() { f.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	go func() {
		sc := bufio.NewScanner(r)
		ready := false
		for sc.Scan() {
			select {
			case f.lines <- sc.Text():
			default:
			}
			if !ready && strings.Contains(sc.Text(), "running in the foreground") {
				ready = true
				close(f.ready)
			}
		}
	}()
	select {
	case <-f.ready:
	case err := <-f.exited:
		t.Fatalf("network up exited before it was ready: %v\n%s", err, f.output())
	case <-time.After(3 * time.Minute):
		t.Fatalf("network up not ready after 3 minutes:\n%s", f.output())
	}
	for _, s := range n.status() {
		if s.State != "up" {
			t.Fatalf("%s is %s after network up said ready", s.Name, s.State)
		}
	}
	return f
}

func (f *foreground) output() string {
	var b strings.Builder
	for {
		select {
		case l := <-f.lines:
			b.WriteString(l + "\n")
		default:
			return b.String()
		}
	}
}

// waitGone waits for the supervisor to exit on its own (not killed by the
// signal) and checks that no process of the network is left.
func (f *foreground) waitGone(t *testing.T, n *network, what string) {
	t.Helper()
	select {
	case <-f.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: network up still running after 60s", what)
	}
	if ws, ok := f.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("%s: network up was killed by %v instead of stopping the nodes", what, ws.Signal())
	}
	if ps := folioProcesses(n.dir); len(ps) > 0 {
		t.Fatalf("%s: processes of the network left running:\n%s", what, strings.Join(ps, "\n"))
	}
	for _, s := range n.status() {
		if s.State != "down" {
			t.Fatalf("%s: %s is %s after the supervisor stopped", what, s.Name, s.State)
		}
	}
}

// TestForegroundUpStopsNodesOnHangup: closing the terminal of a foreground
// `network up` (SIGHUP) stops every node, as Ctrl-C does.
func TestForegroundUpStopsNodesOnHangup(t *testing.T) {
	n := newNetwork(t)
	f := startForeground(t, n)
	if ps := folioProcesses(n.dir); len(ps) < 4 { // supervisor, CA, orderer, peer
		t.Fatalf("want the supervisor and 3 nodes running, have:\n%s", strings.Join(ps, "\n"))
	}
	if err := f.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	f.waitGone(t, n, "after SIGHUP")
}

// TestForegroundUpStopsNodesOnBrokenPipe: when the reader of a foreground
// `network up`'s output goes away (`folio network up | tee log` with tee
// killed), the supervisor's next write raises SIGPIPE; it must then stop
// every node rather than die and leave them running. The test closes the
// pipe's read end, checks that nothing stops while the supervisor writes
// nothing (SIGPIPE is raised only by a write), then forces a write: it kills
// the peer with SIGKILL, which the supervisor reports on its (broken)
// output. This takes the real SIGPIPE path, not a signal sent by the test.
func TestForegroundUpStopsNodesOnBrokenPipe(t *testing.T) {
	n := newNetwork(t)
	f := startForeground(t, n)
	f.out.Close()
	var peerPID int
	for _, s := range n.status() {
		if s.State != "up" {
			t.Fatalf("%s is %s after the output pipe closed, before any write", s.Name, s.State)
		}
		if s.Role == "peer" {
			peerPID = s.PID
		}
	}
	if err := syscall.Kill(peerPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	f.waitGone(t, n, "after SIGPIPE")
}

// stateOf returns a node's state in `network status --json`.
func (n *network) stateOf(name string) nodeStatus {
	n.t.Helper()
	for _, s := range n.status() {
		if s.Name == name {
			return s
		}
	}
	n.t.Fatalf("no node %s in network status", name)
	return nodeStatus{}
}

func (n *network) wantState(name, state string) nodeStatus {
	n.t.Helper()
	s := n.stateOf(name)
	if s.State != state {
		n.t.Fatalf("%s is %q (%s), want %q", name, s.State, s.Reason, state)
	}
	return s
}

// TestNetworkNodeControl drives `network stop|start|restart NODE`: a
// stopped peer is "stopped", a killed one "down", start brings either back
// "up" and returns only once it is ready, restart of the orderer brings it
// back "up" with a new process; repeated commands and unknown names say
// so.
func TestNetworkNodeControl(t *testing.T) {
	n := newNetwork(t)
	n.must(append([]string{"network", "up", "--detach"}, smallNet...)...)
	const peer, orderer = "peer0.org1", "orderer0"

	r := n.must("network", "stop", peer)
	if !strings.Contains(r.stdout, peer+" stopped") {
		t.Fatalf("stop output:\n%s", r)
	}
	if s := n.wantState(peer, "stopped"); s.PID != 0 {
		t.Fatalf("stopped peer has pid %d", s.PID)
	}
	n.wantState(orderer, "up")
	for _, p := range folioProcesses(n.dir) {
		if strings.Contains(p, "/nodes/"+peer+"/") {
			t.Fatalf("the stopped peer still runs: %s", p)
		}
	}
	// Stop of a stopped node: says so, exit 0.
	if r := n.must("network", "stop", peer); !strings.Contains(r.stdout, "was not running") {
		t.Fatalf("second stop:\n%s", r)
	}

	begin := time.Now()
	var started struct {
		Started struct {
			State   string `json:"state"`
			PID     int    `json:"pid"`
			Already bool   `json:"already"`
			Height  uint64 `json:"height"`
		} `json:"started"`
	}
	n.json(&started, "network", "start", peer)
	t.Logf("start of a stopped peer took %s", time.Since(begin))
	if started.Started.State != "up" || started.Started.Already || started.Started.PID == 0 {
		t.Fatalf("start result: %+v", started.Started)
	}
	// Start returns only once the node is ready: status says up at once.
	if s := n.wantState(peer, "up"); s.PID != started.Started.PID {
		t.Fatalf("status pid %d, start said %d", s.PID, started.Started.PID)
	}
	// Start of a running node: says so, exit 0.
	if r := n.must("network", "start", peer); !strings.Contains(r.stdout, "already running") {
		t.Fatalf("second start:\n%s", r)
	}

	// A killed node is down, not stopped.
	if err := syscall.Kill(started.Started.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, peer+" down after kill -9", func() error {
		if s := n.stateOf(peer); s.State != "down" {
			return fmt.Errorf("state %q", s.State)
		}
		return nil
	})
	begin = time.Now()
	n.must("network", "start", peer)
	t.Logf("start of a killed peer took %s", time.Since(begin))
	n.wantState(peer, "up")

	old := n.wantState(orderer, "up").PID
	n.must("network", "restart", orderer)
	if s := n.wantState(orderer, "up"); s.PID == old || s.PID == 0 {
		t.Fatalf("orderer pid %d after restart, was %d", s.PID, old)
	}
	// The peer reconnects to the restarted orderer.
	eventually(t, 30*time.Second, peer+" up after the orderer's restart", func() error {
		if s := n.stateOf(peer); s.State != "up" {
			return fmt.Errorf("state %q: %s", s.State, s.Reason)
		}
		return nil
	})

	r, err := n.run("network", "start", "peer7.org9")
	if err == nil || !strings.Contains(r.stderr, peer) || !strings.Contains(r.stderr, orderer) {
		t.Fatalf("start of an unknown node: %v\n%s", err, r)
	}
}
