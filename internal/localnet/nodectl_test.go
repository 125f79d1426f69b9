package localnet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStoppedFieldKeepsTheFormat: a network.json written before the stopped
// mark existed loads (unmarked), the mark is omitted when false, and it
// survives a save.
func TestStoppedFieldKeepsTheFormat(t *testing.T) {
	dir := t.TempDir()
	old := `{"format":1,"channel":"folio","orgs":[],"nodes":[{"name":"peer0.org1","role":"peer","org":"Org1","config":"nodes/peer0.org1/config.yaml","log":"logs/peer0.org1.log","api":"127.0.0.1:1","pid":42}]}`
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n.Format != Format || n.Nodes[0].Stopped {
		t.Fatalf("format %d, stopped %v: want %d, false", n.Format, n.Nodes[0].Stopped, Format)
	}
	data, _ := json.Marshal(n.Nodes[0])
	if strings.Contains(string(data), "stopped") {
		t.Fatalf("an unmarked node is written with the mark: %s", data)
	}
	n.Nodes[0].Stopped = true
	if err := n.Save(dir); err != nil {
		t.Fatal(err)
	}
	if n, err = Load(dir); err != nil || !n.Nodes[0].Stopped {
		t.Fatalf("after save: %v, stopped %v", err, n != nil && n.Nodes[0].Stopped)
	}
}

func TestIdleState(t *testing.T) {
	for _, tc := range []struct {
		stopped bool
		want    string
	}{{false, StateDown}, {true, StateStopped}} {
		if got := idleState(&Node{Stopped: tc.stopped}); got != tc.want {
			t.Errorf("stopped=%v: %q, want %q", tc.stopped, got, tc.want)
		}
	}
}

// fakeNode starts a process whose command line names nd's config inside
// dir, as a real node's does, so nodeProcesses finds it. With ignoreTerm
// it survives SIGTERM. It returns once the fake says it is ready: its
// SIGTERM disposition is set and it blocks reading stdin (no children
// that could share its command line).
func fakeNode(t *testing.T, dir string, nd *Node, ignoreTerm bool) *exec.Cmd {
	t.Helper()
	script := "echo ready; read x"
	if ignoreTerm {
		script = `trap "" TERM; ` + script
	}
	cmd := exec.Command("/bin/sh", "-c", script, "sh", "--config", filepath.Join(dir, nd.Config))
	stdin, err := cmd.StdinPipe() // held open: the fake reads until killed
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("no /bin/sh: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = stdin.Close()
	})
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("said %q", line)
		}
		ready <- err
		_ = cmd.Wait() // reap it
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("the fake %s did not start: %v", nd.Name, err)
		}
	case <-time.After(5 * time.Second): // a guard against a hang
		t.Fatalf("the fake %s did not say it is ready", nd.Name)
	}
	if pid := nodeProcesses(dir)[filepath.Join(dir, nd.Config)]; pid != cmd.Process.Pid {
		t.Fatalf("the fake %s (pid %d) is not found by its command line (found pid %d)", nd.Name, cmd.Process.Pid, pid)
	}
	return cmd
}

