package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/identitytest"
	"github.com/folio-ledger/folio/internal/types"
)

// These tests drive the registry as the validator does, block by block:
// CheckTx for every lifecycle transaction of a block under the block's
// Rules, then Batch.Apply in block order, then Commit; the accepted writes
// go to an in-memory lifecycle namespace that Load can read back.

const testChannel = "folio"

// memState is the committed lifecycle namespace (Range for Load).
type memState map[string][]byte

func (m memState) Range(ns, start, end string, limit int) ([]KV, bool, error) {
	if ns != Namespace {
		return nil, false, fmt.Errorf("namespace %q", ns)
	}
	var keys []string
	for k := range m {
		if k >= start && (end == "" || k < end) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	more := false
	if limit > 0 && len(keys) > limit {
		keys, more = keys[:limit], true
	}
	out := make([]KV, len(keys))
	for i, k := range keys {
		out[i] = KV{Key: k, Value: m[k]}
	}
	return out, more, nil
}

// chain is a channel of two organisations with one peer each, copyright
// version 1 defined at genesis (sequence 1), versions 2 and 3 packaged.
type chain struct {
	t                      *testing.T
	cfg                    *foliov1.ChannelConfig
	msp                    *identity.Verifier
	reg                    *Registry
	st                     memState
	admin1, admin2, client *identity.SigningIdentity
	peer1, peer2           *identity.SigningIdentity
	v1, v2, v3             []byte
	txs                    int
}

func newChain(t *testing.T) *chain {
	o1, o2 := identitytest.NewOrg(t, "Org1"), identitytest.NewOrg(t, "Org2")
	msp, err := identity.NewVerifier([]identity.Org{{Name: "Org1", MSPID: "Org1MSP", Root: o1.CA.Cert}, {Name: "Org2", MSPID: "Org2MSP", Root: o2.CA.Cert}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &chain{t: t, msp: msp, st: memState{},
		admin1: o1.Member(t, "admin", identity.RoleAdmin), admin2: o2.Member(t, "admin", identity.RoleAdmin),
		client: o1.Member(t, "user1", identity.RoleClient),
		peer1:  o1.Member(t, "peer0.org1", identity.RolePeer), peer2: o2.Member(t, "peer0.org2", identity.RolePeer)}
	for i, h := range []*[]byte{&c.v1, &c.v2, &c.v3} {
		*h = bytes.Repeat([]byte{byte(0x11 * (i + 1))}, 32)
	}
	c.cfg = &foliov1.ChannelConfig{ChannelId: testChannel,
		Orgs:     []*foliov1.OrgConfig{{Name: "Org1", MspId: "Org1MSP"}, {Name: "Org2", MspId: "Org2MSP"}},
		Peers:    []*foliov1.NodeEndpoint{{Name: "peer0.org1", Org: "Org1"}, {Name: "peer0.org2", Org: "Org2"}},
		Policies: map[string]string{ActivationPolicy: "OutOf(2, 'Org1MSP.admin', 'Org2MSP.admin')"},
		Contracts: []*foliov1.ContractDefinition{{Name: "copyright", Version: "1",
			EndorsementPolicy: "AND('Org1MSP.member','Org2MSP.member')", PackageHash: c.v1}}}
	if c.reg, err = New(t.TempDir(), c.cfg); err != nil {
		t.Fatal(err)
	}
	return c
}

// tx is a lifecycle transaction as a block carries it: its creator (who
// signed the envelope) and its data (a serialized LifecycleTx).
type tx struct {
	id      string
	creator *identity.SigningIdentity
	data    []byte
}

// outcome is what validation made of a transaction.
type outcome struct {
	writes []*foliov1.KVWrite
	err    error
}

func (c *chain) nextID() string {
	c.txs++
	return fmt.Sprintf("tx%03d", c.txs)
}

// lifecycleTx signs req with the approvers' approvals into a LifecycleTx.
func (c *chain) lifecycleTx(req *foliov1.LifecycleRequest, approvers ...*identity.SigningIdentity) []byte {
	c.t.Helper()
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		c.t.Fatal(err)
	}
	lt := &foliov1.LifecycleTx{Request: raw}
	for _, a := range approvers {
		sig, err := a.Sign(types.DomainActivation, raw)
		if err != nil {
			c.t.Fatal(err)
		}
		lt.Approvals = append(lt.Approvals, &foliov1.Approval{Signer: a.Serialized(), Signature: sig})
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(lt)
	if err != nil {
		c.t.Fatal(err)
	}
	return data
}

func (c *chain) install(peer *identity.SigningIdentity, version string, hash []byte) tx {
	return tx{id: c.nextID(), creator: peer, data: c.lifecycleTx(&foliov1.LifecycleRequest{Op: &foliov1.LifecycleRequest_Install{
		Install: &foliov1.InstallRecord{Contract: "copyright", Version: version, PackageHash: hash, Peer: peer.Name}}})}
}

// activate is an activation of a by admin1, approved by both admins.
func (c *chain) activate(a *foliov1.Activation) tx {
	if a.Contract == "" {
		a.Contract = "copyright"
	}
	return tx{id: c.nextID(), creator: c.admin1, data: c.lifecycleTx(&foliov1.LifecycleRequest{Op: &foliov1.LifecycleRequest_Activate{Activate: a}},
		c.admin1, c.admin2)}
}

// bound returns a copy of a binding this channel, with sequence seq and
// expiry exp.
func bound(a *foliov1.Activation, seq, exp uint64) *foliov1.Activation {
	b := proto.Clone(a).(*foliov1.Activation)
	b.ChannelId, b.Sequence, b.ExpiresAtBlock = testChannel, seq, exp
	return b
}

// block validates and commits block num at capability level.
func (c *chain) block(num uint64, level uint32, txs ...tx) []outcome {
	c.t.Helper()
	rules := Rules{ChannelID: testChannel, Block: num, Capability: level}
	out := make([]outcome, len(txs))
	checked := make([]*Tx, len(txs))
	for i, x := range txs {
		creator, err := c.msp.ValidateSerialized(x.creator.Serialized())
		if err != nil {
			c.t.Fatal(err)
		}
		checked[i], out[i].err = c.reg.CheckTx(c.msp, creator, x.data, rules)
	}
	b := c.reg.NewBatch(rules)
	for i, x := range txs {
		if out[i].err != nil {
			continue
		}
		out[i].writes, out[i].err = b.Apply(i, x.id, checked[i])
	}
	for i, o := range out {
		if o.err != nil && !errors.Is(o.err, ErrRejected) {
			c.t.Fatalf("block %d tx %d: an error other than a rejection: %v", num, i, o.err)
		}
		for _, w := range o.writes {
			c.st[w.Key] = w.Value
		}
	}
	c.reg.Commit(b)
	return out
}

func (c *chain) accepted(what string, o outcome) {
	c.t.Helper()
	if o.err != nil || len(o.writes) == 0 {
		c.t.Fatalf("%s: refused: %v", what, o.err)
	}
}

func (c *chain) refused(what string, o outcome, says ...string) {
	c.t.Helper()
	if !errors.Is(o.err, ErrRejected) {
		c.t.Fatalf("%s: %v (writes %d), want a rejection", what, o.err, len(o.writes))
	}
	if len(o.writes) != 0 {
		c.t.Fatalf("%s: refused but wrote %d records", what, len(o.writes))
	}
	for _, s := range says {
		if !strings.Contains(o.err.Error(), s) {
			c.t.Fatalf("%s: reason %q does not say %q", what, o.err, s)
		}
	}
}

// installAll records versions 1, 2 and 3 on both peers in block num.
func (c *chain) installAll(num uint64, level uint32) {
	c.t.Helper()
	for i, o := range c.block(num, level, c.install(c.peer1, "1", c.v1), c.install(c.peer2, "1", c.v1),
		c.install(c.peer1, "2", c.v2), c.install(c.peer2, "2", c.v2),
		c.install(c.peer1, "3", c.v3), c.install(c.peer2, "3", c.v3)) {
		c.accepted(fmt.Sprintf("install %d", i), o)
	}
}

func (c *chain) effective(block uint64) string {
	c.t.Helper()
	d, err := c.reg.Effective("copyright", block)
	if err != nil {
		c.t.Fatalf("effective at %d: %v", block, err)
	}
	return d.Version
}

func sequences(acts []*Activation) []uint64 {
	out := make([]uint64, len(acts))
	for i, a := range acts {
		out[i] = a.Sequence
	}
	return out
}

// reloaded is a registry that read the committed state, as a peer that
// restarts does.
func (c *chain) reloaded() *Registry {
	c.t.Helper()
	r, err := New(c.t.TempDir(), c.cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := r.Load(c.st); err != nil {
		c.t.Fatal(err)
	}
	return r
}

func TestSequenceStartsAtGenesis(t *testing.T) {
	c := newChain(t)
	if got := c.reg.Sequence("copyright"); got != 1 {
		t.Fatalf("genesis definition at sequence %d, want 1", got)
	}
	if got := c.reg.Sequence("newone"); got != 0 {
		t.Fatalf("undefined contract at sequence %d, want 0", got)
	}
}

// A single admin takes the request bytes and the approvals of an
// activation that committed and submits them again in a transaction of
// its own: every approval still verifies, but the definition moved on.
func TestReplayedActivationRefused(t *testing.T) {
	c := newChain(t)
	c.installAll(2, channel.CapabilityV2)
	act := c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2, AfterBlocks: 1}, 2, 50))
	c.accepted("activation of 2", c.block(3, channel.CapabilityV2, act)[0])
	if c.effective(4) != "2" || c.reg.Sequence("copyright") != 2 {
		t.Fatalf("after the activation: version %s, sequence %d", c.effective(4), c.reg.Sequence("copyright"))
	}
	before := len(c.st)

	replay := tx{id: c.nextID(), creator: c.admin2, data: act.data}
	var lt foliov1.LifecycleTx
	if err := proto.Unmarshal(replay.data, &lt); err != nil || len(lt.Approvals) != 2 {
		t.Fatalf("replayed data: %v", err)
	}
	out := c.block(6, channel.CapabilityV2, replay)
	c.refused("replayed activation", out[0], "activation carries sequence 2, but the definition of copyright is at sequence 2 (next: 3)", "already applied or is a replay")
	if len(c.st) != before || c.reg.Sequence("copyright") != 2 || len(c.reg.Activations("copyright")) != 1 {
		t.Fatalf("the replay changed something: %d records, sequence %d", len(c.st), c.reg.Sequence("copyright"))
	}
	// A downgrade in between, then the old upgrade replayed: the version
	// in force stays the downgraded one.
	c.accepted("downgrade to 1", c.block(7, channel.CapabilityV2, c.activate(bound(&foliov1.Activation{Version: "1", PackageHash: c.v1}, 3, 50)))[0])
	c.refused("upgrade replayed after a downgrade", c.block(9, channel.CapabilityV2, tx{id: c.nextID(), creator: c.admin1, data: act.data})[0],
		"carries sequence 2", "at sequence 3 (next: 4)")
	if c.effective(20) != "1" {
		t.Fatalf("the replay switched back to %s", c.effective(20))
	}
}

// At level 1 nothing bound an activation: the same replay is accepted, as
// it was when such chains were written.
func TestLevel1AcceptsReplayAsBefore(t *testing.T) {
	c := newChain(t)
	c.installAll(2, channel.CapabilityV1)
	act := c.activate(&foliov1.Activation{Version: "2", PackageHash: c.v2})
	c.accepted("activation", c.block(3, channel.CapabilityV1, act)[0])
	c.accepted("downgrade", c.block(4, channel.CapabilityV1, c.activate(&foliov1.Activation{Version: "1", PackageHash: c.v1}))[0])
	c.accepted("replay at level 1", c.block(6, channel.CapabilityV1, tx{id: c.nextID(), creator: c.admin2, data: act.data})[0])
	if c.effective(7) != "2" {
		t.Fatalf("level 1 replay: version %s in force", c.effective(7))
	}
}

func TestOutOfSequenceRefused(t *testing.T) {
	c := newChain(t)
	c.installAll(2, channel.CapabilityV2)
	for _, seq := range []uint64{3, 7} {
		c.refused(fmt.Sprintf("sequence %d", seq), c.block(3, channel.CapabilityV2, c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2}, seq, 50)))[0],
			fmt.Sprintf("activation carries sequence %d, but the definition of copyright is at sequence 1 (next: 2)", seq), "out of sequence")
	}
	c.refused("sequence 1 (the genesis definition's)", c.block(3, channel.CapabilityV2, c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2}, 1, 50)))[0],
		"carries sequence 1", "at sequence 1 (next: 2)", "already applied or is a replay")
	c.refused("no sequence", c.block(3, channel.CapabilityV2, c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2}, 0, 50)))[0],
		"carries no sequence")
	if c.reg.Sequence("copyright") != 1 || len(c.reg.Activations("copyright")) != 0 || c.effective(100) != "1" {
		t.Fatal("a refused activation changed the definition")
	}
	c.accepted("sequence 2", c.block(4, channel.CapabilityV2, c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2}, 2, 50)))[0])

	// A contract not yet defined is at sequence 0: its first activation
	// carries 1.
	c.accepted("install newone", c.block(5, channel.CapabilityV2, tx{id: c.nextID(), creator: c.peer1, data: c.lifecycleTx(&foliov1.LifecycleRequest{
		Op: &foliov1.LifecycleRequest_Install{Install: &foliov1.InstallRecord{Contract: "newone", Version: "1", PackageHash: c.v3, Peer: "peer0.org1"}}})})[0])
	newone := &foliov1.Activation{Contract: "newone", Version: "1", PackageHash: c.v3, MinInstalled: 1, EndorsementPolicy: "OR('Org1MSP.member')"}
	c.refused("new contract at sequence 2", c.block(6, channel.CapabilityV2, c.activate(bound(newone, 2, 50)))[0], "definition of newone is at sequence 0 (next: 1)")
	c.accepted("new contract at sequence 1", c.block(7, channel.CapabilityV2, c.activate(bound(newone, 1, 50)))[0])
	if c.reg.Sequence("newone") != 1 {
		t.Fatalf("newone at sequence %d", c.reg.Sequence("newone"))
	}
}

