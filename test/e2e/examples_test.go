package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/internal/localnet"
)

// runSDKExample deploys the example licence contract (examples/, a module
// of its own that can import only Folio's public packages) on a running
// network with the CLI, then runs the example application against it as
// a separate process: an application outside this module builds and works
// with the public SDK alone.
func runSDKExample(t *testing.T, n *network) {
	t.Helper()
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	wasm := filepath.Join(work, "licence.wasm")
	build := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", wasm, "./licence/cmd/licence")
	build.Dir = examples
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the example contract: %v\n%s", err, out)
	}
	app := filepath.Join(work, "licenceapp")
	build = exec.Command("go", "build", "-o", app, "./licenceapp")
	build.Dir = examples
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the example application: %v\n%s", err, out)
	}

	pkg := filepath.Join(work, "licence.pkg")
	n.must("contract", "package", "--name", "licence", "--version", "1", "--wasm", wasm, "--out", pkg, "--as", "admin@Org1")
	n.must("contract", "install", pkg, "--all-peers")
	n.must("contract", "activate", "--name", "licence", "--version", "1", "--package", pkg,
		"--policy", "AND('Org1MSP.peer', 'Org2MSP.peer')")

	netw, err := localnet.Load(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--wallet", filepath.Join(n.dir, "wallet"), "--channel", netw.Channel,
		"--as", "user1@Org1", "--other", "user1@Org2", "--work", "W-1", "--licence", "L-1"}
	for _, o := range netw.Orgs {
		args = append(args, "--tls-root", filepath.Join(n.dir, o.RootCert))
	}
	for _, p := range netw.PeersOf("Org1") {
		args = append(args, "--peer", p.API)
	}
	for _, p := range netw.PeersOf("Org2") {
		args = append(args, "--other-peer", p.API)
	}
	out, err := exec.Command(app, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("example application: %v\n%s", err, out)
	}
	for _, want := range []string{"granted L-1 on W-1", "read back: licensor user1@Org1, licensee user1@Org2", "work W-1 has 1 licence(s)",
		"revoke by user1@Org2 refused", "revoked L-1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("example application output lacks %q:\n%s", want, out)
		}
	}
	// The CLI's generic invoke/query reach the same contract.
	var got struct {
		Payload struct {
			ID      string `json:"id"`
			Revoked bool   `json:"revoked"`
		} `json:"payload"`
	}
	n.json(&got, "contract", "query", "--name", "licence", "--fn", "get", "--args", `{"id":"L-1"}`)
	if got.Payload.ID != "L-1" || !got.Payload.Revoked {
		t.Fatalf("contract query: %+v", got)
	}
	r, err := n.run("contract", "invoke", "--name", "licence", "--fn", "revoke", "--args", `{"id":"L-1"}`, "--as", "user1@Org1")
	if err == nil || !strings.Contains(r.stdout+r.stderr, "already revoked") {
		t.Fatalf("contract invoke of a second revoke: want a refusal naming it, got:\n%s", r)
	}
	var granted struct {
		Status  string `json:"status"`
		Payload struct {
			Licensor string `json:"licensor"`
		} `json:"payload"`
	}
	n.json(&granted, "contract", "invoke", "--name", "licence", "--fn", "grant", "--as", "user1@Org2",
		"--args", `{"id":"L-2","work":"W-1","licensee":"user1@Org1","territory":"UK","until":"2031-01-31"}`)
	if granted.Status != "VALID" || granted.Payload.Licensor != "user1@Org2" {
		t.Fatalf("contract invoke grant: %+v", granted)
	}
}
