package p2p

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p/p2ptest"
)

// TestNetns runs nodes as separate processes, each in its own network
// namespace with its own IP address, joined by a bridge; one of them is
// dial-only. Every node ends with exactly one session to every other,
// both ends agree which, and streams flow over each. It needs root and
// iproute2 and creates (and always removes) namespaces, veth pairs and a
// bridge.
func TestNetns(t *testing.T) {
	if testing.Short() {
		t.Skip("network namespace test skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespace test needs root (it creates namespaces, veth pairs and a bridge); run as root to include it")
	}
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("network namespace test needs iproute2's ip command (apt-get install iproute2)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	tag := hex.EncodeToString(rnd[:2])                       // names stay under 15 characters
	subnet := fmt.Sprintf("10.%d.%d", 200+rnd[2]%50, rnd[0]) // 10.200-249.x.0/24
	lab := newNetnsLab(t, ipPath, tag, subnet)

	c := newConsortium(t, 2)
	type nodeSpec struct {
		name     string
		org      int
		role     identity.Role
		dialOnly bool
	}
	specs := []nodeSpec{
		{"peer0.org1", 0, identity.RolePeer, false},
		{"peer0.org2", 1, identity.RolePeer, false},
		{"orderer0.org1", 0, identity.RoleOrderer, false},
		{"peer1.org2", 1, identity.RolePeer, true}, // refuses all inbound connections
	}
	dir := t.TempDir()
	roots := writeRoots(t, c, dir)
	configs := make([]netnsNode, len(specs))
	for i, s := range specs {
		creds := issue(t, c, s.org, s.name, s.role)
		ip := lab.addNode(i)
		cfg := netnsNode{Name: s.name, MSPID: creds.Self.MSPID, ID: creds.Self.ID(), IP: ip, Roots: roots}
		cfg.Cert, cfg.Key = writeKeyPair(t, dir, s.name+"-node", creds.Self.Cert.Raw, creds.Self.Key())
		cfg.TLSCert, cfg.TLSKey = writeKeyPair(t, dir, s.name+"-tls", creds.TLS.Certificate[0], creds.TLSKey)
		if !s.dialOnly {
			cfg.Listen = ip + ":7051"
		}
		configs[i] = cfg
	}
	for i := range configs {
		for j, o := range configs {
			if i != j {
				configs[i].Peers = append(configs[i].Peers, PeerSpec{NodeID: o.ID, Name: o.Name, Addr: o.Listen})
			}
		}
	}

	type line struct {
		node   int
		report netnsReport
	}
	lines := make(chan line, 256)
	procs := make([]*exec.Cmd, len(configs))
	stdins := make([]io.WriteCloser, len(configs))
	stderrs := make([]*bytes.Buffer, len(configs))
	var readers sync.WaitGroup
	for i, cfg := range configs {
		path := filepath.Join(dir, fmt.Sprintf("node%d.json", i))
		b, _ := json.Marshal(cfg)
		must(t, os.WriteFile(path, b, 0o600))
		cmd := exec.Command(ipPath, "netns", "exec", lab.ns(i), self, "-test.run=^TestNetnsHelper$", "-test.timeout=5m")
		cmd.Env = append(os.Environ(), "FOLIO_P2P_NETNS_NODE="+path)
		stderrs[i] = &bytes.Buffer{}
		cmd.Stderr = stderrs[i]
		stdout, err := cmd.StdoutPipe()
		must(t, err)
		if stdins[i], err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		must(t, cmd.Start())
		procs[i] = cmd
		readers.Add(1)
		go func() {
			defer readers.Done()
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var r netnsReport
				if json.Unmarshal(sc.Bytes(), &r) == nil && r.Node != "" {
					lines <- line{i, r}
				}
			}
		}()
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		for i, p := range procs {
			_ = stdins[i].Close() // the helper stops when its stdin closes
			done := make(chan error, 1)
			go func() { done <- p.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s exited: %v\n%s", configs[i].Name, err, stderrs[i])
				}
			case <-time.After(30 * time.Second):
				_ = p.Process.Kill()
				<-done
				t.Errorf("%s did not stop within 30s; killed\n%s", configs[i].Name, stderrs[i])
			}
		}
		readers.Wait()
	}
	t.Cleanup(stop)

	latest := make([]netnsReport, len(configs))
	echoed := map[[2]int]bool{}
	index := map[string]int{}
	for i, cfg := range configs {
		index[cfg.ID] = i
	}
	done := func() bool {
		for i := range configs {
			seen := map[string]SessionInfo{}
			for _, s := range latest[i].Sessions {
				if _, dup := seen[s.PeerID]; dup || s.State != "active" {
					return false
				}
				seen[s.PeerID] = s
			}
			if len(seen) != len(configs)-1 {
				return false
			}
			for peer, s := range seen {
				j := index[peer]
				back := latest[j].find(configs[i].ID)
				if back == nil || back.Conn != s.Conn || !echoed[[2]int{i, j}] {
					return false
				}
			}
		}
		return true
	}
	guard := time.NewTimer(90 * time.Second)
	defer guard.Stop()
	for !done() {
		select {
		case l := <-lines:
			if l.report.Sessions != nil {
				latest[l.node] = l.report
			}
			if l.report.EchoTo != "" {
				if l.report.EchoErr != "" {
					t.Errorf("%s: echo to %s: %s", l.report.Node, l.report.EchoTo, l.report.EchoErr)
				} else {
					echoed[[2]int{l.node, index[l.report.EchoTo]}] = true
				}
			}
		case <-guard.C:
			for i := range configs {
				t.Logf("%s (%s): %+v\n%s", configs[i].Name, configs[i].IP, latest[i].Sessions, stderrs[i])
			}
			t.Fatal("the namespaced nodes did not converge within 90s")
		}
	}

	dialOnly := len(configs) - 1
	for i := range configs {
		for _, s := range latest[i].Sessions {
			j := index[s.PeerID]
			if !strings.HasPrefix(s.Remote, configs[j].IP+":") {
				t.Errorf("%s sees %s at %s, want its own address %s", configs[i].Name, s.Name, s.Remote, configs[j].IP)
			}
			if j == dialOnly && (s.DialedBy != "remote" || s.Addr != "") {
				t.Errorf("%s's session with the dial-only node: %+v", configs[i].Name, s)
			}
			if i == dialOnly && s.DialedBy != "self" {
				t.Errorf("the dial-only node accepted a session: %+v", s)
			}
		}
	}
	stop()
	t.Logf("%d nodes in %d namespaces converged; addresses %s.1-%d", len(configs), len(configs), subnet, len(configs))
}

