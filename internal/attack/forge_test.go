package attack

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/types"
)

func testCA(t *testing.T, org, mspID string) *CA {
	t.Helper()
	key, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	root, err := identity.NewRootCA(org, "ca."+org, key, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Org: org, MSPID: mspID, Cert: root, Key: key}
}

func verifier(t *testing.T, cas ...*CA) *identity.Verifier {
	t.Helper()
	var orgs []identity.Org
	for _, ca := range cas {
		orgs = append(orgs, identity.Org{Name: ca.Org, MSPID: ca.MSPID, Root: ca.Cert})
	}
	v, err := identity.NewVerifier(orgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mint(t *testing.T, ca *CA, name string, role identity.Role) *identity.SigningIdentity {
	t.Helper()
	id, err := ca.Mint(name, role)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// prepared builds an endorsed transaction as a gateway would return it.
func prepared(t *testing.T, creator *identity.SigningIdentity, endorsers ...*identity.SigningIdentity) []byte {
	t.Helper()
	h := &foliov1.TxHeader{Type: foliov1.TxType_TX_TYPE_ENDORSER, ChannelId: "ch", Creator: creator.Serialized(), Nonce: bytes.Repeat([]byte{1}, types.MinNonceBytes), TimestampUnixNano: time.Now().UnixNano()}
	h.TxId = types.TxID(h.Nonce, h.Creator)
	resp := []byte("response payload")
	var es []*foliov1.Endorsement
	for _, e := range endorsers {
		en, err := Endorse(e, resp)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, en)
	}
	p, err := types.AssembleTransaction(h, []byte("proposal"), resp, es)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := proto.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func verifyEndorsement(e *foliov1.Endorsement, payload []byte) error {
	_, cert, err := identity.Deserialize(e.Endorser)
	if err != nil {
		return err
	}
	return fcrypto.Verify(cert.PublicKey, types.DomainEndorsement, types.EndorsementMessage(payload, e.Endorser), e.Signature)
}

func TestMintedIdentityIsValidForItsOrganisation(t *testing.T) {
	org1 := testCA(t, "Org1", "Org1MSP")
	v := verifier(t, org1)
	id := mint(t, org1, "peer9.org1", identity.RolePeer)
	got, err := v.ValidateSerialized(id.Serialized())
	if err != nil {
		t.Fatal(err)
	}
	if got.Role != identity.RolePeer || got.Name != "peer9.org1" || got.MSPID != "Org1MSP" {
		t.Fatalf("minted %s", got)
	}
}

func TestCorruptAndReplaceEndorsements(t *testing.T) {
	org1, org2 := testCA(t, "Org1", "Org1MSP"), testCA(t, "Org2", "Org2MSP")
	user := mint(t, org1, "user1", identity.RoleClient)
	p1, p2 := mint(t, org1, "peer0.org1", identity.RolePeer), mint(t, org2, "peer0.org2", identity.RolePeer)
	raw := prepared(t, user, p1, p2)

	p, err := ParsePrepared(raw)
	if err != nil {
		t.Fatal(err)
	}
	i, err := p.FindName("peer0.org1")
	if err != nil || i != 0 {
		t.Fatalf("find peer0.org1: %d %v", i, err)
	}
	if _, err := p.FindName("peer7.org1"); err == nil {
		t.Fatal("found an endorser that did not endorse")
	}
	before := bytes.Clone(p.Tx.Endorsements[0].Signature)
	if err := p.CorruptSignature(i); err != nil {
		t.Fatal(err)
	}
	if diff := countDiff(before, p.Tx.Endorsements[0].Signature); diff != 1 {
		t.Fatalf("%d bytes differ after corrupting one", diff)
	}
	if verifyEndorsement(p.Tx.Endorsements[0], p.Tx.ResponsePayload) == nil {
		t.Fatal("corrupted signature still verifies")
	}
	if err := verifyEndorsement(p.Tx.Endorsements[1], p.Tx.ResponsePayload); err != nil {
		t.Fatalf("untouched endorsement: %v", err)
	}

	// Replace Org2's endorsement by the client's: a valid signature by a
	// client of Org1.
	j, err := p.FindMSP("Org2MSP")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Replace(j, user); err != nil {
		t.Fatal(err)
	}
	if err := verifyEndorsement(p.Tx.Endorsements[j], p.Tx.ResponsePayload); err != nil {
		t.Fatalf("replacement endorsement: %v", err)
	}
	env, err := p.Envelope(user)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := types.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	if err := fcrypto.Verify(user.Cert.PublicKey, types.DomainEnvelope, env.Payload, env.Signature); err != nil {
		t.Fatalf("envelope signature: %v", err)
	}
	back, err := ParsePrepared(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	es, _ := back.Endorsers()
	if len(es) != 2 || es[0].Name != "peer0.org1" || es[1].Name != "user1" || es[1].Role != identity.RoleClient || parsed.Header.TxId != p.TxID() {
		t.Fatalf("round trip: %+v", es)
	}
}

func countDiff(a, b []byte) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n + len(b) - len(a)
}

func TestRewrapLifecycleKeepsTheSignedBytes(t *testing.T) {
	org1 := testCA(t, "Org1", "Org1MSP")
	admin := mint(t, org1, "admin", identity.RoleAdmin)
	data := []byte("serialized LifecycleTx")
	env, txID, err := RewrapLifecycle(admin, "ch", data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LifecycleData(env)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("data %q, %v", got, err)
	}
	p, err := types.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	if p.Header.TxId != txID || p.Header.ChannelId != "ch" || p.Header.Type != foliov1.TxType_TX_TYPE_LIFECYCLE {
		t.Fatalf("header %+v", p.Header)
	}
	env2, txID2, _ := RewrapLifecycle(admin, "ch", data)
	if txID2 == txID || bytes.Equal(env2.Payload, env.Payload) {
		t.Fatal("two re-wraps share a tx ID")
	}
}

func TestForgeBlockChainsAndVerifies(t *testing.T) {
	org1 := testCA(t, "Org1", "Org1MSP")
	signer := mint(t, org1, "orderer9.org1", identity.RoleOrderer)
	prev := &foliov1.BlockHeader{Number: 7, PreviousHash: make([]byte, 32), DataHash: types.DataHash(nil), TimestampUnixNano: time.Now().Add(time.Hour).UnixNano()}
	envs := [][]byte{[]byte("a"), []byte("b")}
	b, err := ForgeBlock(prev, envs, signer, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := types.ValidateBlock(b); err != nil {
		t.Fatal(err)
	}
	ph, _ := types.HeaderHash(prev)
	if b.Header.Number != 8 || !bytes.Equal(b.Header.PreviousHash, ph) || !bytes.Equal(b.Header.DataHash, types.DataHash(envs)) {
		t.Fatalf("header %+v", b.Header)
	}
	if b.Header.TimestampUnixNano < prev.TimestampUnixNano {
		t.Fatal("timestamp before the previous block's")
	}
	hdr, _ := types.HeaderBytes(b.Header)
	if err := fcrypto.Verify(signer.Cert.PublicKey, types.DomainBlock, hdr, b.Metadata.Signatures[0].Signature); err != nil {
		t.Fatal(err)
	}
}

// nodeTLS issues a TLS certificate for a node identity.
func nodeTLS(t *testing.T, ca *CA, id *identity.SigningIdentity) tls.Certificate {
	t.Helper()
	key, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := identity.Issue(ca.Cert, ca.Key, identity.LeafRequest{Name: id.Name, Role: id.Role, PublicKey: key.Public(), TLS: true,
		DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRogueDelivererServesForgedBlocks: a node that opens a deliver
// stream to the rogue from block 8 receives the forged block 8 and
// nothing else, and the rogue records whom it served.
func TestRogueDelivererServesForgedBlocks(t *testing.T) {
	org1 := testCA(t, "Org1", "Org1MSP")
	v := verifier(t, org1)
	rogueID := mint(t, org1, "peer1.org1", identity.RolePeer)
	victimID := mint(t, org1, "peer0.org1", identity.RolePeer)
	prev := &foliov1.BlockHeader{Number: 7, PreviousHash: make([]byte, 32), DataHash: types.DataHash(nil)}
	forged, err := ForgeBlock(prev, [][]byte{[]byte("x")}, mint(t, org1, "orderer9.org1", identity.RoleOrderer), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := freeAddr(t)
	rogue, err := StartRogueDeliverer(ctx, RogueOptions{Self: rogueID, TLS: nodeTLS(t, org1, rogueID), Verifier: v, ListenAddr: addr,
		ChannelID: "ch", Blocks: []*foliov1.Block{forged}})
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()

	victim, err := p2p.New(p2p.Options{Self: victimID, TLS: nodeTLS(t, org1, victimID), Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	if err := victim.AddPeer(p2p.PeerSpec{NodeID: rogueID.ID(), Name: "peer1.org1", Addr: addr}); err != nil {
		t.Fatal(err)
	}
	vctx, vcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = victim.Run(vctx); close(done) }()
	defer func() { vcancel(); <-done }()

	s, err := victim.OpenStream(ctx, rogueID.ID(), DeliverProtocol)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := proto.Marshal(&foliov1.DeliverRequest{ChannelId: "ch", Start: 8, Follow: true})
	if err := s.WriteMsg(req); err != nil {
		t.Fatal(err)
	}
	raw, err := s.ReadMsg()
	if err != nil {
		t.Fatal(err)
	}
	var got foliov1.Block
	if err := proto.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, forged) {
		t.Fatalf("served block %d, not the forged one", got.Header.GetNumber())
	}
	_ = s.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := s.ReadMsg(); err == nil {
		t.Fatal("the rogue served a second block it does not hold")
	}
	s.Close()
	// The rogue records a request once it has written every block it holds,
	// which may be just after this test read the last one.
	var served []Served
	poll(5*time.Second, func() bool {
		served = rogue.Served()
		return len(served) > 0
	})
	if len(served) != 1 || served[0].Peer != "peer0.org1" || served[0].Start != 8 || len(served[0].Sent) != 1 || served[0].Sent[0] != 8 {
		t.Fatalf("served %+v", served)
	}
}
