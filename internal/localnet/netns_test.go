package localnet_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/chaos/lab"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/localnet/genesiscontracts"
)

// TestNetworkInNamespaces runs a real network (folio processes, real TLS)
// with every node in its own network namespace of a chaos lab: every node
// becomes ready across the bridge (the CAs and the operations listeners
// too), a peer isolated by a partition falls behind while a transaction
// commits on the others, catches up after Heal, and restarts in its own
// namespace with its own environment. It needs root and iproute2.
func TestNetworkInNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("real network in namespaces skipped in -short mode")
	}
	if err := lab.Available(); err != nil {
		t.Skipf("real network in namespaces skipped: %v (run as root with iproute2 to include it)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	exe := filepath.Join(tmp, "folio")
	build := exec.CommandContext(ctx, "go", "build", "-o", exe, "github.com/folio-ledger/folio/cmd/folio")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build folio: %v\n%s", err, out)
	}
	wasm, err := genesiscontracts.Copyright.Wasm()
	if err != nil {
		t.Fatal(err)
	}

	// One organisation with two peers, so that a transaction can be
	// endorsed (AND of every peer organisation) and committed while one
	// of its peers is cut off.
	spec := localnet.Spec{Orgs: 1, PeersPerOrg: 2, Orderers: 1, BlockTimeout: 100 * time.Millisecond, ContractWasm: wasm}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	l, err := lab.New(ctx, "ln"+hex.EncodeToString(rnd[:]), localnet.NodeNames(spec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close lab: %v", err)
		}
	})
	const isolated, other = "peer1.org1", "peer0.org1"
	spec.Hosts, spec.Netns = l.Hosts(), l.Netns()
	spec.Env = map[string][]string{isolated: {"FOLIO_NETNS_TEST_MARK=" + isolated}}

	dir := filepath.Join(tmp, "net")
	// Registered after the lab's Close, so it runs before it: the nodes
	// leave their namespaces before those go.
	t.Cleanup(func() {
		if _, err := localnet.Down(context.Background(), dir, 5*time.Second, nil); err != nil {
			t.Errorf("network down: %v", err)
		}
	})
	var progress strings.Builder
	r, err := localnet.Up(ctx, localnet.UpOptions{Dir: dir, Exe: exe, Spec: spec, Timeout: 60 * time.Second, Progress: &progress})
	if err != nil {
		t.Fatalf("up: %v\n%s", err, progress.String())
	}
	n := r.Network

	// Every node runs as folio itself (the recorded pid), in its
	// namespace, on its lab address.
	for _, nd := range n.Nodes {
		if nd.Netns != spec.Netns[nd.Name] {
			t.Errorf("%s: netns %q in network.json, want %q", nd.Name, nd.Netns, spec.Netns[nd.Name])
		}
		if host, _, _ := net.SplitHostPort(nd.API); host != spec.Hosts[nd.Name] || host == "127.0.0.1" {
			t.Errorf("%s: API on %s, want %s", nd.Name, nd.API, spec.Hosts[nd.Name])
		}
		checkProcess(t, nd.PID, exe, nd.Netns)
	}
	isoNode, _ := n.Node(isolated)
	if env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", isoNode.PID)); err != nil || !strings.Contains(string(env), "FOLIO_NETNS_TEST_MARK="+isolated) {
		t.Errorf("%s runs without its Spec.Env (%v)", isolated, err)
	}
	statuses, err := localnet.Status(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range statuses {
		if s.State != localnet.StateUp {
			t.Errorf("%s is %s: %s", s.Name, s.State, s.Reason)
		}
	}

	// Cut the isolated peer off from every other node; the root namespace
	// (this test) still reaches it.
	var others []string
	for _, name := range localnet.NodeNames(spec) {
		if name != isolated {
			others = append(others, name)
		}
	}
	if err := l.Partition(ctx, []string{isolated}, others); err != nil {
		t.Fatal(err)
	}
	// No node reaches the isolated peer's listeners, nor it theirs.
	otherNode, _ := n.Node(other)
	if err := dialIn(spec.Netns[other], isoNode.P2P); err == nil {
		t.Fatalf("%s reaches %s's P2P listener across the partition", other, isolated)
	}
	if err := dialIn(spec.Netns[isolated], otherNode.API); err == nil {
		t.Fatalf("%s reaches %s's API across the partition", isolated, other)
	}
	hc, err := localnet.AdminClient(dir, n)
	if err != nil {
		t.Fatal(err)
	}
	height := func(name string) uint64 {
		t.Helper()
		nd, _ := n.Node(name)
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		info, err := client.NodeInfo(ictx, hc, nd.API)
		if err != nil {
			t.Fatalf("height of %s: %v", name, err)
		}
		return info.Height
	}
	res := register(ctx, t, dir, n, other)
	if h := height("orderer0"); h < res.Height() {
		t.Fatalf("orderer0 at height %d after a commit at %d", h, res.Height())
	}
	if h := height(isolated); h >= res.Height() {
		t.Fatalf("isolated %s reached height %d: the block of height %d crossed the partition", isolated, h, res.Height())
	}

	if err := l.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dialIn(spec.Netns[other], isoNode.P2P); err != nil {
		t.Fatalf("after heal: %v", err)
	}
	healed := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for h := height(isolated); h < res.Height(); h = height(isolated) {
		select {
		case <-ctx.Done():
			t.Fatalf("%s still at height %d of %d after heal", isolated, h, res.Height())
		case <-tick.C:
		}
	}

	t.Logf("%s caught up to height %d %s after heal", isolated, res.Height(), time.Since(healed).Round(time.Millisecond))

	// A restart puts the node back in its namespace with its environment.
	_, started, err := localnet.RestartNode(ctx, localnet.NodeOptions{Dir: dir, Name: isolated, Exe: exe, Grace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	checkProcess(t, started.PID, exe, spec.Netns[isolated])
	if env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", started.PID)); err != nil || !strings.Contains(string(env), "FOLIO_NETNS_TEST_MARK=") {
		t.Errorf("restarted %s runs without its Spec.Env (%v)", isolated, err)
	}
	if started.Height < res.Height() {
		t.Errorf("restarted %s ready at height %d, below %d", isolated, started.Height, res.Height())
	}
}

// dialIn opens (and closes) a TCP connection to addr from namespace ns,
// on a thread that enters ns and ends with its goroutine.
func dialIn(ns, addr string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		c, err := net.DialTimeout("tcp4", addr, 10*time.Second)
		if err == nil {
			c.Close()
		}
		errc <- err
	}()
	return <-errc
}

