package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/localnet"
)

// newCopyrightNet starts the default network (2 orgs x 2 peers, 3 orderers)
// with the copyright contract.
func newCopyrightNet(t *testing.T, env ...string) *network {
	n := newNetwork(t, env...)
	n.must("network", "up", "--detach", "--contract", contractWasm)
	return n
}

type submitted struct {
	TxID   string `json:"tx_id"`
	Block  uint64 `json:"block"`
	Status string `json:"status"`
}

type record struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Author      string `json:"author"`
	Owner       string `json:"owner"`
	Type        string `json:"type"`
	ContentHash string `json:"content_hash"`
	Version     struct {
		Block uint64 `json:"block"`
		Tx    uint64 `json:"tx"`
	} `json:"version"`
}

// TestCopyrightScenario is the paper's scenario end to end on real processes.
func TestCopyrightScenario(t *testing.T) {
	n := newCopyrightNet(t)
	song := filepath.Join(t.TempDir(), "song.mp3")
	if err := os.WriteFile(song, []byte("la la la"), 0o644); err != nil {
		t.Fatal(err)
	}

	var reg submitted
	n.json(&reg, "work", "register", "--id", "W-1", "--title", "First Song", "--author", "Ann Writer", "--type", "audio", "--file", song, "--as", "user1@Org1", "--peer", "peer0.org1")
	if reg.Status != "VALID" || reg.TxID == "" {
		t.Fatalf("register: %+v", reg)
	}
	// Committed, as VALID, on all four peers.
	for _, p := range []string{"peer0.org1", "peer1.org1", "peer0.org2", "peer1.org2"} {
		eventually(t, 10*time.Second, "register committed on "+p, func() error {
			var tx struct {
				Code  string `json:"validation_code"`
				Block uint64 `json:"block"`
			}
			r, err := n.run("tx", "get", reg.TxID, "--peer", p, "--json")
			if err != nil {
				return errors.New(r.stderr)
			}
			if err := json.Unmarshal([]byte(r.stdout), &tx); err != nil || tx.Code != "VALID" || tx.Block != reg.Block {
				return errors.New(r.stdout)
			}
			return nil
		})
	}
	var rec record
	n.json(&rec, "work", "get", "--id", "W-1", "--peer", "peer0.org2")
	if rec.Owner != "user1@Org1" || rec.Title != "First Song" || !strings.HasPrefix(rec.ContentHash, "sha256:") || rec.Version.Block != reg.Block {
		t.Fatalf("get on peer0.org2: %+v", rec)
	}

	// Bad inputs change nothing.
	r, err := n.run("work", "transfer", "--id", "W-1", "--to", "user1@Org2", "--as", "user1@Org2")
	if err == nil || !strings.Contains(r.stderr, "may not transfer") {
		t.Fatalf("transfer by a non-owner:\n%s", r)
	}
	r, err = n.run("work", "register", "--id", "W-1", "--title", "x", "--author", "y", "--hash", "sha256:"+strings.Repeat("0", 64))
	if err == nil || !strings.Contains(r.stderr, "already registered") {
		t.Fatalf("duplicate register:\n%s", r)
	}
	r, err = n.run("work", "register", "--id", "W-2", "--title", "x", "--author", "y", "--hash", "md5:abc")
	if err == nil || !strings.Contains(r.stderr, "sha256:") {
		t.Fatalf("malformed hash:\n%s", r)
	}

	var tr submitted
	n.json(&tr, "work", "transfer", "--id", "W-1", "--to", "user1@Org2", "--as", "user1@Org1")
	if tr.Status != "VALID" {
		t.Fatalf("transfer: %+v", tr)
	}
	eventually(t, 10*time.Second, "new owner on peer1.org2", func() error {
		var rec record
		n.json(&rec, "work", "get", "--id", "W-1", "--peer", "peer1.org2")
		if rec.Owner != "user1@Org2" {
			return errors.New("owner " + rec.Owner)
		}
		return nil
	})
	var hist struct {
		Entries []struct {
			TxID    string `json:"tx_id"`
			Action  string `json:"action"`
			Creator string `json:"creator"`
			Owner   string `json:"owner"`
		} `json:"entries"`
	}
	n.json(&hist, "work", "history", "--id", "W-1")
	if len(hist.Entries) != 2 || hist.Entries[0].Action != "register" || hist.Entries[1].Action != "transfer" ||
		hist.Entries[0].Creator != "user1@Org1" || hist.Entries[1].Owner != "user1@Org2" || hist.Entries[1].TxID != tr.TxID {
		t.Fatalf("history: %+v", hist)
	}

	// Evidence verifies offline, and not after one flipped byte.
	bundle := filepath.Join(t.TempDir(), "w1.json")
	n.must("work", "prove", "--id", "W-1", "--out", bundle, "--peer", "peer1.org2")
	var rep struct {
		Valid       bool   `json:"valid"`
		ReadableKey string `json:"readable_key"`
		Checks      []struct {
			Name string `json:"check"`
		} `json:"checks"`
	}
	n.json(&rep, "evidence", "verify", bundle, "--genesis", filepath.Join(n.dir, "genesis.block"))
	if !rep.Valid || rep.ReadableKey != "work W-1" || len(rep.Checks) < 9 || rep.Checks[len(rep.Checks)-1].Name != "history" {
		t.Fatalf("evidence against the pinned genesis block: %+v", rep)
	}
	// People read it: the work by its name and the record proven.
	if out := n.must("evidence", "verify", bundle).stdout; !strings.Contains(out, "valid: copyright work W-1 after block") || !strings.Contains(out, `"owner":"user1@Org2"`) {
		t.Fatalf("evidence verify prints:\n%s", out)
	}
	data, _ := os.ReadFile(bundle)
	// Re-indented by an editor, it still verifies.
	var reindented bytes.Buffer
	if err := json.Indent(&reindented, data, "", "\t"); err != nil {
		t.Fatal(err)
	}
	tabs := filepath.Join(t.TempDir(), "tabs.json")
	if err := os.WriteFile(tabs, reindented.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	n.must("evidence", "verify", tabs)
	for _, at := range []int{len(data) / 3, len(data) / 2, 2 * len(data) / 3} {
		bad := append([]byte(nil), data...)
		bad[at] ^= 0x01
		badFile := filepath.Join(t.TempDir(), "bad.json")
		_ = os.WriteFile(badFile, bad, 0o644)
		if r, err := n.run("evidence", "verify", badFile); err == nil || r.code != 2 {
			t.Fatalf("a bundle with byte %d flipped verified:\n%s", at, r)
		}
	}

	// An application outside this module, on the same network.
	runSDKExample(t, n)
}

// TestConflictingTransfersInOneBlock submits two transfers of the same work
// at once: one commits, the other is MVCC_READ_CONFLICT, and the work has
// exactly one new owner.
func TestConflictingTransfersInOneBlock(t *testing.T) {
	n := newCopyrightNet(t)
	n.must("work", "register", "--id", "W-9", "--title", "t", "--author", "a", "--hash", "sha256:"+strings.Repeat("1", 64))
	// The register returned once committed at peer0.org1; endorsers that
	// have not committed its block yet would refuse the transfers (a race
	// of the test, not the one under test).
	s := newSDK(t, n)
	s.waitHeight(s.height("peer0.org1")-1, 30*time.Second)
	netw, err := localnet.Load(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	roots, _ := localnet.RootPool(n.dir, netw)
	user, err := wallet.Open(filepath.Join(n.dir, "wallet")).Load("user1@Org1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	peers := netw.PeersOf("Org1")
	var wg sync.WaitGroup
	codes := make([]foliov1.ValidationCode, 2)
	errs := make([]error, 2)
	for i, to := range []string{"user1@Org2", "admin@Org2"} {
		wg.Add(1)
		go func(i int, to string) {
			defer wg.Done()
			gw := client.NewGateway(client.HTTPClient(user, roots), peers[i%len(peers)].API, netw.Channel, user)
			args, _ := json.Marshal(map[string]string{"id": "W-9", "to": to})
			res, err := gw.Submit(ctx, "copyright", "transfer", [][]byte{args}, client.SubmitOptions{})
			if res != nil {
				codes[i] = res.Code
			}
			errs[i] = err
		}(i, to)
	}
	wg.Wait()
	valid, conflict := 0, 0
	for i := range codes {
		switch {
		case errs[i] == nil && codes[i] == foliov1.ValidationCode_VALID:
			valid++
		case codes[i] == foliov1.ValidationCode_MVCC_READ_CONFLICT:
			conflict++
		case errs[i] != nil && strings.Contains(errs[i].Error(), "may not transfer"):
			// The second was endorsed after the first committed: refused by the contract.
			conflict++
		default:
			t.Errorf("transfer %d: code %v, err %v", i, codes[i], errs[i])
		}
	}
	if valid != 1 || conflict != 1 {
		t.Fatalf("%d valid, %d conflicting: want exactly one of each", valid, conflict)
	}
}