// netnsNode is a helper process's configuration.
type netnsNode struct {
	Name, MSPID, ID, IP string
	Listen              string
	Cert, Key           string
	TLSCert, TLSKey     string
	Roots               []netnsRoot
	Peers               []PeerSpec
}

type netnsRoot struct{ Name, MSPID, Cert string }

// netnsReport is one line a helper prints: its sessions after an event,
// or the result of an echo over a new session.
type netnsReport struct {
	Node     string        `json:"node"`
	Event    string        `json:"event,omitempty"`
	Sessions []SessionInfo `json:"sessions,omitempty"`
	EchoTo   string        `json:"echo_to,omitempty"`
	EchoErr  string        `json:"echo_err,omitempty"`
}

func (r netnsReport) find(peer string) *SessionInfo {
	for i := range r.Sessions {
		if r.Sessions[i].PeerID == peer {
			return &r.Sessions[i]
		}
	}
	return nil
}

// TestNetnsHelper is the node process TestNetns starts inside a
// namespace; it does nothing in a normal test run.
func TestNetnsHelper(t *testing.T) {
	path := os.Getenv("FOLIO_P2P_NETNS_NODE")
	if path == "" {
		t.Skip("helper process for TestNetns")
	}
	if err := runNetnsNode(path, os.Stdin, os.Stdout); err != nil {
		t.Fatal(err)
	}
}

