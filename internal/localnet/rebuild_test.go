package localnet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/evidence"
)

// TestMoveLedgerAside: the ledger and the health record move into one
// dated directory, everything else stays; nothing to move is not an error.
func TestMoveLedgerAside(t *testing.T) {
	data := t.TempDir()
	for _, p := range []string{"db/000001.sst", "db/MANIFEST", "health.json", "contracts/copyright/1.wasm", "release/kex.pem", "wasm-cache/x"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(data, p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, p), []byte(p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	aside, err := moveLedgerAside(data, at)
	if err != nil {
		t.Fatal(err)
	}
	if aside != filepath.Join(data, "ledger.diverged-20260301T120000.000Z") {
		t.Fatalf("moved to %s", aside)
	}
	for _, p := range []string{"db/000001.sst", "db/MANIFEST", "health.json"} {
		if b, err := os.ReadFile(filepath.Join(aside, p)); err != nil || string(b) != p {
			t.Fatalf("%s not kept aside: %v", p, err)
		}
		if _, err := os.Stat(filepath.Join(data, p)); !os.IsNotExist(err) {
			t.Fatalf("%s still in place: %v", p, err)
		}
	}
	for _, p := range []string{"contracts/copyright/1.wasm", "release/kex.pem", "wasm-cache/x"} {
		if _, err := os.Stat(filepath.Join(data, p)); err != nil {
			t.Fatalf("%s moved: %v", p, err)
		}
	}
	if again, err := moveLedgerAside(data, at.Add(time.Second)); err != nil || again != "" {
		t.Fatalf("second move: %q, %v", again, err)
	}
}

func TestRebuiltWaitsForAgreement(t *testing.T) {
	check := func(peer string, block uint64, result string) *foliov1.AttestationCheck {
		return &foliov1.AttestationCheck{Peer: peer, BlockNumber: block, Result: result, StateRoot: []byte{0xab}}
	}
	cases := []struct {
		info *foliov1.NodeInfo
		why  string
	}{
		{&foliov1.NodeInfo{Height: 5, Health: "ok"}, "catching up: height 5 of 9"},
		{&foliov1.NodeInfo{Height: 9, Health: "diverged", HealthDetail: "x"}, `health "diverged"`},
		{&foliov1.NodeInfo{Height: 9, Health: "ok", AttestationChecks: []*foliov1.AttestationCheck{check("a", 3, evidence.ResultAgree)}}, "no other peer's signed state root"},
		{&foliov1.NodeInfo{Height: 9, Health: "ok", AttestationChecks: []*foliov1.AttestationCheck{check("a", 8, evidence.ResultAgree), check("b", 8, evidence.ResultDisagree)}}, "b's attestation of block 8: disagree"},
		{&foliov1.NodeInfo{Height: 10, Health: "ok", AttestationChecks: []*foliov1.AttestationCheck{check("b", 9, evidence.ResultAgree), check("a", 8, evidence.ResultAgree), check("c", 9, evidence.ResultUnavailable)}}, ""},
	}
	for _, c := range cases {
		done, why, top, root, agreeing := rebuilt(c.info, 9)
		if done != (c.why == "") || !strings.Contains(why, c.why) {
			t.Fatalf("%v: done %v, why %q, want %q", c.info, done, why, c.why)
		}
		if done && (top != 9 || root != "ab" || strings.Join(agreeing, ",") != "a,b") {
			t.Fatalf("done at %d %s %v", top, root, agreeing)
		}
	}
}
