// Package testvectors locates the third-party test vectors that Folio's tests
// must pass (Ethereum trie roots, Wycheproof, Fabric policy strings).
//
// The vectors live outside the repository, in ../shared/testdata relative to
// the module root, and are never copied into code. FOLIO_TESTDATA overrides
// the location. A missing folder fails the test: a vector suite that silently
// skips proves nothing.
package testvectors

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// EnvDir names the environment variable that overrides the vectors' folder.
const EnvDir = "FOLIO_TESTDATA"

// Dir returns the folder of one vector set (for example "wycheproof"),
// failing t if it cannot be found.
func Dir(t testing.TB, set string) string {
	t.Helper()
	root, err := sharedRoot()
	if err != nil {
		t.Fatalf("test vectors: %v", err)
	}
	dir := filepath.Join(root, set)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("test vectors %q not found at %s: the shared test data must sit at ../shared/testdata beside the repository (or set %s)", set, dir, EnvDir)
	}
	return dir
}

// File returns the path of one vector file inside a set, failing t if it is
// missing.
func File(t testing.TB, set, name string) string {
	t.Helper()
	p := filepath.Join(Dir(t, set), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test vector file missing: %v", err)
	}
	return p
}

func sharedRoot() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	// Walk up through module roots (nested modules such as bench/ have their
	// own go.mod) until one has ../shared/testdata beside it.
	first := ""
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			cand := filepath.Join(filepath.Dir(dir), "shared", "testdata")
			if fi, err := os.Stat(cand); err == nil && fi.IsDir() {
				return cand, nil
			}
			if first == "" {
				first = cand
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			if first == "" {
				return "", fmt.Errorf("no go.mod above %s", wd)
			}
			return first, nil
		}
		dir = parent
	}
}
