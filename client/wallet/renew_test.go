package wallet

import (
	"crypto/x509"
	"errors"
	"path/filepath"
	"testing"
	"time"

	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

// TestRenewKeepsKeySwapsCert: a renewal for the stored key replaces the
// certificate and keeps the key; a certificate for another key, name or
// role is refused and the stored one stays.
func TestRenewKeepsKeySwapsCert(t *testing.T) {
	caKey, _ := fcrypto.GenerateKey()
	root, err := identity.NewRootCA("Org1", "ca.org1", caKey, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := fcrypto.GenerateKey()
	issue := func(name string, role identity.Role, pub any) *x509.Certificate {
		t.Helper()
		c, err := identity.Issue(root, caKey, identity.LeafRequest{Name: name, Role: role, PublicKey: pub})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := issue("alice", identity.RoleClient, key.Public())
	w := Open(filepath.Join(t.TempDir(), "wallet"))
	if err := w.Put(Entry{Name: "alice", Org: "Org1", MSPID: "Org1MSP", Role: "client"}, first, key); err != nil {
		t.Fatal(err)
	}
	other, _ := fcrypto.GenerateKey()
	for _, c := range []struct {
		name string
		cert *x509.Certificate
	}{
		{"another key", issue("alice", identity.RoleClient, other.Public())},
		{"another name", issue("bob", identity.RoleClient, key.Public())},
		{"another role", issue("alice", identity.RoleAdmin, key.Public())},
	} {
		if _, err := w.Renew("alice@Org1", c.cert); err == nil {
			t.Errorf("%s: renewal accepted", c.name)
		}
	}
	if got, err := w.Load("alice@Org1"); err != nil || !got.Certificate().Equal(first) {
		t.Fatalf("after refused renewals the wallet holds %v, %v; want the first certificate", got, err)
	}

	renewed := issue("alice", identity.RoleClient, key.Public())
	old, err := w.Renew("alice@Org1", renewed)
	if err != nil {
		t.Fatal(err)
	}
	if !old.Equal(first) {
		t.Fatalf("Renew returned %x as the old certificate, want %x", old.SerialNumber, first.SerialNumber)
	}
	got, err := w.Load("alice@Org1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Certificate().Equal(renewed) {
		t.Fatalf("wallet holds serial %x, want the renewal's %x", got.Certificate().SerialNumber, renewed.SerialNumber)
	}
	if kid, _ := fcrypto.KeyID(got.Key().Public()); kid != mustKeyID(t, key.Public()) {
		t.Fatal("the renewal changed the stored key")
	}
	if _, err := w.Renew("carol@Org1", renewed); !errors.Is(err, ErrNotFound) {
		t.Fatalf("renewing an identity not in the wallet: %v, want ErrNotFound", err)
	}
}

func mustKeyID(t *testing.T, pub any) string {
	t.Helper()
	id, err := fcrypto.KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
