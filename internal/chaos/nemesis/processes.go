package nemesis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/atomicfile"
	"github.com/folio-ledger/folio/internal/clock"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/localnet"
)

// Net cuts and restores traffic between the nodes of a network
// (internal/chaos/lab does it with network namespaces).
type Net interface {
	// Partition stops all traffic between any node of a and any of b.
	Partition(ctx context.Context, a, b []string) error
	// Drop drops what from sends to to; the reverse path works.
	Drop(ctx context.Context, from, to string) error
	// Heal removes every partition and drop.
	Heal(ctx context.Context) error
}

// ErrNoNamespaces is returned by a Processes without a Net for Partition
// and Drop.
var ErrNoNamespaces = errors.New("partitions need network namespaces (root)")

// ErrNotRunning means a node has no running process.
var ErrNotRunning = errors.New("not running")

// ClockFileName is the name of a node's clock file in its directory
// (<netdir>/nodes/<name>/).
const ClockFileName = "clock-offset"

// ClockFile is the file SetClock writes for node name of the network in
// dir: start the node with FOLIO_TEST_CLOCK_FILE set to it (ClockEnv) so
// that its clock follows it.
func ClockFile(dir, name string) string {
	return filepath.Join(dir, "nodes", name, ClockFileName)
}

// ClockEnv is the environment entry that makes node name follow its clock
// file.
func ClockEnv(dir, name string) string {
	return clock.EnvFile + "=" + ClockFile(dir, name)
}

// ProcessesOptions configure a Processes.
type ProcessesOptions struct {
	// Dir is the network directory (internal/localnet). Required.
	Dir string
	// Exe is the folio binary that starts nodes. Required.
	Exe string
	// Net makes partitions; nil: Partition and Drop fail with
	// ErrNoNamespaces and Unsupported lists them.
	Net Net
	// StartTimeout bounds each start of a node until it is ready. Default
	// localnet.DefaultReadyTimeout.
	StartTimeout time.Duration
	// Grace is how long a Restart's SIGTERM waits before SIGKILL. Default
	// localnet.DefaultGrace.
	Grace time.Duration
	// Progress receives what starts and stops print; nil discards.
	Progress io.Writer
}

// Processes is the Target for a local network directory: the nodes are
// processes of this machine, found by their command line.
type Processes struct {
	o   ProcessesOptions
	net *localnet.Network // as loaded by NewProcesses: names, roles, addresses
	hc  *http.Client      // the first organisation's admin, for NodeInfo
	ops *localnet.Operations

	mu struct {
		sync.Mutex
		paused map[string]int   // node -> the pid it paused (SIGCONT goes there)
		disks  map[string]*disk // node -> its tmpfs (PrepareDisk)
	}
}

var _ Target = (*Processes)(nil)

// disk is a node's data directory mounted as a tmpfs of its own.
type disk struct {
	dir    string // the node's data directory, the mount point
	filler string // the file FillDisk writes
}

