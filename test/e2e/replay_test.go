package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// replayReport is `folio ledger replay --json`.
type replayReport struct {
	Source          string            `json:"source"`
	Blocks          uint64            `json:"blocks"`
	Transactions    uint64            `json:"transactions"`
	Codes           map[string]uint64 `json:"codes"`
	MismatchCount   uint64            `json:"mismatch_count"`
	Mismatches      []json.RawMessage `json:"mismatches"`
	StateRoot       string            `json:"state_root"`
	SourceStateRoot string            `json:"source_state_root"`
	ClockOffset     string            `json:"clock_offset"`
}

// runEnv runs folio with extra environment variables.
func (n *network) runEnv(env []string, args ...string) (result, error) {
	n.t.Helper()
	cmd := exec.Command(folioBin, append([]string{"--network", n.dir}, args...)...)
	cmd.Env = append(append(os.Environ(), n.env...), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	}
	return r, err
}

// replay runs `folio ledger replay ARGS --json` with env and decodes its
// report; it fails the test when the command could not run (exit 1), and
// leaves mismatches (exit 2) to the caller.
func (n *network) replay(env []string, args ...string) (replayReport, result) {
	n.t.Helper()
	r, err := n.runEnv(env, append([]string{"ledger", "replay", "--json"}, args...)...)
	if err != nil && r.code != 2 {
		n.t.Fatalf("folio ledger replay %s: %v\n%s", strings.Join(args, " "), err, r)
	}
	var rep replayReport
	if jerr := json.Unmarshal([]byte(r.stdout), &rep); jerr != nil {
		n.t.Fatalf("folio ledger replay %s --json: %v\n%s", strings.Join(args, " "), jerr, r)
	}
	if (rep.MismatchCount == 0) != (err == nil) {
		n.t.Fatalf("folio ledger replay exited %d with %d mismatches\n%s", r.code, rep.MismatchCount, r)
	}
	return rep, r
}

