package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests build the wasm modules they run from source with the standard
// toolchain, once per test binary, so `go test` needs nothing prebuilt.
// A test package that uses BuildWasm or CacheDir calls Main from its
// TestMain:
//
//	func TestMain(m *testing.M) { vmtest.Main(m) }

var build struct {
	mu   sync.Mutex
	dir  string // removed when Main returns
	done map[string]builtModule
}

type builtModule struct {
	wasm []byte
	err  error
}

// Main runs the tests of a package with a scratch directory for built
// modules and the compilation cache, and removes it afterwards.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "folio-vmtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmtest:", err)
		os.Exit(1)
	}
	build.dir = dir
	build.done = map[string]builtModule{}
	trimCache(sharedCacheDir(), 7*24*time.Hour)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func scratch(tb testing.TB) string {
	tb.Helper()
	if build.dir == "" {
		tb.Fatal("vmtest: call vmtest.Main from TestMain to use BuildWasm or CacheDir")
	}
	return build.dir
}

// CacheDir is a wazero compilation cache directory for tests. It lives in
// the system's temporary directory and is shared by test binaries and
// runs (like GOCACHE), so each module is compiled once per machine rather
// than once per test: compiling a Go contract takes seconds, and much
// longer under the race detector. wazero writes entries atomically, keys
// them by module hash, CPU features and wazero version, and drops entries
// it cannot read. If that directory cannot be created, the cache is the
// test binary's own.
func CacheDir(tb testing.TB) string {
	dir := scratch(tb)
	shared := sharedCacheDir()
	if err := os.MkdirAll(shared, 0o700); err == nil {
		return shared
	}
	return filepath.Join(dir, "wazero-cache")
}

func sharedCacheDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("folio-vmtest-wazero-%d", os.Getuid()))
}

// trimCache removes cache entries older than maxAge (by modification time,
// which wazero sets when it writes an entry), so entries of modules that
// no longer exist do not pile up; a live entry is rewritten on its next
// use. Errors are ignored: the cache is an optimisation.
func trimCache(dir string, maxAge time.Duration) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-maxAge)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.ModTime().Before(cutoff) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// goTool finds the go command.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// BuildWasm builds the main package pkg (an import path or a directory)
// as a wasm contract, exactly as `make contracts` does:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o OUT pkg
//
// and returns its bytes. Each package is built once per test binary.
func BuildWasm(tb testing.TB, pkg string) []byte {
	tb.Helper()
	dir := scratch(tb)
	build.mu.Lock()
	defer build.mu.Unlock()
	r, ok := build.done[pkg]
	if !ok {
		out := filepath.Join(dir, strings.NewReplacer("/", "_", ".", "_").Replace(pkg)+".wasm")
		cmd := exec.Command(goTool(), "build", "-trimpath", "-buildmode=c-shared", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			r.err = fmt.Errorf("vmtest: build %s for wasip1: %v\n%s", pkg, err, msg)
		} else {
			r.wasm, r.err = os.ReadFile(out)
		}
		build.done[pkg] = r
	}
	if r.err != nil {
		tb.Fatal(r.err)
	}
	return r.wasm
}
