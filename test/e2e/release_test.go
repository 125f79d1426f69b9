package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	crelease "github.com/folio-ledger/folio/client/release"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/localnet"
)

var (
	releaseWasmOnce sync.Once
	releaseWasm     []byte
	releaseWasmErr  error
)

// buildReleaseWasm builds the release contract once per test binary.
func buildReleaseWasm(t *testing.T) []byte {
	t.Helper()
	releaseWasmOnce.Do(func() {
		out := filepath.Join(filepath.Dir(contractWasm), "release.wasm")
		cmd := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, "github.com/folio-ledger/folio/contracts/release/cmd/release")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			releaseWasmErr = fmt.Errorf("build the release contract: %v\n%s", err, b)
			return
		}
		releaseWasm, releaseWasmErr = os.ReadFile(out)
	})
	if releaseWasmErr != nil {
		t.Fatal(releaseWasmErr)
	}
	return releaseWasm
}

// newReleaseNet starts a network of orgs organisations (two peers each,
// one orderer) with the copyright and timed-release contracts.
func newReleaseNet(t *testing.T, orgs int) *network {
	t.Helper()
	n := newNetwork(t, "FOLIO_LOG_LEVEL=info")
	rw := filepath.Join(t.TempDir(), "release.wasm")
	if err := os.WriteFile(rw, buildReleaseWasm(t), 0o644); err != nil {
		t.Fatal(err)
	}
	n.must("network", "up", "--detach", "--orgs", fmt.Sprint(orgs), "--orderers", "1", "--contract", contractWasm, "--release-contract", rw)
	t.Cleanup(func() {
		if t.Failed() {
			n.dumpReleaseLogs(t)
		}
	})
	n.warmUp(t)
	return n
}

// dumpReleaseLogs prints the release service's log lines of every peer.
func (n *network) dumpReleaseLogs(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(n.dir, "logs", "peer*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, `"component":"release"`) {
				t.Logf("%s: %s", filepath.Base(l), line)
			}
		}
	}
}

