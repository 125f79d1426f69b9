package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/types"
)

// sdk is the Go SDK's view of a test network.
type sdk struct {
	t     *testing.T
	dir   string
	net   *localnet.Network
	roots *x509.CertPool
	w     *wallet.Wallet
}

func newSDK(t *testing.T, n *network) *sdk {
	t.Helper()
	netw, err := localnet.Load(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := localnet.RootPool(n.dir, netw)
	if err != nil {
		t.Fatal(err)
	}
	return &sdk{t: t, dir: n.dir, net: netw, roots: roots, w: wallet.Open(filepath.Join(n.dir, "wallet"))}
}

func (s *sdk) identity(label string) *client.Identity {
	s.t.Helper()
	id, err := s.w.Load(label)
	if err != nil {
		s.t.Fatal(err)
	}
	return id
}

// signing returns the wallet identity as the server side names it, for
// building messages by hand (attacks, raw envelopes).
func (s *sdk) signing(label string) *identity.SigningIdentity {
	s.t.Helper()
	return serverIdentity(s.t, s.identity(label))
}

// serverIdentity converts an SDK identity to the server-side type.
func serverIdentity(t testing.TB, id *client.Identity) *identity.SigningIdentity {
	t.Helper()
	si, err := identity.FromCertificate(id.MSPID(), id.Certificate(), id.Key())
	if err != nil {
		t.Fatal(err)
	}
	return si
}

func (s *sdk) node(name string) *localnet.Node {
	s.t.Helper()
	nd, err := s.net.Node(name)
	if err != nil {
		s.t.Fatal(err)
	}
	return nd
}

// peers lists every peer of the network.
func (s *sdk) peers() []localnet.Node {
	var out []localnet.Node
	for _, nd := range s.net.Nodes {
		if nd.Role == config.RolePeer {
			out = append(out, nd)
		}
	}
	return out
}

func (s *sdk) gateway(peer string, id *client.Identity) *client.Gateway {
	return client.NewGateway(client.HTTPClient(id, s.roots), s.node(peer).API, s.net.Channel, id)
}

func (s *sdk) chain(peer string) foliov1connect.ChainServiceClient {
	id := s.identity("user1@Org1")
	return foliov1connect.NewChainServiceClient(client.HTTPClient(id, s.roots), "https://"+s.node(peer).API)
}

func (s *sdk) height(peer string) uint64 {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := s.chain(peer).GetChainInfo(ctx, connect.NewRequest(&foliov1.GetChainInfoRequest{}))
	if err != nil {
		s.t.Fatalf("chain info of %s: %v", peer, err)
	}
	return info.Msg.Height
}

func (s *sdk) block(peer string, num uint64) *foliov1.Block {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := s.chain(peer).GetBlock(ctx, connect.NewRequest(&foliov1.GetBlockRequest{Selector: &foliov1.GetBlockRequest_Number{Number: num}}))
	if err != nil {
		s.t.Fatalf("block %d from %s: %v", num, peer, err)
	}
	return b.Msg
}

// peerIdentity loads a peer's own signing identity from its node directory
// (what an attacker holding that peer's key could sign).
func (s *sdk) peerIdentity(name string) *identity.SigningIdentity {
	return s.nodeIdentity(name, identity.RolePeer)
}

// nodeIdentity loads a node's signing identity (role role) from its node
// directory.
func (s *sdk) nodeIdentity(name string, role identity.Role) *identity.SigningIdentity {
	s.t.Helper()
	nd := s.node(name)
	dir := filepath.Join(s.dir, filepath.Dir(nd.Config), "msp")
	cert, err := fcrypto.ReadCertificate(filepath.Join(dir, "cert.pem"))
	if err != nil {
		s.t.Fatal(err)
	}
	key, err := fcrypto.ReadPrivateKey(filepath.Join(dir, "key.pem"))
	if err != nil {
		s.t.Fatal(err)
	}
	org, _ := s.net.Org(nd.Org)
	id, err := identity.NewSigningIdentity(identity.Identity{MSPID: org.MSPID, Org: nd.Org, Name: nd.Name, Role: role, Cert: cert}, key)
	if err != nil {
		s.t.Fatal(err)
	}
	return id
}

// waitHeight waits until every peer has committed block num.
func (s *sdk) waitHeight(num uint64, timeout time.Duration) {
	s.t.Helper()
	eventually(s.t, timeout, fmt.Sprintf("every peer past block %d", num), func() error {
		for _, p := range s.peers() {
			if h := s.height(p.Name); h <= num {
				return fmt.Errorf("%s at height %d", p.Name, h)
			}
		}
		return nil
	})
}

type activated struct {
	TxID       string `json:"tx_id"`
	Block      uint64 `json:"block"`
	Status     string `json:"status"`
	StartBlock uint64 `json:"start_block"`
	Reason     string `json:"reason"`
}

// loadResult is one transaction of the background load.
type loadResult struct {
	res *client.Result
	err error
}

// runLoad submits copyright registrations from c clients until stop is
// closed, spread over both organisations' gateways.
func (s *sdk) runLoad(c int, stop <-chan struct{}) func() []loadResult {
	var mu sync.Mutex
	var out []loadResult
	var wg sync.WaitGroup
	var seq atomic.Int64
	peers := s.peers()
	for i := 0; i < c; i++ {
		user := s.identity([]string{"user1@Org1", "user1@Org2"}[i%2])
		gw := s.gateway(peers[i%len(peers)].Name, user)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := seq.Add(1)
				args, _ := json.Marshal(map[string]string{"id": fmt.Sprintf("LOAD-%d", k), "title": "t", "author": "a",
					"content_hash": fmt.Sprintf("sha256:%064x", k)})
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				res, err := gw.Submit(ctx, "copyright", "register", [][]byte{args}, client.SubmitOptions{})
				cancel()
				mu.Lock()
				out = append(out, loadResult{res, err})
				mu.Unlock()
			}
		}()
	}
	return func() []loadResult {
		wg.Wait()
		return out
	}
}

