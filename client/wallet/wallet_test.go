package wallet

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

func TestPutLoadList(t *testing.T) {
	caKey, _ := fcrypto.GenerateKey()
	root, err := identity.NewRootCA("Org1", "ca.org1", caKey, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := fcrypto.GenerateKey()
	cert, err := identity.Issue(root, caKey, identity.LeafRequest{Name: "alice", Role: identity.RoleClient, PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	w := Open(filepath.Join(t.TempDir(), "wallet"))
	e := Entry{Name: "alice", Org: "Org1", MSPID: "Org1MSP", Role: "client"}
	if err := w.Put(e, cert, key); err != nil {
		t.Fatal(err)
	}
	si, err := w.Load("alice@Org1")
	if err != nil {
		t.Fatal(err)
	}
	if si.Label() != "alice@Org1" || si.MSPID() != "Org1MSP" || si.Role() != "client" || !si.Certificate().Equal(cert) {
		t.Fatalf("loaded %v", si)
	}
	fi, _ := os.Stat(filepath.Join(w.Dir(), "alice@Org1"))
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("identity folder mode %04o", fi.Mode().Perm())
	}
	list, err := w.List()
	if err != nil || len(list) != 1 || list[0] != e {
		t.Fatalf("list %v %v", list, err)
	}
	if _, err := w.Load("bob@Org1"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "folio ca enroll") {
		t.Fatalf("missing identity: %v", err)
	}
	for _, bad := range []string{"alice", "@Org1", "alice@", ""} {
		if _, err := w.Load(bad); err == nil {
			t.Errorf("label %q accepted", bad)
		}
	}
	// A folder whose label is not its certificate's is refused: signing as
	// "mallory" with alice's certificate would sign as alice.
	if err := w.Put(Entry{Name: "mallory", Org: "Org1", MSPID: "Org1MSP", Role: "client"}, cert, key); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Load("mallory@Org1"); err == nil || !strings.Contains(err.Error(), "holds the certificate of alice@Org1") {
		t.Fatalf("mislabelled identity: %v", err)
	}
	// A key swapped for another is detected at load.
	other, _ := fcrypto.GenerateKey()
	if err := fcrypto.WritePrivateKey(filepath.Join(w.Dir(), "alice@Org1", "key.pem"), other); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Load("alice@Org1"); err == nil {
		t.Fatal("mismatched key accepted")
	}
}