// NewProcesses loads the network in o.Dir.
func NewProcesses(o ProcessesOptions) (*Processes, error) {
	if o.Dir == "" || o.Exe == "" {
		return nil, errors.New("nemesis processes: Dir and Exe are required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("network directory %s: %w", o.Dir, err)
	}
	o.Dir = dir
	if o.StartTimeout <= 0 {
		o.StartTimeout = localnet.DefaultReadyTimeout
	}
	if o.Grace <= 0 {
		o.Grace = localnet.DefaultGrace
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	n, err := localnet.Load(dir)
	if err != nil {
		return nil, err
	}
	hc, err := localnet.AdminClient(dir, n)
	if err != nil {
		return nil, fmt.Errorf("nemesis processes: %w", err)
	}
	p := &Processes{o: o, net: n, hc: hc, ops: localnet.NewOperations(dir, n)}
	p.mu.paused = map[string]int{}
	p.mu.disks = map[string]*disk{}
	return p, nil
}

// Nodes returns the network's nodes for Plan; Disk is set for the nodes
// with a prepared disk.
func (p *Processes) Nodes() []Node {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Node, 0, len(p.net.Nodes))
	for _, nd := range p.net.Nodes {
		_, ok := p.mu.disks[nd.Name]
		out = append(out, Node{Name: nd.Name, Role: nd.Role, Disk: ok})
	}
	return out
}

// Unsupported returns the kinds this Processes cannot inject, with why.
func (p *Processes) Unsupported() map[Kind]string {
	out := map[Kind]string{}
	if p.o.Net == nil {
		out[Partition] = ErrNoNamespaces.Error()
		out[OneWay] = ErrNoNamespaces.Error()
	}
	p.mu.Lock()
	prepared := len(p.mu.disks)
	p.mu.Unlock()
	switch {
	case os.Geteuid() != 0:
		out[DiskFull] = "a full disk needs root (a tmpfs mounted over a node's data directory)"
	case prepared == 0:
		out[DiskFull] = "no node has a prepared disk (PrepareDisk before the nodes first start)"
	}
	return out
}

// Enabled returns kinds without those in unsupported, in order.
func Enabled(kinds []Kind, unsupported map[Kind]string) []Kind {
	var out []Kind
	for _, k := range kinds {
		if _, no := unsupported[k]; !no {
			out = append(out, k)
		}
	}
	return out
}

func (p *Processes) node(name string) (localnet.Node, error) {
	nd, err := p.net.Node(name)
	if err != nil {
		return localnet.Node{}, err
	}
	return *nd, nil
}

// pid finds the running process of a node by its command line, as
// internal/localnet does: a process whose --config is the node's config
// file. A recorded pid could have been reused.
func (p *Processes) pid(name string) (int, error) {
	nd, err := p.node(name)
	if err != nil {
		return 0, err
	}
	if pid, ok := localnet.NodePID(p.o.Dir, &nd); ok {
		return pid, nil
	}
	return 0, fmt.Errorf("%s: %w", name, ErrNotRunning)
}

// procStat returns the fields of /proc/pid/stat after the command name:
// [0] state, [1] ppid, [2] pgrp, ...
func procStat(pid int) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	return strings.Fields(string(raw[i+1:])), nil
}

// errExited means a node's process exited while readyOrExit waited.
var errExited = errors.New("exited")

// readyOrExit waits, at most StartTimeout, until the running node answers
// ready (nil) or its process pid has exited (errExited).
func (p *Processes) readyOrExit(ctx context.Context, name string, pid int) error {
	nd, err := p.node(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.StartTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if localnet.Exited(pid) {
			return errExited
		}
		err := localnet.ProbeReady(ctx, p.ops, &nd)
		if err == nil {
			// A process shutting down may still answer once: ask again
			// a moment later before calling it ready.
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			if localnet.Exited(pid) {
				return errExited
			}
			if err = localnet.ProbeReady(ctx, p.ops, &nd); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s (pid %d) runs but is not ready after %s: %w", name, pid, p.o.StartTimeout, err)
		case <-tick.C:
		}
	}
}

// signal sends sig to a node's process group when the node leads its own
// (localnet starts each node in its own session), so its enclave child is
// signalled with it, as a machine that stops stops everything on it; else
// to the process alone.
func signal(pid int, sig syscall.Signal) error {
	target := pid
	if f, err := procStat(pid); err == nil && len(f) > 2 && f[2] == strconv.Itoa(pid) {
		target = -pid
	}
	if err := syscall.Kill(target, sig); err != nil {
		return fmt.Errorf("%s pid %d: %w", sig, pid, err)
	}
	return nil
}

