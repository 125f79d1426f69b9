package localnet

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
)

// DefaultReadyTimeout bounds how long Up waits for every node to be ready.
const DefaultReadyTimeout = 60 * time.Second

// UpOptions control Up.
type UpOptions struct {
	// Dir is the network directory; created with Spec if it holds no network.
	Dir string
	// Exe is the folio binary that runs each node.
	Exe string
	// Spec sizes a new network. Zero fields take defaults; non-zero fields
	// that differ from an existing network are an error.
	Spec Spec
	// Timeout bounds the wait for readiness. Default DefaultReadyTimeout.
	Timeout time.Duration
	// Progress receives one line per step; nil discards.
	Progress io.Writer
	// StartMissing leaves running nodes alone and starts only the others
	// (restarting a killed node); without it, any running node is an error.
	StartMissing bool
	// BeforeStart, when set, runs once the network directory exists and
	// before any node starts (a chaos run mounts a node's data directory
	// on a filesystem of its own there). Its error stops Up.
	BeforeStart func(*Network) error
}

// Running is a network started by Up.
type Running struct {
	Dir     string
	Network *Network
	// Generated is true when Up created the network directory.
	Generated bool
	// Started names the nodes this call started (all of them unless some
	// were already running and StartMissing was set).
	Started []string
	exits   chan NodeExit
}

// NodeExit reports a node process that ended.
type NodeExit struct {
	Name string
	Err  error // nil for a clean exit
}

// Exits delivers node processes that end while the caller runs; the
// foreground supervisor uses it to notice a crashed node.
func (r *Running) Exits() <-chan NodeExit { return r.exits }

// Up creates the network directory if needed, starts every node as its own
// process, and returns once all are ready. If any node fails to start or to
// become ready in time, every node it started is stopped again and the error
// says which node failed and why.
func Up(ctx context.Context, opts UpOptions) (*Running, error) {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultReadyTimeout
	}
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	r := &Running{Dir: dir, exits: make(chan NodeExit, 64)}
	r.Network, err = Load(dir)
	switch {
	case errors.Is(err, ErrNotNetwork):
		// Sizes are checked before the first word of progress: a refused
		// spec generates nothing and says nothing about generating.
		chk := opts.Spec
		chk.EnsureDefaults()
		if err := chk.Validate(); err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "generating network in %s (%d orgs x %d peers, %d orderers)\n", dir, def(opts.Spec.Orgs, 2), def(opts.Spec.PeersPerOrg, 2), def(opts.Spec.Orderers, 3))
		if w := opts.Spec.ContractWasm; len(w) > 0 {
			fmt.Fprintf(progress, "defining contract %s version 1 (%d bytes, sha256 %x) and installing it on every peer\n", CopyrightContract, len(w), sha256.Sum256(w))
		} else {
			fmt.Fprintf(progress, "no copyright contract given: the network starts without contracts\n")
		}
		if r.Network, err = Generate(dir, opts.Spec); err != nil {
			return nil, err
		}
		r.Generated = true
		if err := precompile(ctx, dir, r.Network, progress); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if err := checkSpecMatches(r.Network, opts.Spec); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		if err := addOperations(dir, r.Network, progress); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
	}
	n := r.Network
	running := nodeProcesses(dir)
	alreadyUp := map[string]bool{}
	var names []string
	for i, nd := range n.Nodes {
		if pid, ok := running[filepath.Join(dir, nd.Config)]; ok {
			alreadyUp[nd.Name] = true
			n.Nodes[i].Stopped = false // running again, whoever started it
			names = append(names, fmt.Sprintf("%s (pid %d)", nd.Name, pid))
		}
	}
	if len(alreadyUp) > 0 && !opts.StartMissing {
		return nil, fmt.Errorf("nodes of the network in %s are already running: %s; see `folio network status`, use `folio network up --detach` to start only the missing ones, or `folio network down` first",
			dir, strings.Join(names, ", "))
	}
	if len(alreadyUp) > 0 {
		fmt.Fprintf(progress, "already running: %s\n", strings.Join(names, ", "))
	}
	if err := checkPorts(n, alreadyUp); err != nil {
		return nil, err
	}
	hc, err := AdminClient(dir, n)
	if err != nil {
		return nil, err
	}

	if opts.BeforeStart != nil {
		if err := opts.BeforeStart(n); err != nil {
			return nil, fmt.Errorf("%s: before the nodes start: %w", dir, err)
		}
	}
	started := map[string]*exec.Cmd{}
	fail := func(err error) (*Running, error) {
		stopStarted(started, 10*time.Second)
		for i := range n.Nodes {
			if !alreadyUp[n.Nodes[i].Name] {
				n.Nodes[i].PID = 0
			}
		}
		_ = n.Save(dir)
		return nil, err
	}
	// CAs first (nodes fetch revocation lists from them), then orderers, then peers.
	for _, role := range []string{config.RoleCA, config.RoleOrderer, config.RolePeer} {
		for i := range n.Nodes {
			nd := &n.Nodes[i]
			if nd.Role != role || alreadyUp[nd.Name] {
				continue
			}
			cmd, err := startNode(dir, opts.Exe, nd)
			if err != nil {
				return fail(err)
			}
			started[nd.Name] = cmd
			r.Started = append(r.Started, nd.Name)
			nd.PID, nd.StartedAt, nd.Stopped = cmd.Process.Pid, time.Now().UTC(), false
			fmt.Fprintf(progress, "started %-12s %-8s pid %-7d %s\n", nd.Name, nd.Role, nd.PID, nd.API)
			go func(name string, cmd *exec.Cmd) {
				r.exits <- NodeExit{Name: name, Err: cmd.Wait()}
			}(nd.Name, cmd)
		}
	}
	if err := n.Save(dir); err != nil {
		return fail(err)
	}
	if err := waitReady(ctx, dir, n, hc, r.exits, opts.Timeout, progress); err != nil {
		return fail(err)
	}
	return r, nil
}