// checkProcess checks that pid is the folio binary running in namespace ns.
func checkProcess(t *testing.T, pid int, exe, ns string) {
	t.Helper()
	if pid <= 0 {
		t.Errorf("no pid recorded for a node in %s", ns)
		return
	}
	got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || got != exe {
		t.Errorf("pid %d runs %q (%v), want %s", pid, got, err, exe)
	}
	var want, have syscall.Stat_t
	if err := syscall.Stat("/var/run/netns/"+ns, &want); err != nil {
		t.Errorf("namespace %s: %v", ns, err)
		return
	}
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &have); err != nil || have.Ino != want.Ino {
		t.Errorf("pid %d is not in namespace %s (%v)", pid, ns, err)
	}
}

// register commits one copyright registration through peer's gateway as
// user1 of its organisation.
func register(ctx context.Context, t *testing.T, dir string, n *localnet.Network, peer string) *client.Result {
	t.Helper()
	nd, _ := n.Node(peer)
	id, err := wallet.Open(filepath.Join(dir, "wallet")).Load("user1@" + nd.Org)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := localnet.RootPool(dir, n)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := client.NewGatewayWithOptions(client.HTTPClient(id, roots), id, client.GatewayOptions{Channel: n.Channel,
		Endpoints: []client.Endpoint{{Name: nd.Name, Addr: nd.API}}})
	if err != nil {
		t.Fatal(err)
	}
	var h [32]byte
	_, _ = rand.Read(h[:])
	arg, _ := json.Marshal(map[string]string{"id": "netns-" + hex.EncodeToString(h[:4]), "title": "A work", "author": "An Author",
		"owner": "user1@" + nd.Org, "type": "audio", "content_hash": "sha256:" + hex.EncodeToString(h[:])})
	res, err := gw.Submit(ctx, localnet.CopyrightContract, "register", [][]byte{arg}, client.SubmitOptions{})
	if err != nil {
		t.Fatalf("register through %s: %v", peer, err)
	}
	return res
}
