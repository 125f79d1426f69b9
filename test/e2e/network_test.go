package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNetworkLifecycle is the Foundation acceptance: up --detach within 60 s
// with every node up, status lists 4 peers and 3 orderers (and the CAs),
// the CA registers, enrolls and revokes a user whom every node then refuses,
// down leaves no process, and a second up restarts the same network.
func TestNetworkLifecycle(t *testing.T) {
	n := newNetwork(t, "FOLIO_CRL_REFRESH=300ms")
	start := time.Now()
	n.must("network", "up", "--detach")
	if d := time.Since(start); d > 60*time.Second {
		t.Fatalf("network up took %s, want < 60s", d)
	}
	roles := map[string]int{}
	for _, s := range n.status() {
		if s.State != "up" || s.PID == 0 {
			t.Errorf("%s is %s (pid %d): %s", s.Name, s.State, s.PID, s.Reason)
		}
		roles[s.Role]++
	}
	if roles["peer"] != 4 || roles["orderer"] != 3 || roles["ca"] != 3 {
		t.Fatalf("roles %v, want 4 peers, 3 orderers, 3 CAs", roles)
	}

	// A new user: register (as Org1's admin), enroll, and use it.
	var reg struct{ Secret string }
	n.json(&reg, "ca", "register", "--org", "Org1", "--name", "alice")
	if len(reg.Secret) < 16 {
		t.Fatalf("secret %q", reg.Secret)
	}
	n.must("ca", "enroll", "--org", "Org1", "--name", "alice", "--secret", reg.Secret)
	key := filepath.Join(n.dir, "wallet", "alice@Org1", "key.pem")
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("alice's key: %v mode %v", err, fi.Mode())
	}
	if r, err := n.run("ca", "enroll", "--org", "Org1", "--name", "alice", "--secret", reg.Secret); err == nil {
		t.Fatalf("a used secret enrolled again:\n%s", r)
	}
	var info struct {
		Name string `json:"name"`
	}
	n.json(&info, "peer", "info", "--as", "alice@Org1", "--peer", "peer0.org2")
	if info.Name != "peer0.org2" {
		t.Fatalf("peer info answered by %q", info.Name)
	}
	var list struct {
		Identities []struct{ Name, Role, Status string } `json:"identities"`
	}
	n.json(&list, "ca", "list", "--org", "Org1")
	if !hasIdentity(list.Identities, "alice", "client", "enrolled") {
		t.Fatalf("ca list: %+v", list.Identities)
	}

	// Only an admin may register.
	if r, err := n.run("ca", "register", "--org", "Org1", "--name", "mallory", "--as", "user1@Org1"); err == nil || !strings.Contains(r.stderr, "admin") {
		t.Fatalf("a client registered an identity:\n%s", r)
	}

	// Revoke: the MSP check fails with the reason, and every peer refuses alice.
	n.must("ca", "revoke", "--org", "Org1", "--name", "alice", "--reason", "test")
	r, err := n.run("ca", "verify", "--org", "Org1", "--name", "alice")
	if err == nil || r.code != 2 || !strings.Contains(r.stderr, "revoked") {
		t.Fatalf("verify of a revoked identity:\n%s", r)
	}
	for _, peer := range []string{"peer0.org1", "peer1.org1", "peer0.org2", "peer1.org2"} {
		eventually(t, 15*time.Second, peer+" refuses revoked alice", func() error {
			r, err := n.run("peer", "info", "--as", "alice@Org1", "--peer", peer)
			if err == nil {
				return fmt.Errorf("still accepted")
			}
			if !strings.Contains(r.stderr, "revoked") {
				return fmt.Errorf("refused without naming the revocation: %s", r.stderr)
			}
			return nil
		})
	}
	n.must("peer", "info", "--as", "user1@Org1", "--peer", "peer0.org2")

	n.must("network", "down")
	if ps := folioProcesses(n.dir); len(ps) > 0 {
		t.Fatalf("processes left after down:\n%s", strings.Join(ps, "\n"))
	}
	for _, s := range n.status() {
		if s.State != "down" {
			t.Errorf("%s is %s after down", s.Name, s.State)
		}
	}

	// A second up restarts the same network with its data: alice stays revoked.
	n.must("network", "up", "--detach")
	r, err = n.run("ca", "verify", "--org", "Org1", "--name", "alice")
	if err == nil || !strings.Contains(r.stderr, "revoked") {
		t.Fatalf("revocation lost across restart:\n%s", r)
	}
	n.must("network", "down")
}

func hasIdentity(ids []struct{ Name, Role, Status string }, name, role, status string) bool {
	for _, id := range ids {
		if id.Name == name && id.Role == role && id.Status == status {
			return true
		}
	}
	return false
}
