package order

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

func newClient(t *testing.T, org string) (*identity.SigningIdentity, identity.Org) {
	key, _ := fcrypto.GenerateKey()
	root, _ := identity.NewRootCA(org, "ca", key, time.Now(), time.Hour)
	ukey, _ := fcrypto.GenerateKey()
	cert, _ := identity.Issue(root, key, identity.LeafRequest{Name: "user1", Role: identity.RoleClient, PublicKey: ukey.Public()})
	si, err := identity.NewSigningIdentity(identity.Identity{MSPID: org + "MSP", Org: org, Name: "user1", Role: identity.RoleClient, Cert: cert}, ukey)
	if err != nil {
		t.Fatal(err)
	}
	return si, identity.Org{Name: org, MSPID: org + "MSP", Root: root}
}

func signedEnvelope(t *testing.T, si *identity.SigningIdentity, channel string, size int) *foliov1.Envelope {
	nonce := make([]byte, 24)
	_, _ = rand.Read(nonce)
	h := &foliov1.TxHeader{Type: foliov1.TxType_TX_TYPE_ENDORSER, ChannelId: channel, Creator: si.Serialized(), Nonce: nonce,
		TxId: types.TxID(nonce, si.Serialized()), TimestampUnixNano: time.Now().UnixNano()}
	payload, _ := proto.Marshal(&foliov1.Payload{Header: h, Data: make([]byte, size+1)})
	sig, err := si.Sign(types.DomainEnvelope, payload)
	if err != nil {
		t.Fatal(err)
	}
	return &foliov1.Envelope{Payload: payload, Signature: sig}
}

func TestBroadcastChecks(t *testing.T) {
	c := newCluster(t, 1, BatchConfig{MaxTxCount: 1, MaxBytes: 1 << 20, Timeout: 10 * time.Millisecond}, 10000)
	c.waitLeader()
	user, org1 := newClient(t, "Org1")
	stranger, _ := newClient(t, "Evil")
	v, _ := identity.NewVerifier([]identity.Org{org1}, nil)
	node, _ := c.live(1)
	b := &Broadcaster{Node: node, Verifier: v, Blocks: c.members[1].blocks, Channel: "folio", MaxBytes: 4096}
	ctx := context.Background()

	good := signedEnvelope(t, user, "folio", 100)
	id, err := b.Broadcast(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.members[1].blocks.WaitHeight(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Broadcast(ctx, good); !errors.Is(err, ErrAlreadyOrdered) {
		t.Fatalf("re-broadcast of %s: %v", id, err)
	}
	forged := signedEnvelope(t, user, "folio", 100)
	forged.Signature[len(forged.Signature)-2] ^= 1
	cases := map[string]struct {
		env  *foliov1.Envelope
		want error
	}{
		"too large":       {signedEnvelope(t, user, "folio", 5000), ErrTooLarge},
		"other channel":   {signedEnvelope(t, user, "elsewhere", 10), ErrWrongChannel},
		"not a member":    {signedEnvelope(t, stranger, "folio", 10), ErrNotMember},
		"forged":          {forged, ErrBadSignature},
		"garbage payload": {&foliov1.Envelope{Payload: []byte{0xff}, Signature: []byte{1}}, types.ErrMalformed},
		"unsigned":        {&foliov1.Envelope{Payload: good.Payload}, types.ErrMalformed},
	}
	for name, tc := range cases {
		if _, err := b.Broadcast(ctx, tc.env); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
	if h := c.members[1].blocks.Height(); h != 2 {
		t.Fatalf("refused envelopes changed the chain: height %d", h)
	}
}
