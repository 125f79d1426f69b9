package evidence

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/kv/memkv"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/types"
)

// newHost makes a session host listening on 127.0.0.1 (handlers are
// registered before start).
func newHost(t *testing.T, c *consortium, self *identity.SigningIdentity, cert tls.Certificate) *p2p.Host {
	t.Helper()
	h, err := p2p.New(p2p.Options{Self: self, TLS: cert, Verifier: c.msp, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// start runs a host until the test ends.
func start(t *testing.T, h *p2p.Host) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	<-h.Ready()
	if h.Addr() == nil {
		t.Fatal("host did not start listening")
	}
}

// genesisLedger is an in-memory ledger holding one empty genesis block.
func genesisLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	l, err := ledger.OpenStore(memkv.New(), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	g := &foliov1.Block{Header: &foliov1.BlockHeader{Number: 0, PreviousHash: types.GenesisPreviousHash(), DataHash: types.DataHash(nil), TimestampUnixNano: 1},
		Data: &foliov1.BlockData{}, Metadata: &foliov1.BlockMetadata{}}
	if _, err := l.Commit(g, ledger.Updates{}); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestExchangeOverSessions runs one round of the attestation exchange of an
// honest peer over real TLS sessions against an honest peer with the same
// ledger, a peer that signs another state root, a peer that answers with an
// attestation signed by someone else, and a peer that is down: the checks,
// metrics and Reported judge each one as it deserves.
func TestExchangeOverSessions(t *testing.T) {
	c := newConsortium(t, 2)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	aID, aTLS := c.node(t, 0, "peer0.org1", identity.RolePeer)
	bID, bTLS := c.node(t, 1, "peer0.org2", identity.RolePeer)
	liarID, liarTLS := c.node(t, 1, "peer1.org2", identity.RolePeer)
	forgerID, forgerTLS := c.node(t, 0, "peer1.org1", identity.RolePeer)
	downID, _ := c.node(t, 1, "peer2.org2", identity.RolePeer)
	hostA, hostB := newHost(t, c, aID, aTLS), newHost(t, c, bID, bTLS)
	hostLiar, hostForger := newHost(t, c, liarID, liarTLS), newHost(t, c, forgerID, forgerTLS)

	ledA, ledB := genesisLedger(t), genesisLedger(t)
	// peer0.org2 is honest: a real Service over its own copy of the chain.
	if _, err := New(Options{ChannelID: "ch", Ledger: ledB, Self: bID, Host: hostB, MSP: c.msp, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	// peer1.org2 signs, with its own key, a state root nobody else has.
	own, err := (&Service{o: Options{ChannelID: "ch", Ledger: ledA}}).statement(0)
	if err != nil {
		t.Fatal(err)
	}
	forged := proto.CloneOf(own)
	forged.StateRoot[0] ^= 0xff
	if err := hostLiar.HandleCall(AttestProtocol, func(context.Context, p2p.PeerIdentity, []byte) []byte {
		out, _ := proto.Marshal(sign(t, liarID, forged))
		return out
	}); err != nil {
		t.Fatal(err)
	}
	// peer1.org1 replays peer0.org2's signature of the right root as its own.
	if err := hostForger.HandleCall(AttestProtocol, func(context.Context, p2p.PeerIdentity, []byte) []byte {
		out, _ := proto.Marshal(sign(t, bID, own))
		return out
	}); err != nil {
		t.Fatal(err)
	}

	for _, h := range []*p2p.Host{hostB, hostLiar, hostForger} {
		start(t, h)
	}
	var peers []Peer
	for _, p := range []struct {
		id   *identity.SigningIdentity
		addr string
	}{{bID, hostB.Addr().String()}, {liarID, hostLiar.Addr().String()}, {forgerID, hostForger.Addr().String()}, {downID, "127.0.0.1:1"}} {
		peers = append(peers, Peer{Name: p.id.Name, MSPID: p.id.MSPID, NodeID: p.id.ID()})
		if err := hostA.AddPeer(p2p.PeerSpec{NodeID: p.id.ID(), Name: p.id.Name, Addr: p.addr}); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	a, err := New(Options{ChannelID: "ch", Ledger: ledA, Self: aID, Host: hostA, MSP: c.msp, Peers: peers, Registerer: reg,
		AttestTimeout: 1500 * time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	start(t, hostA)
	a.round(context.Background())

	got := map[string]*foliov1.AttestationCheck{}
	for _, ch := range a.Checks() {
		got[ch.Peer] = ch
	}
	want := map[string]string{"peer0.org2": ResultAgree, "peer1.org2": ResultDisagree, "peer1.org1": ResultInvalid, "peer2.org2": ResultUnavailable}
	for peer, result := range want {
		ch := got[peer]
		if ch == nil || ch.Result != result || ch.BlockNumber != 0 {
			t.Fatalf("check of %s: %v, want %s at block 0", peer, ch, result)
		}
	}
	if l := got["peer1.org2"]; !proto.Equal(&foliov1.StateAttestation{StateRoot: l.PeerStateRoot}, &foliov1.StateAttestation{StateRoot: forged.StateRoot}) ||
		l.Disagreements != 1 || !strings.Contains(l.Detail, "state roots differ") {
		t.Fatalf("the liar's check: %v", l)
	}
	if f := got["peer1.org1"]; !strings.Contains(f.Detail, "not by the peer asked") {
		t.Fatalf("the forger's check: %v", f)
	}
	if !strings.Contains(logs.String(), "state root disagreement") || !strings.Contains(logs.String(), "peer=peer1.org2") {
		t.Fatalf("no warning naming the liar:\n%s", logs.String())
	}
	if v := gauge(t, reg, "folio_attestation_disagreeing_peers"); v != 2 {
		t.Fatalf("folio_attestation_disagreeing_peers = %v, want 2 (the liar and the forger)", v)
	}

	// A second round counts a second disagreement but does not warn again.
	warned := strings.Count(logs.String(), "state root disagreement")
	a.round(context.Background())
	for _, ch := range a.Checks() {
		if ch.Peer == "peer1.org2" && ch.Disagreements != 2 {
			t.Fatalf("after two rounds: %v", ch)
		}
	}
	if n := strings.Count(logs.String(), "state root disagreement"); n != warned {
		t.Fatalf("warned %d times for the same block, want %d", n, warned)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