// TestContractUpgradeUnderLoad installs copyright version 2 on every peer
// while clients keep registering works, activates it five blocks ahead,
// then downgrades to version 1 the same way. Every transaction committed
// before a switch block ran the old version and every one at or after it
// the new one (read from the blocks), every peer has the same state root at
// every height, and no client request failed: a transaction endorsed just
// before a switch and committed after it is re-endorsed once by the SDK.
func TestContractUpgradeUnderLoad(t *testing.T) {
	n := newCopyrightNet(t)
	s := newSDK(t, n)
	pkg := filepath.Join(t.TempDir(), "copyright-v2.pkg")
	n.must("contract", "package", "--name", "copyright", "--version", "2", "--wasm", contractV2Wasm, "--out", pkg, "--as", "admin@Org1")

	n.must("work", "register", "--id", "UP-1", "--title", "t", "--author", "a", "--hash", "sha256:"+strings.Repeat("4", 64))
	stop := make(chan struct{})
	wait := s.runLoad(4, stop)
	stopped := false
	defer func() {
		if !stopped {
			close(stop)
			wait()
		}
	}()
	// The load flows before the install: a few blocks of it on every peer.
	s.waitHeight(s.height("peer0.org1")+2, time.Minute)

	n.must("contract", "install", pkg, "--all-peers")
	var up activated
	n.json(&up, "contract", "activate", "--name", "copyright", "--version", "2", "--after-blocks", "5")
	if up.Status != "VALID" || up.StartBlock != up.Block+5 {
		t.Fatalf("activate version 2: %+v", up)
	}
	s.waitHeight(up.StartBlock+3, 60*time.Second)
	var rec map[string]any
	n.json(&rec, "work", "get", "--id", "UP-1", "--peer", "peer1.org2")
	if rec["contract_version"] != "2" {
		t.Fatalf("get after the upgrade ran version 1: %v", rec)
	}

	var down activated
	n.json(&down, "contract", "activate", "--name", "copyright", "--version", "1", "--after-blocks", "5")
	if down.Status != "VALID" || down.StartBlock != down.Block+5 {
		t.Fatalf("activate version 1: %+v", down)
	}
	s.waitHeight(down.StartBlock+3, 60*time.Second)
	close(stop)
	stopped = true
	results := wait()
	rec = map[string]any{}
	n.json(&rec, "work", "get", "--id", "UP-1", "--peer", "peer0.org1")
	if _, ok := rec["contract_version"]; ok {
		t.Fatalf("get after the downgrade ran version 2: %v", rec)
	}

	// No client request failed; count the re-endorsements.
	reendorsed := 0
	for _, r := range results {
		if r.err != nil {
			t.Errorf("a load transaction failed: %v", r.err)
			continue
		}
		if r.res.Attempts > 1 {
			reendorsed++
		}
	}
	t.Logf("%d load transactions, %d re-endorsed once after a switch", len(results), reendorsed)

	// Every valid transaction ran the version in force at its block.
	height := s.height("peer0.org1")
	perVersion := map[string]int{}
	notEffective := 0
	for num := uint64(1); num < height; num++ {
		b := s.block("peer0.org1", num)
		codes := b.GetMetadata().GetValidationCodes()
		for i, raw := range b.GetData().GetEnvelopes() {
			env := &foliov1.Envelope{}
			if err := proto.Unmarshal(raw, env); err != nil {
				t.Fatal(err)
			}
			p, err := types.ParseEnvelope(env)
			if err != nil || p.Header.Type != foliov1.TxType_TX_TYPE_ENDORSER {
				continue
			}
			code := foliov1.ValidationCode(codes[i])
			if code == foliov1.ValidationCode_CONTRACT_VERSION_NOT_EFFECTIVE {
				notEffective++
				continue
			}
			if code != foliov1.ValidationCode_VALID {
				continue
			}
			et, err := types.ParseEndorsedTransaction(p)
			if err != nil {
				t.Fatal(err)
			}
			got := et.Response.Action.Contract.Version
			want := "1"
			if num >= up.StartBlock && num < down.StartBlock {
				want = "2"
			}
			if got != want {
				t.Errorf("block %d tx %d ran version %s, want %s (switches at %d and %d)", num, i, got, want, up.StartBlock, down.StartBlock)
			}
			perVersion[fmt.Sprintf("v%s %s", got, phase(num, up.StartBlock, down.StartBlock))]++
		}
	}
	t.Logf("valid transactions per version and phase: %v; %d marked CONTRACT_VERSION_NOT_EFFECTIVE", perVersion, notEffective)
	for _, ph := range []string{"v1 before", "v2 between", "v1 after"} {
		if perVersion[ph] == 0 {
			t.Errorf("no valid transaction %s the switches: the load did not cover every phase (%v)", ph, perVersion)
		}
	}

	// A peer joining later replays from block 0 and switches at the same
	// blocks: peer1.org2 loses its data and catches up from the others.
	pid := n.peerPID(t, "peer1.org2")
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "peer1.org2 stopped", func() error {
		if syscall.Kill(pid, 0) == nil {
			return fmt.Errorf("pid %d still running", pid)
		}
		return nil
	})
	if err := os.RemoveAll(filepath.Join(n.dir, "nodes", "peer1.org2", "data")); err != nil {
		t.Fatal(err)
	}
	n.must("network", "up", "--detach")
	s.waitHeight(height-1, 60*time.Second)

	// The same state root on every peer at every height.
	for num := uint64(1); num < height; num++ {
		var first []byte
		for _, p := range s.peers() {
			root := s.block(p.Name, num).GetMetadata().GetStateRoot()
			if first == nil {
				first = root
			} else if string(root) != string(first) {
				t.Fatalf("block %d: %s has state root %x, peer0.org1 %x", num, p.Name, root, first)
			}
		}
	}
}