// An activation its admins approved for another channel (same contract,
// same sequence, same organisations) is refused here.
func TestActivationForAnotherChannelRefused(t *testing.T) {
	c := newChain(t)
	c.installAll(2, channel.CapabilityV2)
	copied := bound(&foliov1.Activation{Version: "2", PackageHash: c.v2}, 2, 50)
	copied.ChannelId = "other"
	c.refused("activation for channel other", c.block(3, channel.CapabilityV2, c.activate(copied))[0],
		"activation is for channel other, this is channel folio")
	unbound := bound(&foliov1.Activation{Version: "2", PackageHash: c.v2}, 2, 50)
	unbound.ChannelId = ""
	c.refused("activation naming no channel", c.block(3, channel.CapabilityV2, c.activate(unbound))[0], "names no channel", `"folio"`)
	if c.reg.Sequence("copyright") != 1 || c.effective(100) != "1" {
		t.Fatal("a refused activation changed the definition")
	}
}

func TestExpiredActivationRefused(t *testing.T) {
	c := newChain(t)
	c.installAll(2, channel.CapabilityV2)
	c.refused("expired", c.block(6, channel.CapabilityV2, c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2}, 2, 5)))[0],
		"expired at block 5", "block 6 commits it")
	c.refused("no expiry", c.block(6, channel.CapabilityV2, c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2}, 2, 0)))[0],
		"has no expiry")
	if c.reg.Sequence("copyright") != 1 || c.effective(100) != "1" {
		t.Fatal("a refused activation changed the definition")
	}
	// The expiry block itself is the last one that may commit it.
	c.accepted("committed at its expiry block", c.block(7, channel.CapabilityV2, c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2}, 2, 7)))[0])
	if c.effective(8) != "2" {
		t.Fatalf("version %s in force", c.effective(8))
	}
}

