package nemesis

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/clock"
	"github.com/folio-ledger/folio/internal/localnet"
)

// testNetwork builds the folio binary and brings up a default local
// network in a temporary directory; it is brought down when the test ends,
// then afterDown runs.
func testNetwork(t *testing.T, afterDown func()) (dir, exe string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real local network")
	}
	tmp := t.TempDir()
	exe = filepath.Join(tmp, "folio")
	build := exec.Command("go", "build", "-o", exe, "./cmd/folio")
	build.Dir = filepath.Join("..", "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build folio: %v\n%s", err, out)
	}
	dir = filepath.Join(tmp, "net")
	t.Cleanup(func() {
		out, err := exec.Command(exe, "--network", dir, "network", "down").CombinedOutput()
		if err != nil {
			t.Errorf("network down: %v\n%s", err, out)
		}
		afterDown()
	})
	if out, err := exec.Command(exe, "--network", dir, "network", "up", "--detach").CombinedOutput(); err != nil {
		t.Fatalf("network up: %v\n%s", err, out)
	}
	return dir, exe
}

// TestProcesses injects and heals each process fault on a real network.
func TestProcesses(t *testing.T) {
	var p *Processes
	// The disks are unmounted once their nodes stopped, before the
	// temporary directory is removed.
	dir, exe := testNetwork(t, func() {
		if p == nil {
			return
		}
		if err := p.Cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	var progress bytes.Buffer
	p, err := NewProcesses(ProcessesOptions{Dir: dir, Exe: exe, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	recovered := func(names ...string) {
		t.Helper()
		if err := p.Recovered(ctx, names); err != nil {
			t.Fatalf("recovered %v: %v\nprogress:\n%s", names, err, progress.String())
		}
	}

	t.Run("unsupported", func(t *testing.T) {
		un := p.Unsupported()
		if _, ok := un[Partition]; !ok {
			t.Errorf("no Net, yet partitions are supported: %v", un)
		}
		if err := p.Partition(ctx, []string{"peer0.org1"}, []string{"peer1.org1"}); !errors.Is(err, ErrNoNamespaces) {
			t.Errorf("Partition without a Net: %v", err)
		}
		if got := Enabled(Kinds(), un); slices.Contains(got, Partition) || slices.Contains(got, OneWay) || !slices.Contains(got, Kill) {
			t.Errorf("enabled kinds %v", got)
		}
	})

	t.Run("kill leader and start", func(t *testing.T) {
		leader, err := p.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(leader, "orderer") {
			t.Fatalf("leader %q", leader)
		}
		pid, err := p.pid(leader)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Kill(ctx, leader); err != nil {
			t.Fatal(err)
		}
		if !localnet.Exited(pid) {
			t.Fatalf("%s (pid %d) still runs after Kill", leader, pid)
		}
		if _, err := p.pid(leader); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("after Kill: %v", err)
		}
		if err := p.Start(ctx, leader); err != nil {
			t.Fatal(err)
		}
		recovered(leader)
	})

	t.Run("kill peer and start", func(t *testing.T) {
		if err := p.Kill(ctx, "peer0.org1"); err != nil {
			t.Fatal(err)
		}
		if err := p.Kill(ctx, "peer0.org1"); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("killing a dead node: %v", err)
		}
		if err := p.Start(ctx, "peer0.org1"); err != nil {
			t.Fatal(err)
		}
		recovered("peer0.org1")
	})

	t.Run("pause and resume", func(t *testing.T) {
		pid, err := p.pid("peer1.org1")
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Pause(ctx, "peer1.org1"); err != nil {
			t.Fatal(err)
		}
		if st, _ := procStat(pid); len(st) == 0 || st[0] != "T" {
			t.Fatalf("paused peer's state %v, want T (stopped)", st)
		}
		if err := p.Resume(ctx, "peer1.org1"); err != nil {
			t.Fatal(err)
		}
		recovered("peer1.org1")
		if st, _ := procStat(pid); len(st) == 0 || st[0] == "T" {
			t.Fatalf("resumed peer's state %v", st)
		}
	})

	t.Run("kill enclave", func(t *testing.T) {
		pid, err := p.pid("peer0.org2")
		if err != nil {
			t.Fatal(err)
		}
		kids := children(pid)
		if len(kids) == 0 {
			t.Fatalf("peer0.org2 (pid %d) has no enclave child", pid)
		}
		if err := p.KillEnclave(ctx, "peer0.org2"); err != nil {
			t.Fatal(err)
		}
		for _, c := range kids {
			if !localnet.Exited(c) {
				t.Fatalf("enclave pid %d still runs", c)
			}
		}
		if err := p.KillEnclave(ctx, "orderer0"); err == nil {
			t.Fatal("KillEnclave of an orderer: no error")
		}
		// The heal: start the peer if it died with its enclave.
		if err := p.Start(ctx, "peer0.org2"); err != nil {
			t.Fatal(err)
		}
		recovered("peer0.org2")
	})

	t.Run("clock", func(t *testing.T) {
		const node = "peer1.org2"
		// Restart the node following its clock file, as a chaos run
		// starts its nodes.
		if err := p.Stop(ctx, node); err != nil {
			t.Fatal(err)
		}
		t.Setenv(clock.EnvFile, ClockFile(dir, node))
		err := p.Start(ctx, node)
		os.Unsetenv(clock.EnvFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.SetClock(ctx, node, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		if raw, err := os.ReadFile(ClockFile(dir, node)); err != nil || strings.TrimSpace(string(raw)) != "20s" {
			t.Fatalf("clock file: %q %v", raw, err)
		}
		// The node's log says it follows the file: wait for the line (a
		// bound only for a node that never reads it).
		log := filepath.Join(dir, "logs", node+".log")
		deadline := time.Now().Add(30 * time.Second)
		for {
			raw, _ := os.ReadFile(log)
			if bytes.Contains(raw, []byte("clock offset 0s -> 20s")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never logged the clock offset 20s:\n%s", node, raw[max(0, len(raw)-2000):])
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := p.SetClock(ctx, node, 0); err != nil {
			t.Fatal(err)
		}
		recovered(node)
	})

	t.Run("disk full", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("a full disk needs root (tmpfs)")
		}
		const node = "peer1.org2"
		if err := p.Stop(ctx, node); err != nil {
			t.Fatal(err)
		}
		if err := p.PrepareDisk(node, 64<<20); err != nil {
			t.Fatal(err)
		}
		if _, ok := p.Unsupported()[DiskFull]; ok {
			t.Fatalf("a prepared disk, yet disk-full unsupported: %v", p.Unsupported())
		}
		if i := slices.IndexFunc(p.Nodes(), func(n Node) bool { return n.Name == node }); i < 0 || !p.Nodes()[i].Disk {
			t.Fatalf("Nodes does not mark %s's disk: %v", node, p.Nodes())
		}
		if err := p.Start(ctx, node); err != nil {
			t.Fatal(err)
		}
		recovered(node)
		if err := p.FillDisk(ctx, node); err != nil {
			t.Fatal(err)
		}
		d, _ := p.disk(node)
		var st syscall.Statfs_t
		if err := syscall.Statfs(d.dir, &st); err != nil {
			t.Fatal(err)
		}
		if st.Bavail != 0 {
			t.Fatalf("after FillDisk %d blocks are free", st.Bavail)
		}
		if err := p.FillDisk(ctx, "peer0.org1"); err == nil {
			t.Fatal("FillDisk of a node without a prepared disk: no error")
		}
		if err := p.FreeDisk(ctx, node); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Statfs(d.dir, &st); err != nil || st.Bavail == 0 {
			t.Fatalf("after FreeDisk: %v, %d blocks free", err, st.Bavail)
		}
		if err := p.Start(ctx, node); err != nil {
			t.Fatal(err)
		}
		recovered(node)
	})

	t.Run("run a plan", func(t *testing.T) {
		kinds := Enabled(Kinds(), p.Unsupported())
		o := PlanOptions{MinFault: time.Second, MaxFault: 2 * time.Second, MinGap: 500 * time.Millisecond, MaxGap: time.Second}
		plan := Plan(5, 30*time.Second, p.Nodes(), kinds, o)
		var log bytes.Buffer
		events := Run(ctx, plan, p, time.Now(), &log)
		t.Logf("plan of %d faults, kinds %v:\n%s", len(plan), kinds, log.String())
		if len(events) != len(plan) {
			t.Fatalf("%d events for %d faults", len(events), len(plan))
		}
		seen := map[Kind]bool{}
		for _, ev := range events {
			seen[ev.Fault.Kind] = true
			if ev.Err != nil || ev.Recovered.IsZero() {
				t.Errorf("%s: %v", ev.Fault, ev.Err)
			}
		}
		for _, k := range kinds {
			if !seen[k] {
				t.Errorf("kind %s not run", k)
			}
		}
	})
}
