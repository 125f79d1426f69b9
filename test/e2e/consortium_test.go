package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/chaos/check"
	"github.com/folio-ledger/folio/internal/chaos/history"
	"github.com/folio-ledger/folio/internal/chaos/lab"
	"github.com/folio-ledger/folio/internal/chaos/workload"
	"github.com/folio-ledger/folio/internal/consortium"
	"github.com/folio-ledger/folio/internal/consortium/consortiumtest"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/localnet"
)

// consortiumLabPrefix names the test's namespaces (fcons-ord, ...): a
// fixed prefix, so that a run removes what a crashed earlier run left.
const consortiumLabPrefix = "fcons"

// TestConsortiumMultiHost is issue 21's acceptance test: a consortium
// whose organisations live on their own hosts (each host a network
// namespace with its own address), formed from exported definitions only,
// changing its membership while clients write:
//
//  1. OrdererOrg (3 orderers), Org1 and Org2 (2 peers each) are each
//     `org init`-ed into their own directory, on their own address,
//     running in their own namespace (--netns); they exchange only `org
//     export` definitions and the genesis block.
//  2. The load (user1@Org1 and user1@Org2, over each organisation's
//     gateways: register, transfer, get) runs from the root namespace.
//  3. Under load, in order: Org3 is added (add-org by Org1's admin, signed
//     by Org2's on its host, submitted) and joins; Ord2 is added and its
//     orderer becomes a Raft voter; the Raft leader (if OrdererOrg's) is
//     removed and stopped; peer0.org1's certificates are renewed and it
//     presents the new TLS certificate without a restart; user1@Org3
//     registers a work and transfers it to user1@Org1.
//  4. Then every acknowledged write is VALID on every peer (Org3's too),
//     the peers agree on every block hash, validation code and attested
//     state root, and no transaction committed twice (internal/chaos/
//     check), and no directory holds another organisation's private key.
//
// The timeline of the changes (proposed, committed in block N, in force,
// what the clients saw) is logged and written to timeline.json in the
// test's directory, and to $FOLIO_TIMELINE_OUT when set. When the test
// fails, the end of every node's log is logged; $FOLIO_E2E_KEEP_LOGS=DIR
// keeps every organisation's logs/ under DIR (on success too).
//
// It needs root and iproute2 (network namespaces) and skips otherwise.
func TestConsortiumMultiHost(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five hosts' worth of nodes: not in -short mode")
	}
	if err := lab.Available(); err != nil {
		t.Skipf("the multi-host consortium test runs every host in its own network namespace, which this environment cannot give: %v (run it as root on Linux with iproute2)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	l, err := lab.New(ctx, consortiumLabPrefix, []string{"ord", "org1", "org2", "org3", "ord2"})
	if err != nil {
		t.Fatalf("build the hosts: %v", err)
	}
	// Cleanups run last-in first-out: the nodes stop before their
	// namespaces go.
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("remove the namespaces: %v", err)
		}
	})
	c := &consortiumRun{t: t, ctx: ctx, base: t.TempDir(), lab: l, dirs: map[string]string{}, defs: map[string]string{}}
	t.Cleanup(c.down)

	// 1. Three organisations, each on its host.
	c.initOrg("OrdererOrg", "ord", "--orderers", "3", "--msp-id", "OrdererMSP")
	c.initOrg("Org1", "org1", "--peers", "2")
	c.initOrg("Org2", "org2", "--peers", "2")
	gen := filepath.Join(c.base, "genesis.block")
	var g struct {
		Hash string `json:"genesis_hash"`
	}
	c.folioJSON(&g, "channel", "genesis", "--dir", c.dirs["OrdererOrg"], "--definition", c.defs["Org1"], "--definition", c.defs["Org2"], "--out", gen)
	c.genesisHash = g.Hash
	for _, org := range []string{"OrdererOrg", "Org1", "Org2"} {
		c.must("org", "join", "--dir", c.dirs[org], "--genesis", gen, "--genesis-hash", g.Hash, "--timeout", "90s")
	}
	c.seedPeer = net.JoinHostPort(l.Hosts()["org1"], strconv.Itoa(localnet.HostAPIPort))
	c.checkNamespaces("OrdererOrg", "Org1", "Org2")

	// 2. The load, writing before the first change.
	ld := c.startLoad()
	c.waitAcks(ld, c.loadStart, 10)

	// 3a. Org3 joins.
	{
		c.initOrg("Org3", "org3")
		e := c.begin("add organisation Org3", "channel add-org (admin@Org1) + channel sign (admin@Org2) + channel submit (admin@Org1); org join Org3")
		c.submit(e, c.approve("add-org-org3", "channel", "add-org", "--definition", c.defs["Org3"]))
		joinAt := time.Now()
		c.joinLogged("org", "join", "--dir", c.dirs["Org3"], "--channel-from", c.seedPeer, "--genesis-hash", c.genesisHash, "--timeout", "90s")
		e.note("org join Org3 from %.1fs: peer0.org3 started in its namespace and ready (caught up) at %.1fs", c.since(joinAt), c.since(time.Now()))
		c.checkNamespaces("Org3")
	}

	// 3b. Ord2 joins as an organisation, then its orderer joins Raft.
	{
		c.initOrg("Ord2", "ord2", "--orderers", "1")
		e := c.begin("add organisation Ord2", "channel add-org (admin@Org1) + sign (admin@Org2) + submit")
		c.submit(e, c.approve("add-org-ord2", "channel", "add-org", "--definition", c.defs["Ord2"]))
	}
	{
		e := c.begin("add orderer orderer0.ord2", "orderer add (admin@Org1) + sign (admin@Org2) + submit, which waits until it votes; org join Ord2 once it is in the channel")
		prop := c.approve("orderer-add-ord2", "orderer", "add", "--definition", c.defs["Ord2"])
		// Submit waits until the new orderer votes, which needs it
		// running; it can start only once the update is in force.
		done := c.submitAsync(e, prop)
		c.pollJoin("Ord2")
		e.note("orderer0.ord2 started (org join) at %.1fs", c.since(time.Now()))
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		c.checkNamespaces("Ord2")
	}

	// 3c. Remove the Raft leader (when it is one of OrdererOrg's: the hard
	// case), then stop it.
	{
		victim, why := c.leaderToRemove()
		e := c.begin("remove orderer "+victim, "orderer remove (admin@Org1) + sign (admin@Org2) + submit, which waits until a new leader orders; then network stop")
		e.note("%s", why)
		c.submit(e, c.approve("orderer-remove", "orderer", "remove", "--name", victim))
		c.must("--network", c.dirs["OrdererOrg"], "network", "stop", victim)
		e.note("%s stopped at %.1fs", victim, c.since(time.Now()))
	}

	// 3d. Renew peer0.org1's certificates; it presents them without a
	// restart.
	c.renewPeer(c.begin("renew peer0.org1's certificates", "ca renew --org Org1 --name peer0.org1 --node-dir ... --tls"))

	// 3e. The new organisation's client registers a work and transfers it.
	org3Txs := c.org3Transacts(c.begin("user1@Org3 registers a work and transfers it to user1@Org1", "work register / work transfer as user1@Org3 through peer0.org3's gateway"))

	// 4. The clients go on writing after the last change; then stop the
	// load and check.
	c.waitAcks(ld, c.timeline[len(c.timeline)-1].inForce, 10)
	ops := ld.stop()
	c.afterLast(ops, ld.rec)
	c.verify(ops, org3Txs)
	c.checkKeys()
	c.writeTimeline(ops, ld)
}

