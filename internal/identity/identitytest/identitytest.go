// Package identitytest makes organisations with in-memory root CAs and
// their members, for tests: nothing touches disk and the keys die with the
// test. It is a test fake (STYLE 17), not used by production code.
package identitytest

import (
	"testing"
	"time"

	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

// Org is an organisation: its name, MSP ID (name + "MSP") and root CA.
type Org struct {
	Name  string
	MSPID string
	// CA signs the organisation's certificates; CA.Cert is the root.
	CA *identity.SigningIdentity
}

// NewOrg makes an organisation whose root is valid from a minute ago for
// an hour (a minute of slack for certificates checked at "now").
func NewOrg(t testing.TB, name string) *Org {
	t.Helper()
	key, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	root, err := identity.NewRootCA(name, "ca."+name, key, time.Now().Add(-time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := identity.NewSigningIdentity(identity.Identity{Name: "ca." + name, Org: name, Cert: root}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &Org{Name: name, MSPID: name + "MSP", CA: ca}
}

// Def is the organisation as an MSP knows it.
func (o *Org) Def() identity.Org {
	return identity.Org{Name: o.Name, MSPID: o.MSPID, Root: o.CA.Cert}
}

// Member issues a signing certificate for name with role and returns the
// identity.
func (o *Org) Member(t testing.TB, name string, role identity.Role) *identity.SigningIdentity {
	t.Helper()
	return o.MemberClaiming(t, name, role, o.MSPID)
}

// MemberClaiming is Member whose identity names mspID, which may be
// another organisation's: a forgery the MSP must refuse.
func (o *Org) MemberClaiming(t testing.TB, name string, role identity.Role, mspID string) *identity.SigningIdentity {
	t.Helper()
	key, err := fcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := identity.Issue(o.CA.Cert, o.CA.Key(), identity.LeafRequest{Name: name, Role: role, PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	si, err := identity.NewSigningIdentity(identity.Identity{MSPID: mspID, Org: o.Name, Name: name, Role: role, Cert: cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	return si
}
