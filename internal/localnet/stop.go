package localnet

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// DefaultGrace is how long Down waits after SIGTERM before SIGKILL.
const DefaultGrace = 15 * time.Second

// StopResult says how one node was stopped.
type StopResult struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// How is "terminated" (exited after SIGTERM) or "killed" (needed SIGKILL).
	How string `json:"how"`
}

// Down stops every running node of the network in dir: SIGTERM to all,
// SIGKILL to any still running after grace, and waits until all have exited.
// Peers stop first, CAs last.
func Down(ctx context.Context, dir string, grace time.Duration, progress io.Writer) ([]StopResult, error) {
	if progress == nil {
		progress = io.Discard
	}
	if grace <= 0 {
		grace = DefaultGrace
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	n, err := Load(dir)
	if err != nil {
		return nil, err
	}
	running := nodeProcesses(dir)
	var targets []StopResult
	for _, role := range []string{"peer", "orderer", "ca"} {
		for _, nd := range n.Nodes {
			if nd.Role != role {
				continue
			}
			if pid, ok := running[filepath.Join(dir, nd.Config)]; ok {
				targets = append(targets, StopResult{Name: nd.Name, PID: pid})
			}
		}
	}
	for _, t := range targets {
		_ = syscall.Kill(t.PID, syscall.SIGTERM)
	}
	results := waitExit(ctx, targets, grace, progress)
	// Forget the pids; a node's stopped mark (`network stop`) stays.
	if err := clearPIDs(dir); err != nil {
		return results, err
	}
	for _, r := range results {
		if alive(r.PID) {
			return results, fmt.Errorf("%s (pid %d) is still running after SIGKILL", r.Name, r.PID)
		}
	}
	return results, nil
}

// clearPIDs zeroes every node's pid in network.json, reading it afresh
// under the directory lock.
func clearPIDs(dir string) error {
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := Load(dir)
	if err != nil {
		return err
	}
	for i := range n.Nodes {
		n.Nodes[i].PID = 0
	}
	return n.Save(dir)
}

// waitExit waits for targets to exit after SIGTERM, escalating to SIGKILL
// after grace.
func waitExit(ctx context.Context, targets []StopResult, grace time.Duration, progress io.Writer) []StopResult {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(grace)
	done := make([]bool, len(targets))
	killed := false
	for {
		remaining := 0
		for i, t := range targets {
			if done[i] {
				continue
			}
			if !alive(t.PID) {
				done[i] = true
				if targets[i].How == "" {
					targets[i].How = "terminated"
				}
				fmt.Fprintf(progress, "stopped %-12s pid %d (%s)\n", t.Name, t.PID, targets[i].How)
				continue
			}
			remaining++
		}
		if remaining == 0 {
			return targets
		}
		if !killed && (time.Now().After(deadline) || ctx.Err() != nil) {
			killed = true
			deadline = time.Now().Add(5 * time.Second)
			for i, t := range targets {
				if !done[i] {
					fmt.Fprintf(progress, "%s (pid %d) did not stop within %s: killing it\n", t.Name, t.PID, grace)
					targets[i].How = "killed"
					_ = syscall.Kill(t.PID, syscall.SIGKILL)
				}
			}
		} else if killed && time.Now().After(deadline) {
			return targets
		}
		<-tick.C
	}
}

// stopStarted stops processes this supervisor started (after a failed Up).
func stopStarted(cmds map[string]*exec.Cmd, grace time.Duration) {
	var targets []StopResult
	for name, c := range cmds {
		if c.Process != nil {
			_ = c.Process.Signal(syscall.SIGTERM)
			targets = append(targets, StopResult{Name: name, PID: c.Process.Pid})
		}
	}
	waitExit(context.Background(), targets, grace, io.Discard)
}
