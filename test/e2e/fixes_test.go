package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// Issue 19 (helper FIXES), against a real network:
//   - `network up` without --contract, run from a directory with no build
//     tree (the binary and the test's directory have none), defines the
//     genesis contracts embedded in folio: works can be registered;
//   - `contract activate` of a new contract without --package takes the
//     package hash from the install records (it crashed, then could not
//     find them: the peer answered NotFound for a contract never
//     activated).
func TestEmbeddedContractsAndActivateFromInstallRecords(t *testing.T) {
	n := newNetwork(t)
	r := n.must("network", "up", "--detach", "--orgs", "1", "--peers-per-org", "2", "--orderers", "1")
	if strings.Contains(r.stderr, "without contracts") {
		t.Fatalf("network up started without contracts:\n%s", r)
	}
	var reg submitted
	n.json(&reg, "work", "register", "--id", "W-1", "--title", "Morning Song", "--author", "Ann", "--hash", "sha256:"+strings.Repeat("ab", 32))
	if reg.Status != "VALID" {
		t.Fatalf("register with the embedded contract: %+v", reg)
	}

	// A new contract: packaged, installed on every peer, activated
	// without --package.
	pkg := filepath.Join(t.TempDir(), "licence.pkg")
	n.must("contract", "package", "--name", "licence", "--version", "1", "--wasm", contractWasm, "--out", pkg)
	n.must("contract", "install", pkg, "--all-peers")
	var st struct {
		Installs []struct {
			Peer     string   `json:"peer"`
			Versions []string `json:"versions"`
		} `json:"installs"`
	}
	n.json(&st, "contract", "status", "--name", "licence")
	if len(st.Installs) != 2 || len(st.Installs[0].Versions) != 1 || len(st.Installs[1].Versions) != 1 {
		t.Fatalf("status of the installed, not yet activated contract: %+v", st)
	}
	var act struct {
		Status     string `json:"status"`
		StartBlock uint64 `json:"start_block"`
	}
	n.json(&act, "contract", "activate", "--name", "licence", "--version", "1", "--policy", "OR('Org1MSP.peer')")
	if act.Status != "VALID" || act.StartBlock == 0 {
		t.Fatalf("activate without --package: %+v", act)
	}
	// Without install records the activation says what to do.
	r, err := n.run("contract", "activate", "--name", "other", "--version", "1", "--policy", "OR('Org1MSP.peer')")
	if err == nil || strings.Contains(r.stderr, "panic") || !strings.Contains(r.stderr, "install it first, or give --package") {
		t.Fatalf("activate of a contract nobody installed:\n%s", r)
	}
}
