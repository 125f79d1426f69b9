package evidence

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/types"
)

// exchange is the state of the continuous attestation exchange (Run).
type exchange struct {
	checks      *prometheus.CounterVec
	disagreeing prometheus.Gauge

	mu struct {
		sync.Mutex
		// latest check of each other peer, by name; written by Run's
		// goroutine only, read by Checks.
		latest map[string]*foliov1.AttestationCheck
	}
}

func newExchange(reg prometheus.Registerer) (*exchange, error) {
	x := &exchange{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "folio_attestation_checks_total",
			Help: "Checks of other peers' signed state-root attestations against this peer's root, by peer and result (agree, disagree, invalid, unavailable).",
		}, []string{"peer", "result"}),
		disagreeing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "folio_attestation_disagreeing_peers",
			Help: "Peers whose latest signed state root (or block hash) differs from this peer's, or whose attestation was invalid.",
		}),
	}
	x.mu.latest = map[string]*foliov1.AttestationCheck{}
	if reg != nil {
		for _, c := range []prometheus.Collector{x.checks, x.disagreeing} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("evidence: register metrics: %w", err)
			}
		}
	}
	return x, nil
}

// Run exchanges attestations with the other peers until ctx is done: after
// the chain grows (at most once per CheckInterval) and at least every
// CheckIdle, it asks every other peer over the session protocol "attest"
// for its signed state root after this peer's last block, verifies the
// signature with the MSP, compares it with its own, and records the result
// (Checks, metrics, and a warning naming the peer, the block and both
// roots when they differ). Call it once; it returns when ctx is done.
func (s *Service) Run(ctx context.Context) {
	if s.o.CheckInterval < 0 || len(s.o.Peers) == 0 {
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

// round checks every other peer's attestation of this peer's last block.
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
	ctx, cancel := context.WithTimeout(ctx, s.o.AttestTimeout)
	defer cancel()
	req, _ := proto.Marshal(&foliov1.AttestRequest{BlockNumber: num})
	results := make([]*foliov1.AttestationCheck, len(s.o.Peers))
	var wg sync.WaitGroup
	for i, p := range s.o.Peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := s.o.Host.Call(ctx, p.NodeID, AttestProtocol, req)
			results[i] = s.check(own, p, raw, err)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) {
		return // shutting down: the answers say nothing about the peers
	}
	s.record(results)
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

// check judges one peer's answer to an attest call for own's block.
func (s *Service) check(own *foliov1.StateAttestation, p Peer, raw []byte, callErr error) *foliov1.AttestationCheck {
	c := &foliov1.AttestationCheck{Peer: p.Name, NodeId: p.NodeID, BlockNumber: own.BlockNumber, StateRoot: own.StateRoot,
		CheckedAtUnixNano: time.Now().UnixNano()}
	switch {
	case callErr != nil:
		c.Result, c.Detail = ResultUnavailable, callErr.Error()
		return c
	case len(raw) == 0:
		c.Result, c.Detail = ResultUnavailable, fmt.Sprintf("no attestation of block %d (behind, or cannot read it)", own.BlockNumber)
		return c
	}
	var sa foliov1.SignedAttestation
	if err := proto.Unmarshal(raw, &sa); err != nil {
		c.Result, c.Detail = ResultInvalid, "answer does not decode: "+err.Error()
		return c
	}
	_, st, err := VerifyAttestation(s.o.MSP, s.o.ChannelID, p.NodeID, &sa)
	if err == nil && st.BlockNumber != own.BlockNumber {
		err = fmt.Errorf("asked for block %d, it attested block %d", own.BlockNumber, st.BlockNumber)
	}
	if err != nil {
		c.Result, c.Detail = ResultInvalid, err.Error()
		return c
	}
	c.PeerStateRoot = st.StateRoot
	if err := Compare(own, st); err != nil {
		c.Result, c.Detail = ResultDisagree, err.Error()
		return c
	}
	c.Result = ResultAgree
	return c
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
