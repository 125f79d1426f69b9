package lifecycle

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

func TestEffectiveAndPackages(t *testing.T) {
	dir := t.TempDir()
	wasm := []byte("\x00asm fake module bytes")
	sum := sha256.Sum256(wasm)
	r, err := New(dir, &foliov1.ChannelConfig{Contracts: []*foliov1.ContractDefinition{{Name: "copyright", Version: "1",
		EndorsementPolicy: "AND('Org1MSP.member','Org2MSP.member')", PackageHash: sum[:]}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Effective("copyright", 0); !errors.Is(err, ErrUnknownContract) {
		t.Fatalf("block 0 (genesis) has no contract version: %v", err)
	}
	d, err := r.Effective("copyright", 7)
	if err != nil || d.Version != "1" || d.FromBlock != 1 {
		t.Fatalf("effective: %+v %v", d, err)
	}
	p, v, err := r.EndorsementRule("copyright", 7)
	if err != nil || v != "1" || len(p.Principals()) != 2 {
		t.Fatalf("rule: %v %s %v", p, v, err)
	}
	if _, err := r.Effective("nope", 7); !errors.Is(err, ErrUnknownContract) || !strings.Contains(err.Error(), "copyright") {
		t.Fatalf("unknown contract: %v", err)
	}
	if _, err := r.Package(d); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("missing package: %v", err)
	}
	_ = os.MkdirAll(filepath.Join(dir, "copyright"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "copyright", "1.wasm"), []byte("tampered"), 0o644)
	if _, err := r.Package(d); !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("package with another hash: %v", err)
	}
	_ = os.WriteFile(filepath.Join(dir, "copyright", "1.wasm"), wasm, 0o644)
	if got, err := r.Package(d); err != nil || string(got) != string(wasm) {
		t.Fatalf("package: %v", err)
	}
}
