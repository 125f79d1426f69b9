package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/kv/memkv"
	"github.com/folio-ledger/folio/internal/ledger/blocks"
	"github.com/folio-ledger/folio/internal/types"
)

type fixture struct {
	cfg     *channel.Config // capability level 2: only orderer0 counts
	v1      *channel.Config // the same channel at level 1: any orderer-role identity
	orderer *identity.SigningIdentity
	// rogue holds an orderer-role certificate from the organisation's CA
	// that is not an orderer of the channel (a rogue admin minted it).
	rogue  *identity.SigningIdentity
	client *identity.SigningIdentity
	chain  *blocks.Store // the ordering service's chain
}

func newFixture(t *testing.T, n int) *fixture {
	key, _ := fcrypto.GenerateKey()
	root, _ := identity.NewRootCA("OrdererOrg", "ca", key, time.Now(), time.Hour)
	mk := func(name string, role identity.Role) *identity.SigningIdentity {
		k, _ := fcrypto.GenerateKey()
		c, _ := identity.Issue(root, key, identity.LeafRequest{Name: name, Role: role, PublicKey: k.Public()})
		si, _ := identity.NewSigningIdentity(identity.Identity{MSPID: "OrdererMSP", Org: "OrdererOrg", Name: name, Role: role, Cert: c}, k)
		return si
	}
	f := &fixture{orderer: mk("orderer0", identity.RoleOrderer), rogue: mk("orderer9", identity.RoleOrderer), client: mk("someone", identity.RoleClient)}
	cfg := &foliov1.ChannelConfig{Format: channel.Format, ChannelId: "folio", Capability: channel.CapabilityV2,
		Orgs:     []*foliov1.OrgConfig{{Name: "OrdererOrg", MspId: "OrdererMSP", Kind: foliov1.OrgKind_ORG_KIND_ORDERER, RootCerts: [][]byte{fcrypto.EncodeCertificatePEM(root.Raw)}}},
		Orderers: []*foliov1.NodeEndpoint{{Name: "orderer0", Org: "OrdererOrg", NodeId: f.orderer.ID(), ApiAddress: "127.0.0.1:1", P2PAddress: "127.0.0.1:2"}},
		Batch:    &foliov1.BatchConfig{MaxTxCount: 10, MaxBytes: 1 << 20, TimeoutMs: 250}}
	var err error
	if f.cfg, err = channel.NewConfig(cfg, 1); err != nil {
		t.Fatal(err)
	}
	v1 := proto.Clone(cfg).(*foliov1.ChannelConfig)
	v1.Capability = 0
	if f.v1, err = channel.NewConfig(v1, 1); err != nil {
		t.Fatal(err)
	}
	f.chain, _ = blocks.Open(memkv.New())
	var prev *foliov1.Block
	for i := 0; i < n; i++ {
		prev = f.block(t, prev, f.orderer)
		if err := f.chain.Append(prev, false); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) block(t *testing.T, prev *foliov1.Block, signer *identity.SigningIdentity) *foliov1.Block {
	envs := [][]byte{[]byte(fmt.Sprint("env", time.Now().UnixNano()))}
	h := &foliov1.BlockHeader{PreviousHash: types.GenesisPreviousHash(), DataHash: types.DataHash(envs), TimestampUnixNano: time.Now().UnixNano()}
	if prev != nil {
		h.Number = prev.Header.Number + 1
		h.PreviousHash, _ = types.HeaderHash(prev.Header)
	}
	hdr, _ := types.HeaderBytes(h)
	sig, _ := signer.Sign(types.DomainBlock, hdr)
	return &foliov1.Block{Header: h, Data: &foliov1.BlockData{Envelopes: envs},
		Metadata: &foliov1.BlockMetadata{Signatures: []*foliov1.OrdererSignature{{Signer: signer.Serialized(), Signature: sig}}}}
}

// chanStream serves a block store through Serve, optionally failing after
// `fail` blocks or rewriting blocks with `tamper`.
type storeSource struct {
	name   string
	store  *blocks.Store
	fail   int
	tamper func(*foliov1.Block) *foliov1.Block
	opened int
}

type chanStream struct {
	ch     chan *foliov1.Block
	errc   chan error
	cancel context.CancelFunc
}

func (s *chanStream) Recv() (*foliov1.Block, error) {
	select {
	case b := <-s.ch:
		return b, nil
	case err := <-s.errc:
		if err == nil {
			err = io.EOF
		}
		return nil, err
	}
}
func (s *chanStream) Close() error { s.cancel(); return nil }

func (s *storeSource) Name() string { return s.name }
func (s *storeSource) Blocks(ctx context.Context, start uint64) (Stream, error) {
	s.opened++
	ctx, cancel := context.WithCancel(ctx)
	st := &chanStream{ch: make(chan *foliov1.Block), errc: make(chan error, 1), cancel: cancel}
	sent := 0
	go func() {
		st.errc <- Serve(ctx, s.store, start, 0, true, func(b *foliov1.Block) error {
			if s.fail > 0 && sent == s.fail {
				return errors.New("connection reset")
			}
			if s.tamper != nil {
				b = s.tamper(proto.Clone(b).(*foliov1.Block))
			}
			sent++
			select {
			case st.ch <- b:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return st, nil
}

type storeSink struct{ *blocks.Store }

func (s storeSink) Accept(b *foliov1.Block) error { return s.Append(b, false) }

func (s storeSink) LastTimestamp() int64 {
	if s.Height() == 0 {
		return 0
	}
	b, err := s.Block(s.Height() - 1)
	if err != nil {
		return 0
	}
	return b.Header.TimestampUnixNano
}

func TestClientFailsOverWithoutGapsOrRepeats(t *testing.T) {
	f := newFixture(t, 30)
	flaky := &storeSource{name: "flaky", store: f.chain, fail: 7}
	liar := &storeSource{name: "liar", store: f.chain, tamper: func(b *foliov1.Block) *foliov1.Block {
		hdr, _ := types.HeaderBytes(b.Header)
		sig, _ := f.client.Sign(types.DomainBlock, hdr) // signed, but not by an orderer
		b.Metadata.Signatures = []*foliov1.OrdererSignature{{Signer: f.client.Serialized(), Signature: sig}}
		return b
	}}
	good := &storeSource{name: "good", store: f.chain, fail: 11}
	peer, _ := blocks.Open(memkv.New())
	c := &Client{Sources: []Source{flaky, liar, good}, Config: func() *channel.Config { return f.cfg }, Sink: storeSink{peer},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	if err := peer.WaitHeight(ctx, 30); err != nil {
		t.Fatalf("peer at height %d: %v", peer.Height(), err)
	}
	// New blocks keep flowing.
	last, _ := f.chain.Block(29)
	if err := f.chain.Append(f.block(t, last, f.orderer), false); err != nil {
		t.Fatal(err)
	}
	if err := peer.WaitHeight(ctx, 31); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	for i := uint64(0); i < 31; i++ {
		want, _ := f.chain.Block(i)
		got, err := peer.Block(i)
		if err != nil || !proto.Equal(want.Header, got.Header) {
			t.Fatalf("block %d differs: %v", i, err)
		}
	}
	if flaky.opened < 2 || good.opened < 2 {
		t.Fatalf("expected reconnects: flaky %d, good %d", flaky.opened, good.opened)
	}
}

func TestVerifyBlock(t *testing.T) {
	f := newFixture(t, 3)
	b1, _ := f.chain.Block(1)
	b0, _ := f.chain.Block(0)
	h0, _ := types.HeaderHash(b0.Header)
	t0 := b0.Header.TimestampUnixNano
	if err := VerifyBlock(f.cfg, b1, 1, h0, t0); err != nil {
		t.Fatal(err)
	}
	resign := func(signer *identity.SigningIdentity, mutate func(h *foliov1.BlockHeader)) *foliov1.Block {
		c := proto.Clone(b1).(*foliov1.Block)
		mutate(c.Header)
		hdr, _ := types.HeaderBytes(c.Header)
		sig, _ := signer.Sign(types.DomainBlock, hdr)
		c.Metadata.Signatures = []*foliov1.OrdererSignature{{Signer: signer.Serialized(), Signature: sig}}
		return c
	}
	rogue := resign(f.rogue, func(*foliov1.BlockHeader) {})
	for name, check := range map[string]func() error{
		"gap":        func() error { return VerifyBlock(f.cfg, b1, 2, h0, t0) },
		"wrong link": func() error { return VerifyBlock(f.cfg, b1, 1, make([]byte, 32), t0) },
		"no signature": func() error {
			c := proto.Clone(b1).(*foliov1.Block)
			c.Metadata.Signatures = nil
			return VerifyBlock(f.cfg, c, 1, h0, t0)
		},
		"tampered header": func() error {
			c := proto.Clone(b1).(*foliov1.Block)
			c.Header.TimestampUnixNano++
			return VerifyBlock(f.cfg, c, 1, h0, t0)
		},
		// An orderer-role certificate that is not an orderer of the
		// channel, minted by the organisation's CA (a rogue admin).
		"orderer-role certificate outside the channel's orderers": func() error { return VerifyBlock(f.cfg, rogue, 1, h0, t0) },
		"signed by a client": func() error { return VerifyBlock(f.cfg, resign(f.client, func(*foliov1.BlockHeader) {}), 1, h0, t0) },
		// Orderers keep timestamps non-decreasing; a block going back in
		// time is refused even when properly signed.
		"timestamp before the previous block": func() error {
			return VerifyBlock(f.cfg, resign(f.orderer, func(h *foliov1.BlockHeader) { h.TimestampUnixNano = t0 - 1 }), 1, h0, t0)
		},
	} {
		if err := check(); !errors.Is(err, ErrUnverified) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Level 1 chains keep their rule: any orderer-role identity counts, so
	// old chains replay as they were validated.
	if err := VerifyBlock(f.v1, rogue, 1, h0, t0); err != nil {
		t.Fatalf("level 1: %v", err)
	}
}

type deadSource struct{ name string }

func (d deadSource) Name() string { return d.name }
func (d deadSource) Blocks(context.Context, uint64) (Stream, error) {
	return nil, errors.New("connection refused")
}

// TestCatchUpFromPeersWhenOrderersAreDown: with every orderer unreachable,
// a peer catches up from another peer (a fallback source).
func TestCatchUpFromPeersWhenOrderersAreDown(t *testing.T) {
	f := newFixture(t, 12)
	otherPeer := &storeSource{name: "peer1", store: f.chain}
	peer, _ := blocks.Open(memkv.New())
	c := &Client{Sources: []Source{deadSource{"orderer0"}, deadSource{"orderer1"}}, Fallback: []Source{otherPeer},
		Config: func() *channel.Config { return f.cfg }, Sink: storeSink{peer}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, FallbackWindow: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _ = c.Run(ctx) }()
	if err := peer.WaitHeight(ctx, 12); err != nil {
		t.Fatalf("height %d: %v", peer.Height(), err)
	}
}
