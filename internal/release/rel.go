package release

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// rel is one release as this peer serves it: the record and the roles
// this peer plays in it, each owning its state. Every field is set by
// newRel and never changes; the roles guard their own state. Which roles
// exist is the record's to say: every peer is an edge (fetcher, edge,
// shares, watch); ks is nil unless the record names this peer as a key
// server, te unless it names it a trusted edge.
type rel struct {
	rec              release.Record
	releaseAt, endAt time.Time
	// refused says why this peer serves nothing of the release ("" when
	// it serves it): decided at load, from the copyright record.
	refused  string
	isOrigin bool
	// changed wakes whoever waits for anything of the release.
	changed *signal

	st     *store
	fetch  *fetcher
	edge   *edge
	shares *shareBox
	watch  *keyWatch
	ks     *keyServer
	te     *trustedEdge

	env *env
}

// newRel builds a release's roles on this peer; start launches their
// work.
func newRel(e *env, rec release.Record, st *store, refused string) (*rel, error) {
	r := &rel{rec: rec, refused: refused, isOrigin: rec.Origin == e.name(), changed: newSignal(), st: st, env: e}
	var err error
	if r.releaseAt, r.endAt, err = rec.Times(); err != nil {
		return nil, fmt.Errorf("release %s: %w", rec.ID, err)
	}
	ksIndex := 0
	var encShare []byte
	for _, ks := range rec.KeyServers {
		if ks.Name == e.name() && ks.NodeID == e.o.Self.ID() {
			ksIndex = ks.Index
			if encShare, err = hex.DecodeString(ks.EncShare); err != nil {
				return nil, fmt.Errorf("release %s: encrypted share %d is not hex", rec.ID, ks.Index)
			}
		}
	}
	r.fetch = newFetcher(e, r)
	r.edge = newEdge(e, &r.rec, r.changed)
	r.shares = newShareBox(&r.rec, r.releaseAt, e.o.MaxClockSkew, r.changed)
	r.watch = newKeyWatch(e, &r.rec, ksIndex, r.changed)
	if ksIndex > 0 {
		if r.ks, err = newKeyServer(e, r, ksIndex, encShare); err != nil {
			return nil, fmt.Errorf("release %s: %w", rec.ID, err)
		}
	}
	if rec.IsTrustedEdge(e.name()) {
		r.te = newTrustedEdge(e, r, ksIndex, encShare)
	}
	return r, nil
}

// start launches the release's background work (none for a refused
// release): fetching; key serving or following the key servers; the
// trusted edge's decryption.
func (r *rel) start() {
	if r.refused != "" {
		return
	}
	r.env.spawn(r.fetch.run)
	if r.ks != nil {
		r.env.spawn(r.ks.run)
	} else {
		r.env.spawn(func(ctx context.Context) { r.watch.run(ctx, r.releaseAt, r.endAt, r.shares) })
	}
	if r.te != nil {
		r.env.spawn(r.te.run)
	}
}

// acceptShare checks a released share (from another peer, a key server,
// the chain or this key server itself) and keeps it: see shareBox.accept.
// It reports whether the share is new here.
func (r *rel) acceptShare(m wire.ShareMsg, from string) (bool, error) {
	if r.refused != "" {
		return false, fmt.Errorf("%w: %s", ErrRefused, r.refused)
	}
	ks, fresh, err := r.shares.accept(m, from, r.env.now())
	if err != nil {
		if errors.Is(err, ErrTooEarly) {
			r.env.log.Warn("refused a share sent before the release time", "rid", r.rec.ID, "index", m.Index, "from", from, "key_server", ks.Name)
		}
		return false, err
	}
	if fresh {
		r.watch.setReleased(ks.Name)
	}
	return fresh, nil
}

// acceptPublished keeps a share already published on chain (a peer
// loading a release after its release time).
func (r *rel) acceptPublished(p release.Published) {
	_, _ = r.acceptShare(wire.ShareMsg{Index: p.Index, Share: p.Share, SentAt: p.SentAt, NodeID: p.NodeID, Sig: p.Sig}, "the chain")
}

// status is this peer's view of the release now.
func (r *rel) status() *foliov1.GetReleaseStatusResponse {
	have, total := r.st.progress()
	med, _, _ := r.env.clock.skew()
	held := r.shares.held()
	s := &foliov1.GetReleaseStatusResponse{Edge: r.env.name(), ReleaseId: r.rec.ID, ChunksHave: have, ChunksTotal: total,
		ClockSkewMs: finiteMS(med), Subscriptions: int64(r.edge.count()), EarlyShares: r.shares.earlyNotes()}
	for _, i := range held {
		s.SharesHeld = append(s.SharesHeld, uint32(i))
	}
	for _, c := range r.edge.predictions(r.env.now()) {
		s.Subscribers = append(s.Subscribers, &foliov1.ReleaseClientPrediction{Client: c.Client, Complete: c.Complete, DoneAtUnixNano: c.DoneAt,
			PredictedAtUnixNano: c.PredictedAt, RateBps: finite(c.RateBps), RttMs: finite(c.RTTMS), EdgeDecrypt: c.EdgeDecrypt})
	}
	fetchErr, rejected := r.fetch.status()
	s.RejectedChunks = rejected
	switch {
	case r.refused != "":
		s.State, s.Reason = "refused", r.refused
	case fetchErr != "" && have < total:
		s.State, s.Reason = "fetching", fetchErr
	case total == 0 || have < total:
		s.State = "fetching"
	case len(held) >= r.rec.Threshold:
		s.State = "released"
	default:
		s.State = "ready"
	}
	if r.ks != nil {
		if _, reason := r.ks.status(); reason != "" && s.Reason == "" {
			s.Reason = reason
		}
	}
	if t := r.watch.sendAt(); !t.IsZero() {
		s.SendAtUnixNano = t.UnixNano()
	}
	for _, st := range r.watch.states() {
		s.KeyServers = append(s.KeyServers, &foliov1.ReleaseKeyServerState{Name: st.Name, Index: uint32(st.Index), Reachable: st.Reach,
			Released: st.Released, Reason: st.Reason})
	}
	return s
}

// finite maps a measurement that came out infinite or NaN (a rate over a
// zero interval, say) to 0, which every message reads as "unknown".
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func finiteMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
