package localnet

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/config"
)

// NodeOptions control StartNode, StopNode and RestartNode, which act on one
// node of a network directory while the others keep running.
type NodeOptions struct {
	// Dir is the network directory.
	Dir string
	// Name is the node, as in network.json ("peer0.org1", "orderer0").
	Name string
	// Exe is the folio binary that runs the node (start and restart).
	Exe string
	// Timeout bounds the wait for the started node to be ready. Default
	// DefaultReadyTimeout.
	Timeout time.Duration
	// Grace is how long a stop waits after SIGTERM before SIGKILL. Default
	// DefaultGrace.
	Grace time.Duration
	// Progress receives one line per step; nil discards.
	Progress io.Writer
}

// EnsureDefaults fills zero fields with their defaults.
func (o *NodeOptions) EnsureDefaults() {
	if o.Timeout <= 0 {
		o.Timeout = DefaultReadyTimeout
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// prepare fills defaults and makes Dir absolute (node processes run from
// their own working directories).
func (o *NodeOptions) prepare() error {
	o.EnsureDefaults()
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("network directory %s: %w", o.Dir, err)
	}
	o.Dir = dir
	return nil
}

// NodeResult says what StartNode or StopNode did to one node.
type NodeResult struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// State is the node's state afterwards: StateUp or StateStopped.
	State string `json:"state"`
	// PID is the started process, or the process that was stopped.
	PID int `json:"pid,omitempty"`
	// Already is true when nothing needed doing: start of a node that was
	// running, stop of a node that was not.
	Already bool `json:"already,omitempty"`
	// How a stop ended: "terminated" (exited after SIGTERM) or "killed".
	How string `json:"how,omitempty"`
	// Height is a started peer's or orderer's block height once ready.
	Height uint64 `json:"height,omitempty"`
	// ReadyMS is how long the start took until the node was ready.
	ReadyMS int64 `json:"ready_ms,omitempty"`
}

// StopNode stops one node as Down stops every node: SIGTERM, SIGKILL after
// Grace, and returns once the process has exited. It records in
// network.json that the user stopped the node (Status then reports it
// "stopped", not "down") before signalling it, so a foreground supervisor
// that sees the exit can tell. Stopping a node that is not running is not an
// error: it is recorded as stopped and the result says Already.
func StopNode(ctx context.Context, opts NodeOptions) (NodeResult, error) {
	if err := opts.prepare(); err != nil {
		return NodeResult{}, err
	}
	n, err := Load(opts.Dir)
	if err != nil {
		return NodeResult{}, err
	}
	nd, err := n.Node(opts.Name)
	if err != nil {
		return NodeResult{}, err
	}
	res := NodeResult{Name: nd.Name, Role: nd.Role, State: StateStopped}
	if err := updateNode(opts.Dir, nd.Name, func(nd *Node) { nd.Stopped = true }); err != nil {
		return res, err
	}
	pid, ok := nodeProcesses(opts.Dir)[filepath.Join(opts.Dir, nd.Config)]
	if !ok {
		res.Already = true
		fmt.Fprintf(opts.Progress, "%s is not running: recorded as stopped\n", nd.Name)
		return res, updateNode(opts.Dir, nd.Name, func(nd *Node) { nd.PID = 0 })
	}
	res.PID = pid
	_ = syscall.Kill(pid, syscall.SIGTERM)
	t := waitExit(ctx, []StopResult{{Name: nd.Name, PID: pid}}, opts.Grace, opts.Progress)
	res.How = t[0].How
	if alive(pid) {
		return res, fmt.Errorf("%s (pid %d) is still running after SIGKILL", nd.Name, pid)
	}
	return res, updateNode(opts.Dir, nd.Name, func(nd *Node) { nd.PID = 0 })
}

