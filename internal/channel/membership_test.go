package channel

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/identitytest"
	"github.com/folio-ledger/folio/internal/types"
)

// consortium is a level-4 channel: OrdererOrg runs orderer0..2 (positional
// Raft IDs 1..3, as a genesis block writes them), Org1 and Org2 one peer
// each; no admin policy is set, so updates need both peer organisations'
// admins (a majority of two).
type consortium struct {
	ord, org1, org2 *identitytest.Org
	admin1, admin2  *identity.SigningIdentity
	cfg             *foliov1.ChannelConfig
	c               *Config
	org3            *identitytest.Org
	def3            *foliov1.OrgDefinition
	orderer3        *foliov1.NodeEndpoint // Org3's orderer, not in def3
	orderer3Cert    []byte
}

func orgConfig(o *identitytest.Org, kind foliov1.OrgKind) *foliov1.OrgConfig {
	return &foliov1.OrgConfig{Name: o.Name, MspId: o.MSPID, Kind: kind, RootCerts: [][]byte{fcrypto.EncodeCertificatePEM(o.CA.Cert.Raw)}}
}

// newNode issues a node certificate of role in o and returns the node as
// the channel lists it (orderers with the Raft ID their key derives) and
// the certificate's PEM.
func newNode(t *testing.T, o *identitytest.Org, name, addr string, role identity.Role) (*foliov1.NodeEndpoint, []byte) {
	t.Helper()
	key, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := identity.Issue(o.CA.Cert, o.CA.Key(), identity.LeafRequest{Name: name, Role: role, PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	id, err := fcrypto.KeyID(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	n := &foliov1.NodeEndpoint{Name: name, Org: o.Name, NodeId: id, ApiAddress: addr + ":7051", P2PAddress: addr + ":7052"}
	if role == identity.RoleOrderer {
		n.RaftId, _ = RaftIDOf(id)
	}
	return n, fcrypto.EncodeCertificatePEM(cert.Raw)
}

func newConsortium(t *testing.T) *consortium {
	t.Helper()
	k := &consortium{ord: identitytest.NewOrg(t, "OrdererOrg"), org1: identitytest.NewOrg(t, "Org1"), org2: identitytest.NewOrg(t, "Org2"), org3: identitytest.NewOrg(t, "Org3")}
	k.admin1 = k.org1.Member(t, "admin", identity.RoleAdmin)
	k.admin2 = k.org2.Member(t, "admin", identity.RoleAdmin)
	k.cfg = &foliov1.ChannelConfig{
		Format: Format, ChannelId: "folio", Capability: CapabilityV4,
		Orgs:     []*foliov1.OrgConfig{orgConfig(k.ord, foliov1.OrgKind_ORG_KIND_ORDERER), orgConfig(k.org1, foliov1.OrgKind_ORG_KIND_PEER), orgConfig(k.org2, foliov1.OrgKind_ORG_KIND_PEER)},
		Batch:    &foliov1.BatchConfig{MaxTxCount: 10, MaxBytes: 1 << 20, TimeoutMs: 250},
		Policies: map[string]string{"endorsement/copyright": "AND('Org1MSP.member','Org2MSP.member')"},
	}
	for i := range 3 {
		n, _ := newNode(t, k.ord, fmt.Sprintf("orderer%d", i), fmt.Sprintf("10.0.0.%d", i+1), identity.RoleOrderer)
		n.RaftId = 0 // positional, as in every genesis block so far
		k.cfg.Orderers = append(k.cfg.Orderers, n)
	}
	for _, o := range []*identitytest.Org{k.org1, k.org2} {
		n, _ := newNode(t, o, "peer0."+strings.ToLower(o.Name), "10.0.1."+o.Name[3:], identity.RolePeer)
		k.cfg.Peers = append(k.cfg.Peers, n)
	}
	k.c = mustConfig(t, k.cfg)
	p0, c0 := newNode(t, k.org3, "peer0.org3", "10.0.0.5", identity.RolePeer)
	p1, c1 := newNode(t, k.org3, "peer1.org3", "10.0.0.6", identity.RolePeer)
	k.def3 = &foliov1.OrgDefinition{Format: DefinitionFormat, Org: orgConfig(k.org3, foliov1.OrgKind_ORG_KIND_PEER),
		Peers: []*foliov1.NodeEndpoint{p0, p1}, NodeCerts: [][]byte{c0, c1}}
	k.orderer3, k.orderer3Cert = newNode(t, k.org3, "orderer0.org3", "10.0.0.7", identity.RoleOrderer)
	return k
}

func mustConfig(t *testing.T, cfg *foliov1.ChannelConfig) *Config {
	t.Helper()
	c, err := NewConfig(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// apply submits next as an update to c, created by signers[0] and approved
// by the others, committing in block 10.
func apply(t *testing.T, c *Config, next *foliov1.ChannelConfig, signers ...*identity.SigningIdentity) (*Config, error) {
	t.Helper()
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.ConfigUpdate{ChannelId: next.ChannelId, Sequence: next.Sequence, Config: next})
	if err != nil {
		t.Fatal(err)
	}
	tx := &foliov1.ConfigUpdateTx{Update: raw}
	for _, s := range signers[1:] {
		sig, err := s.Sign(types.DomainConfig, raw)
		if err != nil {
			t.Fatal(err)
		}
		tx.Approvals = append(tx.Approvals, &foliov1.Approval{Signer: s.Serialized(), Signature: sig})
	}
	data, _ := proto.Marshal(tx)
	return c.Apply(&signers[0].Identity, data, 10)
}

func (k *consortium) mustApply(t *testing.T, c *Config, next *foliov1.ChannelConfig, err error) *Config {
	t.Helper()
	if err != nil {
		t.Fatalf("builder: %v", err)
	}
	nc, err := apply(t, c, next, k.admin1, k.admin2)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !proto.Equal(nc.Proto(), next) || nc.FromBlock() != 11 {
		t.Fatalf("the config in force is not the one built (from block %d)", nc.FromBlock())
	}
	return nc
}

// Every builder's output is accepted under the admin policy, and the
// configuration in force is exactly what it built.
func TestMembershipChangesApply(t *testing.T) {
	k := newConsortium(t)

	next, err := AddOrg(k.cfg, k.def3)
	c2 := k.mustApply(t, k.c, next, err)
	if len(c2.Proto().Orgs) != 4 || len(c2.Proto().Peers) != 4 {
		t.Fatalf("after add-org: %d orgs, %d peers", len(c2.Proto().Orgs), len(c2.Proto().Peers))
	}
	peer := k.org3.Member(t, "peer0.org3", identity.RolePeer)
	if id, err := c2.MSP().Validate("Org3MSP", peer.Cert); err != nil || id.MSPID != "Org3MSP" {
		t.Fatalf("Org3's identities after it joined: %v", err)
	}
	// Its orderer, in a second update: the admin policy is now 2 of 3.
	next, err = AddOrderer(c2.Proto(), k.orderer3)
	c3 := k.mustApply(t, c2, next, err)
	want, _ := RaftIDOf(k.orderer3.NodeId)
	if got := RaftIDs(c3.Proto()); got[k.orderer3.NodeId] != want || got[k.cfg.Orderers[2].NodeId] != 3 {
		t.Fatalf("Raft IDs after add-orderer: %v", got)
	}

	// Removing the middle orderer: the others keep 1 and 3, 2 is retired.
	next, err = RemoveOrderer(k.cfg, "orderer1")
	c4 := k.mustApply(t, k.c, next, err)
	if got := Voters(c4.Proto()); len(got) != 2 || got[0] != 1 || got[1] != 3 || len(c4.Proto().RetiredRaftIds) != 1 || c4.Proto().RetiredRaftIds[0] != 2 {
		t.Fatalf("after remove-orderer: voters %v, retired %v", got, c4.Proto().RetiredRaftIds)
	}
	// Down to one orderer is allowed (etcd allows it; quorum of one).
	next, err = RemoveOrderer(c4.Proto(), "orderer2")
	c5 := k.mustApply(t, c4, next, err)
	if got := Voters(c5.Proto()); len(got) != 1 || got[0] != 1 {
		t.Fatalf("after the second removal: voters %v", got)
	}
	if _, err := RemoveOrderer(c5.Proto(), "orderer0"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no orderers") {
		t.Fatalf("removing the last orderer: %v", err)
	}

	next, err = SetAddresses(k.cfg, "peer0.org1", "192.168.9.9:7051", "")
	c6 := k.mustApply(t, k.c, next, err)
	if p := c6.Proto().Peers[0]; p.ApiAddress != "192.168.9.9:7051" || p.P2PAddress != k.cfg.Peers[0].P2PAddress {
		t.Fatalf("after the address change: %v", p)
	}

	next, err = AddPeer(k.cfg, func() *foliov1.NodeEndpoint {
		n, _ := newNode(t, k.org1, "peer1.org1", "10.0.1.9", identity.RolePeer)
		return n
	}())
	c7 := k.mustApply(t, k.c, next, err)
	next, err = RemovePeer(c7.Proto(), "peer1.org1")
	k.mustApply(t, c7, next, err)

	// Org3 leaves with its peers once its orderer is gone.
	if _, err := RemoveOrg(c3.Proto(), "Org3"); err == nil || !strings.Contains(err.Error(), "runs orderers orderer0.org3") {
		t.Fatalf("removing Org3 while it runs an orderer: %v", err)
	}
	next, err = RemoveOrderer(c3.Proto(), "orderer0.org3")
	c8 := k.mustApply(t, c3, next, err)
	next, err = RemoveOrg(c8.Proto(), "Org3")
	c9 := k.mustApply(t, c8, next, err)
	if len(c9.Proto().Orgs) != 3 || len(c9.Proto().Peers) != 2 {
		t.Fatalf("after remove-org: %d orgs, %d peers", len(c9.Proto().Orgs), len(c9.Proto().Peers))
	}
	if _, err := c9.MSP().Validate("Org3MSP", peer.Cert); err == nil {
		t.Fatal("Org3's identities still validate after it left")
	}
}

// Each row is an update a single admin, a hostile admin majority or a
// careless builder could submit; each names the rule that refuses it and
// is accepted without that rule.
func TestMembershipAttacks(t *testing.T) {
	k := newConsortium(t)
	both := []*identity.SigningIdentity{k.admin1, k.admin2}
	// withOrg3 is the consortium after Org3 joined, for rows on orderers.
	withOrg3Cfg, err := AddOrg(k.cfg, k.def3)
	if err != nil {
		t.Fatal(err)
	}
	withOrg3Cfg.Sequence = 0
	withOrg3 := mustConfig(t, withOrg3Cfg)
	addOrderer := func(cur *foliov1.ChannelConfig) *foliov1.ChannelConfig {
		next, err := AddOrderer(cur, k.orderer3)
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	other, _ := newNode(t, k.org3, "orderer1.org3", "10.0.0.8", identity.RoleOrderer)
	// A channel where Org1 also runs an orderer and no policy names Org1.
	org1Orderer := proto.Clone(k.cfg).(*foliov1.ChannelConfig)
	org1Orderer.Policies = nil
	o1, _ := newNode(t, k.org1, "orderer0.org1", "10.0.1.7", identity.RoleOrderer)
	o1.RaftId = 0
	org1Orderer.Orderers = append(org1Orderer.Orderers, o1)
	// A channel that retired the Raft ID Org3's orderer derives, and 7.
	retired := proto.Clone(withOrg3Cfg).(*foliov1.ChannelConfig)
	rid, _ := RaftIDOf(k.orderer3.NodeId)
	retired.RetiredRaftIds = []uint64{7, rid}
	v3 := proto.Clone(k.cfg).(*foliov1.ChannelConfig)
	v3.Capability = CapabilityV3

	for _, row := range []struct {
		name    string
		cur     *Config
		next    func() *foliov1.ChannelConfig
		signers []*identity.SigningIdentity
		says    string
	}{
		{"a single admin adds an organisation", k.c, func() *foliov1.ChannelConfig {
			next, _ := AddOrg(k.cfg, k.def3)
			return next
		}, []*identity.SigningIdentity{k.admin1}, "admin policy"},
		{"membership below capability level 4", mustConfig(t, v3), func() *foliov1.ChannelConfig {
			next := NextConfig(v3)
			next.Peers = next.Peers[:1]
			next.Orderers = v3.Orderers
			return next
		}, both, "raise the capability level to 4"},
		{"two orderers in one update", withOrg3, func() *foliov1.ChannelConfig {
			next := addOrderer(withOrg3Cfg)
			next.Orderers = append(next.Orderers, other)
			return next
		}, both, "adds orderers orderer0.org3 and orderer1.org3"},
		{"two orderers removed in one update", k.c, func() *foliov1.ChannelConfig {
			next := NextConfig(k.cfg)
			next.RetiredRaftIds = []uint64{2, 3}
			next.Orderers = next.Orderers[:1]
			return next
		}, both, "removes orderers orderer1 and orderer2"},
		{"add and remove an orderer together", withOrg3, func() *foliov1.ChannelConfig {
			next := addOrderer(withOrg3Cfg)
			next.RetiredRaftIds = append(next.RetiredRaftIds, 1)
			next.Orderers = next.Orderers[1:]
			return next
		}, both, "replace = remove, then add"},
		{"added orderer with a Raft ID its key does not derive", withOrg3, func() *foliov1.ChannelConfig {
			next := addOrderer(withOrg3Cfg)
			next.Orderers[3].RaftId = 99
			return next
		}, both, "its key derives"},
		{"added orderer with a positional Raft ID", withOrg3, func() *foliov1.ChannelConfig {
			next := addOrderer(withOrg3Cfg)
			next.Orderers[3].RaftId = 0
			return next
		}, both, "raft_id 0"},
		{"reusing a retired Raft ID", mustConfig(t, retired), func() *foliov1.ChannelConfig {
			next := NextConfig(retired)
			next.Orderers = append(next.Orderers, k.orderer3)
			return next
		}, both, "never reused"},
		{"dropping a retired Raft ID", mustConfig(t, retired), func() *foliov1.ChannelConfig {
			next := NextConfig(retired)
			next.RetiredRaftIds = next.RetiredRaftIds[1:]
			return next
		}, both, "drops retired Raft IDs [7]"},
		{"retiring an ID no removed orderer had", k.c, func() *foliov1.ChannelConfig {
			next := NextConfig(k.cfg)
			next.RetiredRaftIds = []uint64{42}
			return next
		}, both, "retires Raft IDs [42]"},
		{"removing an orderer without retiring its ID", k.c, func() *foliov1.ChannelConfig {
			next, _ := RemoveOrderer(k.cfg, "orderer2")
			next.RetiredRaftIds = nil
			return next
		}, both, "without retiring its Raft ID 3"},
		{"removing an orderer and letting places shift", k.c, func() *foliov1.ChannelConfig {
			next, _ := RemoveOrderer(k.cfg, "orderer0")
			for _, o := range next.Orderers {
				o.RaftId = 0
			}
			return next
		}, both, "orderer1 would have Raft ID 1 instead of its 2"},
		{"reordering positional orderers", k.c, func() *foliov1.ChannelConfig {
			next := proto.Clone(k.cfg).(*foliov1.ChannelConfig)
			next.Sequence++
			next.Orderers[0], next.Orderers[1] = next.Orderers[1], next.Orderers[0]
			return next
		}, both, "instead of its"},
		{"an existing organisation's MSP ID changes", k.c, func() *foliov1.ChannelConfig {
			next := NextConfig(k.cfg)
			next.Orgs[1].MspId = "Org9MSP"
			return next
		}, both, "MSP ID and kind never change"},
		{"an existing organisation's kind changes", k.c, func() *foliov1.ChannelConfig {
			next := NextConfig(k.cfg)
			next.Orgs[1].Kind = foliov1.OrgKind_ORG_KIND_ORDERER
			return next
		}, both, "MSP ID and kind never change"},
		{"a new organisation takes a removed one's MSP ID", k.c, func() *foliov1.ChannelConfig {
			next := NextConfig(k.cfg)
			next.Policies = nil
			next.Peers = next.Peers[:1]
			org := orgConfig(k.org3, foliov1.OrgKind_ORG_KIND_PEER)
			org.MspId = "Org2MSP"
			next.Orgs[2] = org
			return next
		}, both, "takes MSP ID Org2MSP from organisation Org2"},
		{"a new organisation with another member's root key", k.c, func() *foliov1.ChannelConfig {
			next := NextConfig(k.cfg)
			org := orgConfig(k.org1, foliov1.OrgKind_ORG_KIND_PEER)
			org.Name, org.MspId = "Org1bis", "Org1bisMSP"
			next.Orgs = append(next.Orgs, org)
			return next
		}, both, "root CA key of organisation Org1"},
		{"a new organisation with a revocation list", k.c, func() *foliov1.ChannelConfig {
			next, _ := AddOrg(k.cfg, k.def3)
			crl, err := identity.NewCRL(k.org3.CA.Cert, k.org3.CA.Key(), 1, nil, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			next.Orgs[3].Crl = crl
			return next
		}, both, "carries a revocation list"},
		{"removing an organisation a policy and a contract name", k.c, func() *foliov1.ChannelConfig {
			next := NextConfig(k.cfg)
			next.Orgs = next.Orgs[:2]
			next.Peers = next.Peers[:1]
			return next
		}, both, "policy endorsement/copyright (AND('Org1MSP.member','Org2MSP.member')) still name Org2MSP"},
		{"removing an organisation that runs an orderer", mustConfig(t, org1Orderer), func() *foliov1.ChannelConfig {
			next := NextConfig(org1Orderer)
			next.Orgs = []*foliov1.OrgConfig{next.Orgs[0], next.Orgs[2]}
			next.Peers = next.Peers[1:]
			next.Orderers = next.Orderers[:3]
			next.RetiredRaftIds = []uint64{4}
			return next
		}, both, "runs orderers orderer0.org1"},
		{"removing an organisation but keeping its peer", withOrg3, func() *foliov1.ChannelConfig {
			next := NextConfig(withOrg3Cfg)
			next.Orgs = next.Orgs[:3]
			return next
		}, both, "its peers peer0.org3, peer1.org3 are still listed"},
		{"moving a peer to another organisation", k.c, func() *foliov1.ChannelConfig {
			next := NextConfig(k.cfg)
			next.Peers[0].Org = "Org2"
			return next
		}, both, "keeps its name and organisation"},
		{"renaming an orderer", k.c, func() *foliov1.ChannelConfig {
			next := NextConfig(k.cfg)
			next.Orderers[0].Name = "orderer9"
			return next
		}, both, "keeps its name and organisation"},
		{"a Raft ID on a peer", k.c, func() *foliov1.ChannelConfig {
			next := NextConfig(k.cfg)
			next.Peers[0].RaftId = 9
			return next
		}, both, "only orderers have one"},
		{"changing block cutting", k.c, func() *foliov1.ChannelConfig {
			next := NextConfig(k.cfg)
			next.Batch.MaxTxCount = 1000
			return next
		}, both, "cannot change block cutting"},
	} {
		next := row.next()
		_, err := apply(t, row.cur, next, row.signers...)
		if !errors.Is(err, ErrUpdateRejected) || !strings.Contains(err.Error(), row.says) {
			t.Errorf("%s: %v\nwant a rejection saying %q", row.name, err, row.says)
		}
	}
}

// The removal of an organisation every policy of the configuration that
// names it is listed; a genesis contract definition naming it is not a
// blocker here (the lifecycle supersedes it; remove-org checks the
// policies in force at admission).
func TestRemoveOrgNamesEveryBlocker(t *testing.T) {
	k := newConsortium(t)
	cfg := proto.Clone(k.cfg).(*foliov1.ChannelConfig)
	cfg.Contracts = []*foliov1.ContractDefinition{{Name: "copyright", Version: "1", EndorsementPolicy: "OR('Org2MSP.peer')", PackageHash: make([]byte, 32)}}
	_, err := RemoveOrg(cfg, "Org2")
	for _, says := range []string{"policy endorsement/copyright", "change them first"} {
		if !errors.Is(err, ErrUpdateRejected) || !strings.Contains(err.Error(), says) {
			t.Errorf("removing Org2: %v\nwant it to say %q", err, says)
		}
	}
	if err != nil && strings.Contains(err.Error(), "contract copyright") {
		t.Errorf("the genesis contract definition blocked the removal: %v", err)
	}
	if _, err := RemoveOrg(k.cfg, "Nope"); err == nil {
		t.Error("removing an organisation that is not a member")
	}
	if _, err := AddOrg(k.cfg, &foliov1.OrgDefinition{Format: 1, Org: orgConfig(k.org1, foliov1.OrgKind_ORG_KIND_PEER)}); err == nil || !strings.Contains(err.Error(), "clashes") {
		t.Errorf("adding a member again: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	k := newConsortium(t)
	p0, p1 := k.def3.Peers[0], k.def3.Peers[1]
	addOrg, err := AddOrg(k.cfg, k.def3)
	if err != nil {
		t.Fatal(err)
	}
	addOrderer, err := AddOrderer(addOrg, k.orderer3)
	if err != nil {
		t.Fatal(err)
	}
	rid, _ := RaftIDOf(k.orderer3.NodeId)
	removeOrderer, _ := RemoveOrderer(k.cfg, "orderer1")
	move, _ := SetAddresses(k.cfg, "peer0.org1", "192.168.9.9:7051", "")
	removeOrg := NextConfig(addOrg)
	removeOrg.Orgs, removeOrg.Peers = removeOrg.Orgs[:3], removeOrg.Peers[:2]
	crl, err := identity.NewCRL(k.org1.CA.Cert, k.org1.CA.Key(), 4, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	policies := proto.Clone(k.cfg).(*foliov1.ChannelConfig)
	policies.Orgs[1].Crl = crl
	policies.Capability = CapabilityV4
	policies.Policies = map[string]string{AdminsPolicy: "OR('Org1MSP.admin')"}
	for _, c := range []struct {
		name       string
		prev, next *foliov1.ChannelConfig
		want       []string
	}{
		{"add-org", k.cfg, addOrg, []string{fmt.Sprintf("adds organisation Org3 (Org3MSP, peer organisation, root CN ca.Org3) with peers peer0.org3 (node %.12s at 10.0.0.5:7051), peer1.org3 (node %.12s at 10.0.0.6:7051)", p0.NodeId, p1.NodeId)}},
		{"add-orderer", addOrg, addOrderer, []string{fmt.Sprintf("adds orderer orderer0.org3 of Org3 (node %.12s, Raft ID %d at 10.0.0.7:7051, p2p 10.0.0.7:7052)", k.orderer3.NodeId, rid)}},
		{"remove-orderer", k.cfg, removeOrderer, []string{"removes orderer orderer1 of OrdererOrg (Raft ID 2)"}},
		{"move", k.cfg, move, []string{"moves peer peer0.org1 to 192.168.9.9:7051, p2p 10.0.1.1:7052 (was 10.0.1.1:7051, p2p 10.0.1.1:7052)"}},
		{"remove-org", addOrg, removeOrg, []string{"removes organisation Org3 (Org3MSP)",
			fmt.Sprintf("removes peer peer0.org3 of Org3 (node %.12s)", p0.NodeId), fmt.Sprintf("removes peer peer1.org3 of Org3 (node %.12s)", p1.NodeId)}},
		{"policies and revocations", k.cfg, policies, []string{"installs revocation list #4 of Org1",
			"sets policy channel/admins to OR('Org1MSP.admin')", "removes policy endorsement/copyright (was AND('Org1MSP.member','Org2MSP.member'))"}},
	} {
		got := Describe(c.prev, c.next)
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestValidateDefinition(t *testing.T) {
	k := newConsortium(t)
	if err := ValidateDefinition(k.def3); err != nil {
		t.Fatalf("a good definition: %v", err)
	}
	withOrderer := func(d *foliov1.OrgDefinition) {
		d.Orderers = []*foliov1.NodeEndpoint{proto.Clone(k.orderer3).(*foliov1.NodeEndpoint)}
		d.NodeCerts = append(d.NodeCerts, k.orderer3Cert)
	}
	d := proto.Clone(k.def3).(*foliov1.OrgDefinition)
	withOrderer(d)
	if err := ValidateDefinition(d); err != nil {
		t.Fatalf("a good definition with an orderer: %v", err)
	}
	_, foreign := newNode(t, k.org1, "peer0.org3", "10.0.0.5", identity.RolePeer)
	for _, row := range []struct {
		name   string
		mutate func(d *foliov1.OrgDefinition)
		field  string
	}{
		{"unknown format", func(d *foliov1.OrgDefinition) { d.Format = 2 }, "format"},
		{"no organisation", func(d *foliov1.OrgDefinition) { d.Org = nil }, "org:"},
		{"bad MSP ID", func(d *foliov1.OrgDefinition) { d.Org.MspId = "Org 3" }, "org.msp_id"},
		{"unspecified kind", func(d *foliov1.OrgDefinition) { d.Org.Kind = foliov1.OrgKind_ORG_KIND_UNSPECIFIED }, "org.kind"},
		{"root that is not a CA", func(d *foliov1.OrgDefinition) { d.Org.RootCerts = [][]byte{d.NodeCerts[0]} }, "org.root_certs[0]"},
		{"a revocation list", func(d *foliov1.OrgDefinition) { d.Org.Crl = []byte{1} }, "org.crl"},
		{"short node ID", func(d *foliov1.OrgDefinition) { d.Peers[1].NodeId = "abcd" }, "peers[1].node_id"},
		{"upper-case node ID", func(d *foliov1.OrgDefinition) { d.Peers[1].NodeId = strings.ToUpper(d.Peers[1].NodeId) }, "peers[1].node_id"},
		{"duplicate node", func(d *foliov1.OrgDefinition) { d.Peers[1].Name = d.Peers[0].Name }, "peers[1].name"},
		{"node of another organisation", func(d *foliov1.OrgDefinition) { d.Peers[0].Org = "Org1" }, "peers[0].org"},
		{"no address", func(d *foliov1.OrgDefinition) { d.Peers[0].P2PAddress = "" }, "p2p_address"},
		{"Raft ID on a peer", func(d *foliov1.OrgDefinition) { d.Peers[0].RaftId = 1 }, "peers[0].raft_id"},
		{"orderer Raft ID not derived", func(d *foliov1.OrgDefinition) { withOrderer(d); d.Orderers[0].RaftId = 1 }, "orderers[0].raft_id"},
		{"missing certificate", func(d *foliov1.OrgDefinition) { d.NodeCerts = d.NodeCerts[:1] }, "node_certs"},
		{"certificate of another key", func(d *foliov1.OrgDefinition) { d.NodeCerts[0], d.NodeCerts[1] = d.NodeCerts[1], d.NodeCerts[0] }, "node_certs[0] (peer0.org3): its key's node ID"},
		{"certificate from another CA", func(d *foliov1.OrgDefinition) {
			d.NodeCerts[0] = foreign
			d.Peers[0].NodeId = keyIDOf(t, foreign)
		}, "not issued by the organisation's root"},
		{"certificate of the wrong role", func(d *foliov1.OrgDefinition) {
			d.Peers = append(d.Peers, proto.Clone(k.orderer3).(*foliov1.NodeEndpoint))
			d.Peers[2].RaftId = 0
			d.NodeCerts = append(d.NodeCerts, k.orderer3Cert)
		}, "certificate has role orderer, want peer"},
	} {
		d := proto.Clone(k.def3).(*foliov1.OrgDefinition)
		row.mutate(d)
		if err := ValidateDefinition(d); !errors.Is(err, ErrBadDefinition) || !strings.Contains(err.Error(), row.field) {
			t.Errorf("%s: %v\nwant it to name %q", row.name, err, row.field)
		}
	}
}

func keyIDOf(t *testing.T, pem []byte) string {
	t.Helper()
	cert, err := fcrypto.ParseCertificatePEM(pem)
	if err != nil {
		t.Fatal(err)
	}
	id, err := fcrypto.KeyID(cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestValidateRaftIDs(t *testing.T) {
	k := newConsortium(t)
	for name, mutate := range map[string]func(c *foliov1.ChannelConfig){
		"explicit ID equal to another's place": func(c *foliov1.ChannelConfig) { c.Orderers[2].RaftId = 1 },
		"a retired ID in use":                  func(c *foliov1.ChannelConfig) { c.RetiredRaftIds = []uint64{2} },
		"retired ID 0":                         func(c *foliov1.ChannelConfig) { c.RetiredRaftIds = []uint64{0} },
		"duplicate MSP ID":                     func(c *foliov1.ChannelConfig) { c.Orgs[2].MspId = "Org1MSP" },
	} {
		c := proto.Clone(k.cfg).(*foliov1.ChannelConfig)
		mutate(c)
		if err := Validate(c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The lifecycle activation policy changes by config update from level 4
// on (validation then reads it from the configuration in force), and stays
// frozen below.
func TestActivationPolicyChangesFromLevel4(t *testing.T) {
	k := newConsortium(t)
	both := []*identity.SigningIdentity{k.admin1, k.admin2}
	next := proto.Clone(k.cfg).(*foliov1.ChannelConfig)
	next.Sequence++
	next.Policies[lifecycleActivationPolicy] = "OR('Org2MSP.admin')"
	c, err := apply(t, k.c, next, both...)
	if err != nil {
		t.Fatalf("level 4: %v", err)
	}
	if c.ActivationPolicy() == nil || c.ActivationPolicy().Source() != "OR('Org2MSP.admin')" {
		t.Fatalf("activation policy in force: %v", c.ActivationPolicy())
	}
	old := proto.Clone(k.cfg).(*foliov1.ChannelConfig)
	old.Capability = CapabilityV3
	next = proto.Clone(old).(*foliov1.ChannelConfig)
	next.Sequence++
	next.Policies[lifecycleActivationPolicy] = "OR('Org2MSP.admin')"
	if _, err := apply(t, mustConfig(t, old), next, both...); !errors.Is(err, ErrUpdateRejected) || !strings.Contains(err.Error(), lifecycleActivationPolicy) {
		t.Fatalf("level 3: %v", err)
	}
}
