package evidence

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// consortium is an in-memory set of organisations with their root CAs.
type consortium struct {
	cas []*identity.SigningIdentity
	msp *identity.Verifier
}

func newConsortium(t *testing.T, n int) *consortium {
	t.Helper()
	c := &consortium{}
	var orgs []identity.Org
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("Org%d", i)
		key, err := fcrypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		root, err := identity.NewRootCA(name, "ca."+strings.ToLower(name), key, time.Now().Add(-time.Hour), identity.DefaultRootValidity)
		if err != nil {
			t.Fatal(err)
		}
		ca, err := identity.NewSigningIdentity(identity.Identity{MSPID: name + "MSP", Org: name, Name: root.Subject.CommonName, Role: identity.RoleAdmin, Cert: root}, key)
		if err != nil {
			t.Fatal(err)
		}
		c.cas = append(c.cas, ca)
		orgs = append(orgs, identity.Org{Name: name, MSPID: name + "MSP", Root: root})
	}
	v, err := identity.NewVerifier(orgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.msp = v
	return c
}

// node issues a signing identity and a TLS certificate in org (0-based).
func (c *consortium) node(t *testing.T, org int, name string, role identity.Role) (*identity.SigningIdentity, tls.Certificate) {
	t.Helper()
	ca := c.cas[org]
	key, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := identity.Issue(ca.Cert, ca.Key(), identity.LeafRequest{Name: name, Role: role, PublicKey: key.Public(), NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.NewSigningIdentity(identity.Identity{MSPID: ca.MSPID, Org: ca.Org, Name: name, Role: role, Cert: cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	tlsKey, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tlsCert, err := identity.Issue(ca.Cert, ca.Key(), identity.LeafRequest{Name: name, Role: role, PublicKey: tlsKey.Public(), TLS: true,
		DNSNames: []string{name}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return id, tls.Certificate{Certificate: [][]byte{tlsCert.Raw}, PrivateKey: tlsKey, Leaf: tlsCert}
}

func statement(block uint64, hash, root byte) *foliov1.StateAttestation {
	return &foliov1.StateAttestation{ChannelId: "ch", BlockNumber: block, BlockHash: bytes.Repeat([]byte{hash}, 32), StateRoot: bytes.Repeat([]byte{root}, 32)}
}

func sign(t *testing.T, id *identity.SigningIdentity, st *foliov1.StateAttestation) *foliov1.SignedAttestation {
	t.Helper()
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := id.Sign(types.DomainAttestation, raw)
	if err != nil {
		t.Fatal(err)
	}
	return &foliov1.SignedAttestation{Attestation: raw, Signer: id.Serialized(), Signature: sig}
}

func TestVerifyAttestation(t *testing.T) {
	c := newConsortium(t, 2)
	peer, _ := c.node(t, 0, "peer0.org1", identity.RolePeer)
	other, _ := c.node(t, 1, "peer0.org2", identity.RolePeer)
	user, _ := c.node(t, 0, "user1", identity.RoleClient)
	stranger := newConsortium(t, 1)
	outsider, _ := stranger.node(t, 0, "peer0.org1", identity.RolePeer)
	st := statement(7, 1, 2)

	id, got, err := VerifyAttestation(c.msp, "ch", peer.ID(), sign(t, peer, st))
	if err != nil || id.Label() != "peer0.org1@Org1" || !proto.Equal(got, st) {
		t.Fatalf("a good attestation: %v %v %v", id, got, err)
	}
	if _, _, err := VerifyAttestation(c.msp, "ch", "", sign(t, peer, st)); err != nil {
		t.Fatalf("without a node ID: %v", err)
	}

	flipped := sign(t, peer, st)
	flipped.Attestation[len(flipped.Attestation)-1] ^= 1 // another state root, same signature
	badSig := sign(t, peer, st)
	badSig.Signature[len(badSig.Signature)/2] ^= 1
	wrongChannel := statement(7, 1, 2)
	wrongChannel.ChannelId = "other"
	shortRoot := statement(7, 1, 2)
	shortRoot.StateRoot = shortRoot.StateRoot[:31]
	for name, tc := range map[string]struct {
		sa     *foliov1.SignedAttestation
		nodeID string
		want   string
	}{
		"statement changed after signing": {flipped, peer.ID(), "signature"},
		"signature damaged":               {badSig, peer.ID(), "signature"},
		"signed by another peer":          {sign(t, other, st), peer.ID(), "not by the peer asked"},
		"signed by a client":              {sign(t, user, st), "", "not a peer"},
		"signed outside the consortium":   {sign(t, outsider, st), "", "signer"},
		"another channel":                 {sign(t, peer, wrongChannel), peer.ID(), "channel"},
		"31-byte state root":              {sign(t, peer, shortRoot), peer.ID(), "32"},
		"empty":                           {&foliov1.SignedAttestation{}, peer.ID(), "empty"},
		"signer swapped":                  {&foliov1.SignedAttestation{Attestation: sign(t, peer, st).Attestation, Signer: other.Serialized(), Signature: sign(t, peer, st).Signature}, "", "signature"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := VerifyAttestation(c.msp, "ch", tc.nodeID, tc.sa)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	if err := Compare(statement(3, 1, 2), statement(3, 1, 2)); err != nil {
		t.Fatalf("equal statements: %v", err)
	}
	if err := Compare(statement(3, 1, 2), statement(3, 1, 9)); !errors.Is(err, ErrRootMismatch) || !strings.Contains(err.Error(), "after block 3") {
		t.Fatalf("another root: %v", err)
	}
	if err := Compare(statement(3, 1, 2), statement(3, 8, 2)); !errors.Is(err, ErrBlockMismatch) {
		t.Fatalf("another block hash: %v", err)
	}
	if err := Compare(statement(3, 1, 2), statement(4, 1, 2)); err == nil || errors.Is(err, ErrRootMismatch) {
		t.Fatalf("different blocks: %v", err)
	}
}

func TestDissenters(t *testing.T) {
	for _, tc := range []struct {
		name  string
		roots map[string]byte // peer -> state root byte, block 5, hash 1
		want  []string
		why   string
	}{
		{"all agree", map[string]byte{"a": 1, "b": 1, "c": 1, "d": 1}, nil, ""},
		{"one peer alone", map[string]byte{"a": 1, "b": 1, "c": 1, "d": 2}, []string{"d"}, "3 of 4 peers signed"},
		{"one of three", map[string]byte{"a": 1, "b": 2, "c": 1}, []string{"b"}, "2 of 3 peers signed"},
		{"two against two", map[string]byte{"a": 1, "b": 1, "c": 2, "d": 2}, []string{"a", "b", "c", "d"}, "no majority"},
		{"two peers differ", map[string]byte{"a": 1, "b": 2}, []string{"a", "b"}, "no majority"},
		{"two, one and one", map[string]byte{"a": 1, "b": 1, "c": 2, "d": 3}, []string{"a", "b", "c", "d"}, "no majority"},
		{"one peer", map[string]byte{"a": 1}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stmts := map[string]*foliov1.StateAttestation{}
			for p, r := range tc.roots {
				stmts[p] = statement(5, 1, r)
			}
			got := Dissenters(stmts)
			if len(got) != len(tc.want) {
				t.Fatalf("flagged %v, want %v", got, tc.want)
			}
			for _, p := range tc.want {
				if !strings.Contains(got[p], tc.why) || !strings.Contains(got[p], "block 5") {
					t.Fatalf("%s: reason %q, want it to mention %q and block 5", p, got[p], tc.why)
				}
			}
		})
	}
	// A peer on another fork is flagged for its block hash.
	stmts := map[string]*foliov1.StateAttestation{"a": statement(5, 1, 1), "b": statement(5, 1, 1), "c": statement(5, 9, 1)}
	if got := Dissenters(stmts); len(got) != 1 || !strings.HasPrefix(got["c"], "block hash differs") {
		t.Fatalf("fork: %v", got)
	}
}

func TestReported(t *testing.T) {
	check := func(peer, result string) *foliov1.AttestationCheck {
		return &foliov1.AttestationCheck{Peer: peer, BlockNumber: 9, Result: result}
	}
	// d's root differs: a, b and c find it disagreeing; d finds everyone
	// disagreeing, which alone flags nobody.
	got := Reported(map[string][]*foliov1.AttestationCheck{
		"a": {check("b", ResultAgree), check("c", ResultAgree), check("d", ResultDisagree)},
		"b": {check("a", ResultAgree), check("c", ResultAgree), check("d", ResultDisagree)},
		"c": {check("a", ResultAgree), check("b", ResultAgree), check("d", ResultInvalid)},
		"d": {check("a", ResultDisagree), check("b", ResultDisagree), check("c", ResultDisagree), check("d", ResultDisagree)},
	})
	if len(got) != 1 || !strings.Contains(got["d"], "3 of 3 peers") || !strings.Contains(got["d"], "block 9") {
		t.Fatalf("flagged %v, want d alone", got)
	}
	// Unavailable checks count for nothing; one vote of two is no majority.
	got = Reported(map[string][]*foliov1.AttestationCheck{
		"a": {check("c", ResultDisagree)},
		"b": {check("c", ResultAgree)},
		"d": {check("c", ResultUnavailable)},
	})
	if len(got) != 0 {
		t.Fatalf("flagged %v on a split vote", got)
	}
	// Two peers that disagree flag each other.
	got = Reported(map[string][]*foliov1.AttestationCheck{"a": {check("b", ResultDisagree)}, "b": {check("a", ResultDisagree)}})
	if len(got) != 2 {
		t.Fatalf("two peers: %v", got)
	}
	if got := Reported(nil); len(got) != 0 {
		t.Fatalf("no reports: %v", got)
	}
}
