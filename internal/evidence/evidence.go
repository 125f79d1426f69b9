// Package evidence is the peer side of Folio's offline-verifiable evidence:
// it signs state-root attestations (this peer's state root after a block)
// and answers Prove with everything a third party needs to check a record
// without trusting any node: the trie proofs of the key against a state
// root, the block header and its orderer signatures, attestations of that
// state root by peers of every organisation (gathered over the node
// sessions), and every committed change of the key with its signed
// envelope and its inclusion path in a signed block. The bundle format and
// its verifier are in package client/evidence (docs/evidence.md).
//
// Peers also exchange attestations continuously (Service.Run): each asks
// the others for their signed state root after its last block and records
// whether they agree (Service.Checks, metrics, warnings), and judges its
// own health from the answers (Service.Health): "diverged" when its root
// differs from every other peer's, "equivocation" when another peer shows
// an orderer-signed block other than its own for the same height. Compare,
// Dissenters and Reported are the pure judgements behind it and behind
// `folio network status`; Judge and NextHealth the pure state machine of
// the health.
//
// Call order: New (registers the attest protocol), mount the service's
// handler, then run Run in a goroutine of its own until shutdown.
package evidence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/types"
)

// AttestProtocol is the session protocol on which peers ask each other for
// attestations.
const AttestProtocol = "attest"

// Peer is another peer of the channel.
type Peer struct {
	Name   string
	MSPID  string
	NodeID string
}

// Options configure a Service.
type Options struct {
	ChannelID string
	Ledger    *ledger.Ledger
	Self      *identity.SigningIdentity
	Host      *p2p.Host
	// Peers lists the channel's other peers.
	Peers []Peer
	// AttestTimeout bounds the gathering of attestations (for Prove and for
	// each round of Run). Default 5s.
	AttestTimeout time.Duration
	// MSP verifies the other peers' attestations in Run. Required.
	MSP *identity.Verifier
	// CheckInterval is the shortest time between two rounds of Run, which
	// starts a round when the chain grows. Default 1s; negative disables
	// Run.
	CheckInterval time.Duration
	// CheckIdle is the longest time between two rounds of Run when no
	// block arrives. Default 10s.
	CheckIdle time.Duration
	// Registerer takes the exchange's metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Health is the peer's health when the service starts (as persisted
	// by the caller); the zero value is ok. Run only moves it to more
	// severe states (NextHealth).
	Health Health
	// OnHealth, if set, is called from Run's goroutine each time the
	// peer's health changes, with the new health, before Health reports
	// it. The caller persists it and acts on it (stops endorsing, stops
	// committing).
	OnHealth func(Health)
	// BlockSigner, if set, says whether a valid identity's block signature
	// counts (the channel's orderer set in force, as block delivery
	// judges it); nil counts any identity with the orderer role. Run uses
	// it to check the block another peer shows for a height where it
	// attested another block hash than this peer's (an equivocation).
	BlockSigner func(*identity.Identity) error
}

// Service serves EvidenceService. Safe for concurrent use.
type Service struct {
	o Options
	x *exchange
	// peers is Options.Peers, replaced by SetPeers when a config update
	// changes the channel's peers.
	peers atomic.Pointer[[]Peer]
}

// SetPeers replaces the channel's other peers. Safe for concurrent use;
// a round under way finishes with the peers it started with.
func (s *Service) SetPeers(peers []Peer) {
	cp := append([]Peer(nil), peers...)
	s.peers.Store(&cp)
}

func (s *Service) others() []Peer {
	if p := s.peers.Load(); p != nil {
		return *p
	}
	return s.o.Peers
}

var _ foliov1connect.EvidenceServiceHandler = (*Service)(nil)