func stateOf(t *testing.T, dir, name string) NodeStatus {
	t.Helper()
	st, err := Status(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no %s in status", name)
	return NodeStatus{}
}

// TestStopNodeMarksStopped walks the stopped mark through its transitions:
// stop of a node that is not running marks it (status "stopped", the
// others stay "down"); stop of a running node terminates it, or kills it
// after the grace, and marks it; the mark is per node, and Down keeps it.
func TestStopNodeMarksStopped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	n, err := Generate(dir, Spec{Orgs: 1, PeersPerOrg: 1, Orderers: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	peer, orderer := n.PeersOf("Org1")[0], (*Node)(nil)
	for i := range n.Nodes {
		if n.Nodes[i].Role == "orderer" {
			orderer = &n.Nodes[i]
		}
	}
	for _, s := range []string{peer.Name, orderer.Name} {
		if got := stateOf(t, dir, s).State; got != StateDown {
			t.Fatalf("%s of a new network is %q, want down", s, got)
		}
	}

	res, err := StopNode(ctx, NodeOptions{Dir: dir, Name: peer.Name})
	if err != nil || !res.Already || res.State != StateStopped {
		t.Fatalf("stop of a node not running: %+v, %v", res, err)
	}
	if s := stateOf(t, dir, peer.Name); s.State != StateStopped || !strings.Contains(s.Reason, "network start "+peer.Name) {
		t.Fatalf("peer after stop: %q (%s), want stopped with a hint", s.State, s.Reason)
	}
	if got := stateOf(t, dir, orderer.Name).State; got != StateDown {
		t.Fatalf("the orderer became %q when the peer was stopped", got)
	}

	// A running node: SIGTERM ends it.
	cmd := fakeNode(t, dir, orderer, false)
	res, err = StopNode(ctx, NodeOptions{Dir: dir, Name: orderer.Name, Grace: 5 * time.Second})
	if err != nil || res.Already || res.How != "terminated" || res.PID != cmd.Process.Pid {
		t.Fatalf("stop of a running node: %+v, %v", res, err)
	}
	if got := stateOf(t, dir, orderer.Name).State; got != StateStopped {
		t.Fatalf("orderer after stop: %q", got)
	}

	// One that ignores SIGTERM is killed after the grace.
	fakeNode(t, dir, orderer, true)
	res, err = StopNode(ctx, NodeOptions{Dir: dir, Name: orderer.Name, Grace: 200 * time.Millisecond})
	if err != nil || res.How != "killed" {
		t.Fatalf("stop of a node ignoring SIGTERM: %+v, %v", res, err)
	}

	// Down keeps the marks; only start/up clear them.
	if _, err := Down(ctx, dir, time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if got := stateOf(t, dir, peer.Name).State; got != StateStopped {
		t.Fatalf("peer after down: %q, want still stopped", got)
	}
	loaded, _ := Load(dir)
	for _, nd := range loaded.Nodes {
		if nd.PID != 0 {
			t.Fatalf("%s keeps pid %d after down", nd.Name, nd.PID)
		}
	}

	// A stopped node that runs again (started by other means) is probed,
	// not reported stopped.
	fakeNode(t, dir, &peer, false)
	if got := stateOf(t, dir, peer.Name).State; got == StateStopped || got == StateDown {
		t.Fatalf("a running peer marked stopped is reported %q", got)
	}
}

func TestUnknownNodeListsTheNodes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	if _, err := Generate(dir, Spec{Orgs: 1, PeersPerOrg: 1, Orderers: 1}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() error{
		func() error {
			_, err := StopNode(context.Background(), NodeOptions{Dir: dir, Name: "peer9.org1"})
			return err
		},
		func() error {
			_, err := StartNode(context.Background(), NodeOptions{Dir: dir, Name: "peer9.org1"})
			return err
		},
	} {
		err := f()
		if !errors.Is(err, ErrUnknownNode) || !strings.Contains(err.Error(), "peer0.org1") || !strings.Contains(err.Error(), "orderer0") {
			t.Fatalf("unknown node: %v", err)
		}
	}
}

// TestUpdateNodeLosesNoChange: commands acting on different nodes at once
// (each reading, changing and writing network.json) keep each other's
// changes.
func TestUpdateNodeLosesNoChange(t *testing.T) {
	dir := t.TempDir()
	n := &Network{Format: Format, Nodes: []Node{{Name: "a"}, {Name: "b"}}}
	if err := n.Save(dir); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= 50; i++ {
				if err := updateNode(dir, name, func(nd *Node) { nd.PID = i }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	n, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range n.Nodes {
		if nd.PID != 50 {
			t.Fatalf("%s: pid %d, want 50 (an update was lost)", nd.Name, nd.PID)
		}
	}
}

func TestOutputBroken(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if OutputBroken(int(w.Fd())) {
		t.Fatal("a pipe with a reader is reported broken")
	}
	r.Close()
	if !OutputBroken(int(w.Fd())) {
		t.Fatal("a pipe without a reader is not reported broken")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if OutputBroken(int(f.Fd())) {
		t.Fatal("a regular file is reported broken")
	}
}
