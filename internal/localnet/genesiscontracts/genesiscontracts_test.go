package genesiscontracts

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// moduleRoot is the directory holding go.mod, above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// TestEmbeddedContractsAreCurrent rebuilds every embedded contract from
// its source as `make contracts` does and fails if the committed copy
// differs: the embedded modules are generated files and must never go
// stale (a changed contract source needs `make contracts`).
func TestEmbeddedContractsAreCurrent(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("cannot check the embedded contracts against their source: no Go toolchain on PATH (%v)", err)
	}
	root := moduleRoot(t)
	out := t.TempDir()
	for _, c := range All() {
		t.Run(c.Name, func(t *testing.T) {
			file := filepath.Join(out, c.Name+".wasm")
			cmd := exec.Command(goTool, "build", "-trimpath", "-buildmode=c-shared", "-o", file, c.Package)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build %s for wasip1: %v\n%s", c.Package, err, msg)
			}
			fresh, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			embedded, err := c.Wasm()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(fresh, embedded) {
				t.Fatalf("internal/localnet/genesiscontracts/%s is stale: it holds %d bytes (sha256 %x), %s builds to %d bytes (sha256 %x): run `make contracts` and commit the result",
					c.File, len(embedded), sha256.Sum256(embedded), c.Package, len(fresh), sha256.Sum256(fresh))
			}
		})
	}
}

// TestEmbeddedContractsAreWasm: every embedded file decompresses to a
// WebAssembly module.
func TestEmbeddedContractsAreWasm(t *testing.T) {
	for _, c := range All() {
		w, err := c.Wasm()
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if !bytes.HasPrefix(w, []byte("\x00asm")) {
			t.Fatalf("%s: %s does not hold a WebAssembly module (starts %q)", c.Name, c.File, w[:min(len(w), 8)])
		}
		if !strings.HasSuffix(c.File, ".wasm.gz") {
			t.Fatalf("%s: file %s", c.Name, c.File)
		}
	}
}