func phase(num, up, down uint64) string {
	switch {
	case num < up:
		return "before"
	case num < down:
		return "between"
	}
	return "after"
}

// TestContractHaltedPeerAndBadActivations activates version 2 while one
// peer lacks it: that peer reports itself halted (status, metric, log),
// keeps committing, and resumes without a restart once version 2 is
// installed. Along the way every bad lifecycle input is refused with a
// precise reason and changes nothing.
func TestContractHaltedPeerAndBadActivations(t *testing.T) {
	n := newCopyrightNet(t)
	s := newSDK(t, n)
	dir := t.TempDir()
	pkg := filepath.Join(dir, "v2.pkg")
	n.must("contract", "package", "--name", "copyright", "--version", "2", "--wasm", contractV2Wasm, "--out", pkg)

	// A version never installed anywhere.
	r, err := n.run("contract", "activate", "--name", "copyright", "--version", "2", "--package", pkg)
	if err == nil || !strings.Contains(r.stderr, "never installed") {
		t.Fatalf("activation of a version installed nowhere:\n%s", r)
	}
	for _, p := range []string{"peer0.org1", "peer1.org1", "peer0.org2"} {
		n.must("contract", "install", pkg, "--peer", p)
	}
	// Too few installs: the reason names the missing peer.
	r, err = n.run("contract", "activate", "--name", "copyright", "--version", "2")
	if err == nil || !strings.Contains(r.stderr, "installed on 3 peers, 4 required; missing: peer1.org2") {
		t.Fatalf("activation with a peer missing:\n%s", r)
	}
	// A start block in the past.
	r, err = n.run("contract", "activate", "--name", "copyright", "--version", "2", "--min-installed", "3", "--at-block", "2")
	if err == nil || !strings.Contains(r.stderr, "is not after block") {
		t.Fatalf("activation with a past start block:\n%s", r)
	}
	// Not approved by a majority of admins.
	r, err = n.run("contract", "activate", "--name", "copyright", "--version", "2", "--min-installed", "3", "--approvals", "admin@Org1")
	if err == nil || !strings.Contains(r.stderr, "not approved") || !strings.Contains(r.stderr, "Org2MSP.admin") {
		t.Fatalf("activation approved by one admin:\n%s", r)
	}
	// Submitted and approved by a client.
	r, err = n.run("contract", "activate", "--name", "copyright", "--version", "2", "--min-installed", "3", "--as", "user1@Org1", "--approvals", "user1@Org1,user1@Org2")
	if err == nil || !strings.Contains(r.stderr, "only admins may activate") {
		t.Fatalf("activation by a client:\n%s", r)
	}
	// Install by a client: refused by the peer.
	r, err = n.run("contract", "install", pkg, "--peer", "peer1.org2", "--as", "user1@Org2")
	if err == nil || !strings.Contains(r.stdout+r.stderr, "takes an admin of Org2MSP") {
		t.Fatalf("install by a client:\n%s", r)
	}
	// A module that does not validate.
	bad := filepath.Join(dir, "bad.wasm")
	writeFile(t, bad, append([]byte("\x00asm\x01\x00\x00\x00"), []byte("not a module")...))
	badPkg := filepath.Join(dir, "bad.pkg")
	n.must("contract", "package", "--name", "copyright", "--version", "9", "--wasm", bad, "--out", badPkg)
	r, err = n.run("contract", "install", badPkg, "--peer", "peer0.org1", "--as", "admin@Org1")
	if err == nil || !strings.Contains(r.stdout+r.stderr, "enclave refused the module") {
		t.Fatalf("install of an invalid module:\n%s", r)
	}
	// Forged install records: signed by a client, or by another org's peer.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v2hash := packageHash(t, pkg)
	for _, forger := range []*identity.SigningIdentity{s.signing("user1@Org2"), s.peerIdentity("peer0.org1")} {
		req := &foliov1.LifecycleRequest{Op: &foliov1.LifecycleRequest_Install{Install: &foliov1.InstallRecord{
			Contract: "copyright", Version: "2", PackageHash: v2hash, Peer: "peer1.org2"}}}
		env, txID, err := types.NewLifecycleEnvelope(forger, s.net.Channel, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.gateway("peer0.org1", s.identity("user1@Org1")).SubmitEnvelope(ctx, env, txID)
		if err == nil || res.Code != foliov1.ValidationCode_LIFECYCLE_REJECTED || !strings.Contains(res.Reason, "only that peer may record its installs") {
			t.Fatalf("install record for peer1.org2 forged by %s: %+v %v", forger.Label(), res, err)
		}
	}
	// Two peers recording different modules as one version.
	other := filepath.Join(dir, "v3b.pkg")
	n.must("contract", "package", "--name", "copyright", "--version", "3", "--wasm", contractV2Wasm, "--out", filepath.Join(dir, "v3a.pkg"))
	n.must("contract", "package", "--name", "copyright", "--version", "3", "--wasm", contractWasm, "--out", other)
	n.must("contract", "install", filepath.Join(dir, "v3a.pkg"), "--peer", "peer0.org1")
	n.must("contract", "install", other, "--peer", "peer0.org2")
	r, err = n.run("contract", "activate", "--name", "copyright", "--version", "3", "--min-installed", "1", "--package", other)
	if err == nil || !strings.Contains(r.stderr, "different package") || !strings.Contains(r.stderr, "peer0.org1") {
		t.Fatalf("activation of a version with two packages:\n%s", r)
	}
	var st struct {
		EffectiveVersion string    `json:"effective_version"`
		Next             *struct{} `json:"next"`
		HaltedPeers      []string  `json:"halted_peers"`
	}
	n.json(&st, "contract", "status", "--name", "copyright")
	if st.EffectiveVersion != "1" || st.Next != nil || len(st.HaltedPeers) != 0 {
		t.Fatalf("refused activations changed the contract: %+v", st)
	}

	// Activate version 2 with three of four peers: peer1.org2 halts.
	var act activated
	n.json(&act, "contract", "activate", "--name", "copyright", "--version", "2", "--min-installed", "3", "--after-blocks", "2")
	if act.Status != "VALID" {
		t.Fatalf("activation: %+v", act)
	}
	// Blocks are cut only when there are transactions: one more block
	// brings every peer to the switch.
	n.must("work", "register", "--id", "H-0", "--title", "t", "--author", "a", "--hash", "sha256:"+strings.Repeat("3", 64))
	s.waitHeight(act.StartBlock-1, 30*time.Second)
	n.json(&st, "contract", "status", "--name", "copyright", "--peer", "peer1.org2")
	if st.EffectiveVersion != "2" || strings.Join(st.HaltedPeers, ",") != "peer1.org2" {
		t.Fatalf("status after the switch: %+v", st)
	}
	if v := haltedMetric(t, s, "peer1.org2"); v != "1" {
		t.Fatalf("peer1.org2 folio_contract_halted = %q, want 1", v)
	}
	if !strings.Contains(readLog(t, n, "peer1.org2"), "contract halted on this peer") {
		t.Fatal("peer1.org2 logged no halted line")
	}
	// It keeps committing: a registration through its gateway (endorsed
	// by its organisation's other peer) commits everywhere.
	before := s.height("peer1.org2")
	var reg submitted
	n.json(&reg, "work", "register", "--id", "H-1", "--title", "t", "--author", "a", "--hash", "sha256:"+strings.Repeat("2", 64), "--peer", "peer1.org2", "--as", "user1@Org2")
	if reg.Status != "VALID" || reg.Block < before {
		t.Fatalf("register through the halted peer's gateway: %+v", reg)
	}
	// A query through its gateway is answered by its organisation's other
	// peer.
	r, err = n.run("work", "get", "--id", "H-1", "--peer", "peer1.org2", "--as", "user1@Org2")
	if err != nil || !strings.Contains(r.stdout, "H-1") {
		t.Fatalf("a query through the halted peer's gateway:\n%s", r)
	}

	// Installing version 2 resumes it, without a restart.
	pid := n.peerPID(t, "peer1.org2")
	n.must("contract", "install", pkg, "--peer", "peer1.org2")
	eventually(t, 10*time.Second, "peer1.org2 resumed", func() error {
		n.json(&st, "contract", "status", "--name", "copyright", "--peer", "peer1.org2")
		if len(st.HaltedPeers) != 0 {
			return fmt.Errorf("halted: %v", st.HaltedPeers)
		}
		if v := haltedMetric(t, s, "peer1.org2"); v != "0" {
			return fmt.Errorf("metric %s", v)
		}
		return nil
	})
	var rec map[string]any
	n.json(&rec, "work", "get", "--id", "H-1", "--peer", "peer1.org2", "--as", "user1@Org2")
	if rec["contract_version"] != "2" {
		t.Fatalf("get at the resumed peer: %v", rec)
	}
	if p := n.peerPID(t, "peer1.org2"); p != pid {
		t.Fatalf("peer1.org2 restarted (pid %d, was %d)", p, pid)
	}
}

func packageHash(t *testing.T, path string) []byte {
	t.Helper()
	var spkg foliov1.SignedContractPackage
	if err := proto.Unmarshal(readFile(t, path), &spkg); err != nil {
		t.Fatal(err)
	}
	pkg, err := client.OpenPackage(&spkg)
	if err != nil {
		t.Fatal(err)
	}
	return pkg.WasmSha256
}

// haltedMetric reads folio_contract_halted{contract="copyright"} from a
// peer's /metrics, on its operations listener.
func haltedMetric(t *testing.T, s *sdk, peer string) string {
	t.Helper()
	resp, err := localnet.OperationsClient.Get("http://" + s.node(peer).Operations + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, `folio_contract_halted{contract="copyright"}`) {
			return strings.TrimSpace(strings.TrimPrefix(line, `folio_contract_halted{contract="copyright"}`))
		}
	}
	return ""
}

func readLog(t *testing.T, n *network, node string) string {
	t.Helper()
	return string(readFile(t, filepath.Join(n.dir, "logs", node+".log")))
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sdkIdentity converts a server-side identity to the SDK's type.
func sdkIdentity(t testing.TB, si *identity.SigningIdentity) *client.Identity {
	t.Helper()
	id, err := client.NewIdentity(si.MSPID, si.Cert, si.Key())
	if err != nil {
		t.Fatal(err)
	}
	return id
}