func def(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func checkSpecMatches(n *Network, s Spec) error {
	orgs, orderers, peers := 0, 0, 0
	for _, o := range n.Orgs {
		if o.Kind == "peer" {
			orgs++
		}
	}
	for _, nd := range n.Nodes {
		switch nd.Role {
		case config.RoleOrderer:
			orderers++
		case config.RolePeer:
			peers++
		}
	}
	var errs []error
	if s.Orgs != 0 && s.Orgs != orgs {
		errs = append(errs, fmt.Errorf("--orgs %d, but the existing network has %d", s.Orgs, orgs))
	}
	if s.PeersPerOrg != 0 && orgs > 0 && s.PeersPerOrg*orgs != peers {
		errs = append(errs, fmt.Errorf("--peers-per-org %d, but the existing network has %d peers in %d orgs", s.PeersPerOrg, peers, orgs))
	}
	if s.Orderers != 0 && s.Orderers != orderers {
		errs = append(errs, fmt.Errorf("--orderers %d, but the existing network has %d", s.Orderers, orderers))
	}
	if s.BlockMaxTx != 0 || s.BlockMaxBytes != 0 || s.BlockTimeout != 0 {
		errs = append(errs, errors.New("--block-* flags set block cutting in the genesis block of a new network"))
	}
	for _, nd := range n.Nodes {
		if h, ok := s.Hosts[nd.Name]; ok {
			if host, _, _ := net.SplitHostPort(nd.API); host != h {
				errs = append(errs, fmt.Errorf("host of %s %s, but the existing network has it on %s", nd.Name, h, host))
			}
		}
		if ns, ok := s.Netns[nd.Name]; ok && ns != nd.Netns {
			errs = append(errs, fmt.Errorf("namespace of %s %q, but the existing network runs it in %q", nd.Name, ns, nd.Netns))
		}
		if env, ok := s.Env[nd.Name]; ok && !slices.Equal(env, nd.Env) {
			errs = append(errs, fmt.Errorf("environment of %s %q, but the existing network gives it %q", nd.Name, env, nd.Env))
		}
	}
	if len(errs) > 0 {
		errs = append(errs, errors.New("size flags (and Hosts, Netns, Env) apply only to a new network: drop them to restart this one, or use another --network"))
	}
	return errors.Join(errs...)
}

// checkPorts fails if any port of a node about to start is taken, naming
// every conflict.
func checkPorts(n *Network, skip map[string]bool) error {
	var busy []string
	for _, nd := range n.Nodes {
		// A node in a namespace listens on an address of that namespace,
		// which this process cannot bind.
		if skip[nd.Name] || nd.Netns != "" {
			continue
		}
		for _, addr := range []string{nd.API, nd.P2P, nd.Operations} {
			if addr == "" {
				continue
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				busy = append(busy, fmt.Sprintf("%s (%s)", addr, nd.Name))
				continue
			}
			l.Close()
		}
	}
	if len(busy) > 0 {
		return fmt.Errorf("ports in use by another program: %s; stop that program, or start a new network in another directory (ports are chosen when a network is created)",
			strings.Join(busy, ", "))
	}
	return nil
}

func startNode(dir, exe string, nd *Node) (*exec.Cmd, error) {
	logPath := filepath.Join(dir, nd.Log)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: log file: %w", nd.Name, err)
	}
	defer logf.Close() // the child holds its own descriptor
	sub := map[string][]string{config.RoleCA: {"ca", "serve"}, config.RolePeer: {"peer", "start"}, config.RoleOrderer: {"orderer", "start"}}[nd.Role]
	if sub == nil {
		return nil, fmt.Errorf("start %s: unknown role %q", nd.Name, nd.Role)
	}
	args := append(sub, "--config", filepath.Join(dir, nd.Config))
	cmd := exec.Command(exe, args...)
	if nd.Netns != "" {
		// ip netns exec enters the namespace and execs folio in the same
		// process: the pid recorded is folio's, and signals reach it.
		ip, err := exec.LookPath("ip")
		if err != nil {
			return nil, fmt.Errorf("start %s in network namespace %s: %w (install iproute2)", nd.Name, nd.Netns, err)
		}
		if !strings.ContainsRune(exe, filepath.Separator) {
			if exe, err = exec.LookPath(exe); err != nil {
				return nil, fmt.Errorf("start %s: %w", nd.Name, err)
			}
		}
		cmd = exec.Command(ip, append([]string{"netns", "exec", nd.Netns, exe}, args...)...)
	}
	if len(nd.Env) > 0 {
		cmd.Env = append(os.Environ(), nd.Env...)
	}
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own session: Ctrl-C in the terminal reaches only the supervisor, which
	// then stops the nodes in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", nd.Name, err)
	}
	return cmd, nil
}

