package validate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/identitytest"
	"github.com/folio-ledger/folio/internal/types"
)

// withConfig validates at the given configuration.
func (f *fixture) at(c *channel.Config) Options {
	o := f.opts(fakeState{}, fakeIndex{})
	o.Config = c
	return o
}

func codeOf(t *testing.T, b *foliov1.Block, o Options) (foliov1.ValidationCode, string) {
	t.Helper()
	res, err := Block(context.Background(), b, o)
	if err != nil {
		t.Fatal(err)
	}
	return res.Txs[0].Code, res.Txs[0].Reason
}

// From capability level 2 on, a counted endorsement comes from a peer that
// is a node of the channel: not from a client or admin of the organisation
// (which the old 'OrgXMSP.member' principals accepted), nor from a peer
// certificate a rogue admin minted with the organisation's CA. Level 1
// keeps the old rule, so an old chain replays as it was validated.
func TestEndorsersArePeersOfTheChannel(t *testing.T) {
	f := newFixture(t)
	user2 := f.o2.Member(t, "user1", identity.RoleClient)
	rogue := f.o2.Member(t, "peer9.org2", identity.RolePeer)
	for _, c := range []struct {
		name     string
		endorser *identity.SigningIdentity
		says     string
	}{
		{"client endorsing as its organisation", user2, "not a peer"},
		{"admin endorsing as its organisation", f.admin2, "not a peer"},
		{"peer certificate that is not a node of the channel", rogue, "is not a peer of channel folio"},
	} {
		b := block(3, f.tx(t, txSpec{endorsers: []*identity.SigningIdentity{f.peer1, c.endorser}}))
		code, reason := codeOf(t, b, f.at(f.cfg))
		if code != foliov1.ValidationCode_ENDORSEMENT_POLICY_FAILURE || !strings.Contains(reason, c.says) {
			t.Errorf("%s at level 2: %v %q, want ENDORSEMENT_POLICY_FAILURE saying %q", c.name, code, reason, c.says)
		}
		if code, reason := codeOf(t, b, f.at(f.cfgV1)); code != foliov1.ValidationCode_VALID {
			t.Errorf("%s at level 1 (legacy rule): %v %s", c.name, code, reason)
		}
	}
	if code, reason := codeOf(t, block(3, f.tx(t, txSpec{})), f.at(f.cfg)); code != foliov1.ValidationCode_VALID {
		t.Fatalf("the channel's own peers: %v %s", code, reason)
	}
}