func TestTwoActivationsInOneBlock(t *testing.T) {
	t.Run("consecutive sequences", func(t *testing.T) {
		c := newChain(t)
		c.installAll(2, channel.CapabilityV2)
		out := c.block(3, channel.CapabilityV2,
			c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2, AtBlock: 10}, 2, 50)),
			c.activate(bound(&foliov1.Activation{Version: "3", PackageHash: c.v3, AtBlock: 8}, 3, 50)))
		c.accepted("first", out[0])
		c.accepted("second", out[1])
		// The last one is in force; the first one's switch never happens.
		for block, want := range map[uint64]string{7: "1", 8: "3", 10: "3", 30: "3"} {
			if got := c.effective(block); got != want {
				t.Errorf("block %d: version %s, want %s", block, got, want)
			}
		}
		if n := c.reg.Next("copyright", 3); n == nil || n.Version != "3" || n.FromBlock != 8 {
			t.Fatalf("pending switch: %+v", n)
		}
		if got := c.reg.Sequence("copyright"); got != 3 {
			t.Fatalf("sequence %d, want 3", got)
		}
		if got := sequences(c.reg.Activations("copyright")); fmt.Sprint(got) != "[2 3]" {
			t.Fatalf("activation sequences %v", got)
		}
		// Recorded in state, and read back by a peer that restarts.
		again := c.reloaded()
		if again.Sequence("copyright") != 3 || fmt.Sprint(sequences(again.Activations("copyright"))) != "[2 3]" {
			t.Fatalf("after Load: sequence %d, activations %v", again.Sequence("copyright"), sequences(again.Activations("copyright")))
		}
		for _, k := range []string{activationKey("copyright", 3, 0), activationKey("copyright", 3, 1)} {
			var rec map[string]any
			if err := json.Unmarshal(c.st[k], &rec); err != nil || rec["sequence"] == nil {
				t.Fatalf("record %s does not hold its sequence: %s", k, c.st[k])
			}
		}
	})
	t.Run("same sequence", func(t *testing.T) {
		c := newChain(t)
		c.installAll(2, channel.CapabilityV2)
		out := c.block(3, channel.CapabilityV2,
			c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2}, 2, 50)),
			c.activate(bound(&foliov1.Activation{Version: "3", PackageHash: c.v3}, 2, 50)))
		c.accepted("first", out[0])
		c.refused("second with the same sequence", out[1], "carries sequence 2", "at sequence 2 (next: 3)")
		if c.effective(4) != "2" || c.reg.Sequence("copyright") != 2 || len(c.reg.Activations("copyright")) != 1 {
			t.Fatalf("version %s, sequence %d", c.effective(4), c.reg.Sequence("copyright"))
		}
	})
}

