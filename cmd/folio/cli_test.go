package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/internal/localnet"
)

// cliResult is one in-process run of the command line.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs folio with args in this process (run, as main does) with
// the network directory set to dir unless args name one.
func runCLI(t *testing.T, dir string, args ...string) cliResult {
	t.Helper()
	if dir != "" {
		args = append([]string{"--network", dir}, args...)
	}
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return cliResult{stdout: out.String(), stderr: errb.String(), code: code}
}

// cliCase is one row of the conformance table: a command line, the exit
// status it must end with and words its message must contain (in both
// the plain form on stderr and the --json error object on stdout).
type cliCase struct {
	name string
	args []string
	code int
	want []string
}

// checkCLICase runs c twice, plain and with --json, and checks the exit
// status, the words of the message and the JSON error object.
func checkCLICase(t *testing.T, dir string, c cliCase) {
	t.Helper()
	r := runCLI(t, dir, c.args...)
	if r.code != c.code {
		t.Errorf("%s: folio %s: exit %d, want %d\nstderr: %s", c.name, strings.Join(c.args, " "), r.code, c.code, r.stderr)
		return
	}
	if c.code == exitOK {
		return
	}
	for _, w := range c.want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("%s: folio %s: stderr lacks %q:\n%s", c.name, strings.Join(c.args, " "), w, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("%s: folio %s panicked:\n%s", c.name, strings.Join(c.args, " "), r.stderr)
	}
	j := runCLI(t, dir, append(append([]string(nil), c.args...), "--json")...)
	if j.code != c.code {
		t.Errorf("%s: folio %s --json: exit %d, want %d", c.name, strings.Join(c.args, " "), j.code, c.code)
		return
	}
	var doc struct {
		Error jsonError `json:"error"`
	}
	if err := json.Unmarshal([]byte(j.stdout), &doc); err != nil || doc.Error.Status != c.code || doc.Error.Message == "" || doc.Error.Kind == "" {
		t.Errorf("%s: folio %s --json: stdout is not one JSON error object with status %d: %v\n%s", c.name, strings.Join(c.args, " "), c.code, err, j.stdout)
		return
	}
	for _, w := range c.want {
		if !strings.Contains(doc.Error.Message+" "+doc.Error.Hint, w) {
			t.Errorf("%s: folio %s --json: error object lacks %q: %+v", c.name, strings.Join(c.args, " "), w, doc.Error)
		}
	}
}

// TestCLIUsage: command-line mistakes that need no network end with the
// usage status and a message that says what is wrong, plain and --json.
func TestCLIUsage(t *testing.T) {
	dir := t.TempDir() // no network: none of these may get that far
	for _, c := range []cliCase{
		{name: "unknown subcommand", args: []string{"work", "frobnicate"}, code: exitUsage, want: []string{`unknown command "frobnicate"`, "register"}},
		{name: "unknown command, suggestion", args: []string{"wrok"}, code: exitUsage, want: []string{"did you mean work"}},
		{name: "unknown flag", args: []string{"work", "get", "--idd", "W1"}, code: exitUsage, want: []string{"unknown flag: --idd"}},
		{name: "missing required flag", args: []string{"work", "get"}, code: exitUsage, want: []string{`"id" not set`}},
		{name: "negative positional", args: []string{"block", "get", "-1"}, code: exitUsage, want: []string{"-1", "negative"}},
		{name: "extra argument", args: []string{"work", "get", "--id", "W1", "extra"}, code: exitUsage, want: []string{"unknown command"}},
	} {
		checkCLICase(t, dir, c)
	}
}

// TestCLIVersion: --version and the version command print the build.
func TestCLIVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		r := runCLI(t, "", args...)
		if r.code != exitOK || !strings.HasPrefix(r.stdout, "folio ") {
			t.Errorf("folio %v: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
}

// TestCLIGroupWithoutSubcommand: a group alone prints its help and
// succeeds (it is a question, not a mistake).
func TestCLIGroupWithoutSubcommand(t *testing.T) {
	r := runCLI(t, "", "work")
	if r.code != exitOK || !strings.Contains(r.stdout, "register") {
		t.Errorf("folio work: exit %d, stdout %q", r.code, r.stdout)
	}
}

// TestCLIUnknownIdentity: --as names are resolved against the network:
// an unknown organisation or identity, or a malformed name, is a usage
// error that lists what exists ("did you mean"), before any node is
// contacted (the network is generated, not started).
func TestCLIUnknownIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	if _, err := localnet.Generate(dir, localnet.Spec{Orgs: 2, PeersPerOrg: 1, Orderers: 1}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []cliCase{
		{name: "unknown organisation", args: []string{"work", "get", "--id", "W1", "--as", "user1@Org3"}, code: exitUsage, want: []string{`no organisation "Org3"`, "Org1, Org2"}},
		{name: "no organisation part", args: []string{"work", "get", "--id", "W1", "--as", "user1"}, code: exitUsage, want: []string{"want name@Org", "user1@Org1"}},
		{name: "misspelt identity", args: []string{"work", "get", "--id", "W1", "--as", "usr1@Org2"}, code: exitUsage, want: []string{"no such identity", "did you mean user1@Org2"}},
		{name: "peer lookup by --as", args: []string{"peer", "stats", "--as", "user1@Org9"}, code: exitUsage, want: []string{`no organisation "Org9"`}},
	} {
		checkCLICase(t, dir, c)
	}
}
