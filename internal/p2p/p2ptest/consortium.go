package p2ptest

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

// Consortium is a set of organisations, each with its own root CA, and
// the MSP verifier that trusts them. Its methods are safe for concurrent
// use.
type Consortium struct {
	// Verifier trusts every organisation's root and the CRLs Revoke
	// installs. Hosts of the consortium share it.
	Verifier *identity.Verifier

	orgs []org

	mu struct {
		sync.Mutex
		// crlNumber[i] is the number of organisation i's last CRL.
		crlNumber []int64
		// revoked[i] lists what organisation i has revoked.
		revoked [][]identity.Revocation
	}
}

type org struct {
	org identity.Org
	ca  *identity.SigningIdentity
}

// Node is one node's credentials: its signing identity (whose key ID is
// its node ID) and its TLS certificate, with the TLS key for tests that
// write it out.
type Node struct {
	Self   *identity.SigningIdentity
	TLS    tls.Certificate
	TLSKey crypto.Signer
}

// NewConsortium creates n organisations, Org1 .. Orgn, with MSP IDs
// Org1MSP .. OrgnMSP.
func NewConsortium(n int) (*Consortium, error) {
	c := &Consortium{}
	var orgs []identity.Org
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("Org%d", i)
		key, err := fcrypto.GenerateKey()
		if err != nil {
			return nil, err
		}
		root, err := identity.NewRootCA(name, "ca."+strings.ToLower(name), key, time.Now(), identity.DefaultRootValidity)
		if err != nil {
			return nil, err
		}
		o := identity.Org{Name: name, MSPID: name + "MSP", Root: root}
		ca, err := identity.NewSigningIdentity(identity.Identity{MSPID: o.MSPID, Org: name, Name: root.Subject.CommonName, Role: identity.RoleAdmin, Cert: root}, key)
		if err != nil {
			return nil, err
		}
		c.orgs = append(c.orgs, org{org: o, ca: ca})
		orgs = append(orgs, o)
	}
	v, err := identity.NewVerifier(orgs, nil)
	if err != nil {
		return nil, err
	}
	c.Verifier = v
	c.mu.crlNumber = make([]int64, n)
	c.mu.revoked = make([][]identity.Revocation, n)
	return c, nil
}

// Orgs returns the organisations, Org1 first. The slice is the caller's.
func (c *Consortium) Orgs() []identity.Org {
	out := make([]identity.Org, len(c.orgs))
	for i, o := range c.orgs {
		out[i] = o.org
	}
	return out
}

// IssueNode issues a node's signing identity and TLS certificate (valid
// for the DNS name name, 127.0.0.1 and ips) in organisation org
// (0-based).
func (c *Consortium) IssueNode(org int, name string, role identity.Role, ips ...net.IP) (*Node, error) {
	if org < 0 || org >= len(c.orgs) {
		return nil, fmt.Errorf("p2ptest: no organisation %d (have %d)", org, len(c.orgs))
	}
	o := c.orgs[org]
	signKey, err := fcrypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	cert, err := identity.Issue(o.ca.Cert, o.ca.Key(), identity.LeafRequest{Name: name, Role: role, PublicKey: signKey.Public()})
	if err != nil {
		return nil, err
	}
	self, err := identity.NewSigningIdentity(identity.Identity{MSPID: o.org.MSPID, Org: o.org.Name, Name: name, Role: role, Cert: cert}, signKey)
	if err != nil {
		return nil, err
	}
	tlsKey, err := fcrypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	tlsCert, err := identity.Issue(o.ca.Cert, o.ca.Key(), identity.LeafRequest{
		Name: name, Role: role, PublicKey: tlsKey.Public(), TLS: true, DNSNames: []string{name}, IPs: append([]net.IP{net.IPv4(127, 0, 0, 1)}, ips...),
	})
	if err != nil {
		return nil, err
	}
	return &Node{Self: self, TLS: tls.Certificate{Certificate: [][]byte{tlsCert.Raw}, PrivateKey: tlsKey, Leaf: tlsCert}, TLSKey: tlsKey}, nil
}

// Revoke adds cert, issued by organisation org (0-based), to the
// organisation's CRL and installs the new CRL in Verifier.
func (c *Consortium) Revoke(org int, cert *x509.Certificate) error {
	if org < 0 || org >= len(c.orgs) {
		return fmt.Errorf("p2ptest: no organisation %d (have %d)", org, len(c.orgs))
	}
	o := c.orgs[org]
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	// Revoked a second ago, so that no clock skew makes it look future.
	revoked := append(c.mu.revoked[org], identity.Revocation{Serial: identity.SerialHex(cert.SerialNumber), RevokedAt: now.Add(-time.Second)})
	crl, err := identity.NewCRL(o.org.Root, o.ca.Key(), c.mu.crlNumber[org]+1, revoked, now)
	if err != nil {
		return err
	}
	if err := c.Verifier.UpdateCRL(o.org.MSPID, crl); err != nil {
		return err
	}
	c.mu.crlNumber[org]++
	c.mu.revoked[org] = revoked
	return nil
}
