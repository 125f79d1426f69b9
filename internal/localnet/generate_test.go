package localnet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/config"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
)

func TestGenerateProducesAConsistentNetwork(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	n, err := Generate(dir, Spec{Orgs: 2, PeersPerOrg: 2, Orderers: 3})
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Nodes) != 10 || len(loaded.Orgs) != 3 {
		t.Fatalf("%d nodes, %d orgs", len(loaded.Nodes), len(loaded.Orgs))
	}
	var orgs []identity.Org
	for _, o := range n.Orgs {
		root, err := fcrypto.ReadCertificate(filepath.Join(dir, o.RootCert))
		if err != nil {
			t.Fatal(err)
		}
		orgs = append(orgs, identity.Org{Name: o.Name, MSPID: o.MSPID, Root: root})
	}
	v, err := identity.NewVerifier(orgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	apis := map[string]bool{}
	for _, nd := range n.Nodes {
		if apis[nd.API] {
			t.Errorf("port %s given twice", nd.API)
		}
		apis[nd.API] = true
		cfgPath := filepath.Join(dir, nd.Config)
		data, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if nd.Role == config.RoleCA {
			if _, err := config.ParseCA(cfgPath, data, nil); err != nil {
				t.Errorf("%s: %v", nd.Name, err)
			}
			continue
		}
		c, err := config.ParseNode(cfgPath, data, nil)
		if err != nil {
			t.Fatalf("%s: %v", nd.Name, err)
		}
		if len(c.Peers)+len(c.Orderers) != 6 {
			t.Errorf("%s knows %d other nodes, want 6", nd.Name, len(c.Peers)+len(c.Orderers))
		}
		for _, kp := range []config.KeyPair{c.Identity, c.TLS} {
			cert, err := fcrypto.ReadCertificate(kp.Cert)
			if err != nil {
				t.Fatal(err)
			}
			id, err := v.Validate(c.MSPID, cert)
			if err != nil || string(id.Role) != nd.Role || id.Name != nd.Name {
				t.Errorf("%s: certificate %+v, %v", nd.Name, id, err)
			}
			if fi, _ := os.Stat(kp.Key); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: key mode %04o", kp.Key, fi.Mode().Perm())
			}
		}
	}
	w := wallet.Open(filepath.Join(dir, "wallet"))
	for _, label := range []string{"admin@Org1", "user1@Org1", "admin@Org2", "user1@Org2", "admin@OrdererOrg"} {
		si, err := w.Load(label)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Validate(si.MSPID(), si.Certificate()); err != nil {
			t.Errorf("%s: %v", label, err)
		}
	}
	if _, err := Generate(dir, Spec{}); err == nil || !strings.Contains(err.Error(), "not a Folio network directory") {
		t.Fatalf("generate over an existing network: %v", err)
	}
}

func TestGenerateRejectsBadSpecAndLeavesNothing(t *testing.T) {
	parent := t.TempDir()
	_, err := Generate(filepath.Join(parent, "net"), Spec{Orgs: 99})
	if err == nil || !strings.Contains(err.Error(), "--orgs 99") {
		t.Fatalf("bad spec: %v", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("left %v", entries)
	}
}

// Up refuses a spec out of range before it reports generating anything
// (issue 19: `network up --orgs -1` said "generating..." first).
func TestUpRefusesBadSpecBeforeGenerating(t *testing.T) {
	parent := t.TempDir()
	var progress strings.Builder
	_, err := Up(context.Background(), UpOptions{Dir: filepath.Join(parent, "net"), Exe: "/nonexistent", Spec: Spec{Orgs: -1, Orderers: 99}, Progress: &progress})
	if err == nil || !strings.Contains(err.Error(), "--orgs -1: must be 1 to 16") || !strings.Contains(err.Error(), "--orderers 99: must be 1 to 9") {
		t.Fatalf("bad spec: %v", err)
	}
	if progress.Len() > 0 {
		t.Fatalf("progress before the refusal: %q", progress.String())
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("left %v", entries)
	}
}
