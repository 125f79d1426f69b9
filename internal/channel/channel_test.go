package channel

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

func testConfig(t *testing.T) (*foliov1.ChannelConfig, *identity.SigningIdentity) {
	key, _ := fcrypto.GenerateKey()
	root, _ := identity.NewRootCA("OrdererOrg", "ca", key, time.Now(), time.Hour)
	akey, _ := fcrypto.GenerateKey()
	cert, _ := identity.Issue(root, key, identity.LeafRequest{Name: "admin", Role: identity.RoleAdmin, PublicKey: akey.Public()})
	admin, err := identity.NewSigningIdentity(identity.Identity{MSPID: "OrdererMSP", Org: "OrdererOrg", Name: "admin", Role: identity.RoleAdmin, Cert: cert}, akey)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 32)
	return &foliov1.ChannelConfig{
		Format: Format, ChannelId: "folio",
		Orgs:     []*foliov1.OrgConfig{{Name: "OrdererOrg", MspId: "OrdererMSP", Kind: foliov1.OrgKind_ORG_KIND_ORDERER, RootCerts: [][]byte{fcrypto.EncodeCertificatePEM(root.Raw)}}},
		Orderers: []*foliov1.NodeEndpoint{{Name: "orderer0", Org: "OrdererOrg", NodeId: id, ApiAddress: "127.0.0.1:1", P2PAddress: "127.0.0.1:2"}},
		Batch:    &foliov1.BatchConfig{MaxTxCount: 10, MaxBytes: 1 << 20, TimeoutMs: 250},
		Policies: map[string]string{"endorsement/copyright": "AND('Org1MSP.member','Org2MSP.member')"},
	}, admin
}

func TestGenesisRoundTrip(t *testing.T) {
	cfg, admin := testConfig(t)
	g, err := NewGenesis(cfg, admin, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromGenesis(g)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, cfg) {
		t.Fatal("config changed through the genesis block")
	}
	if id, err := RaftID(got, "orderer0"); err != nil || id != 1 {
		t.Fatalf("raft id %d %v", id, err)
	}
	orgs, err := MSPOrgs(got)
	if err != nil || len(orgs) != 1 || orgs[0].MSPID != "OrdererMSP" {
		t.Fatalf("msp orgs %v %v", orgs, err)
	}
}

func TestValidateRejects(t *testing.T) {
	for name, mutate := range map[string]func(c *foliov1.ChannelConfig){
		"newer format":    func(c *foliov1.ChannelConfig) { c.Format = Format + 1 },
		"no orderers":     func(c *foliov1.ChannelConfig) { c.Orderers = nil },
		"unknown org":     func(c *foliov1.ChannelConfig) { c.Orderers[0].Org = "Nope" },
		"bad node id":     func(c *foliov1.ChannelConfig) { c.Orderers[0].NodeId = "xyz" },
		"bad root":        func(c *foliov1.ChannelConfig) { c.Orgs[0].RootCerts = [][]byte{[]byte("junk")} },
		"zero batch":      func(c *foliov1.ChannelConfig) { c.Batch.TimeoutMs = 0 },
		"bad policy":      func(c *foliov1.ChannelConfig) { c.Policies["x"] = "AND(" },
		"duplicate names": func(c *foliov1.ChannelConfig) { c.Peers = append(c.Peers, c.Orderers[0]) },
	} {
		cfg, _ := testConfig(t)
		mutate(cfg)
		if err := Validate(cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A peer restarting restores the configuration in force from the update
// recorded in state; a recorded level this binary lacks refuses to start
// instead of validating under older rules.
func TestRestoreFromRecordedUpdate(t *testing.T) {
	cfg, _ := testConfig(t)
	c, err := Restore(cfg, nil, 0)
	if err != nil || c.FromBlock() != 1 || c.Sequence() != 0 || c.Level() != CapabilityV1 {
		t.Fatalf("genesis: %v from %d seq %d level %d", err, c.FromBlock(), c.Sequence(), c.Level())
	}
	next := proto.Clone(cfg).(*foliov1.ChannelConfig)
	next.Sequence, next.Capability = 1, CapabilityV2
	raw, _ := proto.Marshal(&foliov1.ConfigUpdate{ChannelId: "folio", Sequence: 1, Config: next})
	c, err = Restore(cfg, raw, 41)
	if err != nil || c.FromBlock() != 42 || c.Sequence() != 1 || c.Level() != CapabilityV2 || !bytes.Equal(c.Update(), raw) {
		t.Fatalf("restored: %v from %d seq %d level %d", err, c.FromBlock(), c.Sequence(), c.Level())
	}
	next.Capability = MaxCapability + 1
	raw, _ = proto.Marshal(&foliov1.ConfigUpdate{ChannelId: "folio", Sequence: 1, Config: next})
	var unsupported *UnsupportedCapabilityError
	if _, err := Restore(cfg, raw, 41); !errors.As(err, &unsupported) || !strings.Contains(err.Error(), "upgrade folio") {
		t.Fatalf("unsupported level: %v", err)
	}
	if _, err := Restore(cfg, []byte{0xff}, 41); !errors.Is(err, ErrInvalid) {
		t.Fatalf("garbage: %v", err)
	}
}