func TestUpgradeThenDowngradeAtLevel2(t *testing.T) {
	c := newChain(t)
	c.installAll(2, channel.CapabilityV2)
	c.accepted("upgrade to 2", c.block(3, channel.CapabilityV2, c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2, AfterBlocks: 2}, 2, 10)))[0])
	c.accepted("upgrade to 3", c.block(6, channel.CapabilityV2, c.activate(bound(&foliov1.Activation{Version: "3", PackageHash: c.v3, AtBlock: 9}, 3, 10)))[0])
	// Back to version 2, an older version, which keeps its package.
	c.accepted("downgrade to 2", c.block(10, channel.CapabilityV2, c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2}, 4, 12)))[0])
	c.refused("downgrade to 2 with another package", c.block(11, channel.CapabilityV2, c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v3}, 5, 12)))[0],
		"was defined with package hash")
	for block, want := range map[uint64]string{4: "1", 5: "2", 8: "2", 9: "3", 10: "3", 11: "2", 40: "2"} {
		if got := c.effective(block); got != want {
			t.Errorf("block %d: version %s, want %s", block, got, want)
		}
	}
	if got := c.reg.Sequence("copyright"); got != 4 {
		t.Fatalf("sequence %d, want 4", got)
	}
	again := c.reloaded()
	if again.Sequence("copyright") != 4 || fmt.Sprint(sequences(again.Activations("copyright"))) != "[2 3 4]" {
		t.Fatalf("after Load: sequence %d, activations %v", again.Sequence("copyright"), sequences(again.Activations("copyright")))
	}
	if d, err := again.Effective("copyright", 11); err != nil || d.Version != "2" || !bytes.Equal(d.PackageHash, c.v2) {
		t.Fatalf("after Load: %+v %v", d, err)
	}
}

