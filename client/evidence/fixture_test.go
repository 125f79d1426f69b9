package evidence_test

import (
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client/evidence"
	"github.com/folio-ledger/folio/internal/channel"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/identitytest"
	"github.com/folio-ledger/folio/internal/kv/memkv"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/types"
)

// The fixture is a real channel in one process: three organisations with
// their own CAs (Org1 and Org2 with a peer and a client each, OrdererOrg
// with an orderer), a genesis block, and a ledger on which blocks of
// signed, endorsed transactions are committed. Its evidence is what a peer
// answers to Prove (internal/evidence.Service.Prove, repeated here without
// the node sessions that gather the attestations): real trie proofs, real
// signatures, real inclusion paths.

const (
	testChannel = "folio"
	namespace   = "copyright"
	workKey     = "work/W1"
)

// world is the channel and its ledger.
type world struct {
	t                   testing.TB
	org1, org2, ordOrg  *identitytest.Org
	peer1, peer2        *identity.SigningIdentity
	alice, bob, orderer *identity.SigningIdentity
	genesis             *foliov1.Block
	led                 *ledger.Ledger
	prev                *foliov1.Block
}

// tx is a transaction for a block: its envelope and what it writes when
// valid.
type tx struct {
	id     string
	env    []byte
	writes []*foliov1.KVWrite
	// code is the validation code the committing peer gives it.
	code foliov1.ValidationCode
	// ns is the namespace written ("": the contract's).
	ns string
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, org1: identitytest.NewOrg(t, "Org1"), org2: identitytest.NewOrg(t, "Org2"), ordOrg: identitytest.NewOrg(t, "OrdererOrg")}
	w.peer1, w.peer2 = w.org1.Member(t, "peer0.org1", identity.RolePeer), w.org2.Member(t, "peer0.org2", identity.RolePeer)
	w.alice, w.bob = w.org1.Member(t, "alice", identity.RoleClient), w.org2.Member(t, "bob", identity.RoleClient)
	w.orderer = w.ordOrg.Member(t, "orderer0", identity.RoleOrderer)
	var orgs []*foliov1.OrgConfig
	for _, o := range []*identitytest.Org{w.org1, w.org2, w.ordOrg} {
		orgs = append(orgs, &foliov1.OrgConfig{Name: o.Name, MspId: o.MSPID, RootCerts: [][]byte{fcrypto.EncodeCertificatePEM(o.CA.Cert.Raw)}})
	}
	nodeID := func(si *identity.SigningIdentity) string {
		id, err := fcrypto.KeyID(si.Cert.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	sum := sha256.Sum256([]byte("copyright module"))
	cfg := &foliov1.ChannelConfig{Format: channel.Format, ChannelId: testChannel, Orgs: orgs, Capability: channel.MaxCapability,
		Orderers:  []*foliov1.NodeEndpoint{{Name: "orderer0", Org: "OrdererOrg", NodeId: nodeID(w.orderer)}},
		Peers:     []*foliov1.NodeEndpoint{{Name: "peer0.org1", Org: "Org1", NodeId: nodeID(w.peer1)}, {Name: "peer0.org2", Org: "Org2", NodeId: nodeID(w.peer2)}},
		Batch:     &foliov1.BatchConfig{MaxTxCount: 10, MaxBytes: 1 << 20, TimeoutMs: 100},
		Contracts: []*foliov1.ContractDefinition{{Name: namespace, Version: "1", EndorsementPolicy: "AND('Org1MSP.peer','Org2MSP.peer')", PackageHash: sum[:]}}}
	var err error
	if w.genesis, err = channel.NewGenesis(cfg, w.ordOrg.Member(t, "admin", identity.RoleAdmin), time.Now()); err != nil {
		t.Fatal(err)
	}
	if w.led, err = ledger.OpenStore(memkv.New(), ledger.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.led.Close() })
	if _, err := w.led.Commit(w.genesis, ledger.Updates{}); err != nil {
		t.Fatal(err)
	}
	w.prev = w.genesis
	return w
}

// roots are the organisations' root certificates, as a court gets them.
func (w *world) roots() []evidence.Root {
	return []evidence.Root{{MSPID: "Org1MSP", Cert: w.org1.CA.Cert}, {MSPID: "Org2MSP", Cert: w.org2.CA.Cert}, {MSPID: "OrdererOrgMSP", Cert: w.ordOrg.CA.Cert}}
}

