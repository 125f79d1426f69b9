package validate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/identitytest"
	"github.com/folio-ledger/folio/internal/policy"
	"github.com/folio-ledger/folio/internal/types"
)

type fakeContracts struct{ version string }

func (f fakeContracts) EndorsementRule(c string, block uint64) (*policy.Policy, string, error) {
	if c != "copyright" {
		return nil, "", fmt.Errorf("contract %q is not defined on this channel", c)
	}
	return policy.MustParse("AND('Org1MSP.member','Org2MSP.member')"), f.version, nil
}

type fakeState map[string]*foliov1.Version

func (f fakeState) Version(ns, key string) (*foliov1.Version, error) { return f[ns+"/"+key], nil }
func (f fakeState) RangeKeys(ns, start, end string, limit int) ([]KeyVersion, error) {
	var out []KeyVersion
	for k, v := range f {
		key := strings.TrimPrefix(k, ns+"/")
		if key != k && key >= start && (end == "" || key < end) {
			out = append(out, KeyVersion{Key: key, Version: v})
		}
	}
	for i := 1; i < len(out); i++ { // insertion sort: tiny maps
		for j := i; j > 0 && out[j].Key < out[j-1].Key; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

type fakeIndex map[string]bool

func (f fakeIndex) HasTx(id string) (bool, error) { return f[id], nil }

type fixture struct {
	user, peer1, peer2, stranger *identity.SigningIdentity
	admin1, admin2               *identity.SigningIdentity
	o1, o2                       *identitytest.Org
	// cfg is the channel at capability level 2 (peers peer0.org1 and
	// peer0.org2, orderer0); cfgV1 and cfgV3 the same channel at levels 1
	// and 3.
	cfg, cfgV1, cfgV3 *channel.Config
}

func newFixture(t *testing.T) *fixture {
	o1, o2, evil, ord := identitytest.NewOrg(t, "Org1"), identitytest.NewOrg(t, "Org2"), identitytest.NewOrg(t, "Evil"), identitytest.NewOrg(t, "Orderer")
	f := &fixture{user: o1.Member(t, "user1", identity.RoleClient), peer1: o1.Member(t, "peer0.org1", identity.RolePeer),
		peer2: o2.Member(t, "peer0.org2", identity.RolePeer), stranger: evil.Member(t, "eve", identity.RoleClient),
		admin1: o1.Member(t, "admin", identity.RoleAdmin), admin2: o2.Member(t, "admin", identity.RoleAdmin), o1: o1, o2: o2}
	orderer := ord.Member(t, "orderer0", identity.RoleOrderer)
	pem := func(o *identitytest.Org) [][]byte { return [][]byte{fcrypto.EncodeCertificatePEM(o.CA.Cert.Raw)} }
	node := func(si *identity.SigningIdentity, org string, port int) *foliov1.NodeEndpoint {
		return &foliov1.NodeEndpoint{Name: si.Name, Org: org, NodeId: si.ID(), ApiAddress: fmt.Sprintf("127.0.0.1:%d", port), P2PAddress: fmt.Sprintf("127.0.0.1:%d", port+1)}
	}
	base := &foliov1.ChannelConfig{Format: channel.Format, ChannelId: "folio", Capability: channel.CapabilityV2,
		Orgs: []*foliov1.OrgConfig{{Name: "Org1", MspId: "Org1MSP", RootCerts: pem(o1)}, {Name: "Org2", MspId: "Org2MSP", RootCerts: pem(o2)},
			{Name: "Orderer", MspId: "OrdererMSP", Kind: foliov1.OrgKind_ORG_KIND_ORDERER, RootCerts: pem(ord)}},
		Peers:    []*foliov1.NodeEndpoint{node(f.peer1, "Org1", 7000), node(f.peer2, "Org2", 7010)},
		Orderers: []*foliov1.NodeEndpoint{node(orderer, "Orderer", 7020)},
		Batch:    &foliov1.BatchConfig{MaxTxCount: 10, MaxBytes: 1 << 20, TimeoutMs: 250},
		Policies: map[string]string{channel.AdminsPolicy: "AND('Org1MSP.admin', 'Org2MSP.admin')"}}
	var err error
	if f.cfg, err = channel.NewConfig(base, 1); err != nil {
		t.Fatal(err)
	}
	v1 := proto.Clone(base).(*foliov1.ChannelConfig)
	v1.Capability = 0
	if f.cfgV1, err = channel.NewConfig(v1, 1); err != nil {
		t.Fatal(err)
	}
	v3 := proto.Clone(base).(*foliov1.ChannelConfig)
	v3.Capability = channel.CapabilityV3
	if f.cfgV3, err = channel.NewConfig(v3, 1); err != nil {
		t.Fatal(err)
	}
	return f
}

// txSpec shapes one test transaction.
type txSpec struct {
	creator   *identity.SigningIdentity
	endorsers []*identity.SigningIdentity
	contract  string
	version   string
	channel   string
	rwset     *foliov1.NsReadWriteSet
	// extra namespaces of the read/write set, after rwset.
	extra []*foliov1.NsReadWriteSet
	// notBefore is the rwset's not-before time (Unix nanoseconds, 0: none).
	notBefore int64
	// proposedAt is the proposal timestamp the creator claims (zero: now).
	proposedAt time.Time
	mutate     func(env *foliov1.Envelope)
}

func (f *fixture) tx(t *testing.T, s txSpec) []byte {
	t.Helper()
	if s.creator == nil {
		s.creator = f.user
	}
	if s.endorsers == nil {
		s.endorsers = []*identity.SigningIdentity{f.peer1, f.peer2}
	}
	if s.contract == "" {
		s.contract = "copyright"
	}
	if s.version == "" {
		s.version = "1"
	}
	if s.channel == "" {
		s.channel = "folio"
	}
	if s.rwset == nil {
		s.rwset = &foliov1.NsReadWriteSet{Namespace: s.contract, Writes: []*foliov1.KVWrite{{Key: "w1", Value: []byte("v")}}}
	}
	sp, h, err := types.NewProposal(s.creator, s.channel, s.contract, "register", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.proposedAt.IsZero() {
		// A creator may stamp its proposal with any time; endorsers bound
		// it to a window around their clocks, validation never reads it.
		h.TimestampUnixNano = s.proposedAt.UnixNano()
		raw, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.Proposal{Header: h,
			Invocation: &foliov1.ContractInvocation{Contract: s.contract, Function: "register"}})
		sig, err := s.creator.Sign(types.DomainProposal, raw)
		if err != nil {
			t.Fatal(err)
		}
		sp = &foliov1.SignedProposal{ProposalBytes: raw, Signature: sig}
	}
	sum := sha256.Sum256(sp.ProposalBytes)
	resp, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.ProposalResponsePayload{ProposalHash: sum[:], Action: &foliov1.ContractAction{
		Contract: &foliov1.ContractRef{Name: s.contract, Version: s.version}, Rwset: &foliov1.ReadWriteSet{NsRwsets: append([]*foliov1.NsReadWriteSet{s.rwset}, s.extra...), NotBeforeUnixNano: s.notBefore},
		Response: &foliov1.Response{Status: 200}}})
	var ends []*foliov1.Endorsement
	for _, e := range s.endorsers {
		sig, _ := e.Sign(types.DomainEndorsement, types.EndorsementMessage(resp, e.Serialized()))
		ends = append(ends, &foliov1.Endorsement{Endorser: e.Serialized(), Signature: sig})
	}
	p, err := types.AssembleTransaction(h, sp.ProposalBytes, resp, ends)
	if err != nil {
		t.Fatal(err)
	}
	env, err := types.SignEnvelope(s.creator, p)
	if err != nil {
		t.Fatal(err)
	}
	if s.mutate != nil {
		s.mutate(env)
	}
	raw, _ := proto.Marshal(env)
	return raw
}

func block(num uint64, envs ...[]byte) *foliov1.Block {
	return &foliov1.Block{Header: &foliov1.BlockHeader{Number: num, PreviousHash: make([]byte, 32), DataHash: types.DataHash(envs)},
		Data: &foliov1.BlockData{Envelopes: envs}}
}

func (f *fixture) opts(st fakeState, idx fakeIndex) Options {
	return Options{ChannelID: "folio", Config: f.cfg, Contracts: fakeContracts{version: "1"}, State: st, Committed: idx}
}

func TestEachCheckGivesItsCode(t *testing.T) {
	f := newFixture(t)
	v := func(b, tx uint64) *foliov1.Version { return &foliov1.Version{BlockNum: b, TxNum: tx} }
	reads := func(key string, ver *foliov1.Version) *foliov1.NsReadWriteSet {
		return &foliov1.NsReadWriteSet{Namespace: "copyright", Reads: []*foliov1.KVRead{{Key: key, Version: ver}},
			Writes: []*foliov1.KVWrite{{Key: key, Value: []byte("new owner")}}}
	}
	cfgEnv := func() []byte {
		h, _ := types.NewHeader(f.user, "folio", foliov1.TxType_TX_TYPE_CONFIG)
		env, _ := types.SignEnvelope(f.user, &foliov1.Payload{Header: h, Data: []byte("cfg")})
		raw, _ := proto.Marshal(env)
		return raw
	}
	wrongTxID := func() []byte {
		h, _ := types.NewHeader(f.user, "folio", foliov1.TxType_TX_TYPE_ENDORSER)
		h.TxId = strings.Repeat("0", 64)
		env, _ := types.SignEnvelope(f.user, &foliov1.Payload{Header: h, Data: []byte("x")})
		raw, _ := proto.Marshal(env)
		return raw
	}
	cases := []struct {
		name string
		env  []byte
		want foliov1.ValidationCode
		says string
	}{
		{"valid", f.tx(t, txSpec{}), foliov1.ValidationCode_VALID, ""},
		{"garbage", []byte{0xff, 0x01}, foliov1.ValidationCode_NIL_ENVELOPE, "decode"},
		{"tx ID not derived", wrongTxID(), foliov1.ValidationCode_BAD_PROPOSAL_TXID, "SHA-256(nonce || creator)"},
		{"other channel", f.tx(t, txSpec{channel: "elsewhere"}), foliov1.ValidationCode_TARGET_CHAIN_NOT_FOUND, "elsewhere"},
		{"config update that does not decode", cfgEnv(), foliov1.ValidationCode_INVALID_CONFIG_TRANSACTION, "does not decode"},
		{"unknown creator", f.tx(t, txSpec{creator: f.stranger, endorsers: []*identity.SigningIdentity{f.peer1, f.peer2}}), foliov1.ValidationCode_BAD_CREATOR_IDENTITY, "unknown organisation"},
		{"forged creator signature", f.tx(t, txSpec{mutate: func(e *foliov1.Envelope) { e.Signature[len(e.Signature)-3] ^= 1 }}), foliov1.ValidationCode_BAD_CREATOR_SIGNATURE, "user1@Org1"},
		{"one org endorsed", f.tx(t, txSpec{endorsers: []*identity.SigningIdentity{f.peer1}}), foliov1.ValidationCode_ENDORSEMENT_POLICY_FAILURE, "'Org2MSP.member'"},
		{"endorsed by a stranger", f.tx(t, txSpec{endorsers: []*identity.SigningIdentity{f.peer1, f.stranger}}), foliov1.ValidationCode_ENDORSEMENT_POLICY_FAILURE, "rejected endorsements"},
		{"old version", f.tx(t, txSpec{version: "0"}), foliov1.ValidationCode_CONTRACT_VERSION_NOT_EFFECTIVE, `version "1" is effective`},
		{"unknown contract", f.tx(t, txSpec{contract: "other"}), foliov1.ValidationCode_INVALID_CONTRACT, "not defined"},
		{"writes another namespace", f.tx(t, txSpec{rwset: &foliov1.NsReadWriteSet{Namespace: "lifecycle", Writes: []*foliov1.KVWrite{{Key: "x", Value: []byte("y")}}}}), foliov1.ValidationCode_ILLEGAL_WRITESET, "lifecycle"},
		{"stale read", f.tx(t, txSpec{rwset: reads("w9", v(1, 0))}), foliov1.ValidationCode_MVCC_READ_CONFLICT, "changed since it was read"},
	}
	st := fakeState{"copyright/w9": v(2, 3)}
	for _, c := range cases {
		res, err := Block(context.Background(), block(5, c.env), f.opts(st, fakeIndex{}))
		if err != nil {
			t.Fatal(err)
		}
		got := res.Txs[0]
		if got.Code != c.want || !strings.Contains(got.Reason, c.says) {
			t.Errorf("%s: %v %q, want %v mentioning %q", c.name, got.Code, got.Reason, c.want, c.says)
		}
	}
}

func TestDuplicatesAndConflictsWithinABlock(t *testing.T) {
	f := newFixture(t)
	ver := &foliov1.Version{BlockNum: 3, TxNum: 0}
	st := fakeState{"copyright/work1": ver}
	transfer := func() []byte {
		return f.tx(t, txSpec{rwset: &foliov1.NsReadWriteSet{Namespace: "copyright", Reads: []*foliov1.KVRead{{Key: "work1", Version: ver}},
			Writes: []*foliov1.KVWrite{{Key: "work1", Value: []byte("owner")}}}})
	}
	t1, t2 := transfer(), transfer()
	committed := f.tx(t, txSpec{})
	var env foliov1.Envelope
	var p foliov1.Payload
	_ = proto.Unmarshal(committed, &env)
	_ = proto.Unmarshal(env.Payload, &p)
	res, err := Block(context.Background(), block(7, t1, t2, t1, committed), f.opts(st, fakeIndex{p.Header.TxId: true}))
	if err != nil {
		t.Fatal(err)
	}
	want := []foliov1.ValidationCode{foliov1.ValidationCode_VALID, foliov1.ValidationCode_MVCC_READ_CONFLICT,
		foliov1.ValidationCode_DUPLICATE_TXID, foliov1.ValidationCode_DUPLICATE_TXID}
	for i, w := range want {
		if res.Txs[i].Code != w {
			t.Errorf("tx %d: %v (%s), want %v", i, res.Txs[i].Code, res.Txs[i].Reason, w)
		}
	}
	if got := res.Codes(); len(got) != 4 || got[1] != byte(foliov1.ValidationCode_MVCC_READ_CONFLICT) {
		t.Fatalf("codes %v", got)
	}
}

func TestPhantomRead(t *testing.T) {
	f := newFixture(t)
	st := fakeState{"copyright/idx~a": {BlockNum: 1}}
	insert := f.tx(t, txSpec{rwset: &foliov1.NsReadWriteSet{Namespace: "copyright", Writes: []*foliov1.KVWrite{{Key: "idx~b", Value: []byte("x")}}}})
	scan := f.tx(t, txSpec{rwset: &foliov1.NsReadWriteSet{Namespace: "copyright",
		RangeReads: []*foliov1.RangeRead{{StartKey: "idx~", EndKey: "idx~~", Exhausted: true, Reads: []*foliov1.KVRead{{Key: "idx~a", Version: &foliov1.Version{BlockNum: 1}}}}},
		Writes:     []*foliov1.KVWrite{{Key: "summary", Value: []byte("1 work")}}}})
	res, _ := Block(context.Background(), block(2, scan, insert, scan), f.opts(st, fakeIndex{}))
	if res.Txs[0].Code != foliov1.ValidationCode_VALID || res.Txs[1].Code != foliov1.ValidationCode_VALID {
		t.Fatalf("first two: %v %v", res.Txs[0].Code, res.Txs[1].Code)
	}
	if res.Txs[2].Code != foliov1.ValidationCode_DUPLICATE_TXID {
		t.Fatalf("third: %v", res.Txs[2].Code)
	}
	scan2 := f.tx(t, txSpec{rwset: &foliov1.NsReadWriteSet{Namespace: "copyright",
		RangeReads: []*foliov1.RangeRead{{StartKey: "idx~", EndKey: "idx~~", Exhausted: true, Reads: []*foliov1.KVRead{{Key: "idx~a", Version: &foliov1.Version{BlockNum: 1}}}}}}})
	res, _ = Block(context.Background(), block(2, insert, scan2), f.opts(st, fakeIndex{}))
	if res.Txs[1].Code != foliov1.ValidationCode_PHANTOM_READ_CONFLICT {
		t.Fatalf("scan after an insert in range: %v (%s)", res.Txs[1].Code, res.Txs[1].Reason)
	}
}

func BenchmarkValidateBlock(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t)
	var envs [][]byte
	for i := 0; i < 100; i++ {
		envs = append(envs, f.tx(t, txSpec{rwset: &foliov1.NsReadWriteSet{Namespace: "copyright", Writes: []*foliov1.KVWrite{{Key: fmt.Sprint("k", i), Value: []byte("v")}}}}))
	}
	blk := block(1, envs...)
	o := f.opts(fakeState{}, fakeIndex{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Block(context.Background(), blk, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "tx/s")
}

// TestOwnEndorsementIsNotVerifiedAgain: a peer skips checking only its own
// endorsement, with exactly the signature bytes it produced over the payload
// it remembers signing. A client that flips one byte of the gateway peer's
// own endorsement signature (which the peer would once have committed
// VALID while every other peer refused it: a fork) is refused.
func TestOwnEndorsementIsNotVerifiedAgain(t *testing.T) {
	f := newFixture(t)
	corrupt := func(who *identity.SigningIdentity) []byte {
		return f.tx(t, txSpec{mutate: func(e *foliov1.Envelope) {
			var p foliov1.Payload
			_ = proto.Unmarshal(e.Payload, &p)
			var tx foliov1.Transaction
			_ = proto.Unmarshal(p.Data, &tx)
			for _, en := range tx.Endorsements {
				if string(en.Endorser) == string(who.Serialized()) {
					en.Signature[len(en.Signature)-3] ^= 1
				}
			}
			p.Data, _ = proto.Marshal(&tx)
			e.Payload, _ = proto.Marshal(&p)
			e.Signature, _ = f.user.Sign(types.DomainEnvelope, e.Payload)
		}})
	}
	// own remembers what peer1 signed, as endorse.Endorser does; verified
	// counts the signatures the validator checked itself.
	own := map[string][]byte{}
	remember := func(raw []byte) {
		var e foliov1.Envelope
		var p foliov1.Payload
		var tx foliov1.Transaction
		_ = proto.Unmarshal(raw, &e)
		_ = proto.Unmarshal(e.Payload, &p)
		_ = proto.Unmarshal(p.Data, &tx)
		for _, en := range tx.Endorsements {
			if bytes.Equal(en.Endorser, f.peer1.Serialized()) {
				own[p.Header.TxId] = bytes.Clone(en.Signature)
			}
		}
	}
	honest := f.tx(t, txSpec{})
	remember(honest)
	skipped := 0
	o := f.opts(fakeState{}, fakeIndex{})
	o.OwnEndorsement = func(txID string, endorser, payload, sig []byte) bool {
		ok := bytes.Equal(endorser, f.peer1.Serialized()) && own[txID] != nil && bytes.Equal(own[txID], sig)
		if ok {
			skipped++
		}
		return ok
	}
	flipped := corrupt(f.peer1)
	// The corrupted transaction is a fresh one; the attacker got peer1's
	// genuine signature first, which peer1 remembers.
	var e foliov1.Envelope
	var p foliov1.Payload
	var tx foliov1.Transaction
	_ = proto.Unmarshal(flipped, &e)
	_ = proto.Unmarshal(e.Payload, &p)
	_ = proto.Unmarshal(p.Data, &tx)
	for _, en := range tx.Endorsements {
		if bytes.Equal(en.Endorser, f.peer1.Serialized()) {
			genuine := bytes.Clone(en.Signature)
			genuine[len(genuine)-3] ^= 1
			own[p.Header.TxId] = genuine
		}
	}
	res, _ := Block(context.Background(), block(1, honest, flipped, corrupt(f.peer2)), o)
	if res.Txs[0].Code != foliov1.ValidationCode_VALID || skipped != 1 {
		t.Fatalf("own endorsement: %v %s, skipped %d (want VALID, 1)", res.Txs[0].Code, res.Txs[0].Reason, skipped)
	}
	if res.Txs[1].Code != foliov1.ValidationCode_ENDORSEMENT_POLICY_FAILURE {
		t.Fatalf("own endorsement with a flipped signature byte: %v %s", res.Txs[1].Code, res.Txs[1].Reason)
	}
	if res.Txs[2].Code != foliov1.ValidationCode_ENDORSEMENT_POLICY_FAILURE {
		t.Fatalf("a corrupted foreign endorsement passed: %v", res.Txs[2].Code)
	}
}