// level1Activation is the activation record exactly as folio wrote it
// before capability levels: a level-1 chain must keep these bytes.
type level1Activation struct {
	Contract    string   `json:"contract"`
	Version     string   `json:"version"`
	PackageHash []byte   `json:"package_hash"`
	StartBlock  uint64   `json:"start_block"`
	Block       uint64   `json:"block"`
	TxID        string   `json:"tx_id"`
	Signers     []string `json:"signers"`
}

// At level 1 the binding fields are ignored, whatever they hold, and the
// records written are byte for byte those of before.
func TestLevel1IgnoresBindingAndKeepsBytes(t *testing.T) {
	for _, level := range []uint32{0, channel.CapabilityV1} {
		t.Run(fmt.Sprintf("level %d", level), func(t *testing.T) {
			c := newChain(t)
			c.installAll(2, level)
			junk := &foliov1.Activation{Version: "2", PackageHash: c.v2, ChannelId: "other", Sequence: 99, ExpiresAtBlock: 1}
			act := c.activate(junk)
			out := c.block(3, level, act, c.activate(&foliov1.Activation{Version: "3", PackageHash: c.v3, AtBlock: 9}))
			c.accepted("activation with a foreign binding", out[0])
			c.accepted("activation without binding", out[1])

			v2 := base64(c.v2)
			want := []*foliov1.KVWrite{
				{Key: "def/copyright", Value: []byte(`[{"name":"copyright","version":"1","policy":"AND('Org1MSP.member','Org2MSP.member')","confidential":false,"package_hash":"` +
					base64(c.v1) + `","from_block":1},{"name":"copyright","version":"2","policy":"AND('Org1MSP.member','Org2MSP.member')","confidential":false,"package_hash":"` +
					v2 + `","from_block":4}]`)},
				{Key: "activation/copyright/00000000000000000003/000000", Value: []byte(`{"contract":"copyright","version":"2","package_hash":"` + v2 +
					`","start_block":4,"block":3,"tx_id":"` + act.id + `","signers":["admin@Org1","admin@Org2"]}`)},
			}
			if len(out[0].writes) != len(want) {
				t.Fatalf("%d writes, want %d", len(out[0].writes), len(want))
			}
			for i, w := range want {
				got := out[0].writes[i]
				if got.Key != w.Key || !bytes.Equal(got.Value, w.Value) {
					t.Errorf("write %d:\n got %s = %s\nwant %s = %s", i, got.Key, got.Value, w.Key, w.Value)
				}
			}
			// The same bytes as the old record type encodes.
			old, err := json.Marshal(level1Activation{Contract: "copyright", Version: "2", PackageHash: c.v2, StartBlock: 4, Block: 3, TxID: act.id,
				Signers: []string{"admin@Org1", "admin@Org2"}})
			if err != nil || !bytes.Equal(old, out[0].writes[1].Value) {
				t.Errorf("record %s, the old encoding is %s (%v)", out[0].writes[1].Value, old, err)
			}
			if bytes.Contains(c.st["activation/copyright/00000000000000000003/000001"], []byte("sequence")) {
				t.Errorf("a level-1 record holds a sequence: %s", c.st["activation/copyright/00000000000000000003/000001"])
			}
			// The sequence is still derived from the records, so the chain
			// can continue at level 2.
			if got := c.reg.Sequence("copyright"); got != 3 {
				t.Fatalf("sequence %d after two level-1 activations, want 3", got)
			}
			again := c.reloaded()
			if again.Sequence("copyright") != 3 || fmt.Sprint(sequences(again.Activations("copyright"))) != "[2 3]" {
				t.Fatalf("after Load: sequence %d, activations %v", again.Sequence("copyright"), sequences(again.Activations("copyright")))
			}
			c.refused("level 2 replaying sequence 3", c.block(5, channel.CapabilityV2, c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2}, 3, 9)))[0],
				"at sequence 3 (next: 4)")
			c.accepted("level 2 continuing at sequence 4", c.block(5, channel.CapabilityV2, c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2}, 4, 9)))[0])
		})
	}
}

