package e2e

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type enclaveStats struct {
	Enclave struct {
		PID           int    `json:"pid"`
		Crossings     uint64 `json:"crossings"`
		BytesSealed   uint64 `json:"bytes_sealed"`
		BytesUnsealed uint64 `json:"bytes_unsealed"`
		StateReads    uint64 `json:"state_reads"`
		Restarts      uint64 `json:"restarts"`
		Internal      struct {
			Hits, Misses, Entries, Bytes uint64
		} `json:"internal"`
		External struct {
			Hits, Misses, Entries, Bytes uint64
		} `json:"external"`
	} `json:"enclave"`
}

// TestPeerEnclave checks that each peer runs its contracts in a separate
// enclave process whose tiers serve repeated reads, that `folio peer stats`
// reports it, and that killing the enclave fails at most the call at hand:
// the peer restarts it and the next calls succeed.
func TestPeerEnclave(t *testing.T) {
	n := newCopyrightNet(t)
	var reg submitted
	n.json(&reg, "work", "register", "--id", "E-1", "--title", "Enclave Song", "--author", "Ann", "--hash", "sha256:"+fmt.Sprintf("%064x", 1), "--peer", "peer0.org1")
	if reg.Status != "VALID" {
		t.Fatalf("register: %+v", reg)
	}
	for i := 0; i < 5; i++ {
		var rec record
		n.json(&rec, "work", "get", "--id", "E-1", "--peer", "peer0.org1")
		if rec.Title != "Enclave Song" {
			t.Fatalf("get: %+v", rec)
		}
	}
	var st enclaveStats
	n.json(&st, "peer", "stats", "--peer", "peer0.org1")
	e := st.Enclave
	if e.PID <= 0 || e.PID == n.peerPID(t, "peer0.org1") {
		t.Fatalf("enclave pid %d: want a process of its own (peer pid %d)", e.PID, n.peerPID(t, "peer0.org1"))
	}
	if e.Crossings == 0 || e.Internal.Hits == 0 || e.Internal.Entries == 0 {
		t.Fatalf("after one register and five gets the enclave's counters are %+v: want crossings and internal-cache hits", e)
	}

	// Kill the enclave process: the peer restarts it and serves again.
	if err := syscall.Kill(e.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the enclave restarted and serves gets", func() error {
		r, err := n.run("work", "get", "--id", "E-1", "--peer", "peer0.org1", "--json")
		if err != nil {
			return errors.New(r.stderr)
		}
		return nil
	})
	var after enclaveStats
	n.json(&after, "peer", "stats", "--peer", "peer0.org1")
	if after.Enclave.PID == e.PID || after.Enclave.Restarts == 0 {
		t.Fatalf("after the kill: pid %d (was %d), restarts %d", after.Enclave.PID, e.PID, after.Enclave.Restarts)
	}
	// Writes still go through the restarted enclave.
	var tr submitted
	n.json(&tr, "work", "transfer", "--id", "E-1", "--to", "user1@Org2", "--peer", "peer0.org1")
	if tr.Status != "VALID" {
		t.Fatalf("transfer after the restart: %+v", tr)
	}

	// The genesis contract ran, before and after the restart, because the
	// genesis block pins its module. A package signed by a client does
	// not run: the enclave takes only admins' packages (docs/enclave.md),
	// and the peer says so before loading it.
	pkg := filepath.Join(t.TempDir(), "client.pkg")
	n.must("contract", "package", "--name", "copyright", "--version", "7", "--wasm", contractV2Wasm, "--out", pkg, "--as", "user1@Org1")
	r, err := n.run("contract", "install", pkg, "--peer", "peer0.org1")
	if err == nil || !strings.Contains(r.stdout+r.stderr, "the enclave runs only modules packaged by an admin") {
		t.Fatalf("install of a client's package:\n%s", r)
	}
}

// peerPID is a node's pid as `network status` reports it.
func (n *network) peerPID(t *testing.T, name string) int {
	t.Helper()
	for _, s := range n.status() {
		if s.Name == name {
			return s.PID
		}
	}
	t.Fatalf("no node %s in network status", name)
	return 0
}