// consortiumRun is one run of TestConsortiumMultiHost: the hosts, each
// organisation's directory and definition, and the timeline.
type consortiumRun struct {
	t           *testing.T
	ctx         context.Context
	base        string
	lab         *lab.Lab
	dirs, defs  map[string]string // organisation -> its directory, its exported definition
	hostOf      []string          // organisations in init order
	genesisHash string
	seedPeer    string // a member's peer API address, for org join --channel-from

	loadStart time.Time
	timeline  []*timelineEntry
	// otherTxs are the chain's transactions that are not the copyright
	// contract's (config updates, lifecycle records), for the timeline.
	otherTxs []string
}

// timelineEntry is one membership change as clients lived it. Times are
// seconds since the load started.
type timelineEntry struct {
	Change       string   `json:"change"`
	How          string   `json:"how"`
	ProposedAt   string   `json:"proposed_at"`
	ProposedS    float64  `json:"proposed_s"`
	CommittedS   float64  `json:"committed_s,omitempty"`
	Block        uint64   `json:"committed_in_block,omitempty"`
	InForceFrom  uint64   `json:"in_force_from_block,omitempty"`
	ConfigSeq    uint64   `json:"config_sequence,omitempty"`
	InForceS     float64  `json:"in_force_s"`
	Notes        []string `json:"notes,omitempty"`
	ErrorsDuring int      `json:"client_errors_during"`
	ErrorsAfter  int      `json:"client_errors_10s_after"`
	AcksDuring   int      `json:"acknowledged_writes_during"`
	// ConflictsDuring are writes that lost a race with another client's
	// write of the same work (MVCC_READ_CONFLICT): the workload's
	// contention, counted apart from errors.
	ConflictsDuring int      `json:"write_conflicts_during"`
	ErrorSamples    []string `json:"client_error_samples,omitempty"`

	proposed, inForce time.Time
}

func (e *timelineEntry) note(format string, args ...any) {
	e.Notes = append(e.Notes, fmt.Sprintf(format, args...))
}

func (c *consortiumRun) since(at time.Time) float64 {
	return float64(at.Sub(c.loadStart).Milliseconds()) / 1000
}

