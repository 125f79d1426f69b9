package enclave_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
)

// TestFolioBinary runs the enclave as the real `folio enclave` command of
// a folio binary built here ($FOLIO_TEST_BINARY names a prebuilt one). It
// skips if that binary does not have the command registered yet.
func TestFolioBinary(t *testing.T) {
	exe := os.Getenv("FOLIO_TEST_BINARY")
	if exe == "" {
		if testing.Short() {
			t.Skip("builds the folio binary")
		}
		exe = filepath.Join(t.TempDir(), "folio")
		build := exec.Command("go", "build", "-o", exe, "github.com/folio-ledger/folio/cmd/folio")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	if out, err := exec.Command(exe, "enclave", "--help").CombinedOutput(); err != nil || strings.Contains(string(out), "unknown command") {
		t.Skipf("this folio has no 'enclave' command yet (register newEnclaveCmd in cmd/folio/root.go): %s", out)
	}
	st := enclavetest.NewVersionedState()
	st.Commit([]enclave.Write{put("kv", "a", "from folio", 0)})
	key := filepath.Join(t.TempDir(), "state.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Without a trust anchor the process refuses to start.
	_, err := enclave.New(ctx, enclave.Options{State: st, Exe: exe, StateKeyFile: key, Logger: testLogger(), RestartBackoff: time.Hour})
	if err == nil || !errors.Is(err, enclave.ErrUnavailable) {
		t.Fatalf("folio enclave without --genesis: %v", err)
	}
	genesis, err := testConsortium(t).WriteGenesis(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, err := enclave.New(ctx, enclave.Options{State: st, Exe: exe, StateKeyFile: key, GenesisFile: genesis, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Install(ctx, signed(t, "kv", "1", vmtest.BuildWasm(t, kvPkg), false)); err != nil {
		t.Fatal(err)
	}
	wantValue(t, e, "a", "from folio")
	if err := e.Install(ctx, signed(t, "secret", "1", vmtest.BuildWasm(t, kvPkg), true)); err != nil {
		t.Fatalf("confidential install with the key file: %v", err)
	}
}