// dirPrint describes every file under dir (name, mode, size, modification
// time, content hash).
func dirPrint(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d %d", path, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %x", sha256.Sum256(data))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestReplayOfflineFiveYearsLater: on a real network, after works are
// registered and transferred and an identity is revoked, the chain of a
// peer, exported over its API and read from the data dir of the stopped
// peer, replays offline from block 0 with the process clock 5 years ahead
// to exactly the validation codes and state roots the running peers
// stored (DESIGN 6, "One truth").
func TestReplayOfflineFiveYearsLater(t *testing.T) {
	n := newCopyrightNet(t, "FOLIO_CRL_REFRESH=300ms")
	s := newSDK(t, n)
	hash := func(i int) string { return fmt.Sprintf("sha256:%064x", 0xf0110+i) }
	register := func(id, as string, i int) {
		t.Helper()
		var sub submitted
		n.json(&sub, "work", "register", "--id", id, "--title", "Replay "+id, "--author", "A", "--hash", hash(i), "--as", as)
		if sub.Status != "VALID" {
			t.Fatalf("register %s: %+v", id, sub)
		}
	}
	register("RP-1", "user1@Org1", 1)
	register("RP-2", "user1@Org2", 2)
	var tr submitted
	n.json(&tr, "work", "transfer", "--id", "RP-1", "--to", "user1@Org2", "--as", "user1@Org1")
	if tr.Status != "VALID" {
		t.Fatalf("transfer: %+v", tr)
	}
	// A second transfer by the old owner is refused (by the contract, at
	// endorsement; nothing is ordered).
	if r, err := n.run("work", "transfer", "--id", "RP-1", "--to", "user1@Org1", "--as", "user1@Org1"); err == nil {
		t.Fatalf("a transfer by the previous owner succeeded:\n%s", r)
	}

	// An identity that registers a work, then is revoked.
	var reg struct{ Secret string }
	n.json(&reg, "ca", "register", "--org", "Org1", "--name", "rita")
	n.must("ca", "enroll", "--org", "Org1", "--name", "rita", "--secret", reg.Secret)
	register("RP-3", "rita@Org1", 3)
	r := n.must("ca", "revoke", "--org", "Org1", "--name", "rita", "--reason", "replay test")
	t.Logf("folio ca revoke: %s", strings.TrimSpace(r.stdout))
	for _, p := range s.peers() {
		eventually(t, 20*time.Second, p.Name+" refuses revoked rita", func() error {
			if r, err := n.run("peer", "info", "--as", "rita@Org1", "--peer", p.Name); err == nil {
				return fmt.Errorf("still accepted: %s", r.stdout)
			}
			return nil
		})
	}
	if r, err := n.run("work", "register", "--id", "RP-4", "--title", "t", "--author", "a", "--hash", hash(4), "--as", "rita@Org1"); err == nil {
		t.Fatalf("a revoked identity registered a work:\n%s", r)
	}
	// More blocks after the revocation.
	register("RP-5", "user1@Org1", 5)
	register("RP-6", "user1@Org2", 6)
	var tr2 submitted
	n.json(&tr2, "work", "transfer", "--id", "RP-2", "--to", "user1@Org1", "--as", "user1@Org2")
	if tr2.Status != "VALID" {
		t.Fatalf("transfer: %+v", tr2)
	}
	height := quietHeight(t, s)
	rootAt := func(num uint64) string {
		return hex.EncodeToString(s.block("peer0.org1", num).GetMetadata().GetStateRoot())
	}

	// Export a running peer's chain over its API.
	file := filepath.Join(t.TempDir(), "chain.blocks")
	var exp struct {
		Blocks    uint64 `json:"blocks"`
		StateRoot string `json:"state_root"`
	}
	n.json(&exp, "ledger", "export", "--peer", "peer0.org2", "--out", file)
	if exp.Blocks < height || exp.StateRoot == "" {
		t.Fatalf("export: %+v, height %d", exp, height)
	}

	// Stop a peer and replay its data dir, 5 years ahead.
	stopped := "peer1.org2"
	n.must("network", "stop", stopped)
	dataDir := filepath.Join(n.dir, "nodes", stopped, "data")
	before := dirPrint(t, dataDir)
	later := []string{"FOLIO_TEST_CLOCK_OFFSET=43830h"}
	check := func(what string, shifted bool, rep replayReport, res result, wantBlocks uint64) {
		t.Helper()
		t.Logf("%s: %d blocks, %d transactions %v, root %s, %d mismatches", what, rep.Blocks, rep.Transactions, rep.Codes, rep.StateRoot, rep.MismatchCount)
		if rep.MismatchCount != 0 {
			var first []string
			for _, m := range rep.Mismatches[:min(len(rep.Mismatches), 8)] {
				var c bytes.Buffer
				_ = json.Compact(&c, m)
				first = append(first, c.String())
			}
			t.Errorf("%s: %d mismatches; the first:\n  %s", what, rep.MismatchCount, strings.Join(first, "\n  "))
		}
		if rep.Blocks < wantBlocks || rep.Blocks == 0 {
			t.Errorf("%s: replayed %d blocks, want at least %d", what, rep.Blocks, wantBlocks)
			return
		}
		if want := rootAt(rep.Blocks - 1); rep.StateRoot != want || rep.SourceStateRoot != want {
			t.Errorf("%s: state root after block %d: replay %s, source %s, the running peer0.org1 %s", what, rep.Blocks-1, rep.StateRoot, rep.SourceStateRoot, want)
		}
		if rep.Codes["VALID"] < 7 { // 5 works and 2 transfers at least
			t.Errorf("%s: codes %v", what, rep.Codes)
		}
		if shifted && (rep.ClockOffset != "43830h0m0s" || !strings.Contains(res.stderr, "WARNING: test hook FOLIO_TEST_CLOCK_OFFSET")) {
			t.Errorf("%s: clock offset %q; stderr:\n%s", what, rep.ClockOffset, res.stderr)
		}
	}
	rep, res := n.replay(nil, "--blocks", file, "--genesis", filepath.Join(n.dir, "genesis.block"))
	check("block file, today", false, rep, res, height)
	rep, res = n.replay(later, "--blocks", file)
	check("block file, 5 years later", true, rep, res, height)
	rep, res = n.replay(later, "--data-dir", dataDir)
	check("stopped peer's data dir, 5 years later", true, rep, res, height)

	// The stopped peer's chain exports offline too, to the running peers' root.
	var off struct {
		Blocks    uint64 `json:"blocks"`
		StateRoot string `json:"state_root"`
	}
	n.json(&off, "ledger", "export", "--data-dir", dataDir, "--out", filepath.Join(t.TempDir(), "peer1.blocks"))
	if off.Blocks < height {
		t.Errorf("export --data-dir: %+v, height %d", off, height)
	} else if want := rootAt(off.Blocks - 1); off.StateRoot != want {
		t.Errorf("export --data-dir: %+v, root of peer0.org1 %s", off, want)
	}

	// A clock offset that is not a Go duration is refused, not ignored.
	if r, err := n.runEnv([]string{"FOLIO_TEST_CLOCK_OFFSET=5y"}, "ledger", "replay", "--blocks", file); err == nil || r.code != 1 || !strings.Contains(r.stderr, "not a Go duration") {
		t.Errorf("replay with FOLIO_TEST_CLOCK_OFFSET=5y:\n%s", r)
	}

	if dirPrint(t, dataDir) != before {
		t.Fatal("the replay changed the stopped peer's data dir")
	}
	// The peer still starts from its data dir.
	n.must("network", "start", stopped)
}