// New builds the service and registers the attest protocol on the host.
func New(o Options) (*Service, error) {
	if o.Ledger == nil || o.Self == nil || o.Host == nil || o.MSP == nil || o.Logger == nil {
		return nil, errors.New("evidence: Ledger, Self, Host, MSP and Logger are required")
	}
	if o.AttestTimeout == 0 {
		o.AttestTimeout = 5 * time.Second
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = time.Second
	}
	if o.CheckIdle <= 0 {
		o.CheckIdle = 10 * time.Second
	}
	x, err := newExchange(o.Registerer, o.Health)
	if err != nil {
		return nil, err
	}
	s := &Service{o: o, x: x}
	if err := o.Host.HandleCall(AttestProtocol, func(ctx context.Context, _ p2p.PeerIdentity, req []byte) []byte {
		var r foliov1.AttestRequest
		if proto.Unmarshal(req, &r) != nil {
			return nil
		}
		a, err := s.attest(ctx, r.BlockNumber)
		if err != nil {
			return nil
		}
		out, _ := proto.Marshal(a)
		return out
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// attest signs this peer's state root after block num, waiting briefly for
// the block if this peer is behind.
func (s *Service) attest(ctx context.Context, num uint64) (*foliov1.SignedAttestation, error) {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.o.Ledger.Blocks().WaitHeight(wctx, num+1); err != nil {
		return nil, fmt.Errorf("block %d not committed on this peer yet (height %d)", num, s.o.Ledger.Height())
	}
	root, err := s.o.Ledger.StateRoot(num)
	if err != nil {
		return nil, err
	}
	b, err := s.o.Ledger.Blocks().Block(num)
	if err != nil {
		return nil, err
	}
	hash, _ := types.HeaderHash(b.Header)
	att, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.StateAttestation{ChannelId: s.o.ChannelID, BlockNumber: num, BlockHash: hash, StateRoot: root,
		ValidationCodesHash: types.ValidationCodesHash(b.GetMetadata().GetValidationCodes())})
	sig, err := s.o.Self.Sign(types.DomainAttestation, att)
	if err != nil {
		return nil, err
	}
	return &foliov1.SignedAttestation{Attestation: att, Signer: s.o.Self.Serialized(), Signature: sig}, nil
}

// Attest answers a client's request for this peer's attestation.
func (s *Service) Attest(ctx context.Context, req *connect.Request[foliov1.AttestRequest]) (*connect.Response[foliov1.SignedAttestation], error) {
	a, err := s.attest(ctx, req.Msg.BlockNumber)
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	return connect.NewResponse(a), nil
}

// Prove returns the proof of a key at this peer's last block, the block's
// header and orderer signatures, attestations of its state root from peers
// of every organisation, and the key's history with transaction proofs.
func (s *Service) Prove(ctx context.Context, req *connect.Request[foliov1.ProveRequest]) (*connect.Response[foliov1.ProveResponse], error) {
	r, err := s.o.Ledger.NewReader()
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	defer r.Close()
	p, err := r.Prove(req.Msg.Namespace, req.Msg.Key)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	if p.Version == nil {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("%s has no key %q at block %d", req.Msg.Namespace, req.Msg.Key, p.BlockNum))
	}
	out := &foliov1.ProveResponse{BlockNumber: p.BlockNum, StateRoot: p.StateRoot[:], AccountProof: p.AccountProof, StorageProof: p.StorageProof,
		Value: p.Value, Version: p.Version}
	if p.Account != nil {
		if out.Account, err = p.Account.Encode(); err != nil {
			return nil, connect.NewError(connect.CodeInternal, err)
		}
	}
	blk, err := s.o.Ledger.Blocks().Block(p.BlockNum)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	out.Header, out.OrdererSignatures = blk.Header, blk.GetMetadata().GetSignatures()
	if out.Attestations, err = s.gather(ctx, p.BlockNum); err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	if out.Genesis, err = s.o.Ledger.Blocks().Block(0); err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	// The config updates and the contract's definitions in force, proven
	// against the same state root, so a verifier derives organisations,
	// orderers and policies from the chain (docs/evidence.md).
	if out.ConfigState, err = stateProof(r, channel.Namespace, channel.UpdateKey); err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	if out.Definitions, err = stateProof(r, lifecycle.Namespace, lifecycle.DefinitionsKey(req.Msg.Namespace)); err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	attested := map[uint64][]*foliov1.SignedAttestation{p.BlockNum: out.Attestations}
	if out.ConfigUpdates, err = s.historyProofs(ctx, r, channel.Namespace, channel.UpdateKey, attested); err != nil {
		return nil, err
	}
	if out.History, err = s.historyProofs(ctx, r, req.Msg.Namespace, req.Msg.Key, attested); err != nil {
		return nil, err
	}
	return connect.NewResponse(out), nil
}

// historyProofs proves every committed change of a key, each with its
// block's validation codes attested by peers of every organisation
// (attested caches the attestations per block).
func (s *Service) historyProofs(ctx context.Context, r *ledger.Reader, ns, key string, attested map[uint64][]*foliov1.SignedAttestation) ([]*foliov1.TxProof, error) {
	hist, err := r.History(ns, key)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	out := make([]*foliov1.TxProof, 0, len(hist))
	for _, h := range hist {
		tp, err := s.txProof(h.TxID, h.Version)
		if err != nil {
			return nil, connect.NewError(connect.CodeInternal, err)
		}
		atts, ok := attested[tp.BlockNumber]
		if !ok {
			if atts, err = s.gather(ctx, tp.BlockNumber); err != nil {
				return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("attestations of block %d: %w", tp.BlockNumber, err))
			}
			attested[tp.BlockNumber] = atts
		}
		tp.Attestations = atts
		out = append(out, tp)
	}
	return out, nil
}

