package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/consortium/consortiumtest"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/localnet"
)

// consortiumDirs creates three organisations apart, as three hosts would
// (the ordering organisation, Org1 and Org2, each on its own loopback
// address), and exports their definitions.
func consortiumDirs(t *testing.T) (base string, dirs, defs map[string]string) {
	t.Helper()
	base = t.TempDir()
	dirs, defs = map[string]string{}, map[string]string{}
	for _, o := range []struct {
		name, host string
		extra      []string
	}{
		{"OrdererOrg", "127.0.0.11", []string{"--orderers", "1", "--msp-id", "OrdererMSP"}},
		{"Org1", "127.0.0.12", nil},
		{"Org2", "127.0.0.13", nil},
	} {
		dirs[o.name] = filepath.Join(base, strings.ToLower(o.name))
		defs[o.name] = filepath.Join(base, strings.ToLower(o.name)+".json")
		args := append([]string{"org", "init", "--name", o.name, "--dir", dirs[o.name], "--host", o.host}, o.extra...)
		if r := runCLI(t, "", args...); r.code != exitOK {
			t.Fatalf("folio %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
		if r := runCLI(t, "", "org", "export", "--dir", dirs[o.name], "--out", defs[o.name]); r.code != exitOK {
			t.Fatalf("org export %s: exit %d\n%s", o.name, r.code, r.stderr)
		}
	}
	return base, dirs, defs
}

// privateKeyIDs returns the node IDs (key hashes) of every private key

// TestCLIConsortiumFromDefinitions: organisations created apart form a
// channel from their exported definitions alone; the genesis block lists
// every organisation and node; no directory holds another organisation's
// private key; joining checks the genesis hash and membership.
func TestCLIConsortiumFromDefinitions(t *testing.T) {
	base, dirs, defs := consortiumDirs(t)
	for name, f := range defs {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("PRIVATE KEY")) {
			t.Fatalf("definition of %s holds a private key", name)
		}
	}
	out := filepath.Join(base, "genesis.block")
	r := runCLI(t, "", "channel", "genesis", "--dir", dirs["OrdererOrg"], "--definition", defs["Org1"], "--definition", defs["Org2"], "--out", out, "--json")
	if r.code != exitOK {
		t.Fatalf("channel genesis: exit %d\n%s", r.code, r.stderr)
	}
	var res struct {
		Hash string   `json:"genesis_hash"`
		Orgs []string `json:"orgs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Hash) != 64 {
		t.Fatalf("channel genesis output: %v\n%s", err, r.stdout)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var block foliov1.Block
	if err := proto.Unmarshal(raw, &block); err != nil {
		t.Fatal(err)
	}
	cfg, err := channel.FromGenesis(&block)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Orgs) != 3 || len(cfg.Peers) != 2 || len(cfg.Orderers) != 1 || len(cfg.Contracts) != 2 {
		t.Fatalf("genesis config: %d orgs, %d peers, %d orderers, %d contracts", len(cfg.Orgs), len(cfg.Peers), len(cfg.Orderers), len(cfg.Contracts))
	}
	if cfg.Peers[0].ApiAddress != "127.0.0.12:7051" || cfg.Orderers[0].RaftId == 0 {
		t.Fatalf("advertised address or Raft ID: %v %v", cfg.Peers[0], cfg.Orderers[0])
	}

	// Each directory holds private keys of its own organisation only:
	// its CA's, its nodes', its wallet's. None of them is a key another
	// directory also holds, or the key of another organisation's root or
	// node.
	owner := map[string]string{}
	for name, dir := range dirs {
		for id, p := range consortiumtest.PrivateKeyIDs(t, dir) {
			if other, dup := owner[id]; dup {
				t.Fatalf("the same private key is in %s's directory (%s) and %s's", name, p, other)
			}
			owner[id] = name
		}
	}
	for _, n := range append(append([]*foliov1.NodeEndpoint(nil), cfg.Peers...), cfg.Orderers...) {
		if owner[n.NodeId] != n.Org {
			t.Fatalf("the key of node %s (%s) is held by %q", n.Name, n.Org, owner[n.NodeId])
		}
	}
	for _, o := range cfg.Orgs {
		root, err := fcrypto.ParseCertificatePEM(o.RootCerts[0])
		if err != nil {
			t.Fatal(err)
		}
		id, _ := fcrypto.KeyID(root.PublicKey)
		if owner[id] != o.Name {
			t.Fatalf("root key of %s held by %q", o.Name, owner[id])
		}
	}

	// The signing organisation's nodes got block 0 and bootstrap endpoints.
	ord, err := config.ParseNode("x", mustRead(t, filepath.Join(dirs["OrdererOrg"], "nodes", "orderer0.ordererorg", "config.yaml")), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Bootstrap admission: its own organisation, then the others' roots as
	// the configuration lists them (public certificates only).
	if len(ord.Peers) != 2 || len(ord.Consortium) != 3 || ord.Consortium[0].MSPID != "OrdererMSP" {
		t.Fatalf("orderer config: %d bootstrap peers, consortium %+v", len(ord.Peers), ord.Consortium)
	}
	for _, ref := range ord.Consortium[1:] {
		var want []byte
		for _, o := range cfg.Orgs {
			if o.MspId == ref.MSPID {
				want = o.RootCerts[0]
			}
		}
		if got := mustRead(t, ref.RootCert); want == nil || !bytes.Equal(got, want) {
			t.Fatalf("bootstrap root of %s in %s is not the channel's", ref.MSPID, ref.RootCert)
		}
	}

	// Join: a wrong hash is refused; the right one writes block 0.
	bad := strings.Repeat("0", 64)
	checkCLICase(t, "", cliCase{name: "join with another genesis hash", args: []string{"org", "join", "--dir", dirs["Org1"], "--genesis", out, "--genesis-hash", bad, "--no-start"},
		code: exitInvalid, want: []string{"not the --genesis-hash"}})
	if _, err := os.Stat(filepath.Join(dirs["Org1"], localnet.GenesisFile)); err == nil {
		t.Fatal("a refused join wrote the genesis block")
	}
	r = runCLI(t, "", "org", "join", "--dir", dirs["Org1"], "--genesis", out, "--genesis-hash", res.Hash, "--no-start")
	if r.code != exitOK {
		t.Fatalf("org join: exit %d\n%s", r.code, r.stderr)
	}
	if got := mustRead(t, filepath.Join(dirs["Org1"], localnet.GenesisFile)); !bytes.Equal(got, raw) {
		t.Fatal("join wrote another genesis block")
	}
	// Without a hash it joins but warns.
	r = runCLI(t, "", "org", "join", "--dir", dirs["Org2"], "--genesis", out, "--no-start")
	if r.code != exitOK || !strings.Contains(r.stderr, "WARNING: no --genesis-hash") {
		t.Fatalf("join without hash: exit %d\n%s", r.code, r.stderr)
	}

	// An organisation the channel does not hold is told to ask for add-org.
	org3 := filepath.Join(base, "org3")
	if r := runCLI(t, "", "org", "init", "--name", "Org3", "--dir", org3, "--host", "127.0.0.14"); r.code != exitOK {
		t.Fatalf("org init Org3: %s", r.stderr)
	}
	checkCLICase(t, "", cliCase{name: "join as a non-member", args: []string{"org", "join", "--dir", org3, "--genesis", out, "--genesis-hash", res.Hash, "--no-start"},
		code: exitRefused, want: []string{"not an organisation of channel folio", "channel add-org"}})
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCLIConsortiumUsage: command-line mistakes of the consortium
// commands end with the usage status before anything is written or
// contacted.
func TestCLIConsortiumUsage(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if err := os.MkdirAll(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []cliCase{
		{name: "init without name", args: []string{"org", "init", "--dir", filepath.Join(dir, "a")}, code: exitUsage, want: []string{"--name and --dir are required"}},
		{name: "init into a non-empty dir", args: []string{"org", "init", "--name", "Org3", "--dir", full}, code: exitUsage, want: []string{"not empty"}},
		{name: "init with too many peers", args: []string{"org", "init", "--name", "Org3", "--dir", filepath.Join(dir, "b"), "--peers", "99"}, code: exitUsage, want: []string{"--peers 99"}},
		{name: "init with a bad name", args: []string{"org", "init", "--name", "Org 3", "--dir", filepath.Join(dir, "c")}, code: exitUsage, want: []string{"--name"}},
		{name: "init with a wildcard host", args: []string{"org", "init", "--name", "Org3", "--dir", filepath.Join(dir, "d"), "--host", "0.0.0.0"}, code: exitUsage, want: []string{"wildcard"}},
		{name: "export without out", args: []string{"org", "export", "--dir", dir}, code: exitUsage, want: []string{"--dir and --out are required"}},
		{name: "join without source", args: []string{"org", "join", "--dir", dir}, code: exitUsage, want: []string{"--channel-from", "--genesis FILE"}},
		{name: "join with a short hash", args: []string{"org", "join", "--dir", dir, "--genesis", "x", "--genesis-hash", "abc"}, code: exitUsage, want: []string{"64 hex digits"}},
		{name: "genesis without definitions", args: []string{"channel", "genesis", "--dir", dir, "--out", "g"}, code: exitUsage, want: []string{"--definition"}},
		{name: "add-org without definition", args: []string{"channel", "add-org"}, code: exitUsage, want: []string{"--definition is required"}},
		{name: "remove-org without org", args: []string{"channel", "remove-org"}, code: exitUsage, want: []string{"--org is required"}},
		{name: "add-org with expiry 0", args: []string{"channel", "add-org", "--definition", "x", "--expiry", "0"}, code: exitUsage, want: []string{"--expiry 0"}},
		{name: "sign without file", args: []string{"channel", "sign"}, code: exitUsage, want: []string{"arg"}},
		{name: "sign a missing file", args: []string{"channel", "sign", filepath.Join(dir, "nope.json")}, code: exitUsage, want: []string{"nope.json"}},
		{name: "orderer add without definition", args: []string{"orderer", "add"}, code: exitUsage, want: []string{"--definition is required"}},
		{name: "orderer remove without name", args: []string{"orderer", "remove"}, code: exitUsage, want: []string{"--name is required"}},
		{name: "set-policy without name", args: []string{"channel", "set-policy", "--policy", "OR('Org1MSP.admin')"}, code: exitUsage, want: []string{"--name is required"}},
		{name: "set-policy with neither", args: []string{"channel", "set-policy", "--name", "channel/admins"}, code: exitUsage, want: []string{"exactly one of --policy and --remove"}},
		{name: "set-policy with both", args: []string{"channel", "set-policy", "--name", "x", "--policy", "OR('A.admin')", "--remove"}, code: exitUsage, want: []string{"exactly one"}},
		{name: "set-policy that does not parse", args: []string{"channel", "set-policy", "--name", "channel/admins", "--policy", "OutOf(2,"}, code: exitUsage, want: []string{"--policy"}},
	} {
		checkCLICase(t, dir, c)
	}
}

// TestCLIAddOrgLive forms a consortium of organisations created apart
// (each on its own loopback address), starts it, and adds a fourth
// organisation online: add-org by Org1's admin writes a proposal, Org2's
// admin signs it on its "host", Org1 submits and waits until it is in
// force, Org3 joins from a member's peer and its client registers a work.
func TestCLIAddOrgLive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real consortium: not in -short mode")
	}
	base, dirs, defs := consortiumDirs(t)
	bin := filepath.Join(base, "folio")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/folio-ledger/folio/cmd/folio").CombinedOutput(); err != nil {
		t.Fatalf("build folio: %v\n%s", err, out)
	}
	folio := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	// pending fails the test at a step of the membership flow, with the
	// command's output.
	pending := func(t *testing.T, step, out string, err error) {
		t.Helper()
		t.Fatalf("%s failed (%v)\n%s", step, err, out)
	}
	t.Cleanup(func() {
		for _, d := range dirs {
			folio("--network", d, "network", "down")
		}
		for _, d := range []string{"org3", "ord2"} {
			folio("--network", filepath.Join(base, d), "network", "down")
		}
	})
	gen := filepath.Join(base, "genesis.block")
	out, err := folio("channel", "genesis", "--dir", dirs["OrdererOrg"], "--definition", defs["Org1"], "--definition", defs["Org2"], "--out", gen, "--json")
	if err != nil {
		t.Fatalf("channel genesis: %v\n%s", err, out)
	}
	var g struct {
		Hash string `json:"genesis_hash"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &g); err != nil {
		t.Fatalf("genesis output: %v\n%s", err, out)
	}
	for _, name := range []string{"OrdererOrg", "Org1", "Org2"} {
		if out, err := folio("org", "join", "--dir", dirs[name], "--genesis", gen, "--genesis-hash", g.Hash, "--timeout", "60s"); err != nil {
			pending(t, "org join "+name, out, err)
		}
	}
	org3 := filepath.Join(base, "org3")
	def3 := filepath.Join(base, "org3.json")
	if out, err := folio("org", "init", "--name", "Org3", "--dir", org3, "--host", "127.0.0.14"); err != nil {
		t.Fatalf("org init Org3: %v\n%s", err, out)
	}
	if out, err := folio("org", "export", "--dir", org3, "--out", def3); err != nil {
		t.Fatalf("org export Org3: %v\n%s", err, out)
	}
	prop := filepath.Join(base, "add-org3.json")
	out, err = folio("--network", dirs["Org1"], "--as", "admin@Org1", "channel", "add-org", "--definition", def3, "--out", prop)
	if err != nil {
		pending(t, "channel add-org", out, err)
	}
	if !strings.Contains(out, "missing") || !strings.Contains(out, "Org2MSP.admin") {
		t.Fatalf("add-org with one of two admins should write a proposal naming Org2's admin:\n%s", out)
	}
	if out, err := folio("--network", dirs["Org2"], "--as", "admin@Org2", "channel", "sign", prop); err != nil {
		t.Fatalf("channel sign by Org2: %v\n%s", err, out)
	}
	if out, err := folio("--network", dirs["Org1"], "--as", "admin@Org1", "channel", "submit", prop, "--timeout", "60s"); err != nil {
		pending(t, "channel submit", out, err)
	}
	// The proposal is spent: submitting it again is refused as stale.
	if out, err := folio("--network", dirs["Org1"], "--as", "admin@Org1", "channel", "submit", prop); err == nil || !strings.Contains(out, "stale") {
		t.Fatalf("a spent proposal was not refused as stale: %v\n%s", err, out)
	}
	if out, err := folio("org", "join", "--dir", org3, "--channel-from", "127.0.0.12:7051", "--genesis-hash", g.Hash, "--timeout", "90s"); err != nil {
		pending(t, "org join Org3", out, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := folio("--network", org3, "--as", "user1@Org3", "work", "register", "--id", "W-ORG3", "--title", "joined", "--author", "Org3 author", "--hash", "sha256:"+strings.Repeat("ab", 32))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			pending(t, "work register as user1@Org3", out, err)
		}
		time.Sleep(time.Second) // polling a live network for the new member's endorsements, not synchronising test goroutines
	}

	// The new organisation is a member for contracts (a work can move to
	// it: channel_orgs follows the configuration in force) and, once the
	// channel's admin policy names it, for approvals.
	if out, err := folio("--network", dirs["Org1"], "--as", "user1@Org1", "work", "register", "--id", "W-TO-ORG3", "--title", "moves", "--author", "A",
		"--hash", "sha256:"+strings.Repeat("ef", 32)); err != nil {
		t.Fatalf("register a work to transfer: %v\n%s", err, out)
	}
	if out, err := folio("--network", dirs["Org1"], "--as", "user1@Org1", "work", "transfer", "--id", "W-TO-ORG3", "--to", "user1@Org3"); err != nil {
		t.Fatalf("transfer a work to the new organisation's user: %v\n%s", err, out)
	}
	admins3 := "OutOf(2, 'Org1MSP.admin', 'Org2MSP.admin', 'Org3MSP.admin')"
	pol := filepath.Join(base, "admins.json")
	if out, err := folio("--network", dirs["Org1"], "--as", "admin@Org1", "channel", "set-policy", "--name", "channel/admins", "--policy", admins3, "--out", pol); err != nil {
		t.Fatalf("set-policy channel/admins: %v\n%s", err, out)
	}
	if out, err := folio("--network", dirs["Org2"], "--as", "admin@Org2", "channel", "submit", pol, "--timeout", "60s"); err != nil {
		t.Fatalf("submit channel/admins: %v\n%s", err, out)
	}
	act := filepath.Join(base, "activation.json")
	if out, err := folio("--network", org3, "--as", "admin@Org3", "channel", "set-policy", "--name", "lifecycle/activation", "--policy", admins3, "--out", act); err != nil {
		t.Fatalf("set-policy lifecycle/activation by Org3's admin: %v\n%s", err, out)
	}
	if out, err := folio("--network", dirs["Org1"], "--as", "admin@Org1", "channel", "submit", act, "--timeout", "60s"); err != nil {
		t.Fatalf("submit lifecycle/activation approved by Org3's and Org1's admins: %v\n%s", err, out)
	}

	// An orderer of a new ordering organisation joins the Raft cluster,
	// then the genesis orderer leaves: one change at a time.
	t.Run("orderer add and remove", func(t *testing.T) {
		ord2, defO := filepath.Join(base, "ord2"), filepath.Join(base, "ord2.json")
		if out, err := folio("org", "init", "--name", "Ord2", "--orderers", "1", "--dir", ord2, "--host", "127.0.0.15"); err != nil {
			t.Fatalf("org init Ord2: %v\n%s", err, out)
		}
		if out, err := folio("org", "export", "--dir", ord2, "--out", defO); err != nil {
			t.Fatalf("org export Ord2: %v\n%s", err, out)
		}
		// approve runs a change proposed by Org1's admin past Org2's.
		approve := func(step string, args ...string) string {
			prop := filepath.Join(base, strings.ReplaceAll(step, " ", "-")+".json")
			out, err := folio(append([]string{"--network", dirs["Org1"], "--as", "admin@Org1"}, append(args, "--out", prop)...)...)
			if err != nil {
				pending(t, step, out, err)
			}
			if out, err := folio("--network", dirs["Org2"], "--as", "admin@Org2", "channel", "sign", prop); err != nil {
				t.Fatalf("%s: sign by Org2: %v\n%s", step, err, out)
			}
			return prop
		}
		submit := func(prop string) *exec.Cmd {
			return exec.Command(bin, "--network", dirs["Org1"], "--as", "admin@Org1", "channel", "submit", prop, "--timeout", "90s")
		}
		if out, err := submit(approve("add-org Ord2", "channel", "add-org", "--definition", defO)).CombinedOutput(); err != nil {
			pending(t, "submit add-org Ord2", string(out), err)
		}
		// The submit of the orderer addition waits until the new orderer
		// votes, which needs it running: start it once it is a member.
		sub := submit(approve("orderer add", "orderer", "add", "--definition", defO))
		var subOut bytes.Buffer
		sub.Stdout, sub.Stderr = &subOut, &subOut
		if err := sub.Start(); err != nil {
			t.Fatal(err)
		}
		joined := false
		for deadline := time.Now().Add(90 * time.Second); !joined && time.Now().Before(deadline); {
			out, err := folio("org", "join", "--dir", ord2, "--channel-from", "127.0.0.12:7051", "--genesis-hash", g.Hash, "--timeout", "60s")
			joined = err == nil
			if !joined && !strings.Contains(out, "not in channel") {
				sub.Process.Kill()
				sub.Wait()
				pending(t, "org join Ord2", out, err)
			}
			if !joined {
				time.Sleep(time.Second) // polling another process for the commit, not synchronising goroutines
			}
		}
		if err := sub.Wait(); err != nil || !joined {
			pending(t, "orderer add (submit and wait until a voter)", subOut.String(), err)
		}
		prop := approve("orderer remove", "orderer", "remove", "--name", "orderer0.ordererorg")
		if out, err := submit(prop).CombinedOutput(); err != nil {
			pending(t, "orderer remove", string(out), err)
		}
		// Orderer remove returned once the remaining orderer leads; a
		// client may still see one "retry" while sessions move to it.
		for i := 0; ; i++ {
			out, err := folio("--network", dirs["Org1"], "--as", "user1@Org1", "work", "register", "--id", fmt.Sprintf("W-AFTER-%d", i), "--title", "after", "--author", "A", "--hash", "sha256:"+strings.Repeat("cd", 32))
			if err == nil {
				break
			}
			if i == 10 || !strings.Contains(out, "retry") {
				t.Fatalf("ordering after the orderer change (attempt %d): %v\n%s", i+1, err, out)
			}
			time.Sleep(2 * time.Second) // the client's own retry advice, between processes
		}
	})
}
