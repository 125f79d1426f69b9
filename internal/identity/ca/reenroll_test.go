package ca_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/ca"
	"github.com/folio-ledger/folio/internal/types"
)

// member is an enrolled identity with its keys, as a test holds them.
type member struct {
	id  *client.Identity
	key crypto.Signer
}

func (f *fixture) member(t *testing.T, name, role string) member {
	t.Helper()
	secret, err := f.cli.Register(context.Background(), f.admin, name, role)
	if err != nil {
		t.Fatal(err)
	}
	id := f.enroll(t, name, secret)
	return member{id: id, key: id.Key()}
}

func csrFor(t *testing.T, subject pkix.Name, key crypto.Signer, hosts ...string) []byte {
	t.Helper()
	tmpl := &x509.CertificateRequest{Subject: subject}
	tmpl.DNSNames, tmpl.IPAddresses = ca.SplitHosts(hosts)
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// reenrollAs signs a reenroll operation with any certificate and key, so a
// test can say exactly what an attacker sends.
func reenrollAs(t *testing.T, signer *client.Identity, op *foliov1.ReenrollOp) *foliov1.SignedCARequest {
	t.Helper()
	nonce := make([]byte, 24)
	_, _ = rand.Read(nonce)
	b, err := proto.Marshal(&foliov1.CARequest{Signer: signer.Serialized(), TimestampUnixNano: time.Now().UnixNano(), Nonce: nonce,
		Op: &foliov1.CARequest_Reenroll{Reenroll: op}})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := fcrypto.Sign(signer.Key(), types.DomainCARequest, b)
	if err != nil {
		t.Fatal(err)
	}
	return &foliov1.SignedCARequest{Request: b, Signature: sig}
}

// TestReenrollSelfKeepsKeyNameRole: an identity renews itself with its
// current certificate: same key, name and role, a new serial, and the CA
// records it, so revoking the name revokes the renewal too.
func TestReenrollSelfKeepsKeyNameRole(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.member(t, "alice", "client")
	e, err := f.cli.Reenroll(ctx, alice.id, client.Renewal{Cert: alice.id.Certificate(), Key: alice.key})
	if err != nil {
		t.Fatal(err)
	}
	old := alice.id.Certificate()
	if e.Cert.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Fatal("renewal kept the serial")
	}
	id, err := f.verifier(t).Validate("Org1MSP", e.Cert)
	if err != nil || id.Name != "alice" || id.Role != identity.RoleClient {
		t.Fatalf("renewed certificate: %+v, %v", id, err)
	}
	if !samePublicKey(e.Cert.PublicKey, alice.key) {
		t.Fatal("renewed certificate is for another key")
	}
	rec := record(t, f, "alice")
	if !slices.Contains(rec.Serials, identity.SerialHex(e.Cert.SerialNumber)) || rec.Status != ca.StatusEnrolled {
		t.Fatalf("registry does not record the renewal: %+v", rec)
	}
	// The renewed identity works: it renews itself again.
	renewed, err := client.NewIdentity("Org1MSP", e.Cert, alice.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cli.Reenroll(ctx, renewed, client.Renewal{Cert: e.Cert, Key: alice.key}); err != nil {
		t.Fatalf("second renewal with the renewed certificate: %v", err)
	}
	// Revoking the name revokes every certificate it had.
	res, err := f.cli.Revoke(ctx, f.admin, "alice", "test")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Serials, identity.SerialHex(e.Cert.SerialNumber)) || !slices.Contains(res.Serials, identity.SerialHex(old.SerialNumber)) {
		t.Fatalf("revocation lists %v, want the old and the renewed serial", res.Serials)
	}
	if _, err := f.verifier(t).Validate("Org1MSP", e.Cert); !errors.Is(err, identity.ErrRevoked) {
		t.Fatalf("renewed certificate after revocation: %v", err)
	}
}

