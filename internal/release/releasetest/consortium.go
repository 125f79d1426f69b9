package releasetest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

// Consortium is a set of organisations with in-memory root CAs.
type Consortium struct {
	Orgs []identity.Org
	cas  []*identity.SigningIdentity
	MSP  *identity.Verifier
}

// NewConsortium creates organisations Org1..Orgn (MSP IDs Org1MSP..).
func NewConsortium(tb testing.TB, n int) *Consortium {
	tb.Helper()
	c := &Consortium{}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("Org%d", i)
		key, err := fcrypto.GenerateKey()
		if err != nil {
			tb.Fatal(err)
		}
		root, err := identity.NewRootCA(name, "ca."+strings.ToLower(name), key, time.Now().Add(-time.Hour), identity.DefaultRootValidity)
		if err != nil {
			tb.Fatal(err)
		}
		org := identity.Org{Name: name, MSPID: name + "MSP", Root: root}
		ca, err := identity.NewSigningIdentity(identity.Identity{MSPID: org.MSPID, Org: name, Name: root.Subject.CommonName, Role: identity.RoleAdmin, Cert: root}, key)
		if err != nil {
			tb.Fatal(err)
		}
		c.Orgs = append(c.Orgs, org)
		c.cas = append(c.cas, ca)
	}
	v, err := identity.NewVerifier(c.Orgs, nil)
	if err != nil {
		tb.Fatal(err)
	}
	c.MSP = v
	return c
}

// Roots is a pool of the organisations' root certificates.
func (c *Consortium) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	for _, o := range c.Orgs {
		p.AddCert(o.Root)
	}
	return p
}

// RootCerts are the organisations' root certificates by MSP ID.
func (c *Consortium) RootCerts() map[string]*x509.Certificate {
	out := make(map[string]*x509.Certificate, len(c.Orgs))
	for _, o := range c.Orgs {
		out[o.MSPID] = o.Root
	}
	return out
}

// Identity issues a signing identity in organisation org (0-based).
func (c *Consortium) Identity(tb testing.TB, org int, name string, role identity.Role) *identity.SigningIdentity {
	tb.Helper()
	o, ca := c.Orgs[org], c.cas[org]
	key, err := fcrypto.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := identity.Issue(ca.Cert, ca.Key(), identity.LeafRequest{Name: name, Role: role, PublicKey: key.Public(), NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	id, err := identity.NewSigningIdentity(identity.Identity{MSPID: o.MSPID, Org: o.Name, Name: name, Role: role, Cert: cert}, key)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// TLS issues a node's TLS certificate for 127.0.0.1 (and more IPs).
func (c *Consortium) TLS(tb testing.TB, org int, name string, role identity.Role, ips ...net.IP) tls.Certificate {
	tb.Helper()
	ca := c.cas[org]
	key, err := fcrypto.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := identity.Issue(ca.Cert, ca.Key(), identity.LeafRequest{Name: name, Role: role, PublicKey: key.Public(), TLS: true,
		DNSNames: []string{name}, IPs: append([]net.IP{net.IPv4(127, 0, 0, 1)}, ips...), NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}