// anchor is the pinned genesis block, the strongest anchor.
func (w *world) anchor() evidence.Anchor { return evidence.Anchor{Genesis: w.genesis} }

// absent is the read of a key that does not exist.
var absent *foliov1.Version

// endorsedTx is creator's call of fn reading key at version read (absent:
// nil) and writing value at it, endorsed by endorsers (the peers sign the
// response payload as the endorser does).
func (w *world) endorsedTx(creator *identity.SigningIdentity, fn, key string, value []byte, read *foliov1.Version, endorsers ...*identity.SigningIdentity) tx {
	w.t.Helper()
	sp, h, err := types.NewProposal(creator, testChannel, namespace, fn, [][]byte{value})
	if err != nil {
		w.t.Fatal(err)
	}
	writes := []*foliov1.KVWrite{{Key: key, Value: value}}
	sum := sha256.Sum256(sp.ProposalBytes)
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.ProposalResponsePayload{ProposalHash: sum[:],
		Action: &foliov1.ContractAction{Contract: &foliov1.ContractRef{Name: namespace, Version: "1"}, Response: &foliov1.Response{Status: 200},
			Rwset: &foliov1.ReadWriteSet{NsRwsets: []*foliov1.NsReadWriteSet{{Namespace: namespace,
				Reads: []*foliov1.KVRead{{Key: key, Version: read}}, Writes: writes}}}}})
	if err != nil {
		w.t.Fatal(err)
	}
	var ends []*foliov1.Endorsement
	for _, e := range endorsers {
		sig, err := e.Sign(types.DomainEndorsement, types.EndorsementMessage(payload, e.Serialized()))
		if err != nil {
			w.t.Fatal(err)
		}
		ends = append(ends, &foliov1.Endorsement{Endorser: e.Serialized(), Signature: sig})
	}
	pl, err := types.AssembleTransaction(h, sp.ProposalBytes, payload, ends)
	if err != nil {
		w.t.Fatal(err)
	}
	env, err := types.SignEnvelope(creator, pl)
	if err != nil {
		w.t.Fatal(err)
	}
	raw, err := proto.Marshal(env)
	if err != nil {
		w.t.Fatal(err)
	}
	return tx{id: h.TxId, env: raw, writes: writes}
}

// record is a work record as the copyright contract stores it.
func record(t testing.TB, owner string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{"id": "W1", "title": "Sonata", "owner": owner})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signHeader is signer's orderer signature over a block header.
func signHeader(t testing.TB, signer *identity.SigningIdentity, h *foliov1.BlockHeader) *foliov1.OrdererSignature {
	t.Helper()
	raw, err := types.HeaderBytes(h)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign(types.DomainBlock, raw)
	if err != nil {
		t.Fatal(err)
	}
	return &foliov1.OrdererSignature{Signer: signer.Serialized(), Signature: sig}
}

// block cuts the next block of txs, signs it as the orderer and commits
// the valid transactions' writes.
func (w *world) block(txs ...tx) *foliov1.Block {
	w.t.Helper()
	envs := make([][]byte, len(txs))
	codes := make([]byte, len(txs))
	var u ledger.Updates
	now := time.Now()
	for i, x := range txs {
		envs[i], codes[i] = x.env, byte(x.code)
		if x.code == foliov1.ValidationCode_VALID {
			ns := x.ns
			if ns == "" {
				ns = namespace
			}
			u.Txs = append(u.Txs, ledger.TxUpdate{TxNum: uint64(i), TxID: x.id, Timestamp: now, Writes: []ledger.NsWrites{{Namespace: ns, Writes: x.writes}}})
		}
	}
	prev, err := types.HeaderHash(w.prev.Header)
	if err != nil {
		w.t.Fatal(err)
	}
	h := &foliov1.BlockHeader{Number: w.prev.Header.Number + 1, PreviousHash: prev, DataHash: types.DataHash(envs), TimestampUnixNano: now.UnixNano()}
	b := &foliov1.Block{Header: h, Data: &foliov1.BlockData{Envelopes: envs},
		Metadata: &foliov1.BlockMetadata{Signatures: []*foliov1.OrdererSignature{signHeader(w.t, w.orderer, h)}, ValidationCodes: codes}}
	if _, err := w.led.Commit(b, u); err != nil {
		w.t.Fatal(err)
	}
	w.prev = b
	return b
}

