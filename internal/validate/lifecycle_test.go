package validate

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/ledger/state"
	"github.com/folio-ledger/folio/internal/lifecycle"
)

// lifecycleFixture is a channel of two organisations with one peer each,
// copyright version 1 defined at genesis, and a lifecycle registry.
type lifecycleFixture struct {
	*fixture
	admin1, admin2, user2 *identity.SigningIdentity
	reg                   *lifecycle.Registry
	cfg                   *foliov1.ChannelConfig
	v1, v2, v3            []byte // package hashes
}

func newLifecycleFixture(t *testing.T) *lifecycleFixture {
	o1, o2 := newOrg(t, "Org1"), newOrg(t, "Org2")
	msp, _ := identity.NewVerifier([]identity.Org{o1.mspOrg(), o2.mspOrg()}, nil)
	f := &lifecycleFixture{fixture: &fixture{user: o1.member(t, "user1", identity.RoleClient), peer1: o1.member(t, "peer0.org1", identity.RolePeer),
		peer2: o2.member(t, "peer0.org2", identity.RolePeer), msp: msp},
		admin1: o1.member(t, "admin", identity.RoleAdmin), admin2: o2.member(t, "admin", identity.RoleAdmin), user2: o2.member(t, "user1", identity.RoleClient)}
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
	return f
}

func (f *lifecycleFixture) lifecycleTx(t *testing.T, creator *identity.SigningIdentity, req *foliov1.LifecycleRequest, approvers ...*identity.SigningIdentity) []byte {
	t.Helper()
	env, _, err := client.NewLifecycleEnvelope(creator, "folio", req, approvers)
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

func (f *lifecycleFixture) activate(t *testing.T, a *foliov1.Activation, creator *identity.SigningIdentity, approvers ...*identity.SigningIdentity) []byte {
	if a.Contract == "" {
		a.Contract = "copyright"
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
	f := newLifecycleFixture(t)
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

func TestLifecycleLastActivationWins(t *testing.T) {
	f := newLifecycleFixture(t)
	st := memState{}
	wantCodes(t, f.commit(t, st, 2,
		f.install(t, f.peer1, "peer0.org1", "2", f.v2), f.install(t, f.peer2, "peer0.org2", "2", f.v2),
		f.install(t, f.peer1, "peer0.org1", "3", f.v3), f.install(t, f.peer2, "peer0.org2", "3", f.v3)),
		foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID)

	// Two activations in one block: the second replaces the first.
	wantCodes(t, f.commit(t, st, 3,
		f.activate(t, &foliov1.Activation{Version: "2", PackageHash: f.v2, AtBlock: 10}, f.admin1, f.admin2),
		f.activate(t, &foliov1.Activation{Version: "3", PackageHash: f.v3, AtBlock: 8}, f.admin2, f.admin1)),
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

func TestLifecycleRejections(t *testing.T) {
	f := newLifecycleFixture(t)
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
