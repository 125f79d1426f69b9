package identity

import (
	"bytes"
	"crypto/x509"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/types"
)

// TestSigningIdentityRenew: a renewal for the same key, name, organisation
// and role replaces the certificate the identity presents and serializes;
// it signs with the same key, and the MSP accepts what it serializes.
// Anything else is refused and the current certificate stays.
func TestSigningIdentityRenew(t *testing.T) {
	org1, _, ca1 := newTestCA(t, "Org1")
	_, _, ca2 := newTestCA(t, "Org2")
	v, err := NewVerifier([]Org{org1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, si := issueTest(t, ca1, "peer0", RolePeer, time.Now(), time.Hour)
	issue := func(ca *SigningIdentity, name string, role Role, pub any) []byte {
		t.Helper()
		c, err := Issue(ca.Cert, ca.Key(), LeafRequest{Name: name, Role: role, PublicKey: pub})
		if err != nil {
			t.Fatal(err)
		}
		return c.Raw
	}
	other, _ := fcrypto.GenerateKey()
	for _, c := range []struct {
		name string
		raw  []byte
	}{
		{"another key", issue(ca1, "peer0", RolePeer, other.Public())},
		{"another name", issue(ca1, "peer1", RolePeer, si.Key().Public())},
		{"another role", issue(ca1, "peer0", RoleOrderer, si.Key().Public())},
		{"another organisation", issue(ca2, "peer0", RolePeer, si.Key().Public())},
	} {
		cert := mustParse(t, c.raw)
		if err := si.Renew(cert); !errors.Is(err, ErrRenewal) {
			t.Errorf("%s: Renew = %v, want ErrRenewal", c.name, err)
		}
		if !si.Certificate().Equal(first) {
			t.Fatalf("%s: a refused renewal changed the certificate", c.name)
		}
	}
	if err := si.Renew(mustParse(t, issue(ca1, "peer0", RolePeer, other.Public()))); err == nil || !bytes.Contains([]byte(err.Error()), []byte("folio orderer remove")) {
		t.Fatalf("a new key's refusal does not say what to do instead: %v", err)
	}

	renewed := mustParse(t, issue(ca1, "peer0", RolePeer, si.Key().Public()))
	idBefore := si.ID()
	if err := si.Renew(renewed); err != nil {
		t.Fatal(err)
	}
	if !si.Certificate().Equal(renewed) || si.ID() != idBefore || si.Name != "peer0" || si.Role != RolePeer || si.MSPID != "Org1MSP" {
		t.Fatalf("after Renew: certificate serial %x, ID %s, %s", si.Certificate().SerialNumber, si.ID(), &si.Identity)
	}
	mspID, cert, err := Deserialize(si.Serialized())
	if err != nil || mspID != "Org1MSP" || !cert.Equal(renewed) {
		t.Fatalf("Serialized after Renew carries %v (%v), want the renewed certificate", cert.SerialNumber, err)
	}
	id, err := v.ValidateSerialized(si.Serialized())
	if err != nil || id.Name != "peer0" {
		t.Fatalf("MSP on the renewed serialized identity: %v, %v", id, err)
	}
	sig, err := si.Sign(types.DomainCARequest, []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	if err := fcrypto.Verify(renewed.PublicKey, types.DomainCARequest, []byte("m"), sig); err != nil {
		t.Fatalf("signature after renewal does not verify with the renewed certificate: %v", err)
	}
}

// TestSigningIdentityRenewConcurrent: while renewals go on, a reader of
// Serialized always gets one whole certificate of the identity, the first
// or a renewal (and -race finds no unsynchronised access).
func TestSigningIdentityRenewConcurrent(t *testing.T) {
	_, _, ca1 := newTestCA(t, "Org1")
	_, si := issueTest(t, ca1, "peer0", RolePeer, time.Now(), time.Hour)
	certs := [][]byte{si.Certificate().Raw}
	for range 4 {
		c, err := Issue(ca1.Cert, ca1.Key(), LeafRequest{Name: "peer0", Role: RolePeer, PublicKey: si.Key().Public()})
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c.Raw)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, cert, err := Deserialize(si.Serialized())
			if err != nil {
				errs <- err
				return
			}
			if !slices.ContainsFunc(certs, func(raw []byte) bool { return bytes.Equal(raw, cert.Raw) }) {
				errs <- errors.New("Serialized carries a certificate that is not one of the identity's")
				return
			}
		}
	}()
	for i := range 200 {
		if err := si.Renew(mustParse(t, certs[i%len(certs)])); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
