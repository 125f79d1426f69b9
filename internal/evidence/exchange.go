package evidence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/deliver"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// exchange is the state of the continuous attestation exchange (Run).
type exchange struct {
	checks      *prometheus.CounterVec
	disagreeing prometheus.Gauge
	// health is 1 for the peer's current health state, 0 for the others.
	health *prometheus.GaugeVec
	// detections counts what the exchange found, by kind: the moves to
	// "diverged" and "equivocation", and each (peer, block) whose
	// statement named another block without an orderer-signed block
	// ("unproven_block_hash").
	detections *prometheus.CounterVec

	mu struct {
		sync.Mutex
		// latest check of each other peer, by name; written by Run's
		// goroutine only, read by Checks.
		latest map[string]*foliov1.AttestationCheck
		// health is the peer's health (NextHealth over every round).
		health Health
		// alarmed is, per peer, 1 + the block of its last unproven
		// block-hash statement logged, so each is logged (and counted)
		// once.
		alarmed map[string]uint64
	}
}

// Kinds of folio_peer_health_detections_total.
const (
	detectDiverged     = HealthDiverged
	detectEquivocation = HealthEquivocation
	detectUnproven     = "unproven_block_hash"
)

func newExchange(reg prometheus.Registerer, initial Health) (*exchange, error) {
	x := &exchange{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_attestation_checks_total",
			Help: "Checks of other peers' signed state-root attestations against this peer's root, by peer and result (agree, disagree, invalid, unavailable).",
		}, []string{"peer", "result"}),
		disagreeing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "folio_attestation_disagreeing_peers",
			Help: "Peers whose latest signed state root (or block hash) differs from this peer's, or whose attestation was invalid.",
		}),
		health: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "folio_peer_health",
			Help: "1 for this peer's current health state (ok, diverged: its state root differs from every other peer's and it stopped endorsing, equivocation: two orderer-signed blocks for one height and it stopped committing), 0 for the others.",
		}, []string{"state"}),
		detections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_peer_health_detections_total",
			Help: "What the state-root exchange found, by kind: diverged and equivocation (moves to that health state), unproven_block_hash (a peer signed another block hash for a block without showing an orderer-signed block).",
		}, []string{"kind"}),
	}
	x.mu.latest = map[string]*foliov1.AttestationCheck{}
	x.mu.alarmed = map[string]uint64{}
	if initial.State == "" {
		initial.State = HealthOK
	}
	x.mu.health = initial
	x.setHealthGauge(initial.State)
	for _, k := range []string{detectDiverged, detectEquivocation, detectUnproven} {
		x.detections.WithLabelValues(k)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{x.checks, x.disagreeing, x.health, x.detections} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("evidence: register metrics: %w", err)
			}
		}
	}
	return x, nil
}

func (x *exchange) setHealthGauge(state string) {
	for _, st := range []string{HealthOK, HealthDiverged, HealthEquivocation} {
		v := 0.0
		if st == state {
			v = 1
		}
		x.health.WithLabelValues(st).Set(v)
	}
}

// Run exchanges attestations with the other peers until ctx is done: after
// the chain grows (at most once per CheckInterval) and at least every
// CheckIdle, it asks every other peer over the session protocol "attest"
// for its signed state root after this peer's last block, verifies the
// signature with the MSP, compares it with its own, and records the result
// (Checks, metrics, and a warning naming the peer, the block and both
// roots when they differ). Call it once; it returns when ctx is done.
func (s *Service) Run(ctx context.Context) {
	if s.o.CheckInterval < 0 {
		return
	}
	var last time.Time
	idle := time.NewTimer(0) // first round right away
	defer idle.Stop()
	for {
		changed := s.o.Ledger.Blocks().Changed()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-idle.C:
		}
		if wait := s.o.CheckInterval - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		last = time.Now()
		s.round(ctx)
		idle.Reset(s.o.CheckIdle)
	}
}

// Checks returns the latest check of every other peer, sorted by peer
// name. The caller owns the returned messages. Safe for concurrent use.
func (s *Service) Checks() []*foliov1.AttestationCheck {
	s.x.mu.Lock()
	out := make([]*foliov1.AttestationCheck, 0, len(s.x.mu.latest))
	for _, c := range s.x.mu.latest {
		out = append(out, proto.CloneOf(c))
	}
	s.x.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
	return out
}

