package validate

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/ledger/state"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/types"
)

// lifecycleFixture is a channel of two organisations with one peer each,
// copyright version 1 defined at genesis, and a lifecycle registry.
type lifecycleFixture struct {
	*fixture
	admin1, admin2, user2 *identity.SigningIdentity
	reg                   *lifecycle.Registry
	cfg                   *foliov1.ChannelConfig
	v1, v2, v3            []byte // package hashes
	// config is the channel configuration blocks are validated under
	// (default: the fixture's, at capability level 2).
	config *channel.Config
}

// atLevel makes the fixture validate under capability level (1 or 2).
func (f *lifecycleFixture) atLevel(level uint32) *lifecycleFixture {
	f.config = f.fixture.cfg
	if level < channel.CapabilityV2 {
		f.config = f.fixture.cfgV1
	}
	return f
}

// bothLevels runs a test of behaviour that capability level 2 keeps (an
// activation bound as the CLI binds it) at levels 1 and 2.
func bothLevels(t *testing.T, test func(t *testing.T, level uint32)) {
	for _, level := range []uint32{channel.CapabilityV1, channel.CapabilityV2} {
		t.Run(fmt.Sprintf("level %d", level), func(t *testing.T) { test(t, level) })
	}
}

func newLifecycleFixture(t *testing.T) *lifecycleFixture {
	base := newFixture(t)
	f := &lifecycleFixture{fixture: base, admin1: base.admin1, admin2: base.admin2, user2: base.o2.Member(t, "user1", identity.RoleClient)}
	for i, h := range []*[]byte{&f.v1, &f.v2, &f.v3} {
		sum := sha256.Sum256([]byte{byte(i)})
		*h = sum[:]
	}
	f.cfg = &foliov1.ChannelConfig{ChannelId: "folio",
		Orgs:     []*foliov1.OrgConfig{{Name: "Org1", MspId: "Org1MSP"}, {Name: "Org2", MspId: "Org2MSP"}},
		Peers:    []*foliov1.NodeEndpoint{{Name: "peer0.org1", Org: "Org1"}, {Name: "peer0.org2", Org: "Org2"}},
		Policies: map[string]string{lifecycle.ActivationPolicy: "OutOf(2, 'Org1MSP.admin', 'Org2MSP.admin')"},
		Contracts: []*foliov1.ContractDefinition{{Name: "copyright", Version: "1", EndorsementPolicy: "AND('Org1MSP.member','Org2MSP.member')",
			PackageHash: f.v1}}}
	reg, err := lifecycle.New(t.TempDir(), f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.reg = reg
	f.config = base.cfg
	return f
}

func (f *lifecycleFixture) lifecycleTx(t *testing.T, creator *identity.SigningIdentity, req *foliov1.LifecycleRequest, approvers ...types.Signer) []byte {
	t.Helper()
	env, _, err := types.NewLifecycleEnvelope(creator, "folio", req, approvers)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := proto.Marshal(env)
	return raw
}

func (f *lifecycleFixture) install(t *testing.T, by *identity.SigningIdentity, peer, version string, hash []byte) []byte {
	return f.lifecycleTx(t, by, &foliov1.LifecycleRequest{Op: &foliov1.LifecycleRequest_Install{Install: &foliov1.InstallRecord{
		Contract: "copyright", Version: version, PackageHash: hash, Peer: peer}}})
}

// activate builds an activation transaction. At capability level 2 it
// binds what the CLI binds, unless a sets it: this channel, the committed
// definition sequence + 1, and an expiry at block 1000.
func (f *lifecycleFixture) activate(t *testing.T, a *foliov1.Activation, creator *identity.SigningIdentity, approvers ...types.Signer) []byte {
	if a.Contract == "" {
		a.Contract = "copyright"
	}
	if f.config.Level() >= channel.CapabilityV2 {
		if a.ChannelId == "" {
			a.ChannelId = "folio"
		}
		if a.Sequence == 0 {
			a.Sequence = f.reg.Sequence(a.Contract) + 1
		}
		if a.ExpiresAtBlock == 0 {
			a.ExpiresAtBlock = 1000
		}
	}
	return f.lifecycleTx(t, creator, &foliov1.LifecycleRequest{Op: &foliov1.LifecycleRequest_Activate{Activate: a}}, approvers...)
}

// memState is committed lifecycle state for Registry.Load.
type memState map[string][]byte

func (m memState) Range(ns, start, end string, limit int) ([]state.KV, bool, error) {
	var out []state.KV
	for k, v := range m {
		if strings.HasPrefix(k, ns+"/") {
			key := strings.TrimPrefix(k, ns+"/")
			if key >= start && (end == "" || key < end) {
				out = append(out, state.KV{Key: key, Value: v, Version: &foliov1.Version{}})
			}
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Key < out[j-1].Key; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, false, nil
}

// commit validates a block with lifecycle transactions, commits the
// registry, and applies the valid writes to st.
func (f *lifecycleFixture) commit(t *testing.T, st memState, num uint64, envs ...[]byte) *Result {
	t.Helper()
	o := f.opts(fakeState{}, fakeIndex{})
	o.Config = f.config
	o.Lifecycle = f.reg
	res, err := Block(context.Background(), block(num, envs...), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range res.Txs {
		if tx.Code != foliov1.ValidationCode_VALID {
			continue
		}
		for _, ns := range tx.Action.GetRwset().GetNsRwsets() {
			if ns.Namespace != lifecycle.Namespace {
				t.Fatalf("lifecycle transaction wrote namespace %q", ns.Namespace)
			}
			for _, w := range ns.Writes {
				st[ns.Namespace+"/"+w.Key] = w.Value
			}
		}
	}
	f.reg.Commit(res.Lifecycle)
	return res
}

func wantCodes(t *testing.T, res *Result, want ...foliov1.ValidationCode) {
	t.Helper()
	for i, w := range want {
		if res.Txs[i].Code != w {
			t.Errorf("tx %d: %v (%s), want %v", i, res.Txs[i].Code, res.Txs[i].Reason, w)
		}
	}
}

func TestLifecycleInstallsThenActivationInOneBlock(t *testing.T) {
	bothLevels(t, testInstallsThenActivationInOneBlock)
}

func testInstallsThenActivationInOneBlock(t *testing.T, level uint32) {
	f := newLifecycleFixture(t).atLevel(level)
	st := memState{}
	res := f.commit(t, st, 3,
		f.install(t, f.peer1, "peer0.org1", "2", f.v2),
		f.install(t, f.peer2, "peer0.org2", "2", f.v2),
		// Installs earlier in the block count for this activation.
		f.activate(t, &foliov1.Activation{Version: "2", PackageHash: f.v2, AfterBlocks: 2}, f.admin1, f.admin2))
	wantCodes(t, res, foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID)

	for block, want := range map[uint64]string{4: "1", 5: "2", 9: "2"} {
		d, err := f.reg.Effective("copyright", block)
		if err != nil || d.Version != want {
			t.Errorf("block %d: version %v (%v), want %s", block, d, err, want)
		}
	}
	if n := f.reg.Next("copyright", 4); n == nil || n.Version != "2" || n.FromBlock != 5 {
		t.Fatalf("next after block 4: %+v", n)
	}
	acts := f.reg.Activations("copyright")
	if len(acts) != 1 || acts[0].Block != 3 || acts[0].StartBlock != 5 || strings.Join(acts[0].Signers, ",") != "admin@Org1,admin@Org2" {
		t.Fatalf("activations: %+v", acts)
	}
	// The endorsement rule switches with the definition, policy kept.
	p, v, err := f.reg.EndorsementRule("copyright", 5)
	if err != nil || v != "2" || len(p.Principals()) != 2 {
		t.Fatalf("rule at block 5: %v %s %v", p, v, err)
	}

	// A peer restarting reads the same from state.
	again, err := lifecycle.New(t.TempDir(), f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Load(st); err != nil {
		t.Fatal(err)
	}
	for _, block := range []uint64{4, 5} {
		a, _ := f.reg.Effective("copyright", block)
		b, err := again.Effective("copyright", block)
		if err != nil || a.Version != b.Version || a.FromBlock != b.FromBlock || a.PolicySrc != b.PolicySrc {
			t.Errorf("block %d after Load: %+v, want %+v (%v)", block, b, a, err)
		}
	}
	if got := again.Installs("copyright"); len(got["peer0.org1"]) != 1 || len(got["peer0.org2"]) != 1 {
		t.Errorf("installs after Load: %v", got)
	}
	if got := again.Activations("copyright"); len(got) != 1 || got[0].TxID != acts[0].TxID {
		t.Errorf("activations after Load: %+v", got)
	}
	if h := again.Halted("copyright", 5); len(h) != 0 {
		t.Errorf("halted after the switch with every peer installed: %v", h)
	}
}

func TestLifecycleLastActivationWins(t *testing.T) { bothLevels(t, testLastActivationWins) }

func testLastActivationWins(t *testing.T, level uint32) {
	f := newLifecycleFixture(t).atLevel(level)
	st := memState{}
	wantCodes(t, f.commit(t, st, 2,
		f.install(t, f.peer1, "peer0.org1", "2", f.v2), f.install(t, f.peer2, "peer0.org2", "2", f.v2),
		f.install(t, f.peer1, "peer0.org1", "3", f.v3), f.install(t, f.peer2, "peer0.org2", "3", f.v3)),
		foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID)

	// Two activations in one block: the second replaces the first.
	wantCodes(t, f.commit(t, st, 3,
		f.activate(t, &foliov1.Activation{Version: "2", PackageHash: f.v2, AtBlock: 10}, f.admin1, f.admin2),
		// At level 2 the second carries the sequence after the first's.
		f.activate(t, &foliov1.Activation{Version: "3", PackageHash: f.v3, AtBlock: 8, Sequence: 3}, f.admin2, f.admin1)),
		foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID)
	for block, want := range map[uint64]string{7: "1", 8: "3", 12: "3"} {
		if d, _ := f.reg.Effective("copyright", block); d.Version != want {
			t.Errorf("block %d: version %s, want %s", block, d.Version, want)
		}
	}
	// A later block's activation replaces the pending switch too: a
	// downgrade back to 1 before 3 ever ran.
	wantCodes(t, f.commit(t, st, 4,
		f.install(t, f.peer1, "peer0.org1", "1", f.v1), f.install(t, f.peer2, "peer0.org2", "1", f.v1),
		f.activate(t, &foliov1.Activation{Version: "1", PackageHash: f.v1, AtBlock: 6}, f.admin1, f.admin2)),
		foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID)
	if n := f.reg.Next("copyright", 4); n == nil || n.Version != "1" || n.FromBlock != 6 {
		t.Fatalf("pending switch: %+v", n)
	}
	if d, _ := f.reg.Effective("copyright", 20); d.Version != "1" {
		t.Fatalf("version 3's switch survived a later activation: %s", d.Version)
	}
}

func TestLifecycleRejections(t *testing.T) { bothLevels(t, testRejections) }

func testRejections(t *testing.T, level uint32) {
	f := newLifecycleFixture(t).atLevel(level)
	st := memState{}
	wantCodes(t, f.commit(t, st, 2, f.install(t, f.peer1, "peer0.org1", "2", f.v2)), foliov1.ValidationCode_VALID)
	other := sha256.Sum256([]byte("another module"))
	cases := []struct {
		name string
		env  []byte
		says string
	}{
		{"install record by a client", f.install(t, f.user, "peer0.org1", "2", f.v2), "only that peer may record"},
		{"install record for another org's peer", f.install(t, f.peer1, "peer0.org2", "2", f.v2), "only that peer may record"},
		{"install record for an unknown peer", f.install(t, f.peer1, "peer9.org1", "2", f.v2), "not a peer of the channel"},
		{"install of another module as version 1", f.install(t, f.peer1, "peer0.org1", "1", other[:]), "a version names one package"},
		{"bad hash", f.install(t, f.peer1, "peer0.org1", "2", []byte("short")), "SHA-256"},
		{"too few installs", f.activate(t, &foliov1.Activation{Version: "2", PackageHash: f.v2}, f.admin1, f.admin2), "installed on 1 peers, 2 required; missing: peer0.org2"},
		{"never installed", f.activate(t, &foliov1.Activation{Version: "7", PackageHash: f.v3}, f.admin1, f.admin2), "never installed"},
		{"start block in the past", f.activate(t, &foliov1.Activation{Version: "2", PackageHash: f.v2, AtBlock: 5, MinInstalled: 1}, f.admin1, f.admin2), "start block 5 is not after block"},
		{"one admin", f.activate(t, &foliov1.Activation{Version: "2", PackageHash: f.v2, MinInstalled: 1}, f.admin1), "not approved"},
		{"approved by clients", f.activate(t, &foliov1.Activation{Version: "2", PackageHash: f.v2, MinInstalled: 1}, f.admin1, f.user2), "not approved"},
		{"submitted by a client", f.activate(t, &foliov1.Activation{Version: "2", PackageHash: f.v2, MinInstalled: 1}, f.user, f.admin1, f.admin2), "only admins may activate"},
		{"another hash for a defined version", f.activate(t, &foliov1.Activation{Version: "1", PackageHash: f.v2, MinInstalled: 1}, f.admin1, f.admin2), "was defined with package hash"},
		{"new contract without policy", f.activate(t, &foliov1.Activation{Contract: "newone", Version: "1", PackageHash: f.v2, MinInstalled: 1}, f.admin1, f.admin2), "must give an endorsement policy"},
		{"reserved name", f.activate(t, &foliov1.Activation{Contract: "folio.lifecycle", Version: "1", PackageHash: f.v2, MinInstalled: 1}, f.admin1, f.admin2), "reserved"},
		{"confidentiality change", f.activate(t, &foliov1.Activation{Version: "2", PackageHash: f.v2, MinInstalled: 1, Confidential: true}, f.admin1, f.admin2), "cannot change that"},
		{"more peers than the channel has", f.activate(t, &foliov1.Activation{Version: "2", PackageHash: f.v2, MinInstalled: 3}, f.admin1, f.admin2), "only 2 peers"},
	}
	for i, c := range cases {
		res := f.commit(t, st, uint64(5+i), c.env)
		got := res.Txs[0]
		if got.Code != foliov1.ValidationCode_LIFECYCLE_REJECTED || !strings.Contains(got.Reason, c.says) {
			t.Errorf("%s: %v %q, want LIFECYCLE_REJECTED mentioning %q", c.name, got.Code, got.Reason, c.says)
		}
	}
	if d, _ := f.reg.Effective("copyright", 100); d.Version != "1" || f.reg.Next("copyright", 30) != nil {
		t.Fatalf("a rejected activation changed the contract: %+v", d)
	}
	if len(f.reg.Activations("copyright")) != 0 {
		t.Fatal("a rejected activation was recorded")
	}

	// Different modules recorded as one version by different peers.
	wantCodes(t, f.commit(t, st, 40, f.install(t, f.peer2, "peer0.org2", "2", other[:])), foliov1.ValidationCode_VALID)
	res := f.commit(t, st, 41, f.activate(t, &foliov1.Activation{Version: "2", PackageHash: f.v2, MinInstalled: 1}, f.admin1, f.admin2))
	if got := res.Txs[0]; got.Code != foliov1.ValidationCode_LIFECYCLE_REJECTED || !strings.Contains(got.Reason, "different package") || !strings.Contains(got.Reason, "peer0.org2") {
		t.Fatalf("activation of a version with two packages: %v %q", got.Code, got.Reason)
	}
	// A new contract needs a policy; with one it is accepted.
	wantCodes(t, f.commit(t, st, 42, f.lifecycleTx(t, f.peer1, &foliov1.LifecycleRequest{Op: &foliov1.LifecycleRequest_Install{Install: &foliov1.InstallRecord{
		Contract: "newone", Version: "1", PackageHash: f.v3, Peer: "peer0.org1"}}})), foliov1.ValidationCode_VALID)
	res = f.commit(t, st, 43, f.activate(t, &foliov1.Activation{Contract: "newone", Version: "1", PackageHash: f.v3, MinInstalled: 1}, f.admin1, f.admin2))
	if got := res.Txs[0]; !strings.Contains(got.Reason, "must give an endorsement policy") {
		t.Fatalf("new contract without a policy: %v %q", got.Code, got.Reason)
	}
	wantCodes(t, f.commit(t, st, 44, f.activate(t, &foliov1.Activation{Contract: "newone", Version: "1", PackageHash: f.v3, MinInstalled: 1,
		EndorsementPolicy: "OR('Org1MSP.member')"}, f.admin1, f.admin2)), foliov1.ValidationCode_VALID)
	if d, err := f.reg.Effective("newone", 45); err != nil || d.PolicySrc != "OR('Org1MSP.member')" {
		t.Fatalf("new contract: %+v %v", d, err)
	}
}

func TestLifecycleWithoutRegistryIsUnknown(t *testing.T) {
	f := newLifecycleFixture(t)
	res, err := Block(context.Background(), block(3, f.install(t, f.peer1, "peer0.org1", "2", f.v2)), f.opts(fakeState{}, fakeIndex{}))
	if err != nil {
		t.Fatal(err)
	}
	wantCodes(t, res, foliov1.ValidationCode_UNKNOWN_TX_TYPE)
}

// rewrap puts the data of a lifecycle transaction (request and approvals)
// into a new envelope of creator's: a new transaction ID, the same
// approvals.
func rewrap(t *testing.T, raw []byte, creator *identity.SigningIdentity) []byte {
	t.Helper()
	var env foliov1.Envelope
	var p foliov1.Payload
	if err := proto.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(env.Payload, &p); err != nil {
		t.Fatal(err)
	}
	h, err := types.NewHeader(creator, "folio", foliov1.TxType_TX_TYPE_LIFECYCLE)
	if err != nil {
		t.Fatal(err)
	}
	again, err := types.SignEnvelope(creator, &foliov1.Payload{Header: h, Data: p.Data})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := proto.Marshal(again)
	return out
}

func wantRejected(t *testing.T, res *Result, i int, says ...string) {
	t.Helper()
	got := res.Txs[i]
	if got.Code != foliov1.ValidationCode_LIFECYCLE_REJECTED {
		t.Fatalf("tx %d: %v (%s), want LIFECYCLE_REJECTED", i, got.Code, got.Reason)
	}
	for _, s := range says {
		if !strings.Contains(got.Reason, s) {
			t.Fatalf("tx %d: reason %q does not say %q", i, got.Reason, s)
		}
	}
}

// A single admin re-submits the request and approvals of an activation
// that committed in a transaction of its own. Level 2 refuses it by its
// sequence; level 1, as chains written then did, accepts it.
func TestLifecycleReplayedActivation(t *testing.T) {
	bothLevels(t, func(t *testing.T, level uint32) {
		f := newLifecycleFixture(t).atLevel(level)
		st := memState{}
		wantCodes(t, f.commit(t, st, 2,
			f.install(t, f.peer1, "peer0.org1", "1", f.v1), f.install(t, f.peer2, "peer0.org2", "1", f.v1),
			f.install(t, f.peer1, "peer0.org1", "2", f.v2), f.install(t, f.peer2, "peer0.org2", "2", f.v2)),
			foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID)
		// As the CLI does, the creator approves too, so the data alone
		// satisfies the policy.
		up := f.activate(t, &foliov1.Activation{Version: "2", PackageHash: f.v2}, f.admin1, f.admin1, f.admin2)
		wantCodes(t, f.commit(t, st, 3, up), foliov1.ValidationCode_VALID)
		wantCodes(t, f.commit(t, st, 4, f.activate(t, &foliov1.Activation{Version: "1", PackageHash: f.v1}, f.admin1, f.admin2)), foliov1.ValidationCode_VALID)

		res := f.commit(t, st, 6, rewrap(t, up, f.admin2))
		if level >= channel.CapabilityV2 {
			wantRejected(t, res, 0, "activation carries sequence 2, but the definition of copyright is at sequence 3 (next: 4)", "already applied or is a replay")
			if d, _ := f.reg.Effective("copyright", 10); d.Version != "1" || len(f.reg.Activations("copyright")) != 2 {
				t.Fatalf("the replay switched to %s", d.Version)
			}
			return
		}
		wantCodes(t, res, foliov1.ValidationCode_VALID)
		if d, _ := f.reg.Effective("copyright", 10); d.Version != "2" {
			t.Fatalf("level 1 replay: version %s", d.Version)
		}
	})
}

// The capability level comes from the configuration the block is
// validated under: the same bound activations are refused at level 2
// when copied from another channel, expired or out of sequence, and
// accepted at level 1, which ignores the binding.
func TestLifecycleBindingFollowsTheLevel(t *testing.T) {
	bothLevels(t, func(t *testing.T, level uint32) {
		f := newLifecycleFixture(t).atLevel(level)
		st := memState{}
		wantCodes(t, f.commit(t, st, 2, f.install(t, f.peer1, "peer0.org1", "2", f.v2), f.install(t, f.peer2, "peer0.org2", "2", f.v2)),
			foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID)
		bound := func(channelID string, seq, exp uint64) *foliov1.Activation {
			return &foliov1.Activation{Version: "2", PackageHash: f.v2, ChannelId: channelID, Sequence: seq, ExpiresAtBlock: exp}
		}
		cases := []struct {
			name string
			a    *foliov1.Activation
			says string
		}{
			{"copied from another channel", bound("other", 2, 50), "activation is for channel other, this is channel folio"},
			{"expired", bound("folio", 2, 4), "expired at block 4; block 5 commits it"},
			{"out of sequence", bound("folio", 3, 50), "activation carries sequence 3, but the definition of copyright is at sequence 1 (next: 2)"},
		}
		for _, c := range cases {
			res := f.commit(t, st, 5, f.activate(t, c.a, f.admin1, f.admin2))
			if level >= channel.CapabilityV2 {
				wantRejected(t, res, 0, c.says)
				continue
			}
			if res.Txs[0].Code != foliov1.ValidationCode_VALID {
				t.Fatalf("%s at level 1: %v %s", c.name, res.Txs[0].Code, res.Txs[0].Reason)
			}
		}
		if level < channel.CapabilityV2 {
			// The record is written as before levels: no sequence.
			for k, v := range st {
				if strings.Contains(string(v), "sequence") {
					t.Fatalf("level-1 record %s holds a sequence: %s", k, v)
				}
			}
			return
		}
		res := f.commit(t, st, 5, f.activate(t, bound("folio", 2, 5), f.admin1, f.admin2))
		wantCodes(t, res, foliov1.ValidationCode_VALID)
		if acts := f.reg.Activations("copyright"); len(acts) != 1 || acts[0].Sequence != 2 || f.reg.Sequence("copyright") != 2 {
			t.Fatalf("activations %+v, sequence %d", acts, f.reg.Sequence("copyright"))
		}
	})
}