// Certificate validity periods are admission checks: a block validates
// the same whenever it is validated, so a certificate that has expired
// since (or is not valid yet on a peer whose clock is behind) changes
// nothing.
func TestValidationReadsNoClock(t *testing.T) {
	f := newFixture(t)
	issue := func(o *identitytest.Org, name string, role identity.Role, notBefore time.Time) *identity.SigningIdentity {
		si := o.Member(t, name, role)
		cert, err := identity.Issue(o.CA.Cert, o.CA.Key(), identity.LeafRequest{Name: name, Role: role, PublicKey: si.Key().Public(),
			NotBefore: notBefore, Validity: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		id := si.Identity
		id.Cert = cert
		out, err := identity.NewSigningIdentity(id, si.Key())
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	expired := issue(f.o1, "olduser", identity.RoleClient, time.Now().Add(-10*time.Hour))
	future := issue(f.o1, "newuser", identity.RoleClient, time.Now().Add(10*time.Hour))
	for name, who := range map[string]*identity.SigningIdentity{"expired": expired, "not yet valid": future} {
		if code, reason := codeOf(t, block(2, f.tx(t, txSpec{creator: who})), f.at(f.cfg)); code != foliov1.ValidationCode_VALID {
			t.Errorf("%s creator: %v %s (validity is checked at admission, not at validation)", name, code, reason)
		}
	}
}

// revocationUpdate builds a config update that installs org o's new
// revocation list (revoking serials) on top of cfg, signed by creator and
// approvers.
func (f *fixture) revocationUpdate(t *testing.T, cfg *channel.Config, o *identitytest.Org, number int64, revoked []*identity.SigningIdentity,
	creator *identity.SigningIdentity, approvers ...types.Signer) []byte {
	t.Helper()
	var rs []identity.Revocation
	for _, r := range revoked {
		rs = append(rs, identity.Revocation{Serial: identity.SerialHex(r.Cert.SerialNumber), RevokedAt: time.Unix(1700000000, 0)})
	}
	crl, err := identity.NewCRL(o.CA.Cert, o.CA.Key(), number, rs, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	next := proto.Clone(cfg.Proto()).(*foliov1.ChannelConfig)
	for _, oc := range next.Orgs {
		if oc.Name == o.Name {
			oc.Crl = crl
		}
	}
	return f.configTx(t, cfg, next, creator, approvers...)
}

func (f *fixture) configTx(t *testing.T, cfg *channel.Config, next *foliov1.ChannelConfig, creator *identity.SigningIdentity, approvers ...types.Signer) []byte {
	t.Helper()
	u := client.NewConfigUpdate(&foliov1.ChannelConfigInfo{Config: cfg.Proto(), Height: 1}, next, 1000)
	env, _, err := types.NewConfigEnvelope(creator, u, approvers)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := proto.Marshal(env)
	return raw
}

// A revocation is a config update: it applies from the block after the
// one that commits it, on every peer, whatever each peer's CA polling saw.
// Only the organisation's own admin (with a list its own CA signed) can
// revoke its members; anyone else needs the channel's admin policy, and an
// update applies once.
func TestRevocationsAreConfigUpdates(t *testing.T) {
	f := newFixture(t)
	revoke := f.revocationUpdate(t, f.cfg, f.o1, 1, []*identity.SigningIdentity{f.user}, f.admin1)
	userTx := f.tx(t, txSpec{})
	res, err := Block(context.Background(), block(5, revoke, userTx), f.at(f.cfg))
	if err != nil {
		t.Fatal(err)
	}
	if res.Txs[0].Code != foliov1.ValidationCode_VALID || res.Config == nil {
		t.Fatalf("revocation by Org1's admin: %v %s", res.Txs[0].Code, res.Txs[0].Reason)
	}
	// The same block's later transaction still runs under the old config.
	if res.Txs[1].Code != foliov1.ValidationCode_VALID {
		t.Fatalf("a transaction in the revocation's own block: %v %s", res.Txs[1].Code, res.Txs[1].Reason)
	}
	next := res.Config
	if next.FromBlock() != 6 || next.Sequence() != 1 || len(next.Revoked("Org1MSP")) != 1 {
		t.Fatalf("next config from %d sequence %d revoked %v", next.FromBlock(), next.Sequence(), next.Revoked("Org1MSP"))
	}
	code, reason := codeOf(t, block(6, f.tx(t, txSpec{})), f.at(next))
	if code != foliov1.ValidationCode_BAD_CREATOR_IDENTITY || !strings.Contains(reason, "revoked") {
		t.Fatalf("revoked creator in the next block: %v %s", code, reason)
	}
	// A revoked peer's endorsement no longer counts either.
	revokedPeer := f.revocationUpdate(t, f.cfg, f.o2, 1, []*identity.SigningIdentity{f.peer2}, f.admin2)
	res, _ = Block(context.Background(), block(5, revokedPeer), f.at(f.cfg))
	if code, _ := codeOf(t, block(6, f.tx(t, txSpec{})), f.at(res.Config)); code != foliov1.ValidationCode_ENDORSEMENT_POLICY_FAILURE {
		t.Fatalf("endorsed by a revoked peer: %v", code)
	}

	for _, c := range []struct {
		name string
		env  []byte
		cfg  *channel.Config
		says string
	}{
		{"replayed (sequence taken)", revoke, next, "sequence 1"},
		{"another organisation's admin revokes Org1's members", f.revocationUpdate(t, f.cfg, f.o1, 1, []*identity.SigningIdentity{f.user}, f.admin2), f.cfg, "an admin of Org1MSP"},
		{"list not signed by the organisation's CA", func() []byte {
			fake := &identitytest.Org{Name: "Org1", MSPID: "Org1MSP", CA: f.o2.CA} // Org2's CA signs a list for Org1
			return f.revocationUpdate(t, f.cfg, fake, 1, []*identity.SigningIdentity{f.user}, f.admin1)
		}(), f.cfg, "not signed by its root CA"},
		{"older list", f.revocationUpdate(t, next, f.o1, 1, nil, f.admin1), next, "not newer"},
		{"client creator", f.revocationUpdate(t, f.cfg, f.o1, 1, []*identity.SigningIdentity{f.user}, f.user), f.cfg, "needs an admin of Org1MSP"},
	} {
		code, reason := codeOf(t, block(9, c.env), f.at(c.cfg))
		if code != foliov1.ValidationCode_INVALID_CONFIG_TRANSACTION || !strings.Contains(reason, c.says) {
			t.Errorf("%s: %v %q, want INVALID_CONFIG_TRANSACTION saying %q", c.name, code, reason, c.says)
		}
	}
}

// Channel-wide changes need the channel's admin policy; two updates built
// on the same config in one block: the second is refused (its sequence is
// taken); capability levels never go back; a level this binary lacks stops
// validation instead of judging under older rules.
func TestChannelConfigUpdates(t *testing.T) {
	f := newFixture(t)
	bigger := func(from *channel.Config) *foliov1.ChannelConfig {
		c := proto.Clone(from.Proto()).(*foliov1.ChannelConfig)
		c.Policies["release/keys"] = "OR('Org1MSP.peer')"
		return c
	}
	one := f.configTx(t, f.cfg, bigger(f.cfg), f.admin1)
	if code, reason := codeOf(t, block(3, one), f.at(f.cfg)); code != foliov1.ValidationCode_INVALID_CONFIG_TRANSACTION || !strings.Contains(reason, AdminsPolicyHint) {
		t.Fatalf("one admin changes the batch size: %v %s", code, reason)
	}
	both := f.configTx(t, f.cfg, bigger(f.cfg), f.admin1, f.admin2)
	again := f.configTx(t, f.cfg, bigger(f.cfg), f.admin2, f.admin1)
	res, err := Block(context.Background(), block(3, both, again), f.at(f.cfg))
	if err != nil {
		t.Fatal(err)
	}
	if res.Txs[0].Code != foliov1.ValidationCode_VALID || res.Config.Proto().Policies["release/keys"] == "" {
		t.Fatalf("both admins: %v %s", res.Txs[0].Code, res.Txs[0].Reason)
	}
	if res.Txs[1].Code != foliov1.ValidationCode_INVALID_CONFIG_TRANSACTION || !strings.Contains(res.Txs[1].Reason, "sequence") {
		t.Fatalf("second update on the same sequence: %v %s", res.Txs[1].Code, res.Txs[1].Reason)
	}

	down := proto.Clone(f.cfg.Proto()).(*foliov1.ChannelConfig)
	down.Capability = channel.CapabilityV1
	if code, reason := codeOf(t, block(3, f.configTx(t, f.cfg, down, f.admin1, f.admin2)), f.at(f.cfg)); code != foliov1.ValidationCode_INVALID_CONFIG_TRANSACTION || !strings.Contains(reason, "never go back") {
		t.Fatalf("capability downgrade: %v %s", code, reason)
	}
	up := proto.Clone(f.cfgV1.Proto()).(*foliov1.ChannelConfig)
	up.Capability = channel.CapabilityV2
	res, err = Block(context.Background(), block(3, f.configTx(t, f.cfgV1, up, f.admin1, f.admin2)), f.at(f.cfgV1))
	if err != nil || res.Txs[0].Code != foliov1.ValidationCode_VALID || res.Config.Level() != channel.CapabilityV2 {
		t.Fatalf("upgrade from level 1 to 2: %v %v", err, res.Txs[0].Reason)
	}
	future := proto.Clone(f.cfg.Proto()).(*foliov1.ChannelConfig)
	future.Capability = channel.MaxCapability + 1
	_, err = Block(context.Background(), block(3, f.configTx(t, f.cfg, future, f.admin1, f.admin2)), f.at(f.cfg))
	var unsupported *channel.UnsupportedCapabilityError
	if !errors.As(err, &unsupported) || unsupported.Block != 3 {
		t.Fatalf("a capability level this binary lacks: %v", err)
	}
	other := proto.Clone(f.cfg.Proto()).(*foliov1.ChannelConfig)
	other.Contracts = append(other.Contracts, &foliov1.ContractDefinition{Name: "x", Version: "1", EndorsementPolicy: "OR('Org1MSP.peer')", PackageHash: make([]byte, 32)})
	if code, reason := codeOf(t, block(3, f.configTx(t, f.cfg, other, f.admin1, f.admin2)), f.at(f.cfg)); code != foliov1.ValidationCode_INVALID_CONFIG_TRANSACTION || !strings.Contains(reason, "lifecycle") {
		t.Fatalf("contract definitions through a config update: %v %s", code, reason)
	}
	batch := proto.Clone(f.cfg.Proto()).(*foliov1.ChannelConfig)
	batch.Batch.MaxTxCount = 50
	if code, reason := codeOf(t, block(3, f.configTx(t, f.cfg, batch, f.admin1, f.admin2)), f.at(f.cfg)); code != foliov1.ValidationCode_INVALID_CONFIG_TRANSACTION || !strings.Contains(reason, "block cutting") {
		t.Fatalf("block cutting through a config update (orderers read it from genesis): %v %s", code, reason)
	}
	// Membership changes are refused, not crashed on: a longer list of
	// organisations or peers than the config in force.
	more := proto.Clone(f.cfg.Proto()).(*foliov1.ChannelConfig)
	more.Orgs = append(more.Orgs, &foliov1.OrgConfig{Name: "Org3", MspId: "Org3MSP", RootCerts: more.Orgs[0].RootCerts})
	if code, reason := codeOf(t, block(3, f.configTx(t, f.cfg, more, f.admin1, f.admin2)), f.at(f.cfg)); code != foliov1.ValidationCode_INVALID_CONFIG_TRANSACTION || !strings.Contains(reason, "organisations") {
		t.Fatalf("an added organisation: %v %s", code, reason)
	}
	more = proto.Clone(f.cfg.Proto()).(*foliov1.ChannelConfig)
	more.Peers = append(more.Peers, &foliov1.NodeEndpoint{Name: "peer9.org1", Org: "Org1", NodeId: strings.Repeat("ab", 32), ApiAddress: "127.0.0.1:9", P2PAddress: "127.0.0.1:10"})
	if code, reason := codeOf(t, block(3, f.configTx(t, f.cfg, more, f.admin1, f.admin2)), f.at(f.cfg)); code != foliov1.ValidationCode_INVALID_CONFIG_TRANSACTION || !strings.Contains(reason, "nodes") {
		t.Fatalf("an added peer: %v %s", code, reason)
	}
	// Bound to one channel and an expiry block.
	u := client.NewConfigUpdate(&foliov1.ChannelConfigInfo{Config: f.cfg.Proto(), Height: 1}, bigger(f.cfg), 1)
	u.ChannelId, u.Config.ChannelId = "other", "other"
	// Approved for channel "other", submitted on "folio".
	update, _ := proto.Marshal(u)
	sig1, _ := f.admin1.Sign(types.DomainConfig, update)
	sig2, _ := f.admin2.Sign(types.DomainConfig, update)
	data, _ := proto.Marshal(&foliov1.ConfigUpdateTx{Update: update, Approvals: []*foliov1.Approval{
		{Signer: f.admin1.Serialized(), Signature: sig1}, {Signer: f.admin2.Serialized(), Signature: sig2}}})
	h, _ := types.NewHeader(f.admin1, "folio", foliov1.TxType_TX_TYPE_CONFIG)
	env, _ := types.SignEnvelope(f.admin1, &foliov1.Payload{Header: h, Data: data})
	raw, _ := proto.Marshal(env)
	if code, reason := codeOf(t, block(3, raw), f.at(f.cfg)); code != foliov1.ValidationCode_INVALID_CONFIG_TRANSACTION || !strings.Contains(reason, "channel") {
		t.Fatalf("an update for another channel: %v %s", code, reason)
	}
	u = client.NewConfigUpdate(&foliov1.ChannelConfigInfo{Config: f.cfg.Proto(), Height: 1}, bigger(f.cfg), 1)
	env, _, _ = types.NewConfigEnvelope(f.admin1, u, []types.Signer{f.admin2})
	raw, _ = proto.Marshal(env)
	if code, reason := codeOf(t, block(3, raw), f.at(f.cfg)); code != foliov1.ValidationCode_INVALID_CONFIG_TRANSACTION || !strings.Contains(reason, "expired at block 2") {
		t.Fatalf("an expired update: %v %s", code, reason)
	}
}

// AdminsPolicyHint is what a refusal for want of the channel's admins says.
const AdminsPolicyHint = "channel's admin policy"