func (c *consortiumRun) begin(change, how string) *timelineEntry {
	now := time.Now()
	e := &timelineEntry{Change: change, How: how, ProposedAt: now.UTC().Format(time.RFC3339Nano), ProposedS: c.since(now), proposed: now}
	c.timeline = append(c.timeline, e)
	c.t.Logf("%.1fs: %s", e.ProposedS, change)
	return e
}

func (c *consortiumRun) inForce(e *timelineEntry) {
	e.inForce = time.Now()
	e.InForceS = c.since(e.inForce)
}

// folio runs the binary under test in the root namespace (as an operator
// would, from a machine that reaches every host) with its output apart.
func (c *consortiumRun) folio(args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(c.ctx, folioBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func (c *consortiumRun) must(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.folio(args...)
	if err != nil {
		c.t.Fatalf("folio %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// joinLogged runs a command that starts nodes and logs its progress
// lines with the time each was written.
func (c *consortiumRun) joinLogged(args ...string) {
	c.t.Helper()
	cmd := exec.CommandContext(c.ctx, folioBin, args...)
	var out bytes.Buffer
	lines := &stampedLines{}
	cmd.Stdout, cmd.Stderr = &out, lines
	err := cmd.Run()
	var b strings.Builder
	lines.mu.Lock()
	for _, l := range lines.lines {
		fmt.Fprintf(&b, "%7.1fs %s\n", c.since(l.at), l.text)
	}
	lines.mu.Unlock()
	c.t.Logf("folio %s:\n%s%s", strings.Join(args[:2], " "), b.String(), out.String())
	if err != nil {
		c.t.Fatalf("folio %s: %v", strings.Join(args, " "), err)
	}
}

func (c *consortiumRun) folioJSON(v any, args ...string) {
	c.t.Helper()
	out := c.must(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("folio %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// initOrg creates an organisation in its own directory on its host's
// address and namespace, and exports its definition: the only file of it
// the others see.
func (c *consortiumRun) initOrg(org, host string, extra ...string) {
	c.t.Helper()
	dir := filepath.Join(c.base, strings.ToLower(org))
	def := filepath.Join(c.base, strings.ToLower(org)+".json")
	args := append([]string{"org", "init", "--name", org, "--dir", dir, "--host", c.lab.Hosts()[host], "--netns", c.lab.Netns()[host]}, extra...)
	c.must(args...)
	c.must("org", "export", "--dir", dir, "--out", def)
	c.dirs[org], c.defs[org] = dir, def
	c.hostOf = append(c.hostOf, org)
}

// checkNamespaces asserts that every node of the organisations runs in
// its host's namespace: the process's network namespace is the one `ip
// netns` named, not the root namespace's.
func (c *consortiumRun) checkNamespaces(orgs ...string) {
	c.t.Helper()
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		c.t.Fatalf("own network namespace: %v", err)
	}
	for _, org := range orgs {
		st, err := localnet.Status(c.ctx, c.dirs[org])
		if err != nil {
			c.t.Fatal(err)
		}
		for _, s := range st {
			if s.State != localnet.StateUp || s.PID == 0 {
				c.t.Fatalf("%s of %s is %s (%s)", s.Name, org, s.State, s.Reason)
			}
			ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", s.PID))
			if err != nil {
				c.t.Fatalf("namespace of %s (pid %d): %v", s.Name, s.PID, err)
			}
			if ns == self {
				c.t.Fatalf("%s of %s runs in the root network namespace, not on its host", s.Name, org)
			}
		}
	}
}

// approve has Org1's admin propose a change (written to a proposal file,
// since one admin does not satisfy the channel's admin policy) and Org2's
// admin sign it on its own host; it returns the file.
func (c *consortiumRun) approve(step string, args ...string) string {
	c.t.Helper()
	prop := filepath.Join(c.base, step+".json")
	out := c.must(append([]string{"--network", c.dirs["Org1"], "--as", "admin@Org1"}, append(args, "--out", prop)...)...)
	if !strings.Contains(out, "Org2MSP.admin") {
		c.t.Fatalf("%s by Org1's admin alone should name Org2's admin as missing:\n%s", step, out)
	}
	c.must("--network", c.dirs["Org2"], "--as", "admin@Org2", "channel", "sign", prop)
	return prop
}

// submitCmd is `channel submit` by Org1's admin, its stderr lines stamped
// with the time they were written (to learn when the update committed).
func (c *consortiumRun) submitCmd(prop string) (*exec.Cmd, *bytes.Buffer, *stampedLines) {
	cmd := exec.CommandContext(c.ctx, folioBin, "--network", c.dirs["Org1"], "--as", "admin@Org1", "--json", "channel", "submit", prop, "--timeout", "120s")
	var out bytes.Buffer
	lines := &stampedLines{}
	cmd.Stdout, cmd.Stderr = &out, lines
	return cmd, &out, lines
}

// finishSubmit reads a finished submit's outcome into e.
func (c *consortiumRun) finishSubmit(e *timelineEntry, err error, out *bytes.Buffer, lines *stampedLines) error {
	c.inForce(e)
	if err != nil {
		return fmt.Errorf("%s: channel submit: %v\nstdout:\n%s\nstderr:\n%s", e.Change, err, out, lines.text())
	}
	var res struct {
		Block       uint64 `json:"block"`
		InForceFrom uint64 `json:"in_force_from"`
		Seq         uint64 `json:"config_sequence"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return fmt.Errorf("%s: channel submit --json: %v\n%s", e.Change, err, out)
	}
	e.Block, e.InForceFrom, e.ConfigSeq = res.Block, res.InForceFrom, res.Seq
	if at, ok := lines.first("committed in block"); ok {
		e.CommittedS = c.since(at)
	}
	return nil
}

func (c *consortiumRun) submit(e *timelineEntry, prop string) {
	c.t.Helper()
	cmd, out, lines := c.submitCmd(prop)
	if err := c.finishSubmit(e, cmd.Run(), out, lines); err != nil {
		c.t.Fatal(err)
	}
}

// submitAsync starts a submit; the channel yields its outcome once it
// finished.
func (c *consortiumRun) submitAsync(e *timelineEntry, prop string) <-chan error {
	cmd, out, lines := c.submitCmd(prop)
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		done <- err
		return done
	}
	go func() { done <- c.finishSubmit(e, cmd.Wait(), out, lines) }()
	return done
}

// pollJoin runs `org join` for org until the channel lists its nodes
// (join refuses with "not in channel" before the update commits).
func (c *consortiumRun) pollJoin(org string) {
	c.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		args := []string{"org", "join", "--dir", c.dirs[org], "--channel-from", c.seedPeer, "--genesis-hash", c.genesisHash, "--timeout", "90s"}
		out, errOut, err := c.folio(args...)
		if err == nil {
			return
		}
		if !strings.Contains(errOut, "not in channel") || time.Now().After(deadline) {
			c.t.Fatalf("folio %s: %v\n%s\n%s", strings.Join(args, " "), err, out, errOut)
		}
		// Polling another process's commit, not synchronising goroutines.
		select {
		case <-c.ctx.Done():
			c.t.Fatal(c.ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// leaderToRemove picks the orderer step c removes: the Raft leader when
// it is one of OrdererOrg's (the genesis organisation keeps a majority of
// the voters then), else OrdererOrg's first orderer.
func (c *consortiumRun) leaderToRemove() (string, string) {
	c.t.Helper()
	st, err := localnet.Status(c.ctx, c.dirs["OrdererOrg"])
	if err != nil {
		c.t.Fatal(err)
	}
	leader := ""
	var names []string
	for _, s := range st {
		if s.Role == "orderer" {
			names = append(names, s.Name)
			if s.RaftLeader != "" {
				leader = s.RaftLeader
			}
		}
	}
	if slices.Contains(names, leader) {
		return leader, "removed the current Raft leader " + leader
	}
	return "orderer0.ordererorg", fmt.Sprintf("the Raft leader was %q, not an OrdererOrg orderer: removed orderer0.ordererorg (a follower)", leader)
}

// renewPeer renews peer0.org1's signing and TLS certificates for the same
// keys and waits until a new TLS connection to it sees the new
// certificate, from the same process (no restart).
func (c *consortiumRun) renewPeer(e *timelineEntry) {
	c.t.Helper()
	const peer = "peer0.org1"
	before := c.nodeStatus(c.dirs["Org1"], peer)
	var res struct {
		Renewed []struct {
			Cert      string `json:"cert"`
			OldSerial string `json:"old_serial"`
			Serial    string `json:"serial"`
		} `json:"renewed"`
	}
	c.folioJSON(&res, "--network", c.dirs["Org1"], "ca", "renew", "--org", "Org1", "--name", peer, "--node-dir", filepath.Join(c.dirs["Org1"], "nodes", peer), "--tls")
	e.note("the CA issued them at %.1fs", c.since(time.Now()))
	want, old := "", ""
	for _, r := range res.Renewed {
		if r.Cert == "tls" {
			want, old = r.Serial, r.OldSerial
		}
	}
	if want == "" || want == old {
		c.t.Fatalf("ca renew --tls did not renew the TLS certificate: %+v", res.Renewed)
	}
	id, err := wallet.Open(filepath.Join(c.dirs["Org1"], "wallet")).Load("user1@Org1")
	if err != nil {
		c.t.Fatal(err)
	}
	roots, err := localnet.RootPool(c.dirs["Org1"], c.loadNet("Org1"))
	if err != nil {
		c.t.Fatal(err)
	}
	conf := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{id.Certificate().Raw}, PrivateKey: id.Key(), Leaf: id.Certificate()}}}
	seen := ""
	deadline := time.Now().Add(time.Minute)
	for seen != want {
		if seen, err = presentedSerial(c.ctx, before.API, conf); err != nil {
			c.t.Fatalf("TLS dial to %s after the renewal: %v", peer, err)
		}
		if seen == want {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s still presents TLS certificate %s a minute after the renewal to %s", peer, seen, want)
		}
		// The node checks its certificate files every few seconds: poll
		// it from outside.
		select {
		case <-c.ctx.Done():
			c.t.Fatal(c.ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	c.inForce(e)
	after := c.nodeStatus(c.dirs["Org1"], peer)
	if after.PID != before.PID || after.State != localnet.StateUp {
		c.t.Fatalf("%s was pid %d, is pid %d (%s): the renewal restarted it", peer, before.PID, after.PID, after.State)
	}
	e.note("TLS serial %s -> %s presented to new connections; same process (pid %d), still serving (height %d)", old, want, after.PID, after.Height)
}

// presentedSerial dials addr and returns the serial of the leaf
// certificate the server presents, verified against conf's roots.
func presentedSerial(ctx context.Context, addr string, conf *tls.Config) (string, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: conf}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", errors.New("no certificate presented")
	}
	return identity.SerialHex(certs[0].SerialNumber), nil
}

func (c *consortiumRun) loadNet(org string) *localnet.Network {
	c.t.Helper()
	n, err := localnet.Load(c.dirs[org])
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

func (c *consortiumRun) nodeStatus(dir, name string) localnet.NodeStatus {
	c.t.Helper()
	st, err := localnet.Status(c.ctx, dir)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, s := range st {
		if s.Name == name {
			return s
		}
	}
	c.t.Fatalf("no node %s in %s", name, dir)
	return localnet.NodeStatus{}
}

// org3Tx is a transaction of user1@Org3, checked on every peer at the end.
type org3Tx struct {
	what  string
	txID  string
	block uint64
}

// org3Transacts has user1@Org3 register a work through its own peer's
// gateway and transfer it to user1@Org1, then reads the new owner through
// Org1's gateway.
func (c *consortiumRun) org3Transacts(e *timelineEntry) []org3Tx {
	c.t.Helper()
	work := "W-ORG3-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	as := []string{"--network", c.dirs["Org3"], "--as", "user1@Org3", "--json"}
	// The first write of a new member may meet endorsers that do not
	// know it yet: retried.
	reg, tries := c.submitUntil(e, append(as, "work", "register", "--id", work, "--title", "joined online", "--author", "Org3 author", "--hash", "sha256:"+strings.Repeat("ab", 32)),
		func(string) bool { return true })
	e.Block = reg.block
	e.CommittedS = c.since(time.Now())
	e.note("register committed in block %d (try %d)", reg.block, tries)
	// Org3 is not in the copyright policy: the transfer's endorsers are
	// Org1's and Org2's peers, which may not have committed the register
	// yet. The gateway sees its own peer accept what they refuse and asks
	// them again (gateway.acceptedHere), so the first try must commit.
	tr, tries := c.submitUntil(e, append(as, "work", "transfer", "--id", work, "--to", "user1@Org1"),
		func(string) bool { return false })
	e.note("transfer committed in block %d (try %d)", tr.block, tries)
	c.inForce(e)
	var got struct {
		Owner string `json:"owner"`
	}
	c.folioJSON(&got, "--network", c.dirs["Org1"], "--as", "user1@Org1", "work", "get", "--id", work, "--min-height", strconv.FormatUint(tr.block+1, 10))
	if got.Owner != "user1@Org1" {
		c.t.Fatalf("after the transfer Org1's peers say %s is owned by %q, want user1@Org1", work, got.Owner)
	}
	e.note("Org1's gateway reads the new owner user1@Org1")
	reg.what, tr.what = "register "+work, "transfer "+work+" to user1@Org1"
	return []org3Tx{reg, tr}
}

// submitUntil runs a submitting folio command until it commits VALID,
// retrying (within 90 s) the failures retry accepts and noting each in e.
func (c *consortiumRun) submitUntil(e *timelineEntry, args []string, retry func(stderr string) bool) (org3Tx, int) {
	c.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for tries := 1; ; tries++ {
		out, errOut, err := c.folio(args...)
		if err == nil {
			var res struct {
				TxID   string `json:"tx_id"`
				Block  uint64 `json:"block"`
				Status string `json:"status"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil || res.Status != "VALID" || res.TxID == "" {
				c.t.Fatalf("folio %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return org3Tx{txID: res.TxID, block: res.Block}, tries
		}
		if !retry(errOut) || time.Now().After(deadline) {
			c.t.Fatalf("folio %s (try %d): %v\n%s\n%s", strings.Join(args, " "), tries, err, out, errOut)
		}
		e.note("try %d at %.1fs failed: %s", tries, c.since(time.Now()), firstLine(errOut))
		select { // polling the network, another process
		case <-c.ctx.Done():
			c.t.Fatal(c.ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// load is the running client workload: one workload per member
// organisation's gateway peers, each with user1@Org1 and user1@Org2 (so
// transfers cross organisations), recorded in one history.
type load struct {
	rec     *history.Recorder
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	stats   []workload.Stats
	errs    []error
	clients int // clients per workload
	runIDs  []string
}

func (c *consortiumRun) startLoad() *load {
	c.t.Helper()
	ids := map[string]*client.Identity{}
	for _, org := range []string{"Org1", "Org2"} {
		id, err := wallet.Open(filepath.Join(c.dirs[org], "wallet")).Load("user1@" + org)
		if err != nil {
			c.t.Fatal(err)
		}
		ids[org] = id
	}
	c.loadStart = time.Now()
	ld := &load{rec: history.NewRecorder(c.loadStart), clients: 2}
	ctx, cancel := context.WithCancel(c.ctx)
	ld.cancel = cancel
	// A test that fails half-way stops its clients before the nodes go.
	c.t.Cleanup(func() { ld.stop() })
	for i, org := range []string{"Org1", "Org2"} {
		other := map[string]string{"Org1": "Org2", "Org2": "Org1"}[org]
		cfg := workload.Config{NetDir: c.dirs[org], Clients: ld.clients, Seed: uint64(i + 1), Think: 50 * time.Millisecond,
			RunID: fmt.Sprintf("cons%d%x", i, c.loadStart.UnixNano()&0xffffff), Identities: []*client.Identity{ids[org], ids[other]}}
		ld.runIDs = append(ld.runIDs, cfg.RunID)
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			st, err := workload.Run(ctx, cfg, ld.rec)
			ld.mu.Lock()
			defer ld.mu.Unlock()
			ld.stats = append(ld.stats, st)
			if err != nil {
				ld.errs = append(ld.errs, err)
			}
		}()
	}
	return ld
}

// stop ends the load and returns its history, each workload's clients
// numbered apart (the checks follow each client's session by number).
func (ld *load) stop() []history.Op {
	ld.cancel()
	ld.wg.Wait()
	ops := ld.rec.Ops()
	for i := range ops {
		for k, id := range ld.runIDs {
			if strings.HasPrefix(ops[i].Work, "chaos-"+id+"-") {
				ops[i].Client += k * ld.clients
			}
		}
	}
	return ops
}

// clientError says whether an operation is an error a client saw: a
// failure the contract did not decide (a refusal such as "not the owner"
// is the workload's normal business, and so is losing a race for a work
// to another client's write), or an unknown outcome.
func clientError(op history.Op) bool {
	return op.Outcome == history.Unknown || (op.Outcome == history.Fail && !op.Refused && !conflict(op))
}

// conflict says whether a write failed because another client's write of
// the same work committed first.
func conflict(op history.Op) bool {
	return op.Outcome == history.Fail && strings.Contains(op.Error, "MVCC_READ_CONFLICT")
}

// waitAcks waits until the load has n acknowledged writes begun after
// since: it wrote before a change, or goes on writing after the last one.
func (c *consortiumRun) waitAcks(ld *load, since time.Time, n int) {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got, errs := 0, 0
		for _, op := range ld.rec.Ops() {
			if ld.rec.Start().Add(time.Duration(op.Invoke)).After(since) {
				if op.Outcome == history.OK && isWrite(op) {
					got++
				} else if clientError(op) {
					errs++
				}
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			ld.mu.Lock()
			setup := errors.Join(ld.errs...)
			ld.mu.Unlock()
			c.t.Fatalf("the load got %d writes acknowledged (and %d errors) in the minute after %.1fs, want %d: the clients are not writing (set-up errors: %v)", got, errs, c.since(since), n, setup)
		}
		select { // polling the clients' progress
		case <-c.ctx.Done():
			c.t.Fatal(c.ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func isWrite(op history.Op) bool { return op.Kind == history.Register || op.Kind == history.Transfer }

// afterLast fills each timeline entry's client view: errors and
// acknowledged writes while the change was under way, errors in the ten
// seconds after it was in force.
func (c *consortiumRun) afterLast(ops []history.Op, rec *history.Recorder) {
	at := func(ns int64) time.Time { return rec.Start().Add(time.Duration(ns)) }
	for _, e := range c.timeline {
		samples := map[string]bool{}
		for _, op := range ops {
			t := at(op.Invoke)
			during := !t.Before(e.proposed) && !t.After(e.inForce)
			after := t.After(e.inForce) && t.Before(e.inForce.Add(10*time.Second))
			if during && op.Outcome == history.OK && isWrite(op) {
				e.AcksDuring++
			}
			if during && conflict(op) {
				e.ConflictsDuring++
			}
			if !clientError(op) {
				continue
			}
			if during {
				e.ErrorsDuring++
			}
			if after {
				e.ErrorsAfter++
			}
			if (during || after) && len(samples) < 3 {
				msg := fmt.Sprintf("%s %s: %s", op.Kind, op.Outcome, firstLine(op.Error))
				if len(msg) > 200 {
					msg = msg[:200]
				}
				samples[msg] = true
			}
		}
		for s := range samples {
			e.ErrorSamples = append(e.ErrorSamples, s)
		}
		sort.Strings(e.ErrorSamples)
	}
}

// verify waits until the peers of every organisation agree on a height,
// reads their chains and runs the chaos checks over the load's history:
// every acknowledged write VALID in its block on every peer, the same
// block hashes, validation codes and attested state roots, no duplicate,
// linearizable works, reads consistent. Org3's two transactions are VALID
// on every peer too.
func (c *consortiumRun) verify(ops []history.Op, org3 []org3Tx) {
	c.t.Helper()
	peerOrgs := []string{"Org1", "Org2", "Org3"}
	var last string
	deadline := time.Now().Add(90 * time.Second)
	for {
		heights := map[uint64][]string{}
		last = ""
		for _, org := range peerOrgs {
			st, err := localnet.Status(c.ctx, c.dirs[org])
			if err != nil {
				c.t.Fatal(err)
			}
			for _, s := range st {
				if s.Role == "peer" {
					heights[s.Height] = append(heights[s.Height], fmt.Sprintf("%s %s", s.Name, s.State))
				}
			}
		}
		if len(heights) == 1 {
			break
		}
		last = fmt.Sprint(heights)
		if time.Now().After(deadline) {
			c.t.Fatalf("the peers did not reach one height within 90s of the load's end: %s", last)
		}
		select { // polling the nodes' progress
		case <-c.ctx.Done():
			c.t.Fatal(c.ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	var chains []history.PeerChain
	for _, org := range peerOrgs {
		got, err := workload.Collect(c.ctx, c.dirs[org])
		if err != nil {
			c.t.Fatalf("read the chains of %s's peers: %v", org, err)
		}
		chains = append(chains, got...)
	}
	if len(chains) != 5 {
		c.t.Fatalf("read %d chains, want the 5 peers'", len(chains))
	}
	for _, ch := range chains {
		if ch.Error != "" {
			c.t.Errorf("chain of %s: %s", ch.Peer, ch.Error)
		}
		for _, tx := range org3 {
			found := false
			for _, got := range ch.Txs {
				if got.TxID == tx.txID {
					found = true
					if got.Code != "VALID" || got.Block != tx.block {
						c.t.Errorf("%s: user1@Org3's %s (tx %s) is %s in block %d, acknowledged VALID in block %d", ch.Peer, tx.what, tx.txID, got.Code, got.Block, tx.block)
					}
				}
			}
			if !found {
				c.t.Errorf("%s lacks user1@Org3's %s (tx %s)", ch.Peer, tx.what, tx.txID)
			}
		}
	}
	for _, tx := range chains[0].Txs {
		if tx.Contract != workload.Contract {
			what := tx.Contract + "." + tx.Function
			if tx.Contract == "" {
				what = "config or lifecycle"
			}
			c.otherTxs = append(c.otherTxs, fmt.Sprintf("block %d: %s tx %.12s %s", tx.Block, what, tx.TxID, tx.Code))
		}
	}
	rep := check.All(ops, chains, check.Options{LinearizabilityTimeout: 30 * time.Second, VisualizePath: filepath.Join(c.base, "linearizability.html")})
	var sum bytes.Buffer
	_ = rep.Summary(&sum)
	c.t.Logf("checks over %d operations and %d chains (height %d):\n%s", len(ops), len(chains), chains[0].Height, sum.String())
	if !rep.OK() {
		c.t.Errorf("the consortium broke a promise under membership changes:\n%s", sum.String())
	}
}

// checkKeys asserts that no organisation's directory holds a private key
// another directory holds, and that each organisation's root key and
// node keys are in its own directory only.
func (c *consortiumRun) checkKeys() {
	c.t.Helper()
	owner := map[string]string{}
	for _, org := range c.hostOf {
		for id, p := range consortiumtest.PrivateKeyIDs(c.t, c.dirs[org]) {
			if other, dup := owner[id]; dup {
				c.t.Errorf("the same private key is in %s's directory (%s) and %s's", org, p, other)
			}
			owner[id] = org
		}
	}
	for _, org := range c.hostOf {
		raw, err := os.ReadFile(c.defs[org])
		if err != nil {
			c.t.Fatal(err)
		}
		if bytes.Contains(raw, []byte("PRIVATE KEY")) {
			c.t.Errorf("the definition of %s holds a private key", org)
		}
		def, err := consortium.ReadDefinition(c.defs[org])
		if err != nil {
			c.t.Fatal(err)
		}
		root, err := fcrypto.ParseCertificatePEM(def.Org.RootCerts[0])
		if err != nil {
			c.t.Fatal(err)
		}
		rootID, err := fcrypto.KeyID(root.PublicKey)
		if err != nil {
			c.t.Fatal(err)
		}
		if owner[rootID] != org {
			c.t.Errorf("the root key of %s is held by %q", org, owner[rootID])
		}
		for _, n := range slices.Concat(def.Peers, def.Orderers) {
			if owner[n.NodeId] != org {
				c.t.Errorf("the key of node %s of %s is held by %q", n.Name, org, owner[n.NodeId])
			}
		}
	}
}

// writeTimeline logs the timeline and writes it to timeline.json in the
// test's directory and, when FOLIO_TIMELINE_OUT is set, to that path.
func (c *consortiumRun) writeTimeline(ops []history.Op, ld *load) {
	c.t.Helper()
	sum := map[string]int{}
	for _, op := range ops {
		switch {
		case op.Outcome == history.OK && isWrite(op):
			sum["acknowledged_writes"]++
		case op.Outcome == history.OK:
			sum["answered_reads"]++
		case op.Refused:
			sum["refused_by_contract"]++
		case conflict(op):
			sum["write_conflicts"]++
		case op.Outcome == history.Unknown:
			sum["unknown_outcome"]++
		default:
			sum["failed"]++
		}
	}
	dur := 0.0
	if len(ops) > 0 {
		dur = float64(ops[len(ops)-1].Return) / 1e9
	}
	ld.mu.Lock()
	var stats []string
	for _, s := range ld.stats {
		stats = append(stats, s.String())
	}
	errs := errors.Join(ld.errs...)
	ld.mu.Unlock()
	if errs != nil {
		c.t.Errorf("the load could not run: %v", errs)
	}
	doc := map[string]any{
		"load_started_at": c.loadStart.UTC().Format(time.RFC3339Nano),
		"load": map[string]any{"clients": "user1@Org1 and user1@Org2 through Org1's peers, and through Org2's peers (4 clients)",
			"seconds": dur, "operations": len(ops), "outcomes": sum,
			"acknowledged_writes_per_second": float64(sum["acknowledged_writes"]) / max(dur, 1), "workloads": stats},
		"hosts":              c.lab.Hosts(),
		"changes":            c.timeline,
		"other_transactions": c.otherTxs,
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("membership-change timeline under load:\n%s", data)
	var hist bytes.Buffer
	if err := history.Write(&hist, ops); err != nil {
		c.t.Error(err)
	}
	// Every operation with its outcome, tx ID, block and error, for
	// whoever reads a failure.
	if err := os.WriteFile(filepath.Join(c.base, "history.jsonl"), hist.Bytes(), 0o644); err != nil {
		c.t.Error(err)
	}
	if err := os.WriteFile(filepath.Join(c.base, "timeline.json"), data, 0o644); err != nil {
		c.t.Error(err)
	}
	if out := os.Getenv("FOLIO_TIMELINE_OUT"); out != "" {
		if err := os.WriteFile(out, data, 0o644); err != nil {
			c.t.Errorf("FOLIO_TIMELINE_OUT: %v", err)
		}
	}
}

// down stops every organisation's nodes, then ends any process of the
// run still alive (one that a failed step left), by its pid.
func (c *consortiumRun) down() {
	keep := os.Getenv("FOLIO_E2E_KEEP_LOGS")
	for _, org := range c.hostOf {
		logs := filepath.Join(c.dirs[org], "logs")
		if keep != "" {
			if err := os.CopyFS(filepath.Join(keep, strings.ToLower(org)), os.DirFS(logs)); err != nil {
				c.t.Errorf("FOLIO_E2E_KEEP_LOGS: %v", err)
			}
		}
		if c.t.Failed() {
			logTails(c.t, logs)
		}
	}
	for _, org := range c.hostOf {
		if out, errOut, err := c.folioDown(c.dirs[org]); err != nil {
			c.t.Errorf("network down in %s: %v\n%s\n%s", org, err, out, errOut)
		}
	}
	for _, p := range folioProcesses(c.base) {
		c.t.Errorf("still running after network down: %s", p)
		if pid, err := strconv.Atoi(strings.SplitN(p, ":", 2)[0]); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// logTails logs the last lines of every log file in dir.
func logTails(t *testing.T, dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		t.Logf("last lines of %s:\n%s", e.Name(), strings.Join(lines[max(0, len(lines)-12):], "\n"))
	}
}

// folioDown runs network down with its own deadline: the test's context
// may be spent when cleanup runs.
func (c *consortiumRun) folioDown(dir string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, folioBin, "--network", dir, "network", "down")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// stampedLines is an io.Writer that keeps each line with the time it was
// written.
type stampedLines struct {
	mu      sync.Mutex
	partial []byte
	lines   []stampedLine
}

type stampedLine struct {
	at   time.Time
	text string
}

func (s *stampedLines) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.lines = append(s.lines, stampedLine{now, string(s.partial[:i])})
		s.partial = s.partial[i+1:]
	}
	return len(p), nil
}

// first returns when the first line containing sub was written.
func (s *stampedLines) first(sub string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		if strings.Contains(l.text, sub) {
			return l.at, true
		}
	}
	return time.Time{}, false
}

func (s *stampedLines) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, l := range s.lines {
		b.WriteString(l.text + "\n")
	}
	b.Write(s.partial)
	return b.String()
}
