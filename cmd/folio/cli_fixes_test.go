package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	crelease "github.com/folio-ledger/folio/client/release"
	"github.com/folio-ledger/folio/internal/localnet/genesiscontracts"
)

// Issue 19, helper FIXES: numeric and time flags are checked with their
// range before any work, with a message naming the flag and the range;
// none of these rows needs a network (the directory is empty), and none
// may get far enough to need one.
func TestCLIFlagRanges(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "work.bin")
	if err := os.WriteFile(work, []byte("a work"), 0o600); err != nil {
		t.Fatal(err)
	}
	create := func(extra ...string) []string {
		return append([]string{"release", "create", "--work", "W1", "--file", work, "--release-at", "+1h", "--end-at", "+2h"}, extra...)
	}
	for _, c := range []cliCase{
		// bench: was `panic: makeslice: len out of range`.
		{name: "bench negative", args: []string{"bench", "--duration", "-5s", "--concurrency", "-3"}, code: exitUsage,
			want: []string{"--concurrency -3: must be 1 to 4096", "--duration -5s: must be 1s to 24h0m0s"}},
		{name: "bench warmup", args: []string{"bench", "--warmup", "0s"}, code: exitUsage, want: []string{"--warmup 0s: must be 1ms"}},
		{name: "bench works", args: []string{"bench", "--workload", "transfer", "--works", "0"}, code: exitUsage, want: []string{"--works 0: must be 1 to 1000"}},
		{name: "bench workload", args: []string{"bench", "--workload", "frob"}, code: exitUsage, want: []string{`--workload "frob"`, "register, transfer, query or mixed"}},
		{name: "bench ordering", args: []string{"bench", "ordering", "--orderers", "0", "--size", "1"}, code: exitUsage,
			want: []string{"--orderers 0: must be 1 to 9", "--size 1: must be 64 to 1048576"}},
		// block: the lead maps negatives centrally; a non-number is a usage error too.
		{name: "block tail negative", args: []string{"block", "tail", "--count", "-1"}, code: exitUsage, want: []string{"--count", "0 or more"}},
		{name: "block get negative", args: []string{"block", "get", "-1"}, code: exitUsage, want: []string{"-1", "negative"}},
		{name: "block get word", args: []string{"block", "get", "ten"}, code: exitUsage, want: []string{`block number "ten"`, "integer from 0"}},
		// network: `--orgs 0` silently built 2 organisations.
		{name: "network orgs 0", args: []string{"network", "up", "--orgs", "0"}, code: exitUsage, want: []string{"--orgs 0: must be 1 to 16"}},
		{name: "network orgs -1", args: []string{"network", "up", "--orgs", "-1"}, code: exitUsage, want: []string{"--orgs -1: must be 1 to 16"}},
		{name: "network peers, orderers", args: []string{"network", "up", "--peers-per-org", "17", "--orderers", "0"}, code: exitUsage,
			want: []string{"--peers-per-org 17: must be 1 to 16", "--orderers 0: must be 1 to 9"}},
		{name: "network block sizes", args: []string{"network", "up", "--block-max-bytes", "1", "--block-timeout", "0s"}, code: exitUsage,
			want: []string{"--block-timeout 0s: must be 1ms to 1m"}},
		{name: "network block bytes", args: []string{"network", "up", "--block-max-bytes", "1"}, code: exitUsage, want: []string{"--block-max-bytes 1: must be 64 KiB to 64 MiB"}},
		{name: "network timeout", args: []string{"network", "up", "--timeout", "0s"}, code: exitUsage, want: []string{"--timeout 0s: must be 1s to 1h0m0s"}},
		{name: "network grace", args: []string{"network", "stop", "peer0.org1", "--grace", "-1s"}, code: exitUsage, want: []string{"--grace -1s: must be 0s to 10m0s"}},
		{name: "network start timeout", args: []string{"network", "start", "peer0.org1", "--timeout", "2h"}, code: exitUsage, want: []string{"--timeout 2h0m0s"}},
		{name: "network down grace", args: []string{"network", "down", "--grace", "11m"}, code: exitUsage, want: []string{"--grace 11m0s"}},
		// contract activate.
		{name: "activate after-blocks 0", args: []string{"contract", "activate", "--name", "licence", "--version", "1", "--after-blocks", "0"}, code: exitUsage,
			want: []string{"--after-blocks 0: must be 1 to 1000000"}},
		{name: "activate expiry", args: []string{"contract", "activate", "--name", "licence", "--version", "1", "--expires-after-blocks", "0"}, code: exitUsage,
			want: []string{"--expires-after-blocks 0: must be 1 to 1000000"}},
		{name: "activate at-block 0", args: []string{"contract", "activate", "--name", "licence", "--version", "1", "--at-block", "0"}, code: exitUsage,
			want: []string{"--at-block 0: must be 1 or more"}},
		// release create: was `content: malformed: manifest chunk size -1`, and a
		// threshold above the key servers was refused after encrypting the file.
		{name: "release chunk size", args: create("--chunk-size", "-1"), code: exitUsage, want: []string{"--chunk-size -1: must be 4096 to 16777216"}},
		{name: "release threshold", args: create("--threshold", "5", "--key-servers", "peer0.org1,peer0.org2,peer0.org3,peer0.org4"), code: exitUsage,
			want: []string{"--threshold 5: must be 1 to 4"}},
		{name: "release threshold max", args: create("--threshold", "17"), code: exitUsage, want: []string{"--threshold 17: must be 1 to 16"}},
		{name: "release threshold one", args: create("--threshold", "1", "--key-servers", "peer0.org1,peer0.org2"), code: exitUsage, want: []string{"--threshold 1 with 2 key servers"}},
		{name: "release time", args: []string{"release", "create", "--work", "W1", "--file", work, "--release-at", "soon", "--end-at", "+2h"}, code: exitUsage,
			want: []string{`--release-at "soon"`}},
		{name: "release past", args: []string{"release", "create", "--work", "W1", "--file", work, "--release-at", "2001-01-01T00:00:00Z", "--end-at", "+2h"}, code: exitUsage,
			want: []string{"--release-at 2001-01-01T00:00:00Z: must be in the future"}},
		{name: "release end", args: []string{"release", "create", "--work", "W1", "--file", work, "--release-at", "+2h", "--end-at", "+1h"}, code: exitUsage,
			want: []string{"--end-at", "must be after --release-at"}},
		{name: "release file", args: []string{"release", "create", "--work", "W1", "--file", filepath.Join(dir, "nope"), "--release-at", "+1h", "--end-at", "+2h"}, code: exitUsage,
			want: []string{"--file"}},
		{name: "release rate", args: []string{"release", "fetch", "--work", "W1", "--out", filepath.Join(dir, "out"), "--rate-limit", "fast"}, code: exitUsage,
			want: []string{`--rate-limit "fast"`}},
		{name: "release deadline", args: []string{"release", "fetch", "--work", "W1", "--out", filepath.Join(dir, "out"), "--deadline", "2001-01-01T00:00:00Z"}, code: exitUsage,
			want: []string{"--deadline 2001-01-01T00:00:00Z: must be in the future"}},
		{name: "release bench", args: []string{"release", "bench", "--clients", "0"}, code: exitUsage, want: []string{"--clients 0: must be 1 to 1000"}},
	} {
		checkCLICase(t, dir, c)
	}
}

