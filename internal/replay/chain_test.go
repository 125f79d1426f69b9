package replay

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"io"
	"log/slog"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/commit"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/types"
)

var quiet = slog.New(slog.DiscardHandler)

type org struct {
	name string
	ca   *identity.SigningIdentity
}

func newOrg(t *testing.T, name string) *org {
	t.Helper()
	key, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	root, err := identity.NewRootCA(name, "ca", key, time.Now(), identity.DefaultRootValidity)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := identity.NewSigningIdentity(identity.Identity{Cert: root}, key)
	return &org{name: name, ca: ca}
}

func (o *org) msp() string { return o.name + "MSP" }

// member issues an identity with the default leaf lifetime (two years).
func (o *org) member(t *testing.T, name string, role identity.Role) *identity.SigningIdentity {
	t.Helper()
	key, _ := fcrypto.GenerateKey()
	cert, err := identity.Issue(o.ca.Cert, o.ca.Key(), identity.LeafRequest{Name: name, Role: role, PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	si, err := identity.NewSigningIdentity(identity.Identity{MSPID: o.msp(), Org: o.name, Name: name, Role: role, Cert: cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	return si
}

// crl is a revocation list of the organisation revoking certs.
func (o *org) crl(t *testing.T, number int64, certs ...*x509.Certificate) []byte {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, c := range certs {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: time.Now(),
		NextUpdate: time.Now().Add(time.Hour), RevokedCertificateEntries: entries}, o.ca.Cert, o.ca.Key())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// peerNode is a peer as the test's source: a ledger in dataDir/db (the
// layout of a peer's data_dir) committed through a committer built as
// internal/node/peer.go builds it, independently of newPeerPath.
type peerNode struct {
	dataDir string
	led     *ledger.Ledger
	com     *commit.Committer
}

// world is a channel of two peer organisations and an ordering
// organisation, with the identities the test chain uses.
type world struct {
	org1, org2, ord                   *org
	user1, user2, peer1, peer2        *identity.SigningIdentity
	admin1, admin2, orderer, stranger *identity.SigningIdentity
	cfg                               *foliov1.ChannelConfig
	genesis                           *foliov1.Block
	prev                              *foliov1.Block
	v1Hash, v2Hash                    []byte
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{org1: newOrg(t, "Org1"), org2: newOrg(t, "Org2"), ord: newOrg(t, "OrdererOrg")}
	w.user1, w.user2 = w.org1.member(t, "user1", identity.RoleClient), w.org1.member(t, "user2", identity.RoleClient)
	w.peer1, w.peer2 = w.org1.member(t, "peer0.org1", identity.RolePeer), w.org2.member(t, "peer0.org2", identity.RolePeer)
	w.admin1, w.admin2 = w.org1.member(t, "admin", identity.RoleAdmin), w.org2.member(t, "admin", identity.RoleAdmin)
	w.orderer = w.ord.member(t, "orderer0", identity.RoleOrderer)
	w.stranger = newOrg(t, "Evil").member(t, "eve", identity.RoleClient)
	nodeID := func(si *identity.SigningIdentity) string {
		id, err := fcrypto.KeyID(si.Cert.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	h1, h2 := sha256.Sum256([]byte("copyright v1")), sha256.Sum256([]byte("copyright v2"))
	w.v1Hash, w.v2Hash = h1[:], h2[:]
	var orgs []*foliov1.OrgConfig
	for _, o := range []struct {
		o    *org
		kind foliov1.OrgKind
	}{{w.org1, foliov1.OrgKind_ORG_KIND_PEER}, {w.org2, foliov1.OrgKind_ORG_KIND_PEER}, {w.ord, foliov1.OrgKind_ORG_KIND_ORDERER}} {
		orgs = append(orgs, &foliov1.OrgConfig{Name: o.o.name, MspId: o.o.msp(), Kind: o.kind, RootCerts: [][]byte{fcrypto.EncodeCertificatePEM(o.o.ca.Cert.Raw)}})
	}
	w.cfg = &foliov1.ChannelConfig{Format: channel.Format, ChannelId: "folio", Orgs: orgs,
		Orderers: []*foliov1.NodeEndpoint{{Name: "orderer0", Org: "OrdererOrg", NodeId: nodeID(w.orderer)}},
		Peers: []*foliov1.NodeEndpoint{{Name: "peer0.org1", Org: "Org1", NodeId: nodeID(w.peer1)},
			{Name: "peer0.org2", Org: "Org2", NodeId: nodeID(w.peer2)}},
		Batch:     &foliov1.BatchConfig{MaxTxCount: 100, MaxBytes: 1 << 20, TimeoutMs: 100},
		Policies:  map[string]string{lifecycle.ActivationPolicy: "AND('Org1MSP.admin','Org2MSP.admin')"},
		Contracts: []*foliov1.ContractDefinition{{Name: "copyright", Version: "1", EndorsementPolicy: "AND('Org1MSP.member','Org2MSP.member')", PackageHash: w.v1Hash}}}
	g, err := channel.NewGenesis(w.cfg, w.ord.member(t, "admin", identity.RoleAdmin), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.genesis, w.prev = g, g
	return w
}

// newPeer starts a source peer on a fresh data dir: genesis committed as
// internal/node commits it, the committer built as peer.go builds it.
func (w *world) newPeer(t *testing.T) *peerNode { return w.newPeerWith(t, w.cfg) }

// newPeerWith starts a source peer whose channel configuration in force is
// local (the genesis block still holds w.cfg): a peer that validates with
// something the chain does not hold.
func (w *world) newPeerWith(t *testing.T, local *foliov1.ChannelConfig) *peerNode {
	t.Helper()
	p := &peerNode{dataDir: filepath.Join(t.TempDir(), "data")}
	led, err := ledger.Open(filepath.Join(p.dataDir, "db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.led = led
	t.Cleanup(func() { p.close() })
	if _, err := led.Commit(proto.Clone(w.genesis).(*foliov1.Block), ledger.Updates{}); err != nil {
		t.Fatal(err)
	}
	reg, err := lifecycle.New(filepath.Join(p.dataDir, "contracts"), w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := channel.Restore(local, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.com, err = commit.New(commit.Options{ChannelID: "folio", Ledger: led, Config: channel.NewTracker(cfg), Contracts: reg, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	return p
}

// close stops the peer (its ledger closed, the data dir left as a
// stopped peer leaves it).
func (p *peerNode) close() {
	if p.led != nil {
		p.led.Close()
		p.led = nil
	}
}

// txSpec shapes one endorser transaction.
type txSpec struct {
	creator   *identity.SigningIdentity
	endorsers []*identity.SigningIdentity
	version   string
	rw        *foliov1.NsReadWriteSet
	forge     bool // break the creator's signature
}

func ver(b, tx uint64) *foliov1.Version { return &foliov1.Version{BlockNum: b, TxNum: tx} }

func put(key, value string) *foliov1.NsReadWriteSet {
	return &foliov1.NsReadWriteSet{Namespace: "copyright", Writes: []*foliov1.KVWrite{{Key: key, Value: []byte(value)}}}
}

// tx builds a transaction as a gateway assembles it from endorsements
// (the contract is not executed: the validator never executes it).
func (w *world) tx(t *testing.T, s txSpec) []byte {
	t.Helper()
	if s.creator == nil {
		s.creator = w.user1
	}
	if s.endorsers == nil {
		s.endorsers = []*identity.SigningIdentity{w.peer1, w.peer2}
	}
	if s.version == "" {
		s.version = "1"
	}
	sp, h, err := types.NewProposal(s.creator, "folio", "copyright", "call", nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(sp.ProposalBytes)
	resp, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.ProposalResponsePayload{ProposalHash: sum[:], Action: &foliov1.ContractAction{
		Contract: &foliov1.ContractRef{Name: "copyright", Version: s.version}, Rwset: &foliov1.ReadWriteSet{NsRwsets: []*foliov1.NsReadWriteSet{s.rw}},
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
	if s.forge {
		env.Signature[len(env.Signature)-3] ^= 1
	}
	raw, _ := proto.Marshal(env)
	return raw
}

func (w *world) lifecycleTx(t *testing.T, creator *identity.SigningIdentity, req *foliov1.LifecycleRequest, approvers ...types.Signer) []byte {
	t.Helper()
	env, _, err := types.NewLifecycleEnvelope(creator, "folio", req, approvers)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := proto.Marshal(env)
	return raw
}

// block cuts and signs the next block, as the orderer does.
func (w *world) block(envs ...[]byte) *foliov1.Block {
	prevHash, _ := types.HeaderHash(w.prev.Header)
	h := &foliov1.BlockHeader{Number: w.prev.Header.Number + 1, PreviousHash: prevHash, DataHash: types.DataHash(envs), TimestampUnixNano: time.Now().UnixNano()}
	hdr, _ := types.HeaderBytes(h)
	sig, _ := w.orderer.Sign(types.DomainBlock, hdr)
	b := &foliov1.Block{Header: h, Data: &foliov1.BlockData{Envelopes: envs},
		Metadata: &foliov1.BlockMetadata{Signatures: []*foliov1.OrdererSignature{{Signer: w.orderer.Serialized(), Signature: sig}}}}
	w.prev = b
	return b
}

// commit delivers b to every peer, each committing its own copy.
func commitAll(t *testing.T, b *foliov1.Block, peers ...*peerNode) {
	t.Helper()
	for _, p := range peers {
		if err := p.com.Accept(proto.Clone(b).(*foliov1.Block)); err != nil {
			t.Fatalf("commit block %d: %v", b.Header.Number, err)
		}
	}
}

// buildChain commits a chain exercising every outcome the validator can
// reach without a contract runtime, on the given peers, and returns the
// expected codes per block (1 and later).
func (w *world) buildChain(t *testing.T, peers ...*peerNode) [][]foliov1.ValidationCode {
	t.Helper()
	V := foliov1.ValidationCode_VALID
	var want [][]foliov1.ValidationCode
	add := func(b *foliov1.Block, codes ...foliov1.ValidationCode) {
		commitAll(t, b, peers...)
		want = append(want, codes)
	}
	w2 := w.tx(t, txSpec{rw: put("W2", "two")})
	add(w.block(
		w.tx(t, txSpec{rw: put("W1", "one")}),
		w2,
		w.tx(t, txSpec{rw: put("W3", "three")}),
		w.tx(t, txSpec{rw: put("F1", "forged"), forge: true}),
		w.tx(t, txSpec{rw: put("S1", "stranger"), creator: w.stranger}),
		w.tx(t, txSpec{rw: put("P1", "one org"), endorsers: []*identity.SigningIdentity{w.peer1}}),
	), V, V, V, foliov1.ValidationCode_BAD_CREATOR_SIGNATURE, foliov1.ValidationCode_BAD_CREATOR_IDENTITY, foliov1.ValidationCode_ENDORSEMENT_POLICY_FAILURE)

	transfer := func(to string) *foliov1.NsReadWriteSet {
		return &foliov1.NsReadWriteSet{Namespace: "copyright", Reads: []*foliov1.KVRead{{Key: "W1", Version: ver(1, 0)}},
			Writes: []*foliov1.KVWrite{{Key: "W1", Value: []byte("owner " + to)}}}
	}
	add(w.block(
		w.tx(t, txSpec{rw: transfer("user1@Org2")}),
		w.tx(t, txSpec{rw: transfer("admin@Org2")}),
		w.tx(t, txSpec{rw: &foliov1.NsReadWriteSet{Namespace: "copyright", Reads: []*foliov1.KVRead{{Key: "W3", Version: ver(1, 2)}},
			Writes: []*foliov1.KVWrite{{Key: "W3", IsDelete: true}}}}),
		w2,
		w.tx(t, txSpec{rw: &foliov1.NsReadWriteSet{Namespace: "copyright", RangeReads: []*foliov1.RangeRead{{StartKey: "W", EndKey: "X", Exhausted: true,
			Reads: []*foliov1.KVRead{{Key: "W1", Version: ver(1, 0)}, {Key: "W2", Version: ver(1, 1)}, {Key: "W3", Version: ver(1, 2)}}}},
			Writes: []*foliov1.KVWrite{{Key: "COUNT", Value: []byte("3")}}}}),
		w.tx(t, txSpec{rw: put("W5", "five"), creator: w.user2}),
	), V, foliov1.ValidationCode_MVCC_READ_CONFLICT, V, foliov1.ValidationCode_DUPLICATE_TXID, foliov1.ValidationCode_PHANTOM_READ_CONFLICT, V)

	install := func(p *identity.SigningIdentity, name string) []byte {
		return w.lifecycleTx(t, p, &foliov1.LifecycleRequest{Op: &foliov1.LifecycleRequest_Install{Install: &foliov1.InstallRecord{
			Contract: "copyright", Version: "2", PackageHash: w.v2Hash, Peer: name}}})
	}
	add(w.block(install(w.peer1, "peer0.org1"), install(w.peer2, "peer0.org2"), install(w.peer1, "peer0.org2")),
		V, V, foliov1.ValidationCode_LIFECYCLE_REJECTED)

	activate := &foliov1.LifecycleRequest{Op: &foliov1.LifecycleRequest_Activate{Activate: &foliov1.Activation{
		Contract: "copyright", Version: "2", PackageHash: w.v2Hash, AfterBlocks: 1}}}
	add(w.block(w.lifecycleTx(t, w.admin1, activate, w.admin2), w.tx(t, txSpec{rw: put("W6", "six")})), V, V)

	add(w.block(w.tx(t, txSpec{rw: put("W7", "old version")}), w.tx(t, txSpec{rw: put("W8", "new version"), version: "2"})),
		foliov1.ValidationCode_CONTRACT_VERSION_NOT_EFFECTIVE, V)

	// user2 is revoked on chain (a config update installing Org1's new
	// revocation list, as `folio ca revoke` records it); from the next
	// block on every peer refuses user2, on any date.
	next := proto.Clone(w.cfg).(*foliov1.ChannelConfig)
	next.Sequence = 1
	next.Orgs[0].Crl = w.org1.crl(t, 1, w.user2.Cert)
	env, _, err := types.NewConfigEnvelope(w.admin1, &foliov1.ConfigUpdate{ChannelId: "folio", Sequence: 1, Config: next},
		[]types.Signer{w.admin1})
	if err != nil {
		t.Fatal(err)
	}
	revoke, _ := proto.Marshal(env)
	add(w.block(revoke, w.tx(t, txSpec{rw: put("W9", "before the revocation"), creator: w.user2, version: "2"})), V, V)
	add(w.block(w.tx(t, txSpec{rw: put("W10", "after the revocation"), creator: w.user2, version: "2"}), w.tx(t, txSpec{rw: put("W11", "user1"), version: "2"})),
		foliov1.ValidationCode_BAD_CREATOR_IDENTITY, V)
	return want
}

// blocks reads every block of a data dir (a copy: the dir is not touched).
func readAll(t *testing.T, src Source) []*foliov1.Block {
	t.Helper()
	var out []*foliov1.Block
	for {
		b, err := src.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}