// StartNode starts one node of the network, as Up starts a node that is
// not running, clears its stopped mark, and returns once the node is
// ready: its /readyz answers ready and, for a peer, it holds at least the
// blocks the answering orderers held when it became ready (so it no longer
// serves an old state). Starting a node that is already running is not an
// error: StartNode waits until it is ready and the result says Already.
//
// If the node exits before it is ready the error says why, with the end of
// its log. If it is not ready within Timeout (or ctx ends) it is left
// running — an orderer cannot be ready while most orderers are down — and
// the error says so.
func StartNode(ctx context.Context, opts NodeOptions) (NodeResult, error) {
	if err := opts.prepare(); err != nil {
		return NodeResult{}, err
	}
	began := time.Now()
	n, err := Load(opts.Dir)
	if err != nil {
		return NodeResult{}, err
	}
	nd, err := n.Node(opts.Name)
	if err != nil {
		return NodeResult{}, err
	}
	if nd.Operations == "" { // a network made before operations listeners
		if err := addOperations(opts.Dir, n, opts.Progress); err != nil {
			return NodeResult{}, fmt.Errorf("%s: %w", opts.Dir, err)
		}
	}
	hc, err := AdminClient(opts.Dir, n)
	if err != nil {
		return NodeResult{}, err
	}
	res := NodeResult{Name: nd.Name, Role: nd.Role}
	var exits chan NodeExit // nil (never ready) when the node was already running
	if pid, ok := nodeProcesses(opts.Dir)[filepath.Join(opts.Dir, nd.Config)]; ok {
		res.PID, res.Already = pid, true
		fmt.Fprintf(opts.Progress, "%s is already running (pid %d)\n", nd.Name, pid)
		if err := updateNode(opts.Dir, nd.Name, func(nd *Node) { nd.Stopped, nd.PID = false, pid }); err != nil {
			return res, err
		}
	} else {
		if err := checkPorts(&Network{Nodes: []Node{*nd}}, nil); err != nil {
			return res, err
		}
		cmd, err := startNode(opts.Dir, opts.Exe, nd)
		if err != nil {
			return res, err
		}
		res.PID = cmd.Process.Pid
		fmt.Fprintf(opts.Progress, "started %-12s %-8s pid %-7d %s\n", nd.Name, nd.Role, res.PID, nd.API)
		exits = make(chan NodeExit, 1)
		go func(cmd *exec.Cmd) { exits <- NodeExit{Name: nd.Name, Err: cmd.Wait()} }(cmd)
		now := time.Now().UTC()
		if err := updateNode(opts.Dir, nd.Name, func(nd *Node) { nd.Stopped, nd.PID, nd.StartedAt = false, res.PID, now }); err != nil {
			return res, err
		}
	}
	res.Height, err = waitNodeReady(ctx, opts.Dir, n, nd, hc, exits, opts.Timeout, opts.Progress)
	if err != nil {
		return res, err
	}
	res.State, res.ReadyMS = StateUp, time.Since(began).Milliseconds()
	fmt.Fprintf(opts.Progress, "ready   %s\n", nd.Name)
	return res, nil
}

// RestartNode stops one node (if it runs) and starts it again; it returns
// once the node is ready, with what each half did.
func RestartNode(ctx context.Context, opts NodeOptions) (stopped, started NodeResult, err error) {
	if stopped, err = StopNode(ctx, opts); err != nil {
		return stopped, started, err
	}
	started, err = StartNode(ctx, opts)
	return stopped, started, err
}

// waitNodeReady polls one node's /readyz until it answers ready and, for a
// peer, until it holds the blocks the orderers held at that moment; it
// fails if the node exits (a receive on exits) or the timeout passes.
// Returns the node's height.
func waitNodeReady(ctx context.Context, dir string, n *Network, nd *Node, hc *http.Client, exits <-chan NodeExit, timeout time.Duration, progress io.Writer) (uint64, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	const target0 = ^uint64(0) // not measured yet
	target := target0
	why := "no answer yet"
	ops := NewOperations(dir, n)
	for {
		if err := ProbeReady(ctx, ops, nd); err != nil {
			why = err.Error()
		} else if nd.Role == config.RoleCA {
			return 0, nil
		} else {
			if target == target0 {
				target = 0
				if nd.Role == config.RolePeer {
					target = ordererHeight(ctx, hc, n)
				}
			}
			ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
			info, err := client.NodeInfo(ictx, hc, nd.API)
			cancel()
			switch {
			case err != nil:
				why = err.Error()
			case info.Height >= target:
				return info.Height, nil
			default:
				why = fmt.Sprintf("catching up: height %d of the orderers' %d", info.Height, target)
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s: gave up waiting for it to be ready (%v): it is left running; last reason: %s", nd.Name, ctx.Err(), why)
		case ex := <-exits:
			return 0, fmt.Errorf("%s exited during start-up (%v); last lines of %s:\n%s", nd.Name, ex.Err, nd.Log, tail(filepath.Join(dir, nd.Log), 8))
		case <-deadline.C:
			return 0, fmt.Errorf("%s not ready after %s: %s; it is left running (see `folio network status`, stop it with `folio network stop %s`); last lines of %s:\n%s",
				nd.Name, timeout, why, nd.Name, nd.Log, tail(filepath.Join(dir, nd.Log), 5))
		case <-tick.C:
		}
	}
}

// ordererHeight is the highest height of the orderers that answer now; 0
// if none answers (a peer cannot catch up then, and is ready without).
func ordererHeight(ctx context.Context, hc *http.Client, n *Network) uint64 {
	var top uint64
	for _, nd := range n.Nodes {
		if nd.Role != config.RoleOrderer {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, time.Second)
		info, err := client.NodeInfo(ictx, hc, nd.API)
		cancel()
		if err == nil {
			top = max(top, info.Height)
		}
	}
	return top
}

// idleState is the state of a node with no running process: stopped by the
// user, or down (crashed, killed, or never started since `down`).
func idleState(nd *Node) string {
	if nd.Stopped {
		return StateStopped
	}
	return StateDown
}

// updateNode changes one node's entry of network.json under the directory
// lock: it reads the file afresh, applies fn, and writes it back, so two
// commands acting on different nodes at once do not lose each other's
// change.
func updateNode(dir, name string, fn func(*Node)) error {
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := Load(dir)
	if err != nil {
		return err
	}
	nd, err := n.Node(name)
	if err != nil {
		return err
	}
	fn(nd)
	return n.Save(dir)
}

// lockDir takes an exclusive flock on the network directory itself (no lock
// file in the layout); the lock ends with the returned function or the
// process.
func lockDir(dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
