package workload

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/chaos/history"
	"github.com/folio-ledger/folio/internal/localnet"
)

// startNetwork builds folio and starts the default local network (2
// organisations x 2 peers, 3 orderers, the copyright contract) in a
// temporary directory, brought down when the test ends, whatever happened.
func startNetwork(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real network: not in -short mode")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "folio")
	build := exec.Command("go", "build", "-o", bin, "github.com/folio-ledger/folio/cmd/folio")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build folio: %v\n%s", err, out)
	}
	dir := filepath.Join(tmp, "net")
	folio := func(args ...string) ([]byte, error) {
		cmd := exec.Command(bin, append([]string{"--network", dir}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.Bytes(), err
	}
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(dir, localnet.FileName)); err == nil {
			if out, err := folio("network", "down"); err != nil {
				t.Errorf("network down: %v\n%s", err, out)
			}
		}
	})
	if out, err := folio("network", "up", "--detach"); err != nil {
		t.Fatalf("network up: %v\n%s", err, out)
	}
	return dir
}

// TestWorkloadOnNetwork runs the workload on a real network without faults
// and checks that the history is what a correct network must produce and
// that the peers' chains, read back, hold every acknowledged write.
func TestWorkloadOnNetwork(t *testing.T) {
	dir := startNetwork(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	ids, err := Enroll(ctx, dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"chaos-u1@Org1", "chaos-u2@Org2", "chaos-u3@Org1", "chaos-u4@Org2"}
	for i, id := range ids {
		if id.Label() != want[i] || id.Role() != "client" {
			t.Fatalf("identity %d is %s (%s), want %s (client)", i, id.Label(), id.Role(), want[i])
		}
	}
	// Enrolling again reuses them (Run does, without Identities).
	again, err := Enroll(ctx, dir, 4)
	if err != nil {
		t.Fatalf("enroll again: %v", err)
	}
	for i := range again {
		if !again[i].Certificate().Equal(ids[i].Certificate()) {
			t.Errorf("enroll again: %s has a new certificate", again[i].Label())
		}
	}

	rec := history.NewRecorder(time.Now())
	rctx, stop := context.WithTimeout(ctx, 15*time.Second)
	stats, err := Run(rctx, Config{NetDir: dir, Clients: 4, Works: 3, Seed: 23, OpTimeout: 10 * time.Second}, rec)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	ops := rec.Ops()
	t.Log(stats)
	if stats.Total() != len(ops) || len(ops) == 0 {
		t.Fatalf("stats count %d operations, the history has %d", stats.Total(), len(ops))
	}
	checkHistory(t, ops, stats)

	// Wait until every peer has the last acknowledged block, then read
	// the chains back.
	var top uint64
	for _, op := range ops {
		if op.Kind != history.Get && op.Outcome == history.OK {
			top = max(top, op.Block+1)
		}
	}
	waitHeights(t, ctx, dir, top)
	chains, err := Collect(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkChains(t, chains, ops)
}

func checkHistory(t *testing.T, ops []history.Op, stats Stats) {
	t.Helper()
	okByKind := map[history.Kind]int{}
	okRegisters := map[string][]history.Op{}
	refused := 0
	for _, op := range ops {
		if op.Return < op.Invoke {
			t.Errorf("op %d returns before it is invoked", op.ID)
		}
		if op.Outcome == history.OK {
			okByKind[op.Kind]++
		}
		if op.Refused {
			refused++
			if op.Outcome != history.Fail {
				t.Errorf("op %d is refused but %s", op.ID, op.Outcome)
			}
		}
		switch {
		case op.Kind == history.Get:
			if op.Outcome == history.OK && op.Found && (op.ReadHeight == 0 || op.Via == "" || op.ReadHeight < op.SessionHeight || op.ReadHeight < op.MinHeight) {
				t.Errorf("read %d: height %d via %q, session height %d, min height %d", op.ID, op.ReadHeight, op.Via, op.SessionHeight, op.MinHeight)
			}
		case op.Outcome == history.OK:
			if op.TxID == "" || op.Block == 0 {
				t.Errorf("acknowledged %s %d has tx %q block %d", op.Kind, op.ID, op.TxID, op.Block)
			}
			if op.Kind == history.Register {
				okRegisters[op.Work] = append(okRegisters[op.Work], op)
			}
		}
	}
	for _, k := range []history.Kind{history.Register, history.Transfer, history.Get} {
		if okByKind[k] == 0 {
			t.Errorf("no %s succeeded (%v)", k, stats.Ops[k])
		}
	}
	for _, w := range stats.Works {
		if n := len(okRegisters[w]); n != 1 {
			t.Errorf("work %s registered %d times, want once", w, n)
		}
	}
	if refused == 0 || refused != stats.Refused {
		t.Errorf("%d operations refused by the contract (stats: %d), want some: every work is registered by one client only", refused, stats.Refused)
	}
	// Every other register of a work is refused, or committed invalid
	// (it lost an MVCC conflict to the one that counts). Without faults an
	// unknown outcome would take a 10 s stall: logged, not failed on.
	for _, op := range ops {
		switch {
		case op.Kind != history.Register || op.Outcome == history.OK:
		case op.Outcome == history.Unknown:
			t.Logf("register %d of %s: unknown (%s)", op.ID, op.Work, op.Error)
		case !op.Refused && op.Block == 0:
			t.Errorf("register %d of %s failed neither refused nor committed invalid: %s", op.ID, op.Work, op.Error)
		}
	}
}

func waitHeights(t *testing.T, ctx context.Context, dir string, want uint64) {
	t.Helper()
	net, err := localnet.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := localnet.RootPool(dir, net)
	if err != nil {
		t.Fatal(err)
	}
	id, err := wallet.Open(filepath.Join(dir, "wallet")).Load("user1@Org1")
	if err != nil {
		t.Fatal(err)
	}
	hc := client.HTTPClient(id, roots)
	deadline := time.Now().Add(20 * time.Second)
	for _, nd := range net.Nodes {
		if nd.Role != "peer" {
			continue
		}
		chain := foliov1connect.NewChainServiceClient(hc, "https://"+nd.API)
		for {
			info, err := chain.GetChainInfo(ctx, connect.NewRequest(&foliov1.GetChainInfoRequest{}))
			if err == nil && info.Msg.Height >= want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s has not reached height %d within 20s (last: %v, err %v)", nd.Name, want, info, err)
			}
			time.Sleep(100 * time.Millisecond) // polling another process's progress
		}
	}
}

func checkChains(t *testing.T, chains []history.PeerChain, ops []history.Op) {
	t.Helper()
	if len(chains) != 4 {
		t.Fatalf("%d chains, want one per peer (4)", len(chains))
	}
	for _, c := range chains {
		if c.Error != "" {
			t.Errorf("%s: %s", c.Peer, c.Error)
		}
		if c.Height == 0 || uint64(len(c.BlockHashes)) != c.Height || uint64(len(c.StateRoots)) != c.Height {
			t.Errorf("%s: height %d, %d hashes, %d state roots", c.Peer, c.Height, len(c.BlockHashes), len(c.StateRoots))
		}
		txs := map[string]history.ChainTx{}
		for _, tx := range c.Txs {
			if _, dup := txs[tx.TxID]; dup && tx.TxID != "" {
				t.Errorf("%s: transaction %s twice", c.Peer, tx.TxID)
			}
			txs[tx.TxID] = tx
		}
		for _, op := range ops {
			if op.Kind == history.Get || op.TxID == "" || op.Outcome == history.Unknown {
				continue
			}
			tx, ok := txs[op.TxID]
			wantCode := "VALID"
			if op.Outcome == history.Fail {
				wantCode = "" // committed INVALID: any code but VALID
			}
			switch {
			case !ok:
				t.Errorf("%s: %s %d (%s, block %d) is not in its chain", c.Peer, op.Kind, op.ID, op.TxID, op.Block)
			case tx.Block != op.Block || (wantCode != "" && tx.Code != wantCode) || (wantCode == "" && tx.Code == "VALID"):
				t.Errorf("%s: %s %d (%s) is %s in block %d, the client learnt %s in block %d", c.Peer, op.Kind, op.ID, op.TxID, tx.Code, tx.Block, op.Outcome, op.Block)
			case tx.Contract != Contract || tx.Kind != op.Kind || tx.Work != op.Work || tx.Owner != op.Owner:
				t.Errorf("%s: %s reads as %s.%s %s of %s to %s, the client sent %s of %s to %s", c.Peer, op.TxID, tx.Contract, tx.Function, tx.Kind, tx.Work, tx.Owner, op.Kind, op.Work, op.Owner)
			}
		}
	}
	// Without faults the peers agree on every block they all hold.
	for _, c := range chains[1:] {
		for n := uint64(0); n < min(c.Height, chains[0].Height); n++ {
			if !bytes.Equal(c.BlockHashes[n], chains[0].BlockHashes[n]) || !bytes.Equal(c.StateRoots[n], chains[0].StateRoots[n]) {
				t.Errorf("block %d: %s and %s differ", n, c.Peer, chains[0].Peer)
				break
			}
		}
	}
	if t.Failed() {
		for _, c := range chains {
			t.Logf("%s: height %d, %d txs", c.Peer, c.Height, len(c.Txs))
		}
	}
}
