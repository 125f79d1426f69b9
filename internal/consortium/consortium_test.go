package consortium

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/types"
)

// fixture is three organisations created apart (two with peers, one with
// orderers), made once: each Init generates real CA and node keys.
type fixture struct {
	dirs map[string]string
	defs map[string]*foliov1.OrgDefinition
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func orgs(t *testing.T) *fixture {
	t.Helper()
	fixOnce.Do(func() {
		base, err := os.MkdirTemp("", "consortium-test-")
		if err != nil {
			fixErr = err
			return
		}
		fix = &fixture{dirs: map[string]string{}, defs: map[string]*foliov1.OrgDefinition{}}
		for _, o := range []InitOptions{{Name: "Org1", Peers: 1}, {Name: "Org2", Peers: 2, Host: "10.0.0.2"}, {Name: "OrdererOrg", MSPID: "OrdererMSP", Orderers: 3}} {
			dir := filepath.Join(base, o.Name)
			if _, fixErr = Init(dir, o); fixErr != nil {
				return
			}
			fix.dirs[o.Name] = dir
			if fix.defs[o.Name], fixErr = Export(dir); fixErr != nil {
				return
			}
		}
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

// TestMain removes the shared fixture's directory.
func TestMain(m *testing.M) {
	code := m.Run()
	if fix != nil {
		for _, d := range fix.dirs {
			os.RemoveAll(filepath.Dir(d))
			break
		}
	}
	os.Exit(code)
}

func (f *fixture) signer(t *testing.T, org, name string) *identity.SigningIdentity {
	t.Helper()
	id, err := wallet.Open(filepath.Join(f.dirs[org], "wallet")).Load(name + "@" + org)
	if err != nil {
		t.Fatal(err)
	}
	si, err := identity.FromCertificate(id.MSPID(), id.Certificate(), id.Key())
	if err != nil {
		t.Fatal(err)
	}
	return si
}

func (f *fixture) all() []*foliov1.OrgDefinition {
	return []*foliov1.OrgDefinition{f.defs["OrdererOrg"], f.defs["Org1"], f.defs["Org2"]}
}

func TestDefinitionRoundTripHoldsNothingSecret(t *testing.T) {
	f := orgs(t)
	def := f.defs["Org2"]
	data, err := MarshalDefinition(def)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("PRIVATE KEY")) || bytes.Contains(data, []byte("PRIVATE")) {
		t.Fatalf("definition holds a private key:\n%s", data)
	}
	back, err := ParseDefinition(data)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(back, def) {
		t.Fatalf("round trip changed the definition")
	}
	if len(def.Peers) != 2 || def.Peers[1].ApiAddress != "10.0.0.2:7151" || def.Peers[0].P2PAddress != "10.0.0.2:7052" {
		t.Fatalf("peers and advertised addresses: %v", def.Peers)
	}
	for _, o := range f.defs["OrdererOrg"].Orderers {
		if want, _ := channel.RaftIDOf(o.NodeId); o.RaftId != want {
			t.Fatalf("orderer %s Raft ID %d, want %d", o.Name, o.RaftId, want)
		}
	}
}

// TestAlteredDefinitionRefused: a definition whose node IDs, Raft IDs,
// certificates or roles were changed by whoever carried it is refused.
func TestAlteredDefinitionRefused(t *testing.T) {
	f := orgs(t)
	other := f.defs["Org1"]
	for _, c := range []struct {
		name  string
		alter func(d *foliov1.OrgDefinition)
		want  string
	}{
		{"node ID of another key", func(d *foliov1.OrgDefinition) { d.Peers[0].NodeId = other.Peers[0].NodeId }, "its key's node ID"},
		{"certificate of another organisation", func(d *foliov1.OrgDefinition) { d.NodeCerts[0] = other.NodeCerts[0] }, "its key's node ID"},
		{"Raft ID chosen", func(d *foliov1.OrgDefinition) { d.Orderers[0].RaftId = 2 }, "raft_id"},
		{"peer listed as orderer", func(d *foliov1.OrgDefinition) {
			// peer1 moves to the orderers (certificates stay in order).
			d.Orderers = append(d.Orderers, d.Peers[1])
			d.Peers = d.Peers[:1]
		}, "raft_id"},
		{"node of another organisation", func(d *foliov1.OrgDefinition) { d.Peers[0].Org = "Org1" }, "peers[0].org"},
		{"unknown format", func(d *foliov1.OrgDefinition) { d.Format = 2 }, "format: 2"},
		{"revocation list", func(d *foliov1.OrgDefinition) { d.Org.Crl = []byte("x") }, "revocation"},
		{"missing certificate", func(d *foliov1.OrgDefinition) { d.NodeCerts = d.NodeCerts[:1] }, "node_certs"},
	} {
		src := f.defs["Org2"]
		if strings.Contains(c.name, "Raft") || strings.Contains(c.name, "orderer") {
			src = f.defs["OrdererOrg"]
			if c.name == "peer listed as orderer" {
				src = f.defs["Org2"]
			}
		}
		d := proto.Clone(src).(*foliov1.OrgDefinition)
		c.alter(d)
		err := CheckDefinition(d)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// TestInitHoldsOnlyOwnKeysAndRefusesNonEmptyDir: an organisation's
// directory holds keys of its own CA only; init never overwrites.
func TestInitHoldsOnlyOwnKeysAndRefusesNonEmptyDir(t *testing.T) {
	f := orgs(t)
	if _, err := Init(f.dirs["Org1"], InitOptions{Name: "Org9", Peers: 1}); err == nil || !errors.Is(err, ErrDirNotEmpty) {
		t.Fatalf("init into a non-empty dir: %v", err)
	}
	for _, bad := range []InitOptions{{Name: "Org 1", Peers: 1}, {Name: "Org1", Peers: 1, Orderers: 1}, {Name: "Org1"}, {Name: "Org1", Peers: 1, Host: "0.0.0.0"}, {Name: "Org1", MSPID: "Org1_MSP", Peers: 1}} {
		if _, err := Init(filepath.Join(t.TempDir(), "x"), bad); err == nil {
			t.Errorf("Init(%+v) accepted", bad)
		}
	}
	// Every certificate under Org1's directory chains to Org1's root.
	root, err := os.ReadFile(filepath.Join(f.dirs["Org1"], "orgs", "Org1", "ca-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if !sameRoot(root, f.defs["Org1"].Org.RootCerts[0]) {
		t.Fatal("exported root differs from the directory's")
	}
	if _, err := os.Stat(filepath.Join(f.dirs["Org1"], "orgs", "Org2")); err == nil {
		t.Fatal("Org1's directory holds Org2")
	}
}

func genesisConfig(t *testing.T, f *fixture) *channel.Config {
	t.Helper()
	b, err := Genesis(f.all(), f.signer(t, "OrdererOrg", "admin"), GenesisOptions{CopyrightWasm: []byte("\x00asm1"), ReleaseWasm: []byte("\x00asm2")})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := channel.FromGenesis(b)
	if err != nil {
		t.Fatal(err)
	}
	c, err := channel.NewConfig(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGenesisFromDefinitions(t *testing.T) {
	f := orgs(t)
	c := genesisConfig(t, f).Proto()
	if len(c.Orgs) != 3 || len(c.Peers) != 3 || len(c.Orderers) != 3 {
		t.Fatalf("genesis config: %d orgs, %d peers, %d orderers", len(c.Orgs), len(c.Peers), len(c.Orderers))
	}
	if got := c.Policies[channel.AdminsPolicy]; got != "OutOf(2, 'Org1MSP.admin', 'Org2MSP.admin')" {
		t.Fatalf("admin policy %q", got)
	}
	if c.Contracts[0].EndorsementPolicy != "AND('Org1MSP.peer', 'Org2MSP.peer')" {
		t.Fatalf("copyright policy %q", c.Contracts[0].EndorsementPolicy)
	}
	// A signer whose organisation is not in the channel cannot make block 0.
	if _, err := Genesis(f.all()[1:], f.signer(t, "OrdererOrg", "admin"), GenesisOptions{}); err == nil {
		t.Fatal("genesis without orderers accepted")
	}
	if _, err := Genesis(f.all()[:2], f.signer(t, "Org2", "admin"), GenesisOptions{}); err == nil || !strings.Contains(err.Error(), "no definition names") {
		t.Fatalf("genesis signed by an outsider: %v", err)
	}
	if _, err := Genesis(append(f.all(), f.defs["Org1"]), f.signer(t, "OrdererOrg", "admin"), GenesisOptions{}); err == nil {
		t.Fatal("the same organisation twice accepted")
	}
}

// policyChange is an update Apply accepts today (a new named policy), so
// the proposal's envelope can be checked end to end.
func policyChange(t *testing.T, cur *channel.Config, height uint64) *foliov1.ConfigProposal {
	t.Helper()
	next := proto.Clone(cur.Proto()).(*foliov1.ChannelConfig)
	next.Policies["example/readers"] = "OR('Org1MSP.member')"
	p, err := NewProposal(cur.Proto(), height, next, 0, "add policy example/readers")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestProposalApprovals: approvals are counted as the peers count them;
// what is missing is named; a forged approval does not count; the
// envelope built from a satisfied proposal is accepted by Apply.
func TestProposalApprovals(t *testing.T) {
	f := orgs(t)
	cur := genesisConfig(t, f)
	p := policyChange(t, cur, 5)
	st, err := Evaluate(cur, 5, p)
	if err != nil || st.Satisfied || len(st.Missing) == 0 {
		t.Fatalf("no approvals: %+v, %v", st, err)
	}
	if err := Sign(p, f.signer(t, "Org1", "admin")); err != nil {
		t.Fatal(err)
	}
	// A client's approval verifies but is not an admin's.
	if err := Sign(p, f.signer(t, "Org2", "user1")); err != nil {
		t.Fatal(err)
	}
	// Signing twice keeps one approval.
	if err := Sign(p, f.signer(t, "Org1", "admin")); err != nil {
		t.Fatal(err)
	}
	if len(p.Approvals) != 2 {
		t.Fatalf("%d approvals, want 2", len(p.Approvals))
	}
	st, err = Evaluate(cur, 5, p)
	if err != nil || st.Satisfied || len(st.Approved) != 2 || !strings.Contains(strings.Join(st.Missing, " "), "Org2MSP.admin") {
		t.Fatalf("Org1 admin and Org2 client: %+v, %v", st, err)
	}
	// Forged: Org2's admin certificate with a signature by Org1's admin.
	org2 := f.signer(t, "Org2", "admin")
	sig, err := f.signer(t, "Org1", "admin").Sign(types.DomainConfig, p.Update)
	if err != nil {
		t.Fatal(err)
	}
	forged := proto.Clone(p).(*foliov1.ConfigProposal)
	forged.Approvals = append(forged.Approvals, &foliov1.Approval{Signer: org2.Serialized(), Signature: sig})
	st, err = Evaluate(cur, 5, forged)
	if err != nil || st.Satisfied || len(st.Refused) != 1 {
		t.Fatalf("forged approval: %+v, %v", st, err)
	}
	// Approval over other bytes (a different update) does not count either.
	other := policyChange(t, cur, 6)
	if err := Sign(other, org2); err != nil {
		t.Fatal(err)
	}
	replayed := proto.Clone(p).(*foliov1.ConfigProposal)
	replayed.Approvals = append(replayed.Approvals, other.Approvals[0])
	if st, err = Evaluate(cur, 5, replayed); err != nil || st.Satisfied {
		t.Fatalf("approval of another update counted: %+v, %v", st, err)
	}

	if err := Sign(p, org2); err != nil {
		t.Fatal(err)
	}
	st, err = Evaluate(cur, 5, p)
	if err != nil || !st.Satisfied {
		t.Fatalf("two admins: %+v, %v", st, err)
	}
	// The envelope carries exactly what was evaluated: Apply accepts it.
	env, txID, err := Envelope(p, org2)
	if err != nil || txID == "" {
		t.Fatal(err)
	}
	pl, err := types.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	creator, err := cur.MSP().ValidateSerialized(pl.Header.Creator)
	if err != nil {
		t.Fatal(err)
	}
	next, err := cur.Apply(creator, pl.Data, 6)
	if err != nil {
		t.Fatalf("Apply refused a satisfied proposal: %v", err)
	}
	if next.Sequence() != 1 {
		t.Fatalf("sequence %d", next.Sequence())
	}
	// Round trip through the file format keeps the signed bytes.
	data, err := MarshalProposal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseProposal(data)
	if err != nil || !bytes.Equal(back.Update, p.Update) || len(back.Approvals) != 3 {
		t.Fatalf("proposal file round trip: %v", err)
	}

	// Stale: the proposal was for sequence 1, now in force.
	if _, err := Evaluate(next, 7, p); !errors.Is(err, ErrStale) {
		t.Fatalf("proposal for a sequence in force: %v", err)
	}
	// Expired: built at height 5 with expiry 10000.
	if _, err := Evaluate(cur, 5+DefaultExpiry+1, p); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired proposal: %v", err)
	}
}

func TestCheckRemoveOrg(t *testing.T) {
	f := orgs(t)
	cur := genesisConfig(t, f).Proto()
	next := proto.Clone(cur).(*foliov1.ChannelConfig)
	next.Policies = map[string]string{channel.AdminsPolicy: "OR('Org1MSP.admin')", "lifecycle/activation": "OR('Org1MSP.admin')"}
	next.Contracts = nil
	if err := CheckRemoveOrg(cur, next, "Org2", nil, nil); err != nil {
		t.Fatalf("clean removal refused: %v", err)
	}
	for _, c := range []struct {
		name      string
		policies  map[string]string
		contracts map[string]string
		releases  []KeyServerUse
		want      string
	}{
		{"admin policy", map[string]string{channel.AdminsPolicy: "OutOf(2, 'Org1MSP.admin', 'Org2MSP.admin')"}, nil, nil, "channel policy channel/admins"},
		{"endorsement policy", nil, map[string]string{"copyright": "AND('Org1MSP.peer', 'Org2MSP.peer')"}, nil, "contract copyright"},
		{"key servers", nil, nil, []KeyServerUse{{Release: "r1", EndAt: "2030-01-01T00:00:00Z", Orgs: []string{"Org1", "Org2"}}}, "release r1"},
	} {
		n := proto.Clone(next).(*foliov1.ChannelConfig)
		for k, v := range c.policies {
			n.Policies[k] = v
		}
		err := CheckRemoveOrg(cur, n, "Org2", c.contracts, c.releases)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if err := CheckRemoveOrg(cur, next, "Org7", nil, nil); err == nil {
		t.Error("removing an unknown organisation accepted")
	}
}

func TestCheckOrdererChanges(t *testing.T) {
	f := orgs(t)
	cur := genesisConfig(t, f).Proto()
	names := []string{cur.Orderers[0].Name, cur.Orderers[1].Name, cur.Orderers[2].Name}
	ready := func(leader string) *foliov1.NodeInfo { return &foliov1.NodeInfo{Ready: true, RaftLeader: leader} }
	infos := map[string]*foliov1.NodeInfo{names[0]: ready(names[0]), names[1]: ready(names[0]), names[2]: nil}
	if err := CheckOrdererRemove(cur, names[2], infos); err != nil {
		t.Fatalf("removing the down orderer of three: %v", err)
	}
	if err := CheckOrdererRemove(cur, names[1], infos); err == nil || !strings.Contains(err.Error(), "would lose quorum") {
		t.Fatalf("removing a live orderer while another is down: %v", err)
	}
	// Two answering, but following different leaders: no common leader majority.
	split := map[string]*foliov1.NodeInfo{names[0]: ready(names[0]), names[1]: ready(names[1]), names[2]: ready(names[2])}
	if err := CheckOrdererRemove(cur, names[2], split); err == nil {
		t.Fatal("removal accepted while the orderers disagree on the leader")
	}
	one := proto.Clone(cur).(*foliov1.ChannelConfig)
	one.Orderers = one.Orderers[:1]
	if err := CheckOrdererRemove(one, names[0], infos); err == nil || !strings.Contains(err.Error(), "only orderer") {
		t.Fatalf("removing the only orderer: %v", err)
	}

	newOrd := proto.Clone(cur.Orderers[0]).(*foliov1.NodeEndpoint)
	if err := CheckOrdererAdd(cur, newOrd, infos); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("adding an orderer twice: %v", err)
	}
	fresh := &foliov1.NodeEndpoint{Name: "orderer9.x", NodeId: strings.Repeat("ab", 32)}
	fresh.RaftId, _ = channel.RaftIDOf(fresh.NodeId)
	if err := CheckOrdererAdd(cur, fresh, infos); err != nil {
		t.Fatalf("adding a new orderer: %v", err)
	}
	learning := map[string]*foliov1.NodeInfo{names[0]: {Ready: true, RaftLeader: names[0], RaftLearners: []uint64{7}}}
	if err := CheckOrdererAdd(cur, fresh, learning); err == nil || !strings.Contains(err.Error(), "learner") {
		t.Fatalf("adding while a learner catches up: %v", err)
	}
	retired := proto.Clone(cur).(*foliov1.ChannelConfig)
	retired.RetiredRaftIds = []uint64{fresh.RaftId}
	if err := CheckOrdererAdd(retired, fresh, infos); err == nil || !strings.Contains(err.Error(), "removed orderer") {
		t.Fatalf("adding a retired Raft ID: %v", err)
	}
}

func TestBootstrapAndMembership(t *testing.T) {
	f := orgs(t)
	b, err := Genesis(f.all(), f.signer(t, "OrdererOrg", "admin"), GenesisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := channel.FromGenesis(b)
	// Work on a copy of Org1's directory: Bootstrap writes into it.
	dir := filepath.Join(t.TempDir(), "Org1")
	if err := os.CopyFS(dir, os.DirFS(f.dirs["Org1"])); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckMember(dir, cfg); err != nil {
		t.Fatalf("Org1 is a member: %v", err)
	}
	if err := Bootstrap(dir, b, cfg); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(dir, "nodes", "peer0.org1", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(conf, []byte("orderer0.ordererorg")) || !bytes.Contains(conf, []byte("peer1.org2")) || !bytes.HasPrefix(conf, []byte("# Folio peer")) {
		t.Fatalf("bootstrap endpoints missing:\n%s", conf)
	}
	// Another genesis block is refused.
	b2, err := Genesis(f.all(), f.signer(t, "OrdererOrg", "admin"), GenesisOptions{Channel: "folio"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Bootstrap(dir, b2, cfg); err == nil || !strings.Contains(err.Error(), "another genesis") {
		t.Fatalf("replacing the genesis block: %v", err)
	}
	// Without Org2, Org2 is not a member; with another root it is refused too.
	small, _ := GenesisConfig(f.all()[:2], GenesisOptions{})
	if _, err := CheckMember(f.dirs["Org2"], small); !errors.Is(err, ErrNotMember) || !strings.Contains(err.Error(), "add-org") {
		t.Fatalf("non-member: %v", err)
	}
	impostor := proto.Clone(cfg).(*foliov1.ChannelConfig)
	impostor.Orgs[2].RootCerts = impostor.Orgs[1].RootCerts
	if _, err := CheckMember(f.dirs["Org2"], impostor); !errors.Is(err, ErrNotMember) {
		t.Fatalf("member with another root: %v", err)
	}
}

// TestInitNetns: --netns is recorded for the CA and every node, so that
// join and network start run them inside the namespace; a namespace name
// 'ip netns' would not take and a loopback --host (unreachable from
// outside a namespace) are refused.
func TestInitNetns(t *testing.T) {
	for _, bad := range []InitOptions{
		{Name: "Org5", Peers: 1, Host: "10.0.0.5", Netns: "../x"},
		{Name: "Org5", Peers: 1, Host: "10.0.0.5", Netns: "a b"},
		{Name: "Org5", Peers: 1, Netns: "ns5"},
		{Name: "Org5", Peers: 1, Host: "127.0.0.5", Netns: "ns5"},
	} {
		if err := bad.Check(); err == nil || !strings.Contains(err.Error(), "--netns") {
			t.Errorf("Check(%+v) = %v, want a --netns refusal", bad, err)
		}
	}
	dir := filepath.Join(t.TempDir(), "org5")
	if _, err := Init(dir, InitOptions{Name: "Org5", Peers: 1, Host: "10.0.0.5", Netns: "ns5"}); err != nil {
		t.Fatal(err)
	}
	n, err := localnet.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Nodes) != 2 {
		t.Fatalf("%d nodes, want the CA and one peer", len(n.Nodes))
	}
	for _, nd := range n.Nodes {
		if nd.Netns != "ns5" {
			t.Errorf("%s runs in namespace %q, want ns5", nd.Name, nd.Netns)
		}
	}
}
