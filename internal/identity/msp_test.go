package identity

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	fcrypto "github.com/folio-ledger/folio/internal/crypto"
)

func newTestCA(t *testing.T, org string) (Org, *x509.Certificate, *SigningIdentity) {
	t.Helper()
	key, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	root, err := NewRootCA(org, "ca."+strings.ToLower(org), key, time.Now(), DefaultRootValidity)
	if err != nil {
		t.Fatal(err)
	}
	caID, err := NewSigningIdentity(Identity{MSPID: org + "MSP", Org: org, Name: "ca", Role: RoleAdmin, Cert: root}, key)
	if err != nil {
		t.Fatal(err)
	}
	return Org{Name: org, MSPID: org + "MSP", Root: root}, root, caID
}

func issueTest(t *testing.T, ca *SigningIdentity, name string, role Role, notBefore time.Time, validity time.Duration) (*x509.Certificate, *SigningIdentity) {
	t.Helper()
	key, _ := fcrypto.GenerateKey()
	cert, err := Issue(ca.Cert, ca.Key(), LeafRequest{Name: name, Role: role, PublicKey: key.Public(), NotBefore: notBefore, Validity: validity})
	if err != nil {
		t.Fatal(err)
	}
	si, err := NewSigningIdentity(Identity{MSPID: ca.MSPID, Org: ca.Org, Name: name, Role: role, Cert: cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, si
}

func TestValidateIdentity(t *testing.T) {
	org1, _, ca1 := newTestCA(t, "Org1")
	org2, _, ca2 := newTestCA(t, "Org2")
	now := time.Now()
	v, err := NewVerifier([]Org{org1, org2}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := issueTest(t, ca1, "alice", RoleClient, now, time.Hour)
	bob, _ := issueTest(t, ca2, "bob", RoleAdmin, now, time.Hour)
	old, _ := issueTest(t, ca1, "old", RoleClient, now.Add(-3*time.Hour), time.Hour)
	future, _ := issueTest(t, ca1, "future", RoleClient, now.Add(time.Hour), time.Hour)

	id, err := v.Validate("Org1MSP", alice)
	if err != nil {
		t.Fatalf("valid identity rejected: %v", err)
	}
	if id.Name != "alice" || id.Role != RoleClient || id.Org != "Org1" || id.Label() != "alice@Org1" {
		t.Fatalf("identity = %+v", id)
	}
	if got, err := v.Identify(bob); err != nil || got.MSPID != "Org2MSP" || got.Role != RoleAdmin {
		t.Fatalf("identify bob: %+v %v", got, err)
	}

	cases := []struct {
		name   string
		msp    string
		cert   *x509.Certificate
		want   error
		detail string
	}{
		{"another org's certificate", "Org1MSP", bob, ErrNotIssuedByOrg, "Org1MSP's CA"},
		{"unknown organisation", "Org9MSP", alice, ErrUnknownMSP, "Org1MSP"},
		{"expired", "Org1MSP", old, ErrExpired, "enroll again"},
		{"not yet valid", "Org1MSP", future, ErrNotYetValid, "valid from"},
	}
	for _, c := range cases {
		_, err := v.Validate(c.msp, c.cert)
		var ve *ValidationError
		if !errors.Is(err, c.want) || !errors.As(err, &ve) || !strings.Contains(err.Error(), c.detail) {
			t.Errorf("%s: got %v, want %v mentioning %q", c.name, err, c.want, c.detail)
		}
	}
}

func TestRevocationThroughCRL(t *testing.T) {
	org1, root, ca1 := newTestCA(t, "Org1")
	_, _, ca2 := newTestCA(t, "Org2")
	v, _ := NewVerifier([]Org{org1}, nil)
	alice, _ := issueTest(t, ca1, "alice", RoleClient, time.Now(), time.Hour)
	carol, _ := issueTest(t, ca1, "carol", RoleClient, time.Now(), time.Hour)
	revokedAt := time.Now().Add(-time.Minute).Truncate(time.Second)
	// alice is validated (and cached, both ways) before the revocation arrives.
	if _, err := v.Validate("Org1MSP", alice); err != nil {
		t.Fatal(err)
	}
	if _, err := v.ValidateSerialized(Serialize("Org1MSP", alice)); err != nil {
		t.Fatal(err)
	}

	crl2, err := NewCRL(root, ca1.Key(), 2, []Revocation{{Serial: SerialHex(alice.SerialNumber), RevokedAt: revokedAt}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := v.UpdateCRL("Org1MSP", crl2); err != nil {
		t.Fatal(err)
	}
	_, err = v.Validate("Org1MSP", alice)
	if !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), SerialHex(alice.SerialNumber)) {
		t.Fatalf("revoked certificate: got %v", err)
	}
	if _, err := v.ValidateSerialized(Serialize("Org1MSP", alice)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked certificate, serialized: got %v", err)
	}
	if _, err := v.Validate("Org1MSP", carol); err != nil {
		t.Fatalf("unrevoked certificate rejected: %v", err)
	}

	// An older list must not un-revoke alice.
	crl1, _ := NewCRL(root, ca1.Key(), 1, nil, time.Now())
	if err := v.UpdateCRL("Org1MSP", crl1); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate("Org1MSP", alice); !errors.Is(err, ErrRevoked) {
		t.Fatalf("stale CRL un-revoked alice: %v", err)
	}
	// A list signed by another CA is refused.
	forged, _ := NewCRL(ca2.Cert, ca2.Key(), 9, nil, time.Now())
	if err := v.UpdateCRL("Org1MSP", forged); err == nil {
		t.Fatal("CRL signed by another CA accepted")
	}
	if err := v.UpdateCRL("Org1MSP", []byte("garbage")); err == nil {
		t.Fatal("garbage CRL accepted")
	}
}

func TestCertificateWithoutRoleIsRejected(t *testing.T) {
	org1, root, ca1 := newTestCA(t, "Org1")
	v, _ := NewVerifier([]Org{org1}, nil)
	key, _ := fcrypto.GenerateKey()
	tmpl := &x509.Certificate{
		SerialNumber: testSerial(),
		Subject:      pkix.Name{CommonName: "norole", Organization: []string{"Org1"}, OrganizationalUnit: []string{"engineering"}},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, key.Public(), ca1.Key())
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	if _, err := v.Validate("Org1MSP", cert); !errors.Is(err, ErrNoRole) {
		t.Fatalf("got %v, want ErrNoRole", err)
	}
}

func TestPrincipals(t *testing.T) {
	admin := &Identity{MSPID: "Org1MSP", Role: RoleAdmin}
	client := &Identity{MSPID: "Org1MSP", Role: RoleClient}
	other := &Identity{MSPID: "Org2MSP", Role: RoleClient}
	cases := []struct {
		in      string
		ok      bool
		id      *Identity
		satisfy bool
	}{
		{"'Org1MSP.member'", true, client, true},
		{"Org1MSP.member", true, other, false},
		{"'Org1MSP.admin'", true, client, false},
		{"'Org1MSP.admin'", true, admin, true},
		{"'Org1MSP.client'", true, admin, false},
		{"'MSP.WITH.DOTS-x.peer'", true, nil, false},
		{"'Org1MSP.Member'", false, nil, false},
		{"'Org1MSP'", false, nil, false},
		{"'.member'", false, nil, false},
		{"'Org_1.member'", false, nil, false},
		{"", false, nil, false},
	}
	for _, c := range cases {
		p, err := ParsePrincipal(c.in)
		if (err == nil) != c.ok {
			t.Errorf("ParsePrincipal(%q) err = %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if err == nil && c.id != nil && p.SatisfiedBy(c.id) != c.satisfy {
			t.Errorf("%s satisfied by %+v = %v", p, c.id, !c.satisfy)
		}
	}
	p, _ := ParsePrincipal("'MSP.WITH.DOTS-x.peer'")
	if p.MSPID != "MSP.WITH.DOTS-x" || p.Role != RolePeer || p.String() != "'MSP.WITH.DOTS-x.peer'" {
		t.Fatalf("parsed %+v", p)
	}
}

func TestSigningIdentityRejectsForeignKey(t *testing.T) {
	_, _, ca1 := newTestCA(t, "Org1")
	cert, si := issueTest(t, ca1, "alice", RoleClient, time.Now(), time.Hour)
	other, _ := fcrypto.GenerateKey()
	if _, err := NewSigningIdentity(Identity{MSPID: "Org1MSP", Cert: cert}, other); err == nil {
		t.Fatal("mismatched key accepted")
	}
	sig, err := si.Sign("folio/test/v1", []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	mspID, parsed, err := Deserialize(si.Serialized())
	if err != nil || mspID != "Org1MSP" || !parsed.Equal(cert) {
		t.Fatalf("serialize round trip: %v", err)
	}
	if err := fcrypto.Verify(parsed.PublicKey, "folio/test/v1", []byte("m"), sig); err != nil {
		t.Fatal(err)
	}
}

func testSerial() *big.Int {
	s, _ := newSerial()
	return s
}

// TestStaleCRLFailsClosedAtAdmission: once an organisation's revocation
// list is expected, Admit refuses its identities while none is installed
// and again once the installed one is past its NextUpdate, until a fresh
// list comes; a re-signed copy of the same list (same number, same
// revocations, later ThisUpdate) renews it, but a same-number list with
// other revocations does not; Validate (block validation's check) never
// looks at freshness.
func TestStaleCRLFailsClosedAtAdmission(t *testing.T) {
	org1, root, ca1 := newTestCA(t, "Org1")
	org2, _, ca2 := newTestCA(t, "Org2")
	start := time.Now()
	now := start
	v, _ := NewVerifier([]Org{org1, org2}, func() time.Time { return now })
	aliceCert, _ := issueTest(t, ca1, "alice", RoleClient, start.Add(-time.Minute), 24*time.Hour)
	bobCert, _ := issueTest(t, ca2, "bob", RoleClient, start.Add(-time.Minute), 24*time.Hour)
	alice, err := v.Validate("Org1MSP", aliceCert)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := v.Validate("Org2MSP", bobCert)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Admit(alice); err != nil {
		t.Fatalf("no list expected yet: %v", err)
	}
	if err := v.ExpectCRL("Org1MSP"); err != nil {
		t.Fatal(err)
	}
	if err := v.ExpectCRL("NopeMSP"); !errors.Is(err, ErrUnknownMSP) {
		t.Fatalf("unknown organisation: %v", err)
	}
	err = v.Admit(alice)
	if !errors.Is(err, ErrCRLStale) || !strings.Contains(err.Error(), "no revocation list of Org1MSP") {
		t.Fatalf("expected list missing: %v", err)
	}
	if err := v.Admit(bob); err != nil {
		t.Fatalf("another organisation is not affected: %v", err)
	}

	crl, err := NewCRLValidFor(root, ca1.Key(), 3, nil, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.UpdateCRL("Org1MSP", crl); err != nil {
		t.Fatal(err)
	}
	if err := v.Admit(alice); err != nil {
		t.Fatalf("current list: %v", err)
	}
	now = start.Add(61 * time.Minute)
	err = v.Admit(alice)
	if !errors.Is(err, ErrCRLStale) || !strings.Contains(err.Error(), "was due for renewal") {
		t.Fatalf("list past NextUpdate: %v", err)
	}
	if _, err := v.Validate("Org1MSP", aliceCert); err != nil {
		t.Fatalf("Validate must not depend on the list's freshness: %v", err)
	}

	// A same-number list that revokes someone is not a renewal.
	other, _ := NewCRLValidFor(root, ca1.Key(), 3, []Revocation{{Serial: SerialHex(aliceCert.SerialNumber), RevokedAt: now}}, now, time.Hour)
	if err := v.UpdateCRL("Org1MSP", other); err != nil {
		t.Fatal(err)
	}
	if err := v.Admit(alice); !errors.Is(err, ErrCRLStale) {
		t.Fatalf("same number, other revocations accepted as a renewal: %v", err)
	}
	// The CA's re-signed copy renews it.
	resigned, _ := NewCRLValidFor(root, ca1.Key(), 3, nil, now, time.Hour)
	if err := v.UpdateCRL("Org1MSP", resigned); err != nil {
		t.Fatal(err)
	}
	if err := v.Admit(alice); err != nil {
		t.Fatalf("re-signed list: %v", err)
	}
	// A replay of the older copy does not move NextUpdate back.
	if err := v.UpdateCRL("Org1MSP", crl); err != nil {
		t.Fatal(err)
	}
	if err := v.Admit(alice); err != nil {
		t.Fatalf("replayed older copy made the list stale: %v", err)
	}
}