// TestReenrollAttacks: each row is a renewal a hostile or confused
// requester sends; each is refused for its own reason.
func TestReenrollAttacks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.member(t, "alice", "client")
	bob := f.member(t, "bob", "client")
	carol := f.member(t, "carol", "client")
	peer := f.member(t, "peer0", "peer")
	newKey, _ := fcrypto.GenerateKey()
	pem := func(c *x509.Certificate) []byte { return fcrypto.EncodeCertificatePEM(c.Raw) }
	cn := func(n string) pkix.Name { return pkix.Name{CommonName: n} }

	if _, err := f.cli.Revoke(ctx, f.admin, "carol", "test"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		req  *foliov1.SignedCARequest
		code connect.Code
		want string // in the message
	}{
		{
			// Even with bob's request in hand (bob's key signed it), alice,
			// a client, may not renew bob.
			name: "client renews someone else's name",
			req:  reenrollAs(t, alice.id, &foliov1.ReenrollOp{Name: "bob", CsrDer: csrFor(t, cn("bob"), bob.key), CurrentCertPem: pem(bob.id.Certificate())}),
			code: connect.CodePermissionDenied, want: "only an admin",
		},
		{
			name: "admin names bob but presents alice's certificate",
			req:  reenrollAs(t, f.admin, &foliov1.ReenrollOp{Name: "bob", CsrDer: csrFor(t, cn("alice"), alice.key), CurrentCertPem: pem(alice.id.Certificate())}),
			code: connect.CodePermissionDenied, want: "not \"bob\"'s",
		},
		{
			name: "revoked identity renews itself",
			req:  reenrollAs(t, carol.id, &foliov1.ReenrollOp{CsrDer: csrFor(t, cn("carol"), carol.key)}),
			code: connect.CodePermissionDenied, want: "revoked",
		},
		{
			name: "admin renews a revoked identity",
			req:  reenrollAs(t, f.admin, &foliov1.ReenrollOp{Name: "carol", CsrDer: csrFor(t, cn("carol"), carol.key), CurrentCertPem: pem(carol.id.Certificate())}),
			code: connect.CodeFailedPrecondition, want: "revoked",
		},
		{
			name: "renewal asks for another key",
			req:  reenrollAs(t, alice.id, &foliov1.ReenrollOp{CsrDer: csrFor(t, cn("alice"), newKey)}),
			code: connect.CodeInvalidArgument, want: "another key",
		},
		{
			name: "admin renews bob for a key the admin holds",
			req:  reenrollAs(t, f.admin, &foliov1.ReenrollOp{Name: "bob", CsrDer: csrFor(t, cn("bob"), f.admin.Key()), CurrentCertPem: pem(bob.id.Certificate())}),
			code: connect.CodeInvalidArgument, want: "another key",
		},
		{
			name: "self-renewal smuggles in another identity's certificate",
			req:  reenrollAs(t, alice.id, &foliov1.ReenrollOp{CsrDer: csrFor(t, cn("alice"), alice.key), CurrentCertPem: pem(bob.id.Certificate())}),
			code: connect.CodeInvalidArgument, want: "leave the current certificate out",
		},
		{
			name: "client asks for a TLS certificate",
			req: reenrollAs(t, alice.id, &foliov1.ReenrollOp{CsrDer: csrFor(t, cn("alice"), alice.key),
				CurrentTlsCertPem: pem(alice.id.Certificate()), TlsCsrDer: csrFor(t, cn("alice"), alice.key, "localhost")}),
			code: connect.CodeInvalidArgument, want: "for peers and orderers",
		},
		{
			name: "a node's TLS renewal without its current TLS certificate",
			req: reenrollAs(t, peer.id, &foliov1.ReenrollOp{CsrDer: csrFor(t, cn("peer0"), peer.key),
				TlsCsrDer: csrFor(t, cn("peer0"), newKey, "localhost")}),
			code: connect.CodeInvalidArgument, want: "needs both",
		},
		{
			name: "a node presents its signing certificate as its TLS certificate",
			req: reenrollAs(t, peer.id, &foliov1.ReenrollOp{CsrDer: csrFor(t, cn("peer0"), peer.key),
				CurrentTlsCertPem: pem(peer.id.Certificate()), TlsCsrDer: csrFor(t, cn("peer0"), peer.key, "evil.example")}),
			code: connect.CodeInvalidArgument, want: "no TLS server certificate",
		},
		{
			// Signed with this CA's key (say, a copy of the key used
			// elsewhere) but never issued through its registry.
			name: "a certificate the CA never recorded",
			req:  reenrollAs(t, f.admin, &foliov1.ReenrollOp{Name: "bob", CsrDer: csrFor(t, cn("bob"), bob.key), CurrentCertPem: pem(unrecordedCert(t, f, "bob", bob.key))}),
			code: connect.CodeInvalidArgument, want: "not one this CA recorded",
		},
		{
			name: "a certificate from another CA",
			req:  reenrollAs(t, f.admin, &foliov1.ReenrollOp{Name: "bob", CsrDer: csrFor(t, cn("bob"), bob.key), CurrentCertPem: pem(foreignCert(t, "bob", bob.key))}),
			code: connect.CodeInvalidArgument, want: "not issued by this CA",
		},
	} {
		_, err := f.svc.Reenroll(ctx, connect.NewRequest(c.req))
		if connect.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v (%s), want %s mentioning %q", c.name, err, connect.CodeOf(err), c.code, c.want)
		}
	}
	if got := record(t, f, "bob"); len(got.Serials) != 1 {
		t.Fatalf("refused renewals recorded serials for bob: %v", got.Serials)
	}
}