// waitExit polls until pid has exited (its parent may be slow to reap it:
// a zombie counts). A child that was not in the killed process group
// would not exit: the wait is bounded by ctx.
func waitExit(ctx context.Context, pid int) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !localnet.Exited(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("pid %d still running: %w", pid, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// Kill sends SIGKILL to the node (its process group) and waits for it to
// exit. The node stays down until Start.
func (p *Processes) Kill(ctx context.Context, name string) error {
	pid, err := p.pid(name)
	if err != nil {
		return err
	}
	// Its children (a peer's enclave) die with its process group; wait for
	// them too, so nothing of the node is left when Kill returns.
	procs := append([]int{pid}, children(pid)...)
	if err := signal(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", name, err)
	}
	for _, q := range procs {
		if err := waitExit(ctx, q); err != nil {
			return fmt.Errorf("kill %s: %w", name, err)
		}
	}
	return nil
}

// Stop stops the node gracefully (localnet.StopNode: SIGTERM, SIGKILL after
// Grace).
func (p *Processes) Stop(ctx context.Context, name string) error {
	_, err := localnet.StopNode(ctx, localnet.NodeOptions{Dir: p.o.Dir, Name: name, Grace: p.o.Grace, Progress: p.o.Progress})
	return err
}

// Start starts the node unless it runs (localnet.StartNode) and waits until
// it is ready. A paused node is resumed first.
func (p *Processes) Start(ctx context.Context, name string) error {
	p.mu.Lock()
	_, paused := p.mu.paused[name]
	p.mu.Unlock()
	if paused {
		if err := p.Resume(ctx, name); err != nil {
			return err
		}
	}
	// A node still running may be dying of its fault (a full disk makes
	// Pebble stop the process a moment later, possibly after the disk was
	// freed): wait until it is ready or has exited, and start it again if
	// it exited. Without this, StartNode took the dying process for a
	// running one and waited for it to become ready until its timeout
	// (found by TestChaosShort: an orderer's disk-full heal never
	// recovered, and the run injected no further fault).
	if pid, err := p.pid(name); err == nil {
		if err := p.readyOrExit(ctx, name, pid); err == nil {
			return nil
		} else if !errors.Is(err, errExited) {
			return err
		}
	}
	_, err := localnet.StartNode(ctx, localnet.NodeOptions{Dir: p.o.Dir, Name: name, Exe: p.o.Exe, Timeout: p.o.StartTimeout, Progress: p.o.Progress})
	return err
}

// Pause sends SIGSTOP to the node's process group and returns once the
// node's process is stopped (signals are delivered asynchronously).
func (p *Processes) Pause(ctx context.Context, name string) error {
	pid, err := p.pid(name)
	if err != nil {
		return err
	}
	if err := signal(pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pause %s: %w", name, err)
	}
	p.mu.Lock()
	p.mu.paused[name] = pid
	p.mu.Unlock()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		f, err := procStat(pid)
		if err != nil || len(f) == 0 {
			return fmt.Errorf("pause %s: pid %d is gone", name, pid)
		}
		if f[0] == "T" || f[0] == "t" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pause %s: pid %d not stopped yet (state %s): %w", name, pid, f[0], ctx.Err())
		case <-tick.C:
		}
	}
}

// Resume sends SIGCONT to what Pause stopped (or to the node's process if
// this Processes did not pause it).
func (p *Processes) Resume(ctx context.Context, name string) error {
	p.mu.Lock()
	pid, ok := p.mu.paused[name]
	delete(p.mu.paused, name)
	p.mu.Unlock()
	if !ok {
		var err error
		if pid, err = p.pid(name); err != nil {
			return err
		}
	}
	if err := signal(pid, syscall.SIGCONT); err != nil {
		return fmt.Errorf("resume %s: %w", name, err)
	}
	return nil
}

// children returns the child processes of pid.
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	for _, t := range tasks {
		raw, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(raw)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	sort.Ints(out)
	return out
}

// KillEnclave sends SIGKILL to the peer's child processes (its enclave)
// and waits for them to exit.
func (p *Processes) KillEnclave(ctx context.Context, name string) error {
	nd, err := p.node(name)
	if err != nil {
		return err
	}
	if nd.Role != RolePeer {
		return fmt.Errorf("kill the enclave of %s: a %s has no enclave", name, nd.Role)
	}
	pid, err := p.pid(name)
	if err != nil {
		return err
	}
	kids := children(pid)
	if len(kids) == 0 {
		return fmt.Errorf("kill the enclave of %s: pid %d has no child process", name, pid)
	}
	for _, c := range kids {
		if err := syscall.Kill(c, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill the enclave of %s (pid %d): %w", name, c, err)
		}
	}
	for _, c := range kids {
		if err := waitExit(ctx, c); err != nil {
			return fmt.Errorf("kill the enclave of %s: %w", name, err)
		}
	}
	return nil
}

