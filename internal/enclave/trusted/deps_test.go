package trusted_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoHostStackInTheEnclave keeps the enclave's code narrow, as a
// hardware enclave binary built from this package would need it
// (docs/enclave.md, "Why a framed binary protocol"): no network or RPC
// stack, no TLS, no metrics, no database. The enclave reaches the world
// through the boundary protocol only. (The host side, package enclave,
// imports this package, so the compiler already keeps it out.)
func TestNoHostStackInTheEnclave(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/folio-ledger/folio/internal/enclave/trusted").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{
		"net/http", "crypto/tls", "connectrpc.com/", "google.golang.org/grpc",
		"github.com/prometheus/", "github.com/cockroachdb/pebble",
	}
	deps := string(out)
	if !strings.Contains(deps, "github.com/folio-ledger/folio/internal/enclave/vm\n") {
		t.Fatalf("go list -deps does not list the VM: %q", deps)
	}
	for _, f := range forbidden {
		if strings.Contains(deps, f) {
			t.Errorf("package trusted depends on %s", f)
		}
	}
}
