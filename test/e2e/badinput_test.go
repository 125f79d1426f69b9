package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartupRefusals checks that each bad start-up input gives one clear
// error naming the problem, and that a failed up leaves no process behind.
func TestStartupRefusals(t *testing.T) {
	n := newNetwork(t)
	n.must("network", "up", "--detach", "--orgs", "2", "--peers-per-org", "1", "--orderers", "1")

	// Already running: a detached up starts nothing; a foreground up refuses.
	r := n.must("network", "up", "--detach")
	if !strings.Contains(r.stderr, "already running") || strings.Contains(r.stderr, "started ") {
		t.Fatalf("second detached up while running:\n%s", r)
	}
	r, err := n.run("network", "up", "--timeout", "5s")
	if err == nil || !strings.Contains(r.stderr, "already running") {
		t.Fatalf("foreground up while running:\n%s", r)
	}
	n.must("network", "down")

	// Size flags that contradict the existing network.
	r, err = n.run("network", "up", "--detach", "--orgs", "3")
	if err == nil || !strings.Contains(r.stderr, "--orgs 3") {
		t.Fatalf("contradicting --orgs:\n%s", r)
	}

	// A port taken by another program.
	var net1 struct {
		Nodes []struct{ Name, API string } `json:"nodes"`
	}
	n.json(&net1, "network", "status")
	l, err := net.Listen("tcp", net1.Nodes[len(net1.Nodes)-1].API)
	if err != nil {
		t.Fatal(err)
	}
	r, err = n.run("network", "up", "--detach")
	l.Close()
	if err == nil || !strings.Contains(r.stderr, "in use") || !strings.Contains(r.stderr, net1.Nodes[len(net1.Nodes)-1].Name) {
		t.Fatalf("port in use:\n%s", r)
	}
	if ps := folioProcesses(n.dir); len(ps) > 0 {
		t.Fatalf("failed up left processes: %v", ps)
	}

	// A peer configured with another organisation's certificate.
	own := filepath.Join(n.dir, "nodes", "peer0.org1", "msp", "cert.pem")
	saved, _ := os.ReadFile(own)
	foreign, _ := os.ReadFile(filepath.Join(n.dir, "nodes", "peer0.org2", "msp", "cert.pem"))
	if err := os.WriteFile(own, foreign, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err = n.run("network", "up", "--detach")
	if err == nil || !strings.Contains(r.stderr, "identity.cert") || !strings.Contains(r.stderr, "not issued by the organisation's CA") {
		t.Fatalf("foreign certificate:\n%s", r)
	}
	if ps := folioProcesses(n.dir); len(ps) > 0 {
		t.Fatalf("failed up left processes: %v", ps)
	}
	_ = os.WriteFile(own, saved, 0o644)

	// An unreadable (world-readable) key file.
	keyPath := filepath.Join(n.dir, "nodes", "peer0.org1", "msp", "key.pem")
	_ = os.Chmod(keyPath, 0o644)
	r, err = n.run("network", "up", "--detach")
	if err == nil || !strings.Contains(r.stderr, "identity.key") || !strings.Contains(r.stderr, "chmod 600") {
		t.Fatalf("exposed key file:\n%s", r)
	}
	_ = os.Chmod(keyPath, 0o600)

	// A network directory written by a newer Folio.
	p := filepath.Join(n.dir, "network.json")
	data, _ := os.ReadFile(p)
	_ = os.WriteFile(p, []byte(strings.Replace(string(data), `"format": 1`, `"format": 9`, 1)), 0o644)
	r, err = n.run("network", "up", "--detach")
	if err == nil || !strings.Contains(r.stderr, "newer Folio") {
		t.Fatalf("newer format:\n%s", r)
	}
	_ = os.WriteFile(p, data, 0o644)

	// Everything restored: it starts again.
	n.must("network", "up", "--detach")
	n.must("network", "down")
}

// TestNotANetworkDirectory refuses to generate into a directory with other files.
func TestNotANetworkDirectory(t *testing.T) {
	n := newNetwork(t)
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(n.dir, "notes.txt"), []byte("mine"), 0o644)
	r, err := n.run("network", "up", "--detach")
	if err == nil || !strings.Contains(r.stderr, "not a Folio network directory") {
		t.Fatalf("non-network directory:\n%s", r)
	}
	if r, err := n.run("network", "status"); err == nil || !strings.Contains(r.stderr, "network up") {
		t.Fatalf("status of a non-network directory:\n%s", r)
	}
	entries, _ := os.ReadDir(filepath.Dir(n.dir))
	if len(entries) != 1 {
		t.Fatalf("generation left files beside the directory: %v", entries)
	}
}
