package evidence

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/deliver"
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

// signedBlock appends to l an empty block signed by orderer, with the given
// timestamp (two timestamps make two different blocks of one height).
func signedBlock(t *testing.T, l *ledger.Ledger, orderer *identity.SigningIdentity, ts int64) *foliov1.Block {
	t.Helper()
	h := &foliov1.BlockHeader{Number: l.Height(), PreviousHash: l.Blocks().LastHash(), DataHash: types.DataHash(nil), TimestampUnixNano: ts}
	hdr, err := types.HeaderBytes(h)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := orderer.Sign(types.DomainBlock, hdr)
	if err != nil {
		t.Fatal(err)
	}
	b := &foliov1.Block{Header: h, Data: &foliov1.BlockData{},
		Metadata: &foliov1.BlockMetadata{Signatures: []*foliov1.OrdererSignature{{Signer: orderer.Serialized(), Signature: sig}}}}
	if _, err := l.Commit(b, ledger.Updates{}); err != nil {
		t.Fatal(err)
	}
	return b
}

// healthMetric is the value of folio_peer_health{state}.
func healthMetric(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					if m.GetCounter() != nil {
						return m.GetCounter().GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{%s=%q}", name, label, value)
	return 0
}

// TestHealthDivergedOverSessions: a peer whose state root differs from
// the roots that both other peers sign marks itself diverged (OnHealth,
// Health, metrics, an ERROR log) and stays so when they agree again; the
// same peer starting with one liar against one honest peer stays ok.
func TestHealthDivergedOverSessions(t *testing.T) {
	c := newConsortium(t, 2)
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	aID, aTLS := c.node(t, 0, "peer0.org1", identity.RolePeer)
	bID, bTLS := c.node(t, 1, "peer0.org2", identity.RolePeer)
	cID, cTLS := c.node(t, 1, "peer1.org2", identity.RolePeer)
	hostA, hostB, hostC := newHost(t, c, aID, aTLS), newHost(t, c, bID, bTLS), newHost(t, c, cID, cTLS)
	ledA := genesisLedger(t)
	own, err := (&Service{o: Options{ChannelID: "ch", Ledger: ledA}}).statement(0)
	if err != nil {
		t.Fatal(err)
	}
	other := proto.CloneOf(own)
	other.StateRoot[0] ^= 0xff
	// What B and C sign: switched by the test.
	var mu sync.Mutex
	signs := map[string]*foliov1.StateAttestation{"peer0.org2": other, "peer1.org2": other}
	for _, x := range []struct {
		h  *p2p.Host
		id *identity.SigningIdentity
	}{{hostB, bID}, {hostC, cID}} {
		if err := x.h.HandleCall(AttestProtocol, func(context.Context, p2p.PeerIdentity, []byte) []byte {
			mu.Lock()
			st := signs[x.id.Name]
			mu.Unlock()
			out, _ := proto.Marshal(sign(t, x.id, st))
			return out
		}); err != nil {
			t.Fatal(err)
		}
		start(t, x.h)
	}
	var peers []Peer
	for _, x := range []struct {
		id   *identity.SigningIdentity
		addr string
	}{{bID, hostB.Addr().String()}, {cID, hostC.Addr().String()}} {
		peers = append(peers, Peer{Name: x.id.Name, MSPID: x.id.MSPID, NodeID: x.id.ID()})
		if err := hostA.AddPeer(p2p.PeerSpec{NodeID: x.id.ID(), Name: x.id.Name, Addr: x.addr}); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	var changes []Health
	a, err := New(Options{ChannelID: "ch", Ledger: ledA, Self: aID, Host: hostA, MSP: c.msp, Peers: peers, Registerer: reg,
		AttestTimeout: 1500 * time.Millisecond, Logger: logger, OnHealth: func(h Health) { changes = append(changes, h) }})
	if err != nil {
		t.Fatal(err)
	}
	start(t, hostA)

	// One liar (peer1.org2) against an honest peer: ok.
	mu.Lock()
	signs["peer0.org2"] = own
	mu.Unlock()
	a.round(context.Background())
	if h := a.Health(); h.State != HealthOK || len(changes) != 0 {
		t.Fatalf("one liar against one honest peer: %+v, changes %v", h, changes)
	}
	if v := healthMetric(t, reg, "folio_peer_health", "state", HealthOK); v != 1 {
		t.Fatalf("folio_peer_health{state=ok} = %v", v)
	}

	// Both sign another root for the same block: diverged.
	mu.Lock()
	signs["peer0.org2"] = other
	mu.Unlock()
	a.round(context.Background())
	h := a.Health()
	if h.State != HealthDiverged || h.Block != 0 || len(changes) != 1 || changes[0].State != HealthDiverged ||
		!strings.Contains(h.Detail, "(2 of 2: peer0.org2, peer1.org2)") {
		t.Fatalf("health %+v, changes %v", h, changes)
	}
	if healthMetric(t, reg, "folio_peer_health", "state", HealthDiverged) != 1 || healthMetric(t, reg, "folio_peer_health", "state", HealthOK) != 0 ||
		healthMetric(t, reg, "folio_peer_health_detections_total", "kind", HealthDiverged) != 1 {
		t.Fatal("metrics do not show the divergence")
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"STATE DIVERGED") {
		t.Fatalf("no ERROR log:\n%s", logs.String())
	}

	// They agree again: still diverged (only a rebuild clears it).
	mu.Lock()
	signs["peer0.org2"], signs["peer1.org2"] = own, own
	mu.Unlock()
	a.round(context.Background())
	if a.Health().State != HealthDiverged || len(changes) != 1 {
		t.Fatalf("after the others agreed again: %+v, changes %v", a.Health(), changes)
	}

	// A service started with a persisted health reports it at once.
	b, err := New(Options{ChannelID: "ch", Ledger: ledA, Self: aID, Host: newHost(t, c, aID, aTLS), MSP: c.msp, Logger: logger, Health: h,
		Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Health(); !equalHealth(got, h) {
		t.Fatalf("restored health %+v, want %+v", got, h)
	}
}

// TestHealthEquivocationOverSessions: peer0.org2 holds another block 1
// than peer0.org1, signed by an orderer, and attests it: peer0.org1 fetches
// that block over the deliver protocol, checks the orderer's signature and
// moves to equivocation with an ERROR alarm. peer1.org2 attests a made-up
// block hash and has no block to show: an alarm (logged once per block),
// not equivocation.
func TestHealthEquivocationOverSessions(t *testing.T) {
	c := newConsortium(t, 2)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	aID, aTLS := c.node(t, 0, "peer0.org1", identity.RolePeer)
	fID, fTLS := c.node(t, 1, "peer0.org2", identity.RolePeer)
	lID, lTLS := c.node(t, 1, "peer1.org2", identity.RolePeer)
	ordID, _ := c.node(t, 0, "orderer0", identity.RoleOrderer)
	hostA, hostF, hostL := newHost(t, c, aID, aTLS), newHost(t, c, fID, fTLS), newHost(t, c, lID, lTLS)

	ledA, ledF := genesisLedger(t), genesisLedger(t)
	mine := signedBlock(t, ledA, ordID, 100)
	theirs := signedBlock(t, ledF, ordID, 200)
	if h1, h2 := mustHash(t, mine), mustHash(t, theirs); bytes.Equal(h1, h2) {
		t.Fatal("the two blocks are the same")
	}
	if _, err := New(Options{ChannelID: "ch", Ledger: ledF, Self: fID, Host: hostF, MSP: c.msp, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if err := deliver.HandleSessions(hostF, ledF.Blocks(), "ch", quiet); err != nil {
		t.Fatal(err)
	}
	own, err := (&Service{o: Options{ChannelID: "ch", Ledger: ledA}}).statement(1)
	if err != nil {
		t.Fatal(err)
	}
	madeUp := proto.CloneOf(own)
	madeUp.BlockHash[0] ^= 0xff
	if err := hostL.HandleCall(AttestProtocol, func(context.Context, p2p.PeerIdentity, []byte) []byte {
		out, _ := proto.Marshal(sign(t, lID, madeUp))
		return out
	}); err != nil {
		t.Fatal(err)
	}
	start(t, hostF)
	start(t, hostL)
	var peers []Peer
	for _, x := range []struct {
		id   *identity.SigningIdentity
		addr string
	}{{fID, hostF.Addr().String()}, {lID, hostL.Addr().String()}} {
		peers = append(peers, Peer{Name: x.id.Name, MSPID: x.id.MSPID, NodeID: x.id.ID()})
		if err := hostA.AddPeer(p2p.PeerSpec{NodeID: x.id.ID(), Name: x.id.Name, Addr: x.addr}); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	var changes []Health
	a, err := New(Options{ChannelID: "ch", Ledger: ledA, Self: aID, Host: hostA, MSP: c.msp, Peers: peers, Registerer: reg,
		AttestTimeout: 3 * time.Second, Logger: logger, OnHealth: func(h Health) { changes = append(changes, h) }})
	if err != nil {
		t.Fatal(err)
	}
	start(t, hostA)
	a.round(context.Background())
	h := a.Health()
	if h.State != HealthEquivocation || h.Block != 1 || len(changes) != 1 || !slices.Equal(h.Peers, []string{"peer0.org2"}) ||
		!strings.Contains(h.Detail, "signed by orderer0@Org1") {
		t.Fatalf("health %+v, changes %v\n%s", h, changes, logs.String())
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"ALARM: ORDERER EQUIVOCATION") {
		t.Fatalf("no equivocation alarm:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "peer=peer1.org2") || !strings.Contains(logs.String(), "showed no orderer-signed block") {
		t.Fatalf("no alarm naming the peer with a made-up block hash:\n%s", logs.String())
	}
	if healthMetric(t, reg, "folio_peer_health", "state", HealthEquivocation) != 1 ||
		healthMetric(t, reg, "folio_peer_health_detections_total", "kind", "unproven_block_hash") != 1 {
		t.Fatal("metrics do not show the equivocation and the unproven statement")
	}
	a.round(context.Background())
	if n := strings.Count(logs.String(), "showed no orderer-signed block"); n != 1 {
		t.Fatalf("the unproven statement of one block was logged %d times", n)
	}
	if len(changes) != 1 {
		t.Fatalf("changes %v", changes)
	}

	// Where the channel does not count orderer0's signature (BlockSigner:
	// not an orderer of the channel), the other block proves nothing: an
	// alarm, no equivocation.
	cID, cTLS := c.node(t, 0, "peer2.org1", identity.RolePeer)
	hostC := newHost(t, c, cID, cTLS)
	for _, x := range []struct {
		id   *identity.SigningIdentity
		addr string
	}{{fID, hostF.Addr().String()}, {lID, hostL.Addr().String()}} {
		if err := hostC.AddPeer(p2p.PeerSpec{NodeID: x.id.ID(), Name: x.id.Name, Addr: x.addr}); err != nil {
			t.Fatal(err)
		}
	}
	var clog strings.Builder
	strict, err := New(Options{ChannelID: "ch", Ledger: ledA, Self: cID, Host: hostC, MSP: c.msp, Peers: peers, AttestTimeout: 3 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&clog, nil)),
		BlockSigner: func(id *identity.Identity) error {
			return fmt.Errorf("%s is not an orderer of the channel", id.Label())
		}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, hostC)
	strict.round(context.Background())
	if h := strict.Health(); h.State != HealthOK || !strings.Contains(clog.String(), "peer=peer0.org2") || !strings.Contains(clog.String(), "carries no valid orderer signature") {
		t.Fatalf("with the signer refused: %+v\n%s", h, clog.String())
	}
}

func mustHash(t *testing.T, b *foliov1.Block) []byte {
	t.Helper()
	h, err := types.HeaderHash(b.Header)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