// waitReady polls every node's /readyz until all answer ready, a node exits,
// or the timeout passes; the error names each node that is not ready, why,
// and the end of its log.
func waitReady(ctx context.Context, dir string, n *Network, hc *http.Client, exits <-chan NodeExit, timeout time.Duration, progress io.Writer) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	ops := NewOperations(dir, n)
	pending := map[string]string{} // name -> last reason
	for _, nd := range n.Nodes {
		pending[nd.Name] = "no answer yet"
	}
	for {
		for _, nd := range n.Nodes {
			if _, ok := pending[nd.Name]; !ok {
				continue
			}
			if err := ProbeReady(ctx, ops, &nd); err != nil {
				pending[nd.Name] = err.Error()
			} else {
				delete(pending, nd.Name)
				fmt.Fprintf(progress, "ready   %s\n", nd.Name)
			}
		}
		if len(pending) == 0 {
			// Ready means in step too: every peer at the orderers' height.
			lag := heightLag(ctx, hc, n)
			if lag == "" {
				return nil
			}
			pending["heights"] = lag
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ex := <-exits:
			nd, _ := n.Node(ex.Name)
			return fmt.Errorf("%s exited during start-up (%v); last lines of %s:\n%s", ex.Name, ex.Err, nd.Log, tail(filepath.Join(dir, nd.Log), 8))
		case <-deadline.C:
			var b strings.Builder
			fmt.Fprintf(&b, "network not ready after %s:", timeout)
			names := make([]string, 0, len(pending))
			for name := range pending {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				nd, err := n.Node(name)
				if err != nil { // the "heights" check, not a node
					fmt.Fprintf(&b, "\n  %s: %s", name, pending[name])
					continue
				}
				fmt.Fprintf(&b, "\n  %s: %s\n  last lines of %s:\n%s", name, pending[name], nd.Log, tail(filepath.Join(dir, nd.Log), 5))
			}
			return errors.New(b.String())
		case <-tick.C:
			delete(pending, "heights")
		}
	}
}

// heightLag returns "" when every peer holds as many blocks as the
// highest orderer, else which peers lag.
func heightLag(ctx context.Context, hc *http.Client, n *Network) string {
	heights := map[string]uint64{}
	var top uint64
	for _, nd := range n.Nodes {
		if nd.Role == config.RoleCA {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := client.NodeInfo(ictx, hc, nd.API)
		cancel()
		if err != nil {
			return nd.Name + ": " + err.Error()
		}
		heights[nd.Name] = info.Height
		if nd.Role == config.RoleOrderer && info.Height > top {
			top = info.Height
		}
	}
	var lag []string
	for _, nd := range n.Nodes {
		if nd.Role == config.RolePeer && heights[nd.Name] < top {
			lag = append(lag, fmt.Sprintf("%s at height %d", nd.Name, heights[nd.Name]))
		}
	}
	if len(lag) == 0 {
		return ""
	}
	return fmt.Sprintf("peers behind the orderers (height %d): %s", top, strings.Join(lag, ", "))
}

// ProbeReady asks a node's operations listener whether it is ready (nil:
// ready; else why not).
func ProbeReady(ctx context.Context, ops *Operations, nd *Node) error {
	hc, base, err := ops.Endpoint(nd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", strings.TrimSpace(string(body)))
	}
	return nil
}

// OperationsClient talks to the local network's operations listeners:
// plain HTTP on 127.0.0.1, the tools running beside the network.
var OperationsClient = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}