// The stateless checks of the binding happen in CheckTx, before any state
// is read, so they refuse even what Apply would never see.
func TestCheckTxBindingReasons(t *testing.T) {
	c := newChain(t)
	creator, err := c.msp.ValidateSerialized(c.admin1.Serialized())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		a    *foliov1.Activation
		says string
	}{
		{"other channel", &foliov1.Activation{ChannelId: "other", Sequence: 2, ExpiresAtBlock: 9}, "activation is for channel other, this is channel folio"},
		{"expired", &foliov1.Activation{ChannelId: testChannel, Sequence: 2, ExpiresAtBlock: 4}, "expired at block 4; block 5 commits it"},
		{"no expiry", &foliov1.Activation{ChannelId: testChannel, Sequence: 2}, "no expiry"},
		{"no sequence", &foliov1.Activation{ChannelId: testChannel, ExpiresAtBlock: 9}, "no sequence"},
	} {
		tc.a.Contract, tc.a.Version, tc.a.PackageHash = "copyright", "2", c.v2
		x := c.activate(tc.a)
		_, err := c.reg.CheckTx(c.msp, creator, x.data, Rules{ChannelID: testChannel, Block: 5, Capability: channel.CapabilityV2})
		if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want a rejection saying %q", tc.name, err, tc.says)
		}
		if _, err := c.reg.CheckTx(c.msp, creator, x.data, Rules{ChannelID: testChannel, Block: 5, Capability: channel.CapabilityV1}); err != nil {
			t.Errorf("%s at level 1: %v", tc.name, err)
		}
	}
	// Install records carry no binding at any level.
	in := c.install(c.peer1, "2", c.v2)
	peer, _ := c.msp.ValidateSerialized(c.peer1.Serialized())
	if _, err := c.reg.CheckTx(c.msp, peer, in.data, Rules{ChannelID: testChannel, Block: 5, Capability: channel.CapabilityV2}); err != nil {
		t.Fatalf("install record at level 2: %v", err)
	}
}

// A transaction checked under other rules than its batch's is a caller's
// mistake, not a rejection: it must not silently apply or mark the
// transaction.
func TestApplyUnderOtherRulesIsAnError(t *testing.T) {
	c := newChain(t)
	c.installAll(2, channel.CapabilityV2)
	creator, _ := c.msp.ValidateSerialized(c.admin1.Serialized())
	x := c.activate(bound(&foliov1.Activation{Version: "2", PackageHash: c.v2}, 2, 9))
	checked, err := c.reg.CheckTx(c.msp, creator, x.data, Rules{ChannelID: testChannel, Block: 3, Capability: channel.CapabilityV1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Rules{{ChannelID: testChannel, Block: 3, Capability: channel.CapabilityV2}, {ChannelID: testChannel, Block: 4, Capability: channel.CapabilityV1}} {
		w, err := c.reg.NewBatch(r).Apply(0, x.id, checked)
		if err == nil || errors.Is(err, ErrRejected) || w != nil {
			t.Errorf("rules %+v: %v", r, err)
		}
	}
}

func base64(b []byte) string {
	out, _ := json.Marshal(b)
	return strings.Trim(string(out), `"`)
}