// `network up` with sizes out of range generates nothing: the directory
// does not appear (issue 19: --orgs -1 was refused after "generating...").
func TestNetworkUpRefusesBeforeGenerating(t *testing.T) {
	net := filepath.Join(t.TempDir(), "net")
	r := runCLI(t, net, "network", "up", "--orgs", "-1")
	if r.code != exitUsage || strings.Contains(r.stderr, "generating") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(net); !os.IsNotExist(err) {
		t.Fatalf("%s exists after a refused up (%v)", net, err)
	}
}

// A new network's genesis contracts come from the binary, whatever the
// current directory (issue 19: outside the repository root `network up`
// started without contracts); --contract overrides them with a wasm file.
func TestGenesisContractsNeedNoBuildTree(t *testing.T) {
	t.Chdir(t.TempDir()) // no build/contracts here, none beside the test binary
	for _, c := range genesiscontracts.All() {
		w, err := genesisWasm("", "--contract", c)
		if err != nil || !bytes.HasPrefix(w, []byte("\x00asm")) {
			t.Fatalf("%s: %d bytes, %v", c.Name, len(w), err)
		}
	}
	if err := os.WriteFile("not.wasm", []byte("text"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := genesisWasm("not.wasm", "--contract", genesiscontracts.Copyright); err == nil || !strings.Contains(err.Error(), "not a WebAssembly module") {
		t.Fatalf("--contract with a text file: %v", err)
	}
	if err := os.WriteFile("mine.wasm", []byte("\x00asm\x01\x00\x00\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	if w, err := genesisWasm("mine.wasm", "--contract", genesiscontracts.Copyright); err != nil || len(w) != 8 {
		t.Fatalf("--contract override: %d bytes, %v", len(w), err)
	}
}

// `ca register` (and list, revoke) say in their help who signs without
// --as: the organisation's admin, not the global default user1@Org1
// (issue 19: undocumented).
func TestCAHelpNamesTheSigner(t *testing.T) {
	for _, sub := range []string{"register", "list", "revoke"} {
		r := runCLI(t, "", "ca", sub, "--help")
		if r.code != exitOK || !strings.Contains(r.stdout, "Without --as, folio signs as\nadmin@ORG") || !strings.Contains(r.stdout, "not as\nuser1@Org1") {
			t.Errorf("folio ca %s --help: exit %d\n%s", sub, r.code, r.stdout)
		}
	}
}

// activationHash reads a new contract's package hash from the install
// records in its status, and says what to do when there are none.
func TestActivationHash(t *testing.T) {
	h := bytes.Repeat([]byte{7}, 32)
	st := &foliov1.ContractStatus{Name: "licence", Installs: []*foliov1.PeerInstalls{
		{Peer: "peer0.org1", Versions: []string{"1"}, PackageHashes: [][]byte{h}},
		{Peer: "peer1.org1"},
	}}
	got, err := activationHash(st, "licence", "1", "")
	if err != nil || !bytes.Equal(got, h) {
		t.Fatalf("hash %x, %v", got, err)
	}
	for _, st := range []*foliov1.ContractStatus{nil, {Name: "licence"}} {
		if _, err := activationHash(st, "licence", "1", ""); err == nil || !strings.Contains(err.Error(), "install it first, or give --package") {
			t.Fatalf("no install records: %v", err)
		}
	}
	st.Installs[1].Versions, st.Installs[1].PackageHashes = []string{"1"}, [][]byte{bytes.Repeat([]byte{8}, 32)}
	if _, err := activationHash(st, "licence", "1", ""); err == nil || !strings.Contains(err.Error(), "different packages") {
		t.Fatalf("two hashes: %v", err)
	}
}

// Progress of an 8 MiB release reads in MiB, a small one in KiB (issue
// 19: `0.0/0.0 MiB`).
func TestProgressSizes(t *testing.T) {
	var b strings.Builder
	p := &progressBar{w: &b, label: "uploading the ciphertext"}
	p.update(8<<20, 8<<20)
	if !strings.Contains(b.String(), "100% 8.0 MiB/8.0 MiB") {
		t.Fatalf("%q", b.String())
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 8 << 10: "8.0 KiB", 8_000_000: "7.6 MiB"} {
		if got := mib(n); got != want {
			t.Errorf("mib(%d) = %q, want %q", n, got, want)
		}
	}
}

// The wait for the key is reported line by line: at once, when a share
// arrives, and at intervals that shorten towards the release time (issue
// 19: ~27 s of silence).
func TestKeyWaitPrinter(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	var b strings.Builder
	p := &keyWaitPrinter{w: &b, now: func() time.Time { return now }}
	T := t0.Add(27 * time.Second)
	k := crelease.KeyWait{ReleaseAt: T, Deadline: T.Add(time.Minute), Threshold: 2, KeyServers: 2, Edge: "peer0.org1"}
	lines := func() []string { return strings.Split(strings.TrimSpace(b.String()), "\n") }

	p.wait(k) // the wait starts
	if l := lines(); len(l) != 1 || !strings.Contains(l[0], "waiting for the key: 0 of 2 key shares") || !strings.Contains(l[0], "2026-05-01T12:00:27Z is in 27s") {
		t.Fatalf("%q", l)
	}
	now = now.Add(2 * time.Second)
	p.wait(k) // 2 s later, nothing new: rate limited
	if len(lines()) != 1 {
		t.Fatalf("%q", lines())
	}
	now = now.Add(4 * time.Second)
	p.wait(k) // 6 s after the first line, within 30 s of T: every 5 s
	if l := lines(); len(l) != 2 || !strings.Contains(l[1], "is in 21s") {
		t.Fatalf("%q", l)
	}
	now = now.Add(time.Second)
	k.Shares = 1
	p.wait(k) // a share arrived: at once
	if l := lines(); len(l) != 3 || !strings.Contains(l[2], "1 of 2 key shares") {
		t.Fatalf("%q", l)
	}
	now = T.Add(10 * time.Second)
	k.Reason = "key server peer0.org2 unreachable"
	p.wait(k) // after T: how long ago, and the deadline
	if l := lines(); len(l) != 4 || !strings.Contains(l[3], "passed 10s ago; giving up at 2026-05-01T12:01:27Z") || !strings.Contains(l[3], "(edge: key server peer0.org2 unreachable)") {
		t.Fatalf("%q", l)
	}
	if strings.Contains(b.String(), "\r") {
		t.Fatal("carriage returns in the wait lines")
	}
	for left, want := range map[time.Duration]time.Duration{10 * time.Second: 5 * time.Second, time.Minute: 15 * time.Second, 10 * time.Minute: time.Minute, 3 * time.Hour: 5 * time.Minute} {
		if got := keyWaitInterval(left); got != want {
			t.Errorf("interval with %s left: %s, want %s", left, got, want)
		}
	}
}
