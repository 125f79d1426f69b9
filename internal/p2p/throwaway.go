package p2p

import (
	"crypto"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

// throwaway is an in-memory consortium with its own root CAs, for the
// storm runner and tests: nothing touches disk and the keys die with the
// process.
type throwaway struct {
	orgs     []throwawayOrg
	verifier *identity.Verifier
}

type throwawayOrg struct {
	org identity.Org
	ca  *identity.SigningIdentity
}

// nodeCreds are one node's two key pairs.
type nodeCreds struct {
	Self   *identity.SigningIdentity
	TLS    tls.Certificate
	TLSKey crypto.Signer
}

// newThrowaway creates n organisations, Org1 .. Orgn (MSP IDs Org1MSP ..).
func newThrowaway(n int) (*throwaway, error) {
	c := &throwaway{}
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
		org := identity.Org{Name: name, MSPID: name + "MSP", Root: root}
		ca, err := identity.NewSigningIdentity(identity.Identity{MSPID: org.MSPID, Org: name, Name: root.Subject.CommonName, Role: identity.RoleAdmin, Cert: root}, key)
		if err != nil {
			return nil, err
		}
		c.orgs = append(c.orgs, throwawayOrg{org: org, ca: ca})
		orgs = append(orgs, org)
	}
	v, err := identity.NewVerifier(orgs, nil)
	if err != nil {
		return nil, err
	}
	c.verifier = v
	return c, nil
}

// issueNode issues a node's signing identity and TLS certificate (valid
// for 127.0.0.1 and ips) in organisation org (0-based).
func (c *throwaway) issueNode(org int, name string, role identity.Role, ips ...net.IP) (*nodeCreds, error) {
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
	return &nodeCreds{Self: self, TLS: tls.Certificate{Certificate: [][]byte{tlsCert.Raw}, PrivateKey: tlsKey, Leaf: tlsCert}, TLSKey: tlsKey}, nil
}
