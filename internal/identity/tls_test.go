package identity

import (
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	fcrypto "github.com/folio-ledger/folio/internal/crypto"
)

// TestCertificateUsages: which certificates the MSP takes as identities,
// by usage. A signing identity is client auth only; a node's TLS
// certificate is server and client auth under a node role; a TLS-only
// server certificate (IssueServerTLS, a CA's) has no role and is nobody; a
// server-auth certificate with a client or admin role (what a CA made
// before issue 18 used as its TLS certificate) is refused, in the chain
// verifier as in admission.
func TestCertificateUsages(t *testing.T) {
	org, root, ca := newTestCA(t, "Org1")
	now := time.Now()
	admission, err := NewVerifier([]Org{org}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	chain, err := NewChainVerifier([]Org{org})
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(role Role, tlsCert bool) *x509.Certificate {
		key, _ := fcrypto.GenerateKey()
		c, err := Issue(root, ca.Key(), LeafRequest{Name: "x", Role: role, PublicKey: key.Public(), TLS: tlsCert, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	key, _ := fcrypto.GenerateKey()
	serverOnly, err := IssueServerTLS(root, ca.Key(), ServerTLSRequest{Name: "ca.org1", PublicKey: key.Public(), DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(serverOnly.Subject.OrganizationalUnit) != 0 || !slices.Equal(serverOnly.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Fatalf("TLS-only certificate: OU %q, usages %v", serverOnly.Subject.OrganizationalUnit, serverOnly.ExtKeyUsage)
	}
	if _, err := IssueServerTLS(root, ca.Key(), ServerTLSRequest{Name: "ca.org1", PublicKey: key.Public()}); err == nil {
		t.Fatal("a TLS server certificate without a host name was issued")
	}

	for _, c := range []struct {
		name string
		cert *x509.Certificate
		want error // nil: a valid identity
	}{
		{"client signing certificate", leaf(RoleClient, false), nil},
		{"admin signing certificate", leaf(RoleAdmin, false), nil},
		{"peer signing certificate", leaf(RolePeer, false), nil},
		{"peer TLS certificate", leaf(RolePeer, true), nil},
		{"orderer TLS certificate", leaf(RoleOrderer, true), nil},
		{"TLS-only server certificate", serverOnly, ErrNoRole},
		{"admin with server auth (pre-issue-18 CA TLS certificate)", leaf(RoleAdmin, true), ErrServerUsage},
		{"client with server auth", leaf(RoleClient, true), ErrServerUsage},
	} {
		for vname, v := range map[string]*Verifier{"admission": admission, "chain": chain} {
			_, err := v.Validate("Org1MSP", c.cert)
			if (c.want == nil && err != nil) || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("%s (%s verifier): %v, want %v", c.name, vname, err, c.want)
			}
		}
	}
}

func TestCheckExtKeyUsage(t *testing.T) {
	_, root, ca := newTestCA(t, "Org1")
	signing, _ := issueTest(t, ca, "alice", RoleClient, time.Now(), time.Hour)
	key, _ := fcrypto.GenerateKey()
	server, err := IssueServerTLS(root, ca.Key(), ServerTLSRequest{Name: "ca.org1", PublicKey: key.Public(), IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	anyUsage := &x509.Certificate{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	none := &x509.Certificate{}
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		u    x509.ExtKeyUsage
		ok   bool
	}{
		{"signing certificate as TLS client", signing, x509.ExtKeyUsageClientAuth, true},
		{"signing certificate as TLS server", signing, x509.ExtKeyUsageServerAuth, false},
		{"TLS-only certificate as server", server, x509.ExtKeyUsageServerAuth, true},
		{"TLS-only certificate as client", server, x509.ExtKeyUsageClientAuth, false},
		{"any usage", anyUsage, x509.ExtKeyUsageServerAuth, true},
		{"no stated usage", none, x509.ExtKeyUsageServerAuth, false},
	} {
		err := CheckExtKeyUsage(c.cert, c.u)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrKeyUsage)) {
			t.Errorf("%s: %v, want ok=%v", c.name, err, c.ok)
		}
	}
	if err := RequireServerAuth([]*x509.Certificate{signing}); !errors.Is(err, ErrKeyUsage) {
		t.Errorf("RequireServerAuth(client certificate): %v", err)
	}
	if err := RequireServerAuth(nil); !errors.Is(err, ErrKeyUsage) {
		t.Errorf("RequireServerAuth(no certificate): %v", err)
	}
	if err := RequireServerAuth([]*x509.Certificate{server}); err != nil {
		t.Errorf("RequireServerAuth(server certificate): %v", err)
	}
}