// SetClock writes the node's clock file (atomically: the node re-reads it
// every clock.FilePollInterval and must never see it half written).
func (p *Processes) SetClock(ctx context.Context, name string, offset time.Duration) error {
	if _, err := p.node(name); err != nil {
		return err
	}
	path := ClockFile(p.o.Dir, name)
	if err := atomicfile.WriteFile(path, []byte(offset.String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("set the clock of %s: %w", name, err)
	}
	return nil
}

// Leader returns the orderer that reports itself the Raft leader, else the
// leader most orderers name.
func (p *Processes) Leader(ctx context.Context) (string, error) {
	votes := map[string]int{}
	var errs []error
	for _, nd := range p.net.Nodes {
		if nd.Role != RoleOrderer {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := client.NodeInfo(ictx, p.hc, nd.API)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", nd.Name, err))
			continue
		}
		if info.RaftRole == "leader" {
			return nd.Name, nil
		}
		if info.RaftLeader != "" {
			votes[info.RaftLeader]++
		}
	}
	best, most := "", 0
	for name, n := range votes {
		if n > most || (n == most && name < best) {
			best, most = name, n
		}
	}
	if best == "" {
		return "", fmt.Errorf("no orderer reports a Raft leader: %w", errors.Join(errs...))
	}
	return best, nil
}

// Partition cuts a from b through the Net.
func (p *Processes) Partition(ctx context.Context, a, b []string) error {
	if p.o.Net == nil {
		return ErrNoNamespaces
	}
	return p.o.Net.Partition(ctx, a, b)
}

// Drop drops what from sends to to through the Net.
func (p *Processes) Drop(ctx context.Context, from, to string) error {
	if p.o.Net == nil {
		return ErrNoNamespaces
	}
	return p.o.Net.Drop(ctx, from, to)
}

// Heal removes every partition and drop through the Net.
func (p *Processes) Heal(ctx context.Context) error {
	if p.o.Net == nil {
		return ErrNoNamespaces
	}
	return p.o.Net.Heal(ctx)
}

// Recovered waits until every named node answers ready on its operations
// listener and, peers and orderers, holds at least the blocks the orderers
// held when Recovered was called (the heal).
func (p *Processes) Recovered(ctx context.Context, names []string) error {
	target := p.ordererHeight(ctx)
	pending := map[string]string{} // node -> why not recovered yet
	for _, name := range names {
		if _, err := p.node(name); err != nil {
			return err
		}
		pending[name] = "not asked yet"
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		for name := range pending {
			nd, _ := p.node(name)
			if why := p.caughtUp(ctx, nd, target); why != "" {
				pending[name] = why
			} else {
				delete(pending, name)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			var b []string
			for name, why := range pending {
				b = append(b, name+": "+why)
			}
			sort.Strings(b)
			return fmt.Errorf("not recovered (%w): %s", ctx.Err(), strings.Join(b, "; "))
		case <-tick.C:
		}
	}
}

// caughtUp returns "" when nd is ready and at height >= target, else why
// not.
func (p *Processes) caughtUp(ctx context.Context, nd localnet.Node, target uint64) string {
	if err := localnet.ProbeReady(ctx, p.ops, &nd); err != nil {
		return "not ready: " + err.Error()
	}
	if nd.Role == RoleCA {
		return ""
	}
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	info, err := client.NodeInfo(ictx, p.hc, nd.API)
	cancel()
	if err != nil {
		return err.Error()
	}
	if info.Height < target {
		return fmt.Sprintf("at height %d of the orderers' %d", info.Height, target)
	}
	return ""
}

// ordererHeight is the highest height of the orderers that answer now.
func (p *Processes) ordererHeight(ctx context.Context) uint64 {
	var top uint64
	for _, nd := range p.net.Nodes {
		if nd.Role != RoleOrderer {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, time.Second)
		info, err := client.NodeInfo(ictx, p.hc, nd.API)
		cancel()
		if err == nil {
			top = max(top, info.Height)
		}
	}
	return top
}

// dataDir is a node's data directory, from its config file.
func (p *Processes) dataDir(nd localnet.Node) (string, error) {
	if nd.Role != RolePeer && nd.Role != RoleOrderer {
		return "", fmt.Errorf("%s: a %s has no data directory of its own", nd.Name, nd.Role)
	}
	file := filepath.Join(p.o.Dir, nd.Config)
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	cfg, err := config.ParseNode(file, data, nil)
	if err != nil {
		return "", err
	}
	return cfg.DataDir, nil
}