// round checks every other peer's attestation of this peer's last block,
// then judges this peer's health from the answers (NextHealth).
func (s *Service) round(ctx context.Context) {
	h := s.o.Ledger.Height()
	if h == 0 {
		return
	}
	num := h - 1
	own, err := s.statement(num)
	if err != nil {
		s.o.Logger.Error("attestation exchange: read own state root", "block", num, "err", err)
		return
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.o.AttestTimeout)
	defer cancel()
	req, _ := proto.Marshal(&foliov1.AttestRequest{BlockNumber: num})
	peers := s.others()
	if len(peers) == 0 {
		return // no other peer (yet): nothing to compare with
	}
	results := make([]*foliov1.AttestationCheck, len(peers))
	stmts := make([]*foliov1.StateAttestation, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := s.o.Host.Call(ctx, p.NodeID, AttestProtocol, req)
			results[i], stmts[i] = s.check(own, p, raw, err)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) {
		return // shutting down: the answers say nothing about the peers
	}
	// A statement of another block is an equivocation only if the peer
	// shows that block with an orderer's signature: fetch them (rare).
	r := Round{Block: num, BlockHash: own.BlockHash, StateRoot: own.StateRoot, Others: len(peers), Reports: make([]Report, len(results))}
	pctx, pcancel := context.WithTimeout(parent, s.o.AttestTimeout)
	defer pcancel()
	for i, c := range results {
		rep := &r.Reports[i]
		rep.Peer, rep.Result = c.Peer, c.Result
		if st := stmts[i]; st != nil {
			rep.BlockHash, rep.StateRoot = st.BlockHash, st.StateRoot
			if !bytes.Equal(st.BlockHash, own.BlockHash) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rep.Signed, rep.Proof = s.otherBlock(pctx, peers[i], num, st.BlockHash)
				}()
			}
		}
	}
	wg.Wait()
	if parent.Err() != nil {
		return
	}
	s.record(results)
	s.judge(r)
}

// otherBlock fetches block num from peer p (deliver protocol) and reports
// whether it is the block p attested (hash) and carries a valid orderer
// signature, and what was found.
func (s *Service) otherBlock(ctx context.Context, p Peer, num uint64, hash []byte) (bool, string) {
	if num == 0 {
		return false, "genesis blocks are given by configuration, not signed"
	}
	src := &deliver.SessionSource{Host: s.o.Host, NodeID: p.NodeID, NodeName: p.Name, ChannelID: s.o.ChannelID}
	st, err := src.Blocks(ctx, num)
	if err != nil {
		return false, "could not fetch its block: " + err.Error()
	}
	defer st.Close()
	b, err := st.Recv()
	if err != nil {
		return false, fmt.Sprintf("it did not serve block %d: %v", num, err)
	}
	if b.GetHeader().GetNumber() != num {
		return false, fmt.Sprintf("asked for block %d, it served block %d", num, b.GetHeader().GetNumber())
	}
	got, err := types.HeaderHash(b.Header)
	if err != nil || !bytes.Equal(got, hash) {
		return false, fmt.Sprintf("it served a block %d with hash %.8x, not the %.8x it signed", num, got, hash)
	}
	if err := types.ValidateBlock(b); err != nil {
		return false, "its block is malformed: " + err.Error()
	}
	signers := ordererSigners(s.o.MSP, s.o.BlockSigner, b)
	if len(signers) == 0 {
		return false, "its block carries no valid orderer signature"
	}
	return true, "signed by " + strings.Join(signers, ", ")
}

// ordererSigners names the valid orderer signers of a block, as block
// delivery counts them (deliver.OrdererSigners), by the identities that
// may sign blocks (signer; nil: any identity with the orderer role).
func ordererSigners(msp *identity.Verifier, signer func(*identity.Identity) error, b *foliov1.Block) []string {
	counts := func(id *identity.Identity) error {
		if id.Role != identity.RoleOrderer {
			return fmt.Errorf("%s is not an orderer", id.Label())
		}
		if signer != nil {
			return signer(id)
		}
		return nil
	}
	signers, _ := deliver.OrdererSigners(msp, counts, b)
	return signers
}

// Health returns the peer's health as the exchange judged it so far.
// Safe for concurrent use.
func (s *Service) Health() Health {
	s.x.mu.Lock()
	defer s.x.mu.Unlock()
	h := s.x.mu.health
	h.Peers = append([]string(nil), h.Peers...)
	return h
}

// judge moves the peer's health by one round: it calls OnHealth on a
// change, then publishes the new health (Health, metrics) and raises the
// alarms (logs at level ERROR).
func (s *Service) judge(r Round) {
	s.x.mu.Lock()
	prev := s.x.mu.health
	s.x.mu.Unlock()
	next, f := NextHealth(prev, r)
	for _, p := range f.Unproven {
		s.x.mu.Lock()
		seen := s.x.mu.alarmed[p] == r.Block+1
		s.x.mu.alarmed[p] = r.Block + 1
		s.x.mu.Unlock()
		if seen {
			continue
		}
		s.x.detections.WithLabelValues(detectUnproven).Inc()
		var rep Report
		for _, x := range r.Reports {
			if x.Peer == p {
				rep = x
			}
		}
		s.o.Logger.Error("ALARM: a peer signed another block hash for a block this peer holds, but showed no orderer-signed block with that hash: its statement is false (or its block store is damaged); this peer goes on",
			"peer", p, "block", r.Block, "own_block_hash", fmt.Sprintf("%x", r.BlockHash), "peer_block_hash", fmt.Sprintf("%x", rep.BlockHash), "proof", rep.Proof)
	}
	if next.State == prev.State {
		return
	}
	if s.o.OnHealth != nil {
		s.o.OnHealth(next)
	}
	s.x.mu.Lock()
	s.x.mu.health = next
	s.x.mu.Unlock()
	s.x.setHealthGauge(next.State)
	switch next.State {
	case HealthDiverged:
		s.x.detections.WithLabelValues(detectDiverged).Inc()
		s.o.Logger.Error("STATE DIVERGED: this peer's state root differs from the signed root of every other peer that reported the block; it stops endorsing until its ledger is rebuilt from the chain",
			"block", next.Block, "peers", strings.Join(next.Peers, ","), "detail", next.Detail)
	case HealthEquivocation:
		s.x.detections.WithLabelValues(detectEquivocation).Inc()
		s.o.Logger.Error("ALARM: ORDERER EQUIVOCATION: two different orderer-signed blocks exist for one height; this peer stops committing and endorsing",
			"block", next.Block, "peers", strings.Join(next.Peers, ","), "detail", next.Detail)
	}
}