// TestReenrollRoleFromRegistry: whatever subject the request asks for,
// the renewal has the registered name and role.
func TestReenrollRoleFromRegistry(t *testing.T) {
	f := newFixture(t)
	alice := f.member(t, "alice", "client")
	req := reenrollAs(t, alice.id, &foliov1.ReenrollOp{CsrDer: csrFor(t, pkix.Name{CommonName: "admin", OrganizationalUnit: []string{"admin"}}, alice.key)})
	resp, err := f.svc.Reenroll(context.Background(), connect.NewRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := fcrypto.ParseCertificatePEM(resp.Msg.CertPem)
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.verifier(t).Validate("Org1MSP", cert)
	if err != nil || id.Name != "alice" || id.Role != identity.RoleClient || resp.Msg.Role != "client" {
		t.Fatalf("renewal asking for admin got %+v (%v), role %q; want alice, client", id, err, resp.Msg.Role)
	}
}

// TestReenrollByAdmin: an admin renews another identity's certificate
// with that identity's request; the identity need not sign.
func TestReenrollByAdmin(t *testing.T) {
	f := newFixture(t)
	bob := f.member(t, "bob", "client")
	e, err := f.cli.Reenroll(context.Background(), f.admin, client.Renewal{Cert: bob.id.Certificate(), Key: bob.key})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := f.verifier(t).Validate("Org1MSP", e.Cert); err != nil || id.Name != "bob" || id.Role != identity.RoleClient {
		t.Fatalf("admin's renewal of bob: %+v, %v", id, err)
	}
}

// TestReenrollNodeTLS: a node renews its signing and TLS certificates for
// the same keys; the TLS certificate keeps its hosts unless the request
// names others, at most 16.
func TestReenrollNodeTLS(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	secret, err := f.cli.Register(ctx, f.admin, "peer0", "peer")
	if err != nil {
		t.Fatal(err)
	}
	en, err := f.cli.Enroll(ctx, "peer0", secret, client.EnrollOptions{TLSHosts: []string{"127.0.0.1", "peer0.org1"}})
	if err != nil {
		t.Fatal(err)
	}
	self, err := client.NewIdentity("Org1MSP", en.Cert, en.Key)
	if err != nil {
		t.Fatal(err)
	}
	r := client.Renewal{Cert: en.Cert, Key: en.Key, TLSCert: en.TLSCert, TLSKey: en.TLSKey}
	e, err := f.cli.Reenroll(ctx, self, r)
	if err != nil {
		t.Fatal(err)
	}
	if e.TLSCert == nil || e.TLSCert.SerialNumber.Cmp(en.TLSCert.SerialNumber) == 0 || !samePublicKey(e.TLSCert.PublicKey, en.TLSKey) {
		t.Fatalf("TLS renewal: %+v", e.TLSCert)
	}
	if !slices.Equal(e.TLSCert.DNSNames, []string{"peer0.org1"}) || len(e.TLSCert.IPAddresses) != 1 || !e.TLSCert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("renewed TLS certificate is for %v %v, want the old hosts", e.TLSCert.DNSNames, e.TLSCert.IPAddresses)
	}
	if err := identity.CheckExtKeyUsage(e.TLSCert, x509.ExtKeyUsageServerAuth); err != nil {
		t.Fatal(err)
	}
	r.TLSHosts = []string{"10.0.0.7", "peer0.example"}
	if e, err = f.cli.Reenroll(ctx, self, r); err != nil || !slices.Equal(e.TLSCert.DNSNames, []string{"peer0.example"}) {
		t.Fatalf("renewal with new hosts: %v, %v", err, e)
	}
	r.TLSHosts = nil
	for i := range 17 {
		r.TLSHosts = append(r.TLSHosts, "h"+string(rune('a'+i))+".example")
	}
	if _, err := f.cli.Reenroll(ctx, self, r); connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "at most 16") {
		t.Fatalf("renewal with 17 hosts: %v", err)
	}
	other, _ := fcrypto.GenerateKey()
	r.TLSHosts, r.TLSKey = nil, other
	if _, err := f.cli.Reenroll(ctx, self, r); connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "another key") {
		t.Fatalf("TLS renewal for another key: %v", err)
	}
}

