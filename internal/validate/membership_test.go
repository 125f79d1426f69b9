package validate

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/types"
)

// levelConfig is the fixture's channel at another capability level.
func (f *fixture) levelConfig(t *testing.T, level uint32) *channel.Config {
	t.Helper()
	c := proto.Clone(f.cfg.Proto()).(*foliov1.ChannelConfig)
	c.Capability = level
	cfg, err := channel.NewConfig(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// From capability level 4 on a contract's read set may hold one read
// outside its namespace: the channel configuration channel_orgs answered
// from, checked for conflicts like any read. Nothing else outside it.
func TestConfigReadFromLevel4(t *testing.T) {
	f := newFixture(t)
	v4, v3 := f.levelConfig(t, channel.CapabilityV4), f.levelConfig(t, channel.CapabilityV3)
	at := func(c *channel.Config, st fakeState) Options {
		o := f.opts(st, fakeIndex{})
		o.Config = c
		return o
	}
	cfgRead := func(ver *foliov1.Version) *foliov1.NsReadWriteSet {
		return &foliov1.NsReadWriteSet{Namespace: channel.Namespace, Reads: []*foliov1.KVRead{{Key: channel.UpdateKey, Version: ver}}}
	}
	inForce := &foliov1.Version{BlockNum: 7}
	st := fakeState{channel.Namespace + "/" + channel.UpdateKey: inForce}
	read := f.tx(t, txSpec{extra: []*foliov1.NsReadWriteSet{cfgRead(inForce)}})

	if code, reason := codeOf(t, block(9, read), at(v4, st)); code != foliov1.ValidationCode_VALID {
		t.Fatalf("level 4, the configuration read at the version in force: %v %s", code, reason)
	}
	if code, _ := codeOf(t, block(9, read), at(v3, st)); code != foliov1.ValidationCode_ILLEGAL_WRITESET {
		t.Fatalf("level 3 accepted a read outside the contract's namespace: %v", code)
	}
	stale := f.tx(t, txSpec{extra: []*foliov1.NsReadWriteSet{cfgRead(&foliov1.Version{BlockNum: 3})}})
	if code, reason := codeOf(t, block(9, stale), at(v4, st)); code != foliov1.ValidationCode_MVCC_READ_CONFLICT {
		t.Fatalf("a membership change since endorsement: %v %s", code, reason)
	}
	for name, ns := range map[string]*foliov1.NsReadWriteSet{
		"a write":       {Namespace: channel.Namespace, Writes: []*foliov1.KVWrite{{Key: channel.UpdateKey, Value: []byte("x")}}},
		"another key":   {Namespace: channel.Namespace, Reads: []*foliov1.KVRead{{Key: "other", Version: inForce}}},
		"a range":       {Namespace: channel.Namespace, RangeReads: []*foliov1.RangeRead{{StartKey: "a", EndKey: "z"}}},
		"two reads":     {Namespace: channel.Namespace, Reads: []*foliov1.KVRead{{Key: channel.UpdateKey, Version: inForce}, {Key: "x"}}},
		"another space": {Namespace: "lifecycle", Reads: []*foliov1.KVRead{{Key: channel.UpdateKey, Version: inForce}}},
	} {
		tx := f.tx(t, txSpec{extra: []*foliov1.NsReadWriteSet{ns}})
		if code, reason := codeOf(t, block(9, tx), at(v4, st)); code != foliov1.ValidationCode_ILLEGAL_WRITESET || !strings.Contains(reason, "touched namespace") {
			t.Errorf("level 4, %s outside the contract's namespace: %v %s", name, code, reason)
		}
	}
}

// ConfigUpdates, which orderers use to follow membership, decides every
// config update of a block as Block does.
func TestConfigUpdatesAgreeWithBlock(t *testing.T) {
	f := newFixture(t)
	bigger := func(from *channel.Config) *foliov1.ChannelConfig {
		c := proto.Clone(from.Proto()).(*foliov1.ChannelConfig)
		c.Policies["release/keys"] = "OR('Org1MSP.peer')"
		return c
	}
	up := proto.Clone(f.cfg.Proto()).(*foliov1.ChannelConfig)
	up.Capability = channel.CapabilityV4
	changed := 0
	badSig := func() []byte {
		u := &foliov1.ConfigUpdate{ChannelId: "folio", Sequence: 1, Config: bigger(f.cfg)}
		u.Config.Sequence = 1
		env, _, _ := types.NewConfigEnvelope(f.admin1, u, []types.Signer{f.admin2})
		env.Signature[3] ^= 1
		raw, _ := proto.Marshal(env)
		return raw
	}
	for name, envs := range map[string][][]byte{
		"no config update":       {f.tx(t, txSpec{})},
		"one admin only":         {f.configTx(t, f.cfg, bigger(f.cfg), f.admin1)},
		"both admins":            {f.configTx(t, f.cfg, bigger(f.cfg), f.admin1, f.admin2)},
		"two on one sequence":    {f.configTx(t, f.cfg, bigger(f.cfg), f.admin1, f.admin2), f.configTx(t, f.cfg, bigger(f.cfg), f.admin2, f.admin1)},
		"after an endorser tx":   {f.tx(t, txSpec{}), f.configTx(t, f.cfg, up, f.admin1, f.admin2)},
		"bad envelope signature": {badSig()},
		"a stranger's update":    {f.configTx(t, f.cfg, bigger(f.cfg), f.stranger, f.admin1, f.admin2)},
		"capability raised to 4": {f.configTx(t, f.cfg, up, f.admin1, f.admin2)},
	} {
		b := block(3, envs...)
		res, err := Block(context.Background(), b, f.at(f.cfg))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ConfigUpdates(b, f.at(f.cfg))
		if err != nil {
			t.Fatal(err)
		}
		if got != nil {
			changed++
		}
		switch {
		case res.Config == nil && got == nil:
		case res.Config == nil || got == nil:
			t.Errorf("%s: Block says %v, ConfigUpdates %v", name, res.Config != nil, got != nil)
		case !proto.Equal(res.Config.Proto(), got.Proto()) || res.Config.FromBlock() != got.FromBlock():
			t.Errorf("%s: different configurations", name)
		}
	}
	if changed != 4 {
		t.Fatalf("%d of the blocks changed the configuration, want 4 (both admins, two on one sequence, after an endorser tx, capability)", changed)
	}
}

// From capability level 4 on, activations are approved under the
// activation policy of the configuration in force (config updates change
// it as organisations join and leave); below, under the genesis one.
func TestActivationPolicyFollowsTheConfigFromLevel4(t *testing.T) {
	for _, level := range []uint32{channel.CapabilityV2, channel.CapabilityV4} {
		f := newLifecycleFixture(t)
		c := proto.Clone(f.fixture.cfg.Proto()).(*foliov1.ChannelConfig)
		c.Capability = level
		c.Policies[lifecycle.ActivationPolicy] = "OR('Org2MSP.admin')" // genesis (the registry's): both admins
		cfg, err := channel.NewConfig(c, 1)
		if err != nil {
			t.Fatal(err)
		}
		f.config = cfg
		st := memState{}
		wantCodes(t, f.commit(t, st, 2, f.install(t, f.peer1, "peer0.org1", "2", f.v2), f.install(t, f.peer2, "peer0.org2", "2", f.v2)),
			foliov1.ValidationCode_VALID, foliov1.ValidationCode_VALID)
		res := f.commit(t, st, 3, f.activate(t, &foliov1.Activation{Version: "2", PackageHash: f.v2, AtBlock: 10}, f.admin2))
		want := foliov1.ValidationCode_LIFECYCLE_REJECTED
		if level >= channel.CapabilityV4 {
			want = foliov1.ValidationCode_VALID
		}
		if res.Txs[0].Code != want {
			t.Errorf("level %d, one admin of Org2: %v (%s), want %v", level, res.Txs[0].Code, res.Txs[0].Reason, want)
		}
	}
}
