package releaseprobe

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// folio builds the binary (or takes FOLIO_BIN) for a real network.
func folio(t *testing.T) string {
	if b := os.Getenv("FOLIO_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "folio")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/folio-ledger/folio/cmd/folio").CombinedOutput()
	if err != nil {
		t.Fatalf("build folio: %v\n%s", err, out)
	}
	return bin
}

// TestProbeRealNetwork runs the probe against a real network without
// faults: every honest client opens the work at T, nothing is early, and
// the adversary was really refused before T and served after it.
func TestProbeRealNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real network (processes, TLS): not in -short")
	}
	bin := folio(t)
	dir := filepath.Join(t.TempDir(), "net")
	up := exec.Command(bin, "--network", dir, "network", "up", "--detach")
	t.Cleanup(func() {
		if out, err := exec.Command(bin, "--network", dir, "network", "down").CombinedOutput(); err != nil {
			t.Errorf("network down: %v\n%s", err, out)
		}
	})
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("network up: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	releaseAt := time.Now().Add(20 * time.Second)
	p, err := Start(ctx, Config{NetDir: dir, ReleaseAt: releaseAt, EndAt: releaseAt.Add(20 * time.Second), Seed: 23,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Wait(ctx)
	for _, e := range r.Errors {
		t.Logf("error: %s", e)
	}
	for _, s := range r.Seen {
		t.Logf("seen: %s", s)
	}
	for k, n := range r.Answers {
		t.Logf("answer: %s x%d", k, n)
	}
	if v := r.Violations(); len(v) != 0 {
		t.Errorf("violations without faults: %q", v)
	}
	opened := map[Role]int{}
	for _, o := range r.Opened {
		t.Logf("opened: %s (%s) via %s at T%+v", o.Client, o.Role, o.Peer, o.AfterT)
		opened[o.Role]++
	}
	if opened[RoleKey] != 2 || opened[RoleEdge] != 2 {
		t.Errorf("opened: %v, want both key clients and both edge-decrypt clients", opened)
	}
	// The adversary asked before T and was refused, and was answered
	// with shares after T: it really probed, and the probe sees shares.
	refused, served, tailKeys := 0, 0, map[Role]int{}
	for k, n := range r.Answers {
		if strings.Contains(k, " GetShares failed_precondition") {
			refused += n
		}
	}
	for _, o := range r.Observations {
		if o.Role == RoleAdversary && o.Kind == KindShare {
			served++
		}
		if o.Kind == KindTailKey {
			tailKeys[o.Role]++
		}
	}
	if refused == 0 || served == 0 {
		t.Errorf("adversary: %d GetShares refused before T, %d shares obtained after it; want both > 0", refused, served)
	}
	// The tail keys were seen on the wire: by the honest edge-decrypt
	// clients (through the tap) and by the adversary's own plaintext
	// requests at the trusted edges (after T).
	if tailKeys[RoleEdge] < 2 || tailKeys[RoleAdversary] == 0 {
		t.Errorf("tail keys observed: %v; want >= 2 by edge-decrypt clients and some by the adversary", tailKeys)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
