package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/deliver"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/endorse"
	"github.com/folio-ledger/folio/internal/evidence"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/lifecycle"
)

// healthEnv is the part of a peer's env that its health uses.
func healthEnv(t *testing.T, dataDir string) *env {
	t.Helper()
	return &env{cfg: &config.Node{Name: "peer0.org1", DataDir: dataDir}, file: "peer.yaml", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// TestPeerHealthDiverged: a peer's health starts ok; once the exchange
// finds it diverged, its endorser refuses with the rebuild instruction,
// NodeInfo's fields say so, and the state survives a restart (the file in
// the data directory) until the file is moved away with the ledger.
func TestPeerHealthDiverged(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := healthEnv(t, dir)
	p, err := newPeerHealth(e)
	if err != nil {
		t.Fatal(err)
	}
	if st, detail := e.health(); st != evidence.HealthOK || detail != "" || p.healthy() != nil || p.initial().State != evidence.HealthOK {
		t.Fatalf("a new peer: %q %q %v", st, detail, p.healthy())
	}
	end := testEndorser(t, p.healthy)
	checked := &endorse.Checked{Proposal: &foliov1.Proposal{Invocation: &foliov1.ContractInvocation{Contract: "copyright", Function: "get"}}}
	if _, _, err := end.Run(ctx, checked, false); err == nil || errors.Is(err, endorse.ErrUnhealthy) {
		t.Fatalf("an ok peer refused: %v", err)
	}

	p.set(evidence.Health{State: evidence.HealthDiverged, Block: 7, Detail: "state root after block 7 is aa here", Peers: []string{"peer0.org2", "peer1.org1"}})
	want := "peer0.org1 stopped endorsing: its state root at block 7 differs from every other peer's signed root; rebuild it with `folio peer rebuild --peer peer0.org1`"
	if err := p.healthy(); err == nil || err.Error() != want {
		t.Fatalf("healthy: %v\nwant %s", err, want)
	}
	_, _, err = end.Run(ctx, checked, false)
	if !errors.Is(err, endorse.ErrUnhealthy) || !errors.Is(err, endorse.ErrUnavailable) || err.Error() != want {
		t.Fatalf("endorser of a diverged peer: %v", err)
	}
	if st, detail := e.health(); st != evidence.HealthDiverged || !strings.Contains(detail, "state root after block 7") || !strings.Contains(detail, "folio peer rebuild --peer peer0.org1") {
		t.Fatalf("NodeInfo health %q %q", st, detail)
	}
	select {
	case <-p.halted:
		t.Fatal("a diverged peer stopped committing")
	default:
	}

	// Restart (a new env over the same data directory): the health is
	// read back.
	cancel()
	e2 := healthEnv(t, dir)
	p2, err := newPeerHealth(e2)
	if err != nil {
		t.Fatal(err)
	}
	if h := p2.initial(); h.State != evidence.HealthDiverged || h.Block != 7 || len(h.Peers) != 2 {
		t.Fatalf("after restart: %+v", h)
	}
	if err := p2.healthy(); err == nil || err.Error() != want {
		t.Fatalf("after restart: %v", err)
	}
	// A rebuild moves the file away with the ledger: ok again.
	if err := os.Rename(filepath.Join(dir, HealthFile), filepath.Join(dir, "aside.json")); err != nil {
		t.Fatal(err)
	}
	p3, err := newPeerHealth(healthEnv(t, dir))
	if err != nil || p3.initial().State != evidence.HealthOK {
		t.Fatalf("after the file was moved away: %+v, %v", p3.initial(), err)
	}
	// A damaged file stops the start with a clear error.
	if err := os.WriteFile(filepath.Join(dir, HealthFile), []byte(`{"state":"sick"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newPeerHealth(healthEnv(t, dir)); err == nil || !strings.Contains(err.Error(), `unknown health state "sick"`) {
		t.Fatalf("damaged health file: %v", err)
	}
	// Orderers have no health.
	if st, detail := (&env{}).health(); st != "" || detail != "" {
		t.Fatalf("orderer: %q %q", st, detail)
	}
}

// countingSink counts the blocks it accepts (only Accept is used).
type countingSink struct {
	deliver.Sink
	accepted int
}

func (c *countingSink) Accept(*foliov1.Block) error { c.accepted++; return nil }

// TestPeerHealthEquivocationStopsCommitting: once the exchange finds an
// equivocation the gated sink accepts no block: Accept blocks until the
// node stops and then fails, without reaching the committer; endorsing
// stops too; a restarted peer is stopped from the start.
func TestPeerHealthEquivocationStopsCommitting(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := healthEnv(t, dir)
	p, err := newPeerHealth(e)
	if err != nil {
		t.Fatal(err)
	}
	com := &countingSink{}
	sink := p.gate(ctx, com)
	blk := &foliov1.Block{Header: &foliov1.BlockHeader{Number: 4}}
	if err := sink.Accept(blk); err != nil || com.accepted != 1 {
		t.Fatalf("an ok peer: %v, accepted %d", err, com.accepted)
	}
	p.set(evidence.Health{State: evidence.HealthEquivocation, Block: 3, Detail: "two different orderer-signed blocks exist for block 3"})
	done := make(chan error, 1)
	go func() { done <- sink.Accept(&foliov1.Block{Header: &foliov1.BlockHeader{Number: 5}}) }()
	select {
	case err := <-done:
		t.Fatalf("a halted peer's sink returned: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := p.healthy(); err == nil || !strings.Contains(err.Error(), "stopped endorsing and committing") {
		t.Fatalf("healthy: %v", err)
	}
	if st, detail := e.health(); st != evidence.HealthEquivocation || !strings.Contains(detail, "stopped committing") {
		t.Fatalf("NodeInfo: %q %q", st, detail)
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || com.accepted != 1 {
			t.Fatalf("after shutdown: %v, accepted %d", err, com.accepted)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the gated sink did not return at shutdown")
	}
	p2, err := newPeerHealth(healthEnv(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p2.halted:
	default:
		t.Fatal("a restarted peer that saw an equivocation commits again")
	}
}

// testEndorser is an endorser whose health gate is healthy; it cannot run
// any contract (none is defined), which the tests do not need.
func testEndorser(t *testing.T, healthy func() error) *endorse.Endorser {
	t.Helper()
	o := newTestOrg(t, "Org1")
	_, self := o.issue(t, "peer0.org1", identity.RolePeer, false, time.Now(), time.Hour)
	msp, err := identity.NewVerifier([]identity.Org{{Name: "Org1", MSPID: "Org1MSP", Root: o.ca.Cert}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := lifecycle.New(t.TempDir(), &foliov1.ChannelConfig{ChannelId: "folio"})
	if err != nil {
		t.Fatal(err)
	}
	end, err := endorse.New(endorse.Options{ChannelID: "folio", Self: self, MSP: msp, Contracts: reg, Exec: noExec{}, Committed: noTx{},
		Height: func() uint64 { return 1 }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Healthy: healthy})
	if err != nil {
		t.Fatal(err)
	}
	return end
}

type noExec struct{}

func (noExec) Install(context.Context, string, string, []byte, bool) error { return errors.New("no") }
func (noExec) Simulate(context.Context, string, abi.Call) (*vm.Result, error) {
	return nil, errors.New("no")
}

type noTx struct{}

func (noTx) HasTx(string) (bool, error) { return false, nil }