// attest is peer's signed statement of its state root after block num.
func (w *world) attest(peer *identity.SigningIdentity, num uint64) *foliov1.SignedAttestation {
	w.t.Helper()
	return w.attestAs(peer, num, testChannel)
}

// attestAs is attest claiming the block is channelID's.
func (w *world) attestAs(peer *identity.SigningIdentity, num uint64, channelID string) *foliov1.SignedAttestation {
	w.t.Helper()
	b, err := w.led.Blocks().Block(num)
	if err != nil {
		w.t.Fatal(err)
	}
	root, err := w.led.StateRoot(num)
	if err != nil {
		w.t.Fatal(err)
	}
	hash, err := types.HeaderHash(b.Header)
	if err != nil {
		w.t.Fatal(err)
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.StateAttestation{ChannelId: channelID, BlockNumber: num, BlockHash: hash, StateRoot: root,
		ValidationCodesHash: types.ValidationCodesHash(b.GetMetadata().GetValidationCodes())})
	if err != nil {
		w.t.Fatal(err)
	}
	sig, err := peer.Sign(types.DomainAttestation, raw)
	if err != nil {
		w.t.Fatal(err)
	}
	return &foliov1.SignedAttestation{Attestation: raw, Signer: peer.Serialized(), Signature: sig}
}

// txProof proves transaction number i of block num, as the peer does.
func (w *world) txProof(num uint64, i int) *foliov1.TxProof {
	w.t.Helper()
	b, err := w.led.Blocks().Block(num)
	if err != nil {
		w.t.Fatal(err)
	}
	tp := proveTx(w.t, b, i)
	tp.Attestations = []*foliov1.SignedAttestation{w.attest(w.peer1, num), w.attest(w.peer2, num)}
	return tp
}

// proveTx proves transaction i of block b (committed or not).
func proveTx(t testing.TB, b *foliov1.Block, i int) *foliov1.TxProof {
	t.Helper()
	envs := b.Data.Envelopes
	path, err := types.InclusionProof(envs, i)
	if err != nil {
		t.Fatal(err)
	}
	var env foliov1.Envelope
	if err := proto.Unmarshal(envs[i], &env); err != nil {
		t.Fatal(err)
	}
	p, err := types.ParseEnvelope(&env)
	if err != nil {
		t.Fatal(err)
	}
	tp := &foliov1.TxProof{TxId: p.Header.TxId, BlockNumber: b.Header.Number, TxIndex: uint32(i), TxCount: uint32(len(envs)), Envelope: envs[i],
		InclusionPath: path, Header: b.Header, OrdererSignatures: b.Metadata.Signatures, ValidationCodes: b.Metadata.GetValidationCodes()}
	if codes := b.Metadata.GetValidationCodes(); i < len(codes) {
		tp.ValidationCode = foliov1.ValidationCode(codes[i])
	}
	return tp
}

// prove answers Prove for key at the last block: the trie proofs, the
// block's header and signatures, an attestation by each peer, and the
// key's history.
func (w *world) prove(key string) *foliov1.ProveResponse {
	w.t.Helper()
	r, err := w.led.NewReader()
	if err != nil {
		w.t.Fatal(err)
	}
	defer r.Close()
	p, err := r.Prove(namespace, key)
	if err != nil {
		w.t.Fatalf("prove %s: %v", key, err)
	}
	if p.Version == nil {
		w.t.Fatalf("prove %s: no such key", key)
	}
	acct, err := p.Account.Encode()
	if err != nil {
		w.t.Fatal(err)
	}
	b, err := w.led.Blocks().Block(p.BlockNum)
	if err != nil {
		w.t.Fatal(err)
	}
	out := &foliov1.ProveResponse{BlockNumber: p.BlockNum, StateRoot: p.StateRoot[:], Account: acct, AccountProof: p.AccountProof,
		StorageProof: p.StorageProof, Value: p.Value, Version: p.Version, Header: b.Header, OrdererSignatures: b.Metadata.Signatures,
		Attestations: []*foliov1.SignedAttestation{w.attest(w.peer1, p.BlockNum), w.attest(w.peer2, p.BlockNum)}}
	hist, err := r.History(namespace, key)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, h := range hist {
		out.History = append(out.History, w.txProof(h.Version.BlockNum, int(h.Version.TxNum)))
	}
	cfgs, err := r.History(channel.Namespace, channel.UpdateKey)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, h := range cfgs {
		out.ConfigUpdates = append(out.ConfigUpdates, w.txProof(h.Version.BlockNum, int(h.Version.TxNum)))
	}
	out.Genesis = w.genesis
	out.ConfigState = w.stateProof(r, channel.Namespace, channel.UpdateKey)
	out.Definitions = w.stateProof(r, lifecycle.Namespace, lifecycle.DefinitionsKey(namespace))
	return out
}