// warmUp evaluates both contracts on every peer until each answers: the
// first call of a contract on a peer compiles its module, which on a
// loaded machine takes longer than an endorsement may wait.
func (n *network) warmUp(t *testing.T) {
	t.Helper()
	netw, err := localnet.Load(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	c := n.sdk(t, "user1@Org1", "")
	var wg sync.WaitGroup
	for _, nd := range netw.Nodes {
		if nd.Role != config.RolePeer {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			gw := client.NewGateway(c.HTTP, nd.API, netw.Channel, c.ID)
			for _, contract := range []string{"copyright", "release"} {
				err := retry(4*time.Minute, func() error {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()
					_, err := gw.Evaluate(ctx, contract, "list")
					return err
				})
				if err != nil {
					t.Errorf("%s on %s never answered: %v", contract, nd.Name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// writeWork writes size random bytes and returns the path and its hash.
func writeWork(t *testing.T, name string, size int) (string, string) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return p, "sha256:" + hex.EncodeToString(sum[:])
}

type createOut struct {
	Release   string   `json:"release"`
	ReleaseAt string   `json:"release_at"`
	EndAt     string   `json:"end_at"`
	Threshold int      `json:"threshold"`
	Servers   []string `json:"key_servers"`
	Resumed   bool     `json:"resumed"`
}

type fetchOut struct {
	Work                 string `json:"work"`
	Client               string `json:"client"`
	Edge                 string `json:"edge"`
	EdgeDecrypt          bool   `json:"edge_decrypt"`
	CiphertextCompleteAt string `json:"ciphertext_complete_at"`
	KeyReceivedAt        string `json:"key_received_at"`
	AccessAt             string `json:"access_at"`
	SHA256               string `json:"sha256"`
}

type reportOut struct {
	Opened          bool    `json:"opened"`
	Reason          string  `json:"reason"`
	SpreadMS        float64 `json:"spread_ms"`
	EarlyAccess     int     `json:"early_access"`
	MissedEnd       int     `json:"missed_end"`
	SharesBeforeT   int     `json:"shares_before_release"`
	EdgeVsKeyMS     float64 `json:"edge_vs_key_ms"`
	SharesPublished []struct {
		Index  int    `json:"index"`
		SentAt string `json:"sent_at"`
	} `json:"shares_published"`
	Clients []struct {
		Client   string `json:"client"`
		AccessAt string `json:"access_at"`
		Early    bool   `json:"early"`
		Error    string `json:"error"`
	} `json:"clients"`
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return v
}

// fetchAsync runs `folio release fetch` in the background.
func (n *network) fetchAsync(args ...string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		cmd := exec.Command(folioBin, append([]string{"--network", n.dir, "release", "fetch", "--json"}, args...)...)
		cmd.Env = append(os.Environ(), n.env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		r := result{stdout: out.String(), stderr: errb.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else if err != nil {
			r.code = -1
			r.stderr += err.Error()
		}
		ch <- r
	}()
	return ch
}

// sdk is a release SDK client as identity label, at peer home.
func (n *network) sdk(t *testing.T, label, home string) *crelease.Client {
	t.Helper()
	netw, err := localnet.Load(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := wallet.Open(filepath.Join(n.dir, "wallet")).Load(label)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := localnet.RootPool(n.dir, netw)
	if err != nil {
		t.Fatal(err)
	}
	hc := client.HTTPClient(id, roots)
	c := &crelease.Client{HTTP: hc, ID: id, Home: home}
	for _, nd := range netw.Nodes {
		if nd.Role == config.RolePeer {
			c.Peers = append(c.Peers, crelease.Peer{Name: nd.Name, Org: nd.Org, NodeID: nd.NodeID, API: nd.API})
			if nd.Name == home {
				c.Gateway = client.NewGateway(hc, nd.API, netw.Channel, id)
			}
		}
	}
	return c
}

// killNode stops a node's process with SIGKILL and waits until it is gone.
func killNode(t *testing.T, name string, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", name, err)
	}
	eventually(t, 10*time.Second, name+" exits", func() error {
		if syscall.Kill(pid, 0) == nil {
			return fmt.Errorf("pid %d still running", pid)
		}
		return nil
	})
}

// fetchResult waits for a background fetch and checks the written file.
func fetchResult(t *testing.T, name string, ch <-chan result, out, hash string) fetchOut {
	t.Helper()
	r := <-ch
	if r.code != 0 {
		t.Fatalf("fetch %s: %s", name, r)
	}
	var f fetchOut
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil {
		t.Fatalf("fetch %s: %v\n%s", name, err, r)
	}
	if f.SHA256 != hash {
		t.Fatalf("fetch %s: hash %s, want %s", name, f.SHA256, hash)
	}
	got, _ := os.ReadFile(out)
	if sum := sha256.Sum256(got); "sha256:"+hex.EncodeToString(sum[:]) != hash {
		t.Fatalf("fetch %s: the written file is not the work", name)
	}
	return f
}

// TestReleaseEndToEnd runs timed releases on real processes: three
// organisations (two peers each), key shares 2-of-3 among their first
// peers.
//
// FILM-1 (3 MiB) is fetched by five clients: three fetch the ciphertext
// at their organisations' peers (one rate-limited), one at another peer
// of Org3, one receives plaintext from a trusted edge; a greedy client
// asks for the shares and for plaintext before the release time and is
// refused. Nobody opens the work before T, the key clients open it within
// a short spread, and the chain shows the shares published after T, none
// before, and every client's access.
//
// Then the acceptance case: with key server peer0.org3 killed, CLIP-2
// still opens at its release time (2 of 3 shares); with peer0.org2 killed
// as well, CLIP-3 does not open, the client says which key servers did
// not release, and the report on chain says why.
func TestReleaseEndToEnd(t *testing.T) {
	began := time.Now()
	n := newReleaseNet(t, 3)
	t.Logf("network of 3 organisations ready in %s", time.Since(began).Round(time.Millisecond))
	file, hash := writeWork(t, "film.bin", 3<<20+12345)
	clip2, hash2 := writeWork(t, "clip2.bin", 300_000)
	clip3, hash3 := writeWork(t, "clip3.bin", 300_000)
	for _, w := range []struct{ id, hash string }{{"FILM-1", hash}, {"CLIP-2", hash2}, {"CLIP-3", hash3}} {
		n.must("work", "register", "--id", w.id, "--title", w.id, "--author", "A. Director", "--type", "video", "--hash", w.hash, "--as", "user1@Org1")
	}
	// Three releases, a few seconds apart, all created before the first.
	base := time.Now().Add(25 * time.Second).Truncate(time.Second)
	t1, t2, t3 := base, base.Add(10*time.Second), base.Add(20*time.Second)
	rfc := func(x time.Time) string { return x.UTC().Format(time.RFC3339) }
	var c createOut
	n.json(&c, "release", "create", "--work", "FILM-1", "--file", file, "--release-at", rfc(t1), "--end-at", rfc(t1.Add(90*time.Second)),
		"--trusted-edge", "peer1.org2", "--chunk-size", "262144", "--as", "user1@Org1")
	if c.Threshold != 2 || len(c.Servers) != 3 || !mustTime(t, c.ReleaseAt).Equal(t1) {
		t.Fatalf("create: %+v", c)
	}
	var c2, c3 createOut
	n.json(&c2, "release", "create", "--work", "CLIP-2", "--file", clip2, "--release-at", rfc(t2), "--end-at", rfc(t2.Add(60*time.Second)), "--as", "user1@Org1")
	n.json(&c3, "release", "create", "--work", "CLIP-3", "--file", clip3, "--release-at", rfc(t3), "--end-at", rfc(t3.Add(30*time.Second)), "--as", "user1@Org1")
	if time.Now().After(t1.Add(-5 * time.Second)) {
		t.Fatalf("creating the releases took until %s before T: the machine is too slow for this schedule", time.Until(t1))
	}
	t.Logf("FILM-1 at %s (in %s), key servers %v, threshold %d", c.ReleaseAt, time.Until(t1).Round(time.Second), c.Servers, c.Threshold)

	outDir := t.TempDir()
	out := func(name string) string { return filepath.Join(outDir, name+".bin") }
	fetches := map[string]<-chan result{
		"a":    n.fetchAsync("--work", "FILM-1", "--out", out("a"), "--as", "user1@Org1", "--client", "a"),
		"b":    n.fetchAsync("--work", "FILM-1", "--out", out("b"), "--as", "user1@Org2", "--client", "b"),
		"c":    n.fetchAsync("--work", "FILM-1", "--out", out("c"), "--as", "user1@Org3", "--client", "c", "--peer", "peer1.org3"),
		"slow": n.fetchAsync("--work", "FILM-1", "--out", out("slow"), "--as", "user1@Org1", "--client", "slow", "--rate-limit", "4Mbit", "--peer", "peer1.org1"),
		"edge": n.fetchAsync("--work", "FILM-1", "--out", out("edge"), "--as", "user1@Org2", "--client", "edge", "--edge-decrypt"),
	}
	// The acceptance clients fetch their ciphertext ahead as well.
	k2 := n.fetchAsync("--work", "CLIP-2", "--out", out("k2"), "--as", "user1@Org1", "--client", "k2", "--peer", "peer1.org1")
	k3 := n.fetchAsync("--work", "CLIP-3", "--out", out("k3"), "--as", "user1@Org1", "--client", "k3", "--peer", "peer1.org1",
		"--deadline", rfc(t3.Add(8*time.Second)))

	// A greedy client asks every peer for the shares and a trusted edge
	// for plaintext before the release time: refused.
	greedy := n.sdk(t, "user1@Org2", "peer1.org2")
	gctx, gcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer gcancel()
	for _, p := range greedy.Peers {
		api := foliov1connect.NewReleaseServiceClient(greedy.HTTP, "https://"+p.API)
		_, err := api.GetShares(gctx, connect.NewRequest(&foliov1.GetSharesRequest{ReleaseId: c.Release}))
		if time.Now().Before(t1) && connect.CodeOf(err) != connect.CodeFailedPrecondition {
			t.Fatalf("%s answered shares before T with %v", p.Name, err)
		}
	}
	var edgeAPI string
	for _, p := range greedy.Peers {
		if p.Name == "peer1.org2" {
			edgeAPI = p.API
		}
	}
	stream, err := foliov1connect.NewReleaseServiceClient(greedy.HTTP, "https://"+edgeAPI).GetPlaintext(gctx,
		connect.NewRequest(&foliov1.GetPlaintextRequest{ReleaseId: c.Release, Client: "user1@Org2/greedy"}))
	if err == nil {
		for stream.Receive() {
			t.Fatal("plaintext without an edge-decrypt subscription")
		}
		err = stream.Err()
		stream.Close()
	}
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("plaintext without an edge-decrypt subscription: %v", err)
	}

	// create again for a work that has a release: refused with the
	// release's details (it used to print the old release and exit 0),
	// even with another file and times; --resume of the same file is
	// accepted (the upload is complete: nothing to do).
	if r, err := n.run("release", "create", "--work", "FILM-1", "--file", clip2, "--release-at", rfc(t1.Add(time.Hour)), "--end-at", rfc(t1.Add(2*time.Hour)), "--as", "user1@Org1"); err == nil ||
		!strings.Contains(r.stderr, "already has a release") || !strings.Contains(r.stderr, c.Release) || !strings.Contains(r.stderr, "--resume") {
		t.Fatalf("create again with another file and times:\n%s", r)
	}
	var again createOut
	n.json(&again, "release", "create", "--work", "FILM-1", "--file", file, "--resume", "--as", "user1@Org1")
	if again.Release != c.Release || !again.Resumed {
		t.Fatalf("create --resume: %+v", again)
	}

	results := map[string]fetchOut{}
	for name, ch := range fetches {
		results[name] = fetchResult(t, name, ch, out(name), hash)
	}
	var lo, hi time.Time
	for name, f := range results {
		acc := mustTime(t, f.AccessAt)
		if acc.Before(t1) {
			t.Fatalf("%s accessed the work at %s, before the release time %s", name, f.AccessAt, c.ReleaseAt)
		}
		t.Logf("%-5s via %-10s ciphertext %s key %s access T%+v", name, f.Edge, f.CiphertextCompleteAt, f.KeyReceivedAt, acc.Sub(t1))
		if name == "edge" {
			continue
		}
		if mustTime(t, f.CiphertextCompleteAt).After(mustTime(t, f.KeyReceivedAt)) {
			t.Errorf("%s had the key before the ciphertext", name)
		}
		if lo.IsZero() || acc.Before(lo) {
			lo = acc
		}
		if acc.After(hi) {
			hi = acc
		}
	}
	if spread := hi.Sub(lo); spread > time.Second {
		t.Errorf("key clients' access spread %s", spread)
	}
	if d := mustTime(t, results["edge"].AccessAt).Sub(lo); d > 2*time.Second || d < -2*time.Second {
		t.Errorf("edge-decrypt client accessed %s from the first key client", d)
	}

	// Acceptance, part 1: one key server down, CLIP-2 opens at T2. (The
	// pids are read first: network status waits for nodes that are down.)
	pid2, pid3 := n.peerPID(t, "peer0.org2"), n.peerPID(t, "peer0.org3")
	killNode(t, "peer0.org3", pid3)
	if time.Now().After(t2.Add(-time.Second)) {
		t.Fatalf("peer0.org3 stopped only %s before CLIP-2's release time", time.Until(t2))
	}
	// Part 2: kill peer0.org2 as well once CLIP-2's key is out (its shares
	// on chain; the k2 process may still be reporting), then CLIP-3 must
	// not open.
	eventually(t, time.Until(t3.Add(-time.Second)), "CLIP-2's key shares on chain", func() error {
		var r reportOut
		n.json(&r, "release", "report", "--work", "CLIP-2")
		if len(r.SharesPublished) < c2.Threshold {
			return fmt.Errorf("%d shares of %d published", len(r.SharesPublished), c2.Threshold)
		}
		return nil
	})
	killNode(t, "peer0.org2", pid2)
	if time.Now().After(t3.Add(-time.Second)) {
		t.Fatalf("peer0.org2 stopped only %s before CLIP-3's release time", time.Until(t3))
	}
	f2 := fetchResult(t, "k2", k2, out("k2"), hash2)
	acc2 := mustTime(t, f2.AccessAt)
	if acc2.Before(t2) || acc2.Sub(t2) > 3*time.Second {
		t.Fatalf("CLIP-2 with one key server down opened at T%+v", acc2.Sub(t2))
	}
	t.Logf("one key server of three down: CLIP-2 opened at T%+v", acc2.Sub(t2))
	r3 := <-k3
	if r3.code == 0 {
		t.Fatalf("CLIP-3 opened with two of three key servers down:\n%s", r3)
	}
	if !strings.Contains(r3.stderr, "could not be opened") || !strings.Contains(r3.stderr, "peer0.org2") || !strings.Contains(r3.stderr, "peer0.org3") {
		t.Fatalf("CLIP-3's client does not say which key servers failed:\n%s", r3)
	}
	if _, err := os.Stat(out("k3")); !os.IsNotExist(err) {
		t.Fatalf("CLIP-3 was written: %v", err)
	}
	t.Logf("two key servers down: %s", strings.TrimSpace(r3.stderr))

	// The chain: FILM-1's shares published after T and none before, every
	// client's access; CLIP-3 not opened, with the reason.
	var rep reportOut
	eventually(t, 30*time.Second, "every access and the shares on chain", func() error {
		rep = reportOut{}
		n.json(&rep, "release", "report", "--work", "FILM-1")
		if len(rep.Clients) < len(results) || len(rep.SharesPublished) < 2 {
			return fmt.Errorf("%d clients, %d shares", len(rep.Clients), len(rep.SharesPublished))
		}
		return nil
	})
	if !rep.Opened || rep.EarlyAccess != 0 || rep.SharesBeforeT != 0 || rep.MissedEnd != 0 {
		t.Fatalf("report: %+v", rep)
	}
	for _, s := range rep.SharesPublished {
		if mustTime(t, s.SentAt).Before(t1) {
			t.Fatalf("share %d sent at %s, before T", s.Index, s.SentAt)
		}
	}
	t.Logf("FILM-1 report: spread %.0f ms, edge vs key %.0f ms, early %d, shares on chain %d", rep.SpreadMS, rep.EdgeVsKeyMS, rep.EarlyAccess, len(rep.SharesPublished))
	var rep3 reportOut
	eventually(t, 20*time.Second, "CLIP-3's failed access on chain", func() error {
		rep3 = reportOut{}
		n.json(&rep3, "release", "report", "--work", "CLIP-3")
		if len(rep3.Clients) == 0 {
			return errors.New("no access reported yet")
		}
		return nil
	})
	if rep3.Opened || !strings.Contains(rep3.Reason, "peer0.org2") || !strings.Contains(rep3.Reason, "needed shares published on chain") {
		t.Fatalf("CLIP-3 report: opened %v, reason %q", rep3.Opened, rep3.Reason)
	}
	t.Logf("CLIP-3 report: %s", rep3.Reason)
	t.Logf("total %s", time.Since(began).Round(time.Second))
}
