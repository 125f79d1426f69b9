package commit

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contracts/copyright"
	"github.com/folio-ledger/folio/internal/channel"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
	"github.com/folio-ledger/folio/internal/endorse"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/kv/memkv"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/types"
)

func TestMain(m *testing.M) { vmtest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type org struct {
	name string
	ca   *identity.SigningIdentity
}

func newOrg(name string) *org {
	key, _ := fcrypto.GenerateKey()
	root, _ := identity.NewRootCA(name, "ca", key, time.Now(), time.Hour)
	ca, _ := identity.NewSigningIdentity(identity.Identity{Cert: root}, key)
	return &org{name: name, ca: ca}
}

func (o *org) member(name string, role identity.Role) *identity.SigningIdentity {
	key, _ := fcrypto.GenerateKey()
	cert, _ := identity.Issue(o.ca.Cert, o.ca.Key(), identity.LeafRequest{Name: name, Role: role, PublicKey: key.Public()})
	si, _ := identity.NewSigningIdentity(identity.Identity{MSPID: o.name + "MSP", Org: o.name, Name: name, Role: role, Cert: cert}, key)
	return si
}

// pipeline is one peer's committer with the endorsers of two organisations,
// all on one in-memory ledger.
type pipeline struct {
	user, orderer *identity.SigningIdentity
	endorsers     []*endorse.Endorser
	led           *ledger.Ledger
	com           *Committer
	prev          *foliov1.Block
}

func newPipeline(t *testing.T) *pipeline {
	o1, o2, oo := newOrg("Org1"), newOrg("Org2"), newOrg("OrdererOrg")
	var orgs []identity.Org
	var cfgOrgs []*foliov1.OrgConfig
	for _, o := range []*org{o1, o2, oo} {
		orgs = append(orgs, identity.Org{Name: o.name, MSPID: o.name + "MSP", Root: o.ca.Cert})
		cfgOrgs = append(cfgOrgs, &foliov1.OrgConfig{Name: o.name, MspId: o.name + "MSP", RootCerts: [][]byte{fcrypto.EncodeCertificatePEM(o.ca.Cert.Raw)}})
	}
	msp, _ := identity.NewVerifier(orgs, nil) // the endorsers' admission verifier
	peers := []*identity.SigningIdentity{o1.member("peer0", identity.RolePeer), o2.member("peer0", identity.RolePeer)}
	wasm := vmtest.BuildWasm(t, "github.com/folio-ledger/folio/contracts/copyright/cmd/copyright")
	sum := sha256.Sum256(wasm)
	ord := oo.member("orderer0", identity.RoleOrderer)
	ordID, _ := fcrypto.KeyID(ord.Cert.PublicKey)
	cfg := &foliov1.ChannelConfig{Format: channel.Format, ChannelId: "folio", Orgs: cfgOrgs, Capability: channel.MaxCapability,
		Orderers:  []*foliov1.NodeEndpoint{{Name: "orderer0", Org: "OrdererOrg", NodeId: ordID}},
		Peers:     []*foliov1.NodeEndpoint{{Name: "peer0.org1", Org: "Org1", NodeId: peers[0].ID()}, {Name: "peer0.org2", Org: "Org2", NodeId: peers[1].ID()}},
		Batch:     &foliov1.BatchConfig{MaxTxCount: 10, MaxBytes: 1 << 20, TimeoutMs: 100},
		Contracts: []*foliov1.ContractDefinition{{Name: "copyright", Version: "1", EndorsementPolicy: "AND('Org1MSP.peer','Org2MSP.peer')", PackageHash: sum[:]}}}
	chcfg, err := channel.NewConfig(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	genesis, err := channel.NewGenesis(cfg, oo.member("admin", identity.RoleAdmin), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_ = os.MkdirAll(filepath.Join(dir, "copyright"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "copyright", "1.wasm"), wasm, 0o644)
	reg, err := lifecycle.New(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	led, err := ledger.OpenStore(memkv.New(), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := led.Commit(genesis, ledger.Updates{}); err != nil {
		t.Fatal(err)
	}
	rt, err := vm.NewRuntime(context.Background(), vm.Options{CacheDir: vmtest.CacheDir(t), ChannelOrgs: vmtest.SharedOrgs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	exec := &endorse.VMExecutor{Runtime: rt, State: led}
	p := &pipeline{user: o1.member("user1", identity.RoleClient), orderer: ord, led: led, prev: genesis}
	for _, peer := range peers {
		e, err := endorse.New(endorse.Options{ChannelID: "folio", Self: peer, MSP: msp, Contracts: reg, Exec: exec,
			Committed: led.Blocks(), Height: led.Height, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		p.endorsers = append(p.endorsers, e)
	}
	if p.com, err = New(Options{ChannelID: "folio", Ledger: led, Config: channel.NewTracker(chcfg), Contracts: reg, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	return p
}

// tx endorses a call with both organisations and returns the signed envelope.
func (p *pipeline) tx(t *testing.T, fn string, args any) (string, []byte) {
	b, _ := json.Marshal(args)
	sp, h, err := types.NewProposal(p.user, "folio", "copyright", fn, [][]byte{b})
	if err != nil {
		t.Fatal(err)
	}
	var payload []byte
	var ends []*foliov1.Endorsement
	for _, e := range p.endorsers {
		r, err := e.Endorse(context.Background(), sp)
		if err != nil || r.Endorsement == nil {
			t.Fatalf("endorse %s: %v %v", fn, err, r.GetResponse())
		}
		payload = r.Payload
		ends = append(ends, r.Endorsement)
	}
	pl, _ := types.AssembleTransaction(h, sp.ProposalBytes, payload, ends)
	env, _ := types.SignEnvelope(p.user, pl)
	raw, _ := proto.Marshal(env)
	return h.TxId, raw
}

// block cuts and signs the next block holding envs.
func (p *pipeline) block(envs ...[]byte) *foliov1.Block {
	prevHash, _ := types.HeaderHash(p.prev.Header)
	h := &foliov1.BlockHeader{Number: p.prev.Header.Number + 1, PreviousHash: prevHash, DataHash: types.DataHash(envs), TimestampUnixNano: time.Now().UnixNano()}
	hdr, _ := types.HeaderBytes(h)
	sig, _ := p.orderer.Sign(types.DomainBlock, hdr)
	b := &foliov1.Block{Header: h, Data: &foliov1.BlockData{Envelopes: envs},
		Metadata: &foliov1.BlockMetadata{Signatures: []*foliov1.OrdererSignature{{Signer: p.orderer.Serialized(), Signature: sig}}}}
	p.prev = b
	return b
}

func TestCommitValidatesAndApplies(t *testing.T) {
	p := newPipeline(t)
	ctx := context.Background()
	regID, reg := p.tx(t, "register", map[string]string{"id": "W1", "title": "T", "author": "A", "type": "audio", "content_hash": "sha256:" + strings.Repeat("ab", 32)})
	forgedID, forged := p.tx(t, "register", map[string]string{"id": "W2", "title": "T", "author": "A", "type": "audio", "content_hash": "sha256:" + strings.Repeat("cd", 32)})
	var env foliov1.Envelope
	_ = proto.Unmarshal(forged, &env)
	env.Signature[len(env.Signature)-3] ^= 1
	forged, _ = proto.Marshal(&env)

	waited := make(chan Status, 1)
	go func() {
		st, _ := p.com.Wait(ctx, regID)
		waited <- st
	}()
	if err := p.com.Accept(p.block(reg, forged)); err != nil {
		t.Fatal(err)
	}
	if st := <-waited; st.Code != foliov1.ValidationCode_VALID || st.Block != 1 {
		t.Fatalf("commit status %+v", st)
	}
	st, ok, _ := p.com.Lookup(forgedID)
	if !ok || st.Code != foliov1.ValidationCode_BAD_CREATOR_SIGNATURE {
		t.Fatalf("forged tx: %+v", st)
	}
	key, _ := copyright.WorkKey("W1")
	if v, ver, err := p.led.Get("copyright", key); err != nil || ver == nil || ver.BlockNum != 1 || !strings.Contains(string(v), `"owner":"user1@Org1"`) {
		t.Fatalf("state after commit: %s %v %v", v, ver, err)
	}
	key2, _ := copyright.WorkKey("W2")
	if _, ver, _ := p.led.Get("copyright", key2); ver != nil {
		t.Fatal("the invalid transaction changed the state")
	}
	root, err := p.led.StateRoot(1)
	if err != nil || len(root) != 32 {
		t.Fatalf("state root of block 1: %x %v", root, err)
	}
	b, _ := p.led.Blocks().Block(1)
	if codes := b.Metadata.ValidationCodes; len(codes) != 2 || codes[0] != 0 || string(b.Metadata.StateRoot) != string(root) {
		t.Fatalf("block metadata: codes %v root %x", codes, b.Metadata.StateRoot)
	}
	if len(b.Metadata.Signatures) != 1 {
		t.Fatal("committing dropped the orderer's signature")
	}

	// Two transfers of the same work in one block: the second conflicts.
	_, t1 := p.tx(t, "transfer", map[string]string{"id": "W1", "to": "user1@Org2"})
	t2ID, t2 := p.tx(t, "transfer", map[string]string{"id": "W1", "to": "admin@Org2"})
	if err := p.com.Accept(p.block(t1, t2)); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := p.com.Lookup(t2ID); st.Code != foliov1.ValidationCode_MVCC_READ_CONFLICT {
		t.Fatalf("second transfer: %+v", st)
	}
	if v, _, _ := p.led.Get("copyright", key); !strings.Contains(string(v), `"owner":"user1@Org2"`) {
		t.Fatalf("owner after transfers: %s", v)
	}
}

// TestReadHeightWaitsForOnCommit is the regression test of the stale read
// `folio chaos --seed 1` found: a peer answered a query "at height 274"
// with the state of height 273, because the gateway waited for and
// reported the ledger's height, which moves before OnCommit has moved the
// enclave's tiers and the height contract reads are pinned at. ReadHeight
// must not move until OnCommit returned.
func TestReadHeightWaitsForOnCommit(t *testing.T) {
	p := newPipeline(t)
	inHook, release := make(chan uint64), make(chan struct{})
	p.com.o.OnCommit = func(_ context.Context, c *Committed) error {
		inHook <- c.Block.Header.Number
		<-release
		return nil
	}
	if h := p.com.ReadHeight(); h != 1 {
		t.Fatalf("read height after genesis = %d, want 1", h)
	}
	_, reg := p.tx(t, "register", map[string]string{"id": "W1", "title": "T", "author": "A", "type": "audio", "content_hash": "sha256:" + strings.Repeat("ab", 32)})
	done := make(chan error, 1)
	go func() { done <- p.com.Accept(p.block(reg)) }()
	if n := <-inHook; n != 1 {
		t.Fatalf("OnCommit for block %d", n)
	}
	// The ledger holds block 1; the tiers do not yet.
	if h, r := p.com.Height(), p.com.ReadHeight(); h != 2 || r != 1 {
		t.Fatalf("during OnCommit: height %d, read height %d; want 2 and 1", h, r)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := p.com.ReadHeight(); r != 2 {
		t.Fatalf("after OnCommit: read height %d, want 2", r)
	}
}