// statement is this peer's own (unsigned) statement of block num.
func (s *Service) statement(num uint64) (*foliov1.StateAttestation, error) {
	root, err := s.o.Ledger.StateRoot(num)
	if err != nil {
		return nil, err
	}
	b, err := s.o.Ledger.Blocks().Block(num)
	if err != nil {
		return nil, err
	}
	hash, err := types.HeaderHash(b.Header)
	if err != nil {
		return nil, err
	}
	return &foliov1.StateAttestation{ChannelId: s.o.ChannelID, BlockNumber: num, BlockHash: hash, StateRoot: root}, nil
}

// check judges one peer's answer to an attest call for own's block, and
// returns the peer's verified statement when its answer was valid.
func (s *Service) check(own *foliov1.StateAttestation, p Peer, raw []byte, callErr error) (*foliov1.AttestationCheck, *foliov1.StateAttestation) {
	c := &foliov1.AttestationCheck{Peer: p.Name, NodeId: p.NodeID, BlockNumber: own.BlockNumber, StateRoot: own.StateRoot,
		CheckedAtUnixNano: time.Now().UnixNano()}
	switch {
	case callErr != nil:
		c.Result, c.Detail = ResultUnavailable, callErr.Error()
		return c, nil
	case len(raw) == 0:
		c.Result, c.Detail = ResultUnavailable, fmt.Sprintf("no attestation of block %d (behind, or cannot read it)", own.BlockNumber)
		return c, nil
	}
	var sa foliov1.SignedAttestation
	if err := proto.Unmarshal(raw, &sa); err != nil {
		c.Result, c.Detail = ResultInvalid, "answer does not decode: "+err.Error()
		return c, nil
	}
	_, st, err := VerifyAttestation(s.o.MSP, s.o.ChannelID, p.NodeID, &sa)
	if err == nil && st.BlockNumber != own.BlockNumber {
		err = fmt.Errorf("asked for block %d, it attested block %d", own.BlockNumber, st.BlockNumber)
	}
	if err != nil {
		c.Result, c.Detail = ResultInvalid, err.Error()
		return c, nil
	}
	c.PeerStateRoot = st.StateRoot
	if err := Compare(own, st); err != nil {
		c.Result, c.Detail = ResultDisagree, err.Error()
		return c, st
	}
	c.Result = ResultAgree
	return c, st
}

// record publishes a round's results: metrics, logs, Checks.
func (s *Service) record(results []*foliov1.AttestationCheck) {
	s.x.mu.Lock()
	defer s.x.mu.Unlock()
	for _, c := range results {
		prev := s.x.mu.latest[c.Peer]
		if prev != nil {
			c.Disagreements = prev.Disagreements
		}
		if c.Result == ResultDisagree {
			c.Disagreements++
		}
		s.x.checks.WithLabelValues(c.Peer, c.Result).Inc()
		changed := prev == nil || prev.Result != c.Result || prev.BlockNumber != c.BlockNumber
		switch {
		case c.Result == ResultDisagree && changed:
			s.o.Logger.Warn("state root disagreement: a peer signed another state root for the same block",
				"peer", c.Peer, "block", c.BlockNumber, "own_root", fmt.Sprintf("%x", c.StateRoot), "peer_root", fmt.Sprintf("%x", c.PeerStateRoot), "detail", c.Detail)
		case c.Result == ResultInvalid && changed:
			s.o.Logger.Warn("invalid state-root attestation", "peer", c.Peer, "block", c.BlockNumber, "detail", c.Detail)
		case c.Result == ResultAgree && prev != nil && (prev.Result == ResultDisagree || prev.Result == ResultInvalid):
			s.o.Logger.Info("peer agrees again on the state root", "peer", c.Peer, "block", c.BlockNumber)
		case c.Result == ResultUnavailable && changed:
			s.o.Logger.Debug("no state-root attestation from peer", "peer", c.Peer, "block", c.BlockNumber, "detail", c.Detail)
		}
		s.x.mu.latest[c.Peer] = c
	}
	n := 0
	for _, c := range s.x.mu.latest {
		if c.Result == ResultDisagree || c.Result == ResultInvalid {
			n++
		}
	}
	s.x.disagreeing.Set(float64(n))
}