// TestReenrollExpiryGrace: an expired certificate renews only through an
// admin, and only up to ReenrollGrace after it expired.
func TestReenrollExpiryGrace(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	auth, _, err := ca.Init(filepath.Join(t.TempDir(), "ca"), ca.InitOptions{Org: "Org1", MSPID: "Org1MSP", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := fcrypto.GenerateKey()
	secret, err := auth.Register("test", "dave", identity.RoleClient)
	if err != nil {
		t.Fatal(err)
	}
	en, err := auth.Enroll(ca.EnrollRequest{Name: "dave", Secret: secret, CSR: csrFor(t, pkix.Name{CommonName: "dave"}, key)})
	if err != nil {
		t.Fatal(err)
	}
	renew := func(byAdmin bool) error {
		_, err := auth.Reenroll(ca.ReenrollRequest{Name: "dave", Current: en.Cert, ByAdmin: byAdmin, CSR: csrFor(t, pkix.Name{CommonName: "dave"}, key)})
		return err
	}
	if err := renew(false); err != nil {
		t.Fatalf("renewal of a current certificate: %v", err)
	}
	now = en.Cert.NotAfter.Add(24 * time.Hour)
	if err := renew(false); !errors.Is(err, ca.ErrExpiredTooLong) || !strings.Contains(err.Error(), "--as admin@ORG") {
		t.Fatalf("self-renewal of an expired certificate: %v, want ErrExpiredTooLong naming --as admin@ORG", err)
	}
	if err := renew(true); err != nil {
		t.Fatalf("admin's renewal a day after expiry: %v", err)
	}
	now = en.Cert.NotAfter.Add(ca.ReenrollGrace + time.Hour)
	if err := renew(true); !errors.Is(err, ca.ErrExpiredTooLong) {
		t.Fatalf("admin's renewal past the grace: %v, want ErrExpiredTooLong", err)
	}
}

func record(t *testing.T, f *fixture, name string) ca.Record {
	t.Helper()
	for _, r := range f.auth.List() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no record for %s", name)
	return ca.Record{}
}

// foreignCert is a certificate for name and key from a CA of the same
// organisation name that is not this one.
func foreignCert(t *testing.T, name string, key crypto.Signer) *x509.Certificate {
	t.Helper()
	caKey, _ := fcrypto.GenerateKey()
	root, err := identity.NewRootCA("Org1", "ca.org1", caKey, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := identity.Issue(root, caKey, identity.LeafRequest{Name: name, Role: identity.RoleClient, PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func samePublicKey(pub crypto.PublicKey, key crypto.Signer) bool {
	a, err1 := fcrypto.KeyID(pub)
	b, err2 := fcrypto.KeyID(key.Public())
	return err1 == nil && err2 == nil && a == b
}

// unrecordedCert is a certificate for name and key signed with the CA's
// own key, outside its registry.
func unrecordedCert(t *testing.T, f *fixture, name string, key crypto.Signer) *x509.Certificate {
	t.Helper()
	caKey, err := fcrypto.ReadPrivateKey(filepath.Join(f.dir, ca.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := identity.Issue(f.auth.Certificate(), caKey, identity.LeafRequest{Name: name, Role: identity.RoleClient, PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