// Operations reaches the operations listeners of a network's nodes. On
// loopback they serve plain HTTP (OperationsClient); a node on its own
// address (Spec.Hosts, e.g. in a chaos lab's namespace) serves only admins
// over mutual TLS: it is asked as the wallet's admin of the node's own
// organisation, the one admin every node accepts (a CA knows only its
// organisation).
type Operations struct {
	dir string
	n   *Network

	mu     sync.Mutex
	admins map[string]*http.Client // org -> admin client
}

// NewOperations returns an Operations for the network n in dir.
func NewOperations(dir string, n *Network) *Operations {
	return &Operations{dir: dir, n: n, admins: map[string]*http.Client{}}
}

// Endpoint returns the client and base URL ("http://127.0.0.1:PORT" or
// "https://HOST:PORT") of nd's operations listener.
func (o *Operations) Endpoint(nd *Node) (*http.Client, string, error) {
	if nd.Operations == "" {
		return nil, "", errors.New("no operations listener in network.json")
	}
	if IsLoopbackAddr(nd.Operations) {
		return OperationsClient, "http://" + nd.Operations, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	hc := o.admins[nd.Org]
	if hc == nil {
		org, err := o.n.Org(nd.Org)
		if err != nil {
			return nil, "", err
		}
		roots, err := RootPool(o.dir, o.n)
		if err != nil {
			return nil, "", err
		}
		id, err := wallet.Open(filepath.Join(o.dir, "wallet")).Load("admin@" + org.Name)
		if err != nil {
			return nil, "", fmt.Errorf("operations listener of %s is off loopback and needs an admin of %s: %w", nd.Name, org.Name, err)
		}
		hc = client.HTTPClient(id, roots)
		o.admins[nd.Org] = hc
	}
	return hc, "https://" + nd.Operations, nil
}

// IsLoopbackAddr reports whether host:port names a loopback host.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// addOperations gives each node of a network made before operations
// listeners existed a free loopback port for one, records it in
// network.json and rewrites the node's generated configuration.
func addOperations(dir string, n *Network, progress io.Writer) error {
	var missing []int
	for i, nd := range n.Nodes {
		if nd.Operations == "" {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	ports, err := freePorts(len(missing))
	if err != nil {
		return err
	}
	for k, i := range missing {
		n.Nodes[i].Operations = fmt.Sprintf("127.0.0.1:%d", ports[k])
		if err := writeNodeConfig(dir, n, &n.Nodes[i], 0); err != nil {
			return fmt.Errorf("add an operations listener to %s: %w", n.Nodes[i].Name, err)
		}
	}
	fmt.Fprintf(progress, "gave %d nodes an operations listener (metrics, health, profiles on 127.0.0.1)\n", len(missing))
	return n.Save(dir)
}

// tail returns the last n lines of a file, indented, for error reports.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "    (no log: " + err.Error() + ")"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return "    (log is empty)"
	}
	return "    " + strings.Join(lines, "\n    ")
}

// AdminClient returns an HTTP client for talking to the network's nodes as
// the first organisation's admin, trusting every organisation's root.
func AdminClient(dir string, n *Network) (*http.Client, error) {
	roots, err := RootPool(dir, n)
	if err != nil {
		return nil, err
	}
	if len(n.Orgs) == 0 {
		return nil, fmt.Errorf("%s: the network has no organisations", dir)
	}
	id, err := wallet.Open(filepath.Join(dir, "wallet")).Load("admin@" + n.Orgs[0].Name)
	if err != nil {
		return nil, err
	}
	return client.HTTPClient(id, roots), nil
}

// RootPool loads every organisation's root certificate.
func RootPool(dir string, n *Network) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, o := range n.Orgs {
		c, err := fcrypto.ReadCertificate(filepath.Join(dir, o.RootCert))
		if err != nil {
			return nil, err
		}
		pool.AddCert(c)
	}
	return pool, nil
}
