package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// folioBin is the binary under test, contractWasm the copyright contract
// and contractV2Wasm its version 2 (whose get adds a field), built once by
// TestMain.
var folioBin, contractWasm, contractV2Wasm string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "folio-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	folioBin = filepath.Join(dir, "folio")
	build := exec.Command("go", "build", "-o", folioBin, "github.com/folio-ledger/folio/cmd/folio")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build folio:", err)
		os.Exit(1)
	}
	contractWasm = filepath.Join(dir, "copyright.wasm")
	contractV2Wasm = filepath.Join(dir, "copyright-v2.wasm")
	for out, pkg := range map[string]string{contractWasm: "copyright", contractV2Wasm: "copyrightv2"} {
		wasm := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, "github.com/folio-ledger/folio/contracts/copyright/cmd/"+pkg)
		wasm.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		wasm.Stdout, wasm.Stderr = os.Stderr, os.Stderr
		if err := wasm.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build the copyright contract:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// network is one local network under test.
type network struct {
	t   *testing.T
	dir string
	env []string
}

// newNetwork prepares a network directory that is always brought down when
// the test ends, whatever happened.
func newNetwork(t *testing.T, env ...string) *network {
	t.Helper()
	n := &network{t: t, dir: filepath.Join(t.TempDir(), "net"), env: env}
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(n.dir, "network.json")); err == nil {
			if out, err := n.run("network", "down"); err != nil {
				t.Errorf("network down at cleanup: %v\n%s", err, out)
			}
		}
	})
	return n
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run executes folio with --network set; err is non-nil on a non-zero exit.
func (n *network) run(args ...string) (result, error) {
	n.t.Helper()
	cmd := exec.Command(folioBin, append([]string{"--network", n.dir}, args...)...)
	cmd.Env = append(os.Environ(), n.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	}
	return r, err
}

// must runs folio and fails the test on a non-zero exit.
func (n *network) must(args ...string) result {
	n.t.Helper()
	r, err := n.run(args...)
	if err != nil {
		n.t.Fatalf("folio %s: %v\n%s", strings.Join(args, " "), err, r)
	}
	return r
}

// json runs folio with --json and decodes its one JSON document into v.
func (n *network) json(v any, args ...string) {
	n.t.Helper()
	r := n.must(append(args, "--json")...)
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(v); err != nil {
		n.t.Fatalf("folio %s --json: %v\n%s", strings.Join(args, " "), err, r)
	}
	if dec.More() {
		n.t.Fatalf("folio %s --json printed more than one JSON document:\n%s", strings.Join(args, " "), r.stdout)
	}
}

type nodeStatus struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Org    string `json:"org"`
	State  string `json:"state"`
	PID    int    `json:"pid"`
	Reason string `json:"reason"`
}

func (n *network) status() []nodeStatus {
	var s struct {
		Nodes []nodeStatus `json:"nodes"`
	}
	n.json(&s, "network", "status")
	return s.Nodes
}

// eventually retries cond until it returns nil or the timeout passes: for
// conditions that depend on another process's periodic work.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := retry(timeout, cond); err != nil {
		t.Fatalf("%s: not true after %s: %v", what, timeout, err)
	}
}

// retry calls cond until it returns nil or the timeout passes, and
// returns cond's last error: eventually for goroutines other than the
// test's and for waits whose end is not a failure. It pauses 100 ms after
// each failed try, however long the try took (not a ticker, whose tick
// would be due at once after a slow try): a condition that competes with
// other clients for a slot, like the commit-wait limit test's probe,
// must leave them that gap to take it.
func retry(timeout time.Duration, cond func() error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		pause.Reset(100 * time.Millisecond)
		select {
		case <-pause.C:
		case <-deadline.C:
			return err
		}
	}
}

// folioProcesses lists running processes whose command line mentions dir.
func folioProcesses(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue
		}
		if bytes.Contains(raw, []byte(dir)) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(raw), "\x00", " "))
		}
	}
	return out
}