// stateProof proves ns/key or its absence, as the peer does.
func (w *world) stateProof(r *ledger.Reader, ns, key string) *foliov1.StateProof {
	w.t.Helper()
	p, err := r.Prove(ns, key)
	if err != nil {
		w.t.Fatal(err)
	}
	return &foliov1.StateProof{Namespace: ns, Key: key, Value: p.Value, AccountProof: p.AccountProof, StorageProof: p.StorageProof}
}

// story is the fixture's chain:
//
//	block 1: alice registers W1 (valid)
//	block 2: alice registers another work (valid); mallory's transfer of
//	         W1 to herself, endorsed by Org1 alone (ENDORSEMENT_POLICY_FAILURE);
//	         alice transfers W1 to bob (valid)
//	block 3: bob updates W1 (valid)
//
// It returns the world and the encoded evidence of W1 after block 3, whose
// history holds blocks 1, 2 (tx 2) and 3.
type story struct {
	*world
	resp *foliov1.ProveResponse
	data []byte
	// rejected is mallory's transaction: ordered in block 2 as tx 1, invalid.
	rejected *foliov1.TxProof
}

func newStory(t testing.TB) *story {
	t.Helper()
	w := newWorld(t)
	mallory := w.org1.Member(t, "mallory", identity.RoleClient)
	w.block(w.endorsedTx(w.alice, "register", workKey, record(t, "alice@Org1"), absent, w.peer1, w.peer2))
	v1 := &foliov1.Version{BlockNum: 1, TxNum: 0}
	bad := w.endorsedTx(mallory, "transfer", workKey, record(t, "mallory@Org1"), v1, w.peer1)
	bad.code = foliov1.ValidationCode_ENDORSEMENT_POLICY_FAILURE
	w.block(w.endorsedTx(w.alice, "register", "work/W2", record(t, "alice@Org1"), absent, w.peer1, w.peer2), bad,
		w.endorsedTx(w.alice, "transfer", workKey, record(t, "bob@Org2"), v1, w.peer1, w.peer2))
	w.block(w.endorsedTx(w.bob, "update", workKey, record(t, "bob@Org2 (remastered)"), &foliov1.Version{BlockNum: 2, TxNum: 2}, w.peer1, w.peer2))
	s := &story{world: w, resp: w.prove(workKey), rejected: w.txProof(2, 1)}
	b, err := evidence.Build(testChannel, namespace, workKey, s.resp)
	if err != nil {
		t.Fatal(err)
	}
	if s.data, err = b.Encode(); err != nil {
		t.Fatal(err)
	}
	if b := s.decode(); len(b.History) != 3 || b.BlockNumber != 3 {
		t.Fatalf("fixture: %d history entries at block %d, want 3 at block 3", len(b.History), b.BlockNumber)
	}
	return s
}

// decode returns a fresh copy of the honest bundle, to tamper with.
func (s *story) decode() *evidence.Bundle {
	s.t.Helper()
	var b evidence.Bundle
	if err := json.Unmarshal(s.data, &b); err != nil {
		s.t.Fatal(err)
	}
	return &b
}

// buildFrom encodes the evidence of resp as Build and Encode write it.
func buildFrom(t testing.TB, resp *foliov1.ProveResponse) []byte {
	t.Helper()
	b, err := evidence.Build(testChannel, namespace, workKey, resp)
	if err != nil {
		t.Fatal(err)
	}
	data, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}