func runNetnsNode(path string, stdin io.Reader, stdout io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg netnsNode
	if err := json.Unmarshal(b, &cfg); err != nil {
		return err
	}
	var orgs []identity.Org
	for _, r := range cfg.Roots {
		root, err := fcrypto.ReadCertificate(r.Cert)
		if err != nil {
			return err
		}
		orgs = append(orgs, identity.Org{Name: r.Name, MSPID: r.MSPID, Root: root})
	}
	v, err := identity.NewVerifier(orgs, nil)
	if err != nil {
		return err
	}
	self, err := loadSigner(v, cfg.MSPID, cfg.Cert, cfg.Key)
	if err != nil {
		return err
	}
	tlsID, err := loadSigner(v, cfg.MSPID, cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return err
	}
	h, err := New(Options{
		Self: self, TLS: tls.Certificate{Certificate: [][]byte{tlsID.Cert.Raw}, PrivateKey: tlsID.Key(), Leaf: tlsID.Cert},
		Verifier: v, ListenAddr: cfg.Listen, Logger: p2ptest.Logger().With("node", cfg.Name),
		BackoffMin: 50 * time.Millisecond, BackoffMax: time.Second,
	})
	if err != nil {
		return err
	}
	if err := h.Handle("echo", echo); err != nil {
		return err
	}
	for _, p := range cfg.Peers {
		if err := h.AddPeer(p); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // stop when the parent closes stdin
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	emit := func(r netnsReport) {
		mu.Lock()
		defer mu.Unlock()
		r.Node = cfg.Name
		_ = enc.Encode(r)
	}
	events, unsubscribe := h.Subscribe()
	defer unsubscribe()
	var echoes sync.WaitGroup
	go func() {
		for ev := range events {
			emit(netnsReport{Event: ev.Kind.String(), Sessions: h.Sessions()})
			if ev.Kind != EventUp {
				continue
			}
			echoes.Add(1)
			go func(peer string) {
				defer echoes.Done()
				r := netnsReport{EchoTo: peer}
				if err := echoOnce(ctx, h, peer); err != nil {
					r.EchoErr = err.Error()
				}
				emit(r)
			}(ev.Session.PeerID)
		}
	}()
	err = h.Run(ctx)
	echoes.Wait()
	return err
}

func echoOnce(ctx context.Context, h *Host, peer string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := h.OpenStream(ctx, peer, "echo")
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.WriteMsg([]byte("across namespaces")); err != nil {
		return err
	}
	got, err := s.ReadMsg()
	if err != nil {
		return err
	}
	if string(got) != "across namespaces" {
		return fmt.Errorf("echo returned %q", got)
	}
	return nil
}

func loadSigner(v *identity.Verifier, mspID, certPath, keyPath string) (*identity.SigningIdentity, error) {
	cert, err := fcrypto.ReadCertificate(certPath)
	if err != nil {
		return nil, err
	}
	key, err := fcrypto.ReadPrivateKey(keyPath)
	if err != nil {
		return nil, err
	}
	id, err := v.Validate(mspID, cert)
	if err != nil {
		return nil, err
	}
	return identity.NewSigningIdentity(*id, key)
}

func writeRoots(t *testing.T, c *p2ptest.Consortium, dir string) []netnsRoot {
	var roots []netnsRoot
	for _, o := range c.Orgs() {
		path := filepath.Join(dir, o.MSPID+"-root.pem")
		must(t, fcrypto.WriteCertificate(path, o.Root.Raw))
		roots = append(roots, netnsRoot{Name: o.Name, MSPID: o.MSPID, Cert: path})
	}
	return roots
}

func writeKeyPair(t *testing.T, dir, name string, der []byte, key crypto.Signer) (string, string) {
	t.Helper()
	cert, keyPath := filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem")
	must(t, fcrypto.WriteCertificate(cert, der))
	must(t, fcrypto.WritePrivateKey(keyPath, key))
	return cert, keyPath
}

// netnsLab creates namespaces joined by a bridge and removes them all in
// the test's cleanup, whatever happened.
type netnsLab struct {
	t      *testing.T
	ip     string
	tag    string
	subnet string
	bridge string
	nss    []string
}

func newNetnsLab(t *testing.T, ip, tag, subnet string) *netnsLab {
	l := &netnsLab{t: t, ip: ip, tag: tag, subnet: subnet, bridge: "fpb" + tag}
	if out, err := exec.Command(ip, "link", "add", l.bridge, "type", "bridge").CombinedOutput(); err != nil {
		t.Skipf("network namespace test: cannot create a bridge here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(l.teardown)
	l.run("link", "set", l.bridge, "up")
	return l
}

func (l *netnsLab) ns(i int) string { return fmt.Sprintf("fp2p-%s-%d", l.tag, i) }

// addNode creates namespace i with a veth to the bridge and returns its IP.
func (l *netnsLab) addNode(i int) string {
	ns, host, inner := l.ns(i), fmt.Sprintf("fv%s%d", l.tag, i), fmt.Sprintf("fp%s%d", l.tag, i)
	l.run("netns", "add", ns)
	l.nss = append(l.nss, ns)
	l.run("link", "add", host, "type", "veth", "peer", "name", inner)
	l.run("link", "set", inner, "netns", ns)
	ip := fmt.Sprintf("%s.%d", l.subnet, i+1)
	l.run("-n", ns, "addr", "add", ip+"/24", "dev", inner)
	l.run("-n", ns, "link", "set", inner, "up")
	l.run("-n", ns, "link", "set", "lo", "up")
	l.run("link", "set", host, "master", l.bridge)
	l.run("link", "set", host, "up")
	return ip
}

func (l *netnsLab) run(args ...string) {
	l.t.Helper()
	if out, err := exec.Command(l.ip, args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// teardown deletes the namespaces (which deletes their veth pairs) and
// the bridge.
func (l *netnsLab) teardown() {
	for _, ns := range l.nss {
		if out, err := exec.Command(l.ip, "netns", "del", ns).CombinedOutput(); err != nil {
			l.t.Errorf("cleanup: ip netns del %s: %v: %s", ns, err, out)
		}
	}
	if out, err := exec.Command(l.ip, "link", "del", l.bridge).CombinedOutput(); err != nil {
		l.t.Errorf("cleanup: ip link del %s: %v: %s", l.bridge, err, out)
	}
}