// stateProof proves ns/key, or its absence, at the reader's block.
func stateProof(r *ledger.Reader, ns, key string) (*foliov1.StateProof, error) {
	p, err := r.Prove(ns, key)
	if err != nil {
		return nil, fmt.Errorf("prove %s/%s: %w", ns, key, err)
	}
	return &foliov1.StateProof{Namespace: ns, Key: key, Value: p.Value, AccountProof: p.AccountProof, StorageProof: p.StorageProof}, nil
}

func (s *Service) txProof(txID string, v *foliov1.Version) (*foliov1.TxProof, error) {
	b, err := s.o.Ledger.Blocks().Block(v.BlockNum)
	if err != nil {
		return nil, err
	}
	envs := b.GetData().GetEnvelopes()
	if v.TxNum >= uint64(len(envs)) {
		return nil, fmt.Errorf("history of %s points past block %d", txID, v.BlockNum)
	}
	path, err := types.InclusionProof(envs, int(v.TxNum))
	if err != nil {
		return nil, err
	}
	tp := &foliov1.TxProof{TxId: txID, BlockNumber: v.BlockNum, TxIndex: uint32(v.TxNum), TxCount: uint32(len(envs)),
		Envelope: envs[v.TxNum], InclusionPath: path, Header: b.Header, OrdererSignatures: b.GetMetadata().GetSignatures(),
		ValidationCodes: b.GetMetadata().GetValidationCodes()}
	if codes := b.GetMetadata().GetValidationCodes(); v.TxNum < uint64(len(codes)) {
		tp.ValidationCode = foliov1.ValidationCode(codes[v.TxNum])
	}
	return tp, nil
}

// gather collects attestations of block num: this peer's, and every other
// peer's that answers in time; it fails unless every organisation is covered.
func (s *Service) gather(ctx context.Context, num uint64) ([]*foliov1.SignedAttestation, error) {
	own, err := s.attest(ctx, num)
	if err != nil {
		return nil, err
	}
	out := []*foliov1.SignedAttestation{own}
	ctx, cancel := context.WithTimeout(ctx, s.o.AttestTimeout)
	defer cancel()
	req, _ := proto.Marshal(&foliov1.AttestRequest{BlockNumber: num})
	covered := map[string]bool{s.o.Self.MSPID: true}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var missing []string
	for _, p := range s.others() {
		wg.Add(1)
		go func(p Peer) {
			defer wg.Done()
			raw, err := s.o.Host.Call(ctx, p.NodeID, AttestProtocol, req)
			var a foliov1.SignedAttestation
			if err == nil && len(raw) > 0 && proto.Unmarshal(raw, &a) == nil {
				mu.Lock()
				out = append(out, &a)
				covered[p.MSPID] = true
				mu.Unlock()
				return
			}
			mu.Lock()
			missing = append(missing, p.Name)
			mu.Unlock()
		}(p)
	}
	wg.Wait()
	for _, p := range s.others() {
		if !covered[p.MSPID] {
			return nil, fmt.Errorf("no peer of %s attested block %d (unreachable or behind: %v)", p.MSPID, num, missing)
		}
	}
	return out, nil
}
