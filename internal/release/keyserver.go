package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/keys"
	"github.com/folio-ledger/folio/internal/release/schedule"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// runKeyServer is a key server's life for one release:
//
//  1. from CoordLead before the release time T, every CoordInterval: ask
//     every edge (peer) for its clients' predicted ciphertext completion,
//     decide a proposal (schedule.Decide), exchange proposals with the
//     other key servers, and agree on the latest (schedule.Agree);
//  2. once the agreed send time S is within Freeze it stops moving; at S
//     (never before T by this peer's clock, and only while its clock
//     agrees with its peers') it decrypts its share, signs the release
//     statement, pushes it to every peer (which relay it to each other and
//     to their subscribed clients), and publishes it on chain.
//
// If no other key server answers, it acts on its own proposal: send at T
// once its clients are ready (bounded by E minus the key's delivery time).
func (r *rel) runKeyServer(ctx context.Context) {
	coordStart := r.releaseAt.Add(-r.p.o.CoordLead)
	if !r.sleepUntil(ctx, coordStart) {
		return
	}
	roundTimeout := max(r.p.o.CoordInterval, 500*time.Millisecond)
	var frozen, agreed time.Time
	for ctx.Err() == nil {
		if frozen.IsZero() {
			// A round never runs into the freeze point of the last
			// agreement, so an unreachable key server cannot delay the
			// send.
			deadline := r.p.now().Add(roundTimeout)
			if !agreed.IsZero() {
				deadline = earliest(deadline, agreed.Add(-r.p.o.Freeze))
			}
			agreed = r.round(ctx, deadline)
			now := r.p.now()
			if agreed.Sub(now) <= r.p.o.Freeze+roundTimeout {
				frozen = agreed
				r.p.log.Info("key send time fixed", "rid", r.rec.ID, "send_at", agreed.UTC().Format(time.RFC3339Nano))
				// Compare clocks now, so the check at the send time does not
				// wait for peers.
				r.p.clock.measureWithin(ctx, min(300*time.Millisecond, max(frozen.Sub(r.p.now())/2, 10*time.Millisecond)))
			} else {
				next := earliest(now.Add(r.p.o.CoordInterval), agreed.Add(-r.p.o.Freeze-roundTimeout))
				if !r.sleepUntil(ctx, next) {
					return
				}
				continue
			}
		}
		if !r.sleepUntil(ctx, frozen) {
			return
		}
		if err := r.releaseShare(ctx); err != nil {
			r.setKSReason(err.Error())
			r.p.log.Warn("key share not released yet", "rid", r.rec.ID, "err", err)
			if !r.sleepUntil(ctx, r.p.now().Add(time.Second)) {
				return
			}
			continue
		}
		return
	}
}

// sleepUntil waits until t by the peer's clock (false if ctx ended).
func (r *rel) sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		d := t.Sub(r.p.now())
		if d <= 0 {
			return true
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
}

func (r *rel) setKSReason(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.ksReason != s {
		r.mu.ksReason = s
		r.notifyLocked()
	}
}

// round runs one coordination round, bounded by deadline, and returns the
// agreed send time.
func (r *rel) round(ctx context.Context, deadline time.Time) time.Time {
	if d := deadline.Sub(r.p.now()); d < 50*time.Millisecond {
		deadline = r.p.now().Add(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(ctx, deadline.Sub(r.p.now()))
	defer cancel()
	// 1. Every edge's clients (this peer's own included).
	clients := map[string]wire.ClientPrediction{}
	add := func(cs []wire.ClientPrediction) {
		for _, c := range cs {
			if c.EdgeDecrypt {
				continue
			}
			if old, ok := clients[c.Client]; !ok || c.Complete || (!old.Complete && c.PredictedAt > old.PredictedAt) {
				clients[c.Client] = c
			}
		}
	}
	add(r.predictions())
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, x := range r.p.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := r.p.call(ctx, x.NodeID, wire.ProtoKeys, wire.Encode(wire.KeysRequest{Op: wire.OpReport, RID: r.rec.ID}))
			if err != nil {
				return
			}
			var rep wire.Report
			if wire.Decode(raw, &rep) != nil {
				return
			}
			mu.Lock()
			add(rep.Clients)
			mu.Unlock()
		}()
	}
	wg.Wait()
	var cs []schedule.Client
	for _, c := range clients {
		sc := schedule.Client{Name: c.Client, Complete: c.Complete, RateBps: c.RateBps, RTT: time.Duration(c.RTTMS * float64(time.Millisecond))}
		if c.Complete {
			sc.DoneAt = time.Unix(0, c.DoneAt)
		} else if c.PredictedAt > 0 {
			sc.PredictedAt = time.Unix(0, c.PredictedAt)
		}
		cs = append(cs, sc)
	}
	d := schedule.Decide(schedule.Params{ReleaseAt: r.releaseAt, EndAt: r.endAt, ReadyFraction: r.p.o.ReadyFraction}, cs)
	own := wire.Proposal{From: r.p.name(), SendAt: d.SendAt.UnixNano(), Ready: d.Ready, Total: d.Total}
	r.mu.Lock()
	r.mu.decision = d
	r.mu.proposals[own.From] = own
	r.mu.Unlock()
	// 2. Exchange proposals with the other key servers.
	for _, ks := range r.rec.KeyServers {
		if ks.Index == r.ksIndex {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := r.p.call(ctx, ks.NodeID, wire.ProtoKeys, wire.Encode(wire.KeysRequest{Op: wire.OpCoord, RID: r.rec.ID, Proposal: &own}))
			var rep wire.Proposal
			if err == nil {
				err = wire.Decode(raw, &rep)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			st := r.mu.ksStates[ks.Name]
			if err != nil || rep.From != ks.Name {
				if st != nil {
					st.Reach, st.Reason = false, fmt.Sprintf("coordination failed: %v", err)
				}
				delete(r.mu.proposals, ks.Name)
				return
			}
			if st != nil {
				st.Reach, st.Reason = true, ""
			}
			r.mu.proposals[ks.Name] = rep
		}()
	}
	wg.Wait()
	// 3. Agree: the latest proposal of the round.
	r.mu.Lock()
	defer r.mu.Unlock()
	var times []time.Time
	for _, pr := range r.mu.proposals {
		if pr.SendAt > 0 {
			times = append(times, time.Unix(0, pr.SendAt))
		}
	}
	agreed := schedule.Agree(r.releaseAt, times...)
	if !agreed.Equal(r.mu.sendAt) {
		r.p.log.Info("key send time", "rid", r.rec.ID, "agreed", agreed.UTC().Format(time.RFC3339Nano), "own", d.SendAt.UTC().Format(time.RFC3339Nano),
			"proposals", len(times), "reason", d.Reason)
		r.mu.sendAt = agreed
		r.notifyLocked()
	}
	return agreed
}

// exchange records another key server's proposal and answers with this
// one's latest.
func (r *rel) exchange(pr wire.Proposal) wire.Proposal {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.proposals[pr.From] = pr
	if st := r.mu.ksStates[pr.From]; st != nil {
		st.Reach, st.Reason = true, ""
	}
	own, ok := r.mu.proposals[r.p.name()]
	if !ok {
		own = wire.Proposal{From: r.p.name(), SendAt: r.releaseAt.UnixNano()}
	}
	return own
}

// releaseShare releases this key server's share now: only at or after the
// release time by this peer's clock, and only while its clock agrees with
// its peers' within MaxClockSkew (measured afresh).
func (r *rel) releaseShare(ctx context.Context) error {
	if reason := r.refusedReason(); reason != "" {
		return fmt.Errorf("%w: %s", ErrRefused, reason)
	}
	r.p.clock.fresh(ctx, max(2*r.p.o.ClockInterval, 10*time.Second))
	med, ok, known := r.p.clock.skew()
	switch {
	case !known:
		return fmt.Errorf("%w: this key server could not compare its clock with any peer's recently: not releasing its share on an unchecked clock", ErrClockSkew)
	case !ok:
		return fmt.Errorf("%w: this key server's clock is %s off the median of its peers (bound %s): refusing to release its share",
			ErrClockSkew, (-med).Round(time.Millisecond), r.p.o.MaxClockSkew)
	}
	now := r.p.now()
	if now.Before(r.releaseAt) {
		return fmt.Errorf("%w: %s", ErrTooEarly, now.UTC().Format(time.RFC3339Nano))
	}
	share, err := keys.DecryptShare(r.p.kex, r.rec.ID, r.ksIndex, r.encShare)
	if err != nil {
		return fmt.Errorf("open this key server's share: %w", err)
	}
	sr, err := keys.SignShareRelease(r.p.o.Self, r.rec.ID, r.ksIndex, share, now)
	if err != nil {
		return err
	}
	pa := sr.PublishArgs(&r.rec)
	msg := wire.ShareMsg{Index: pa.Index, Share: pa.Share, SentAt: pa.SentAt, NodeID: pa.NodeID, Sig: pa.Sig}
	if _, err := r.acceptShare(msg, r.p.name()); err != nil {
		return err
	}
	r.mu.Lock()
	r.mu.released = true
	r.mu.ksReason = ""
	r.mu.relayed[msg.Index] = true
	r.notifyLocked()
	r.mu.Unlock()
	r.p.log.Info("released key share", "rid", r.rec.ID, "index", r.ksIndex, "sent_at", pa.SentAt)
	r.push(ctx, msg)
	r.publish(ctx, pa)
	return nil
}

// push sends the share to every peer directly, retrying the ones that
// fail until the end time.
func (r *rel) push(ctx context.Context, m wire.ShareMsg) {
	req := wire.Encode(wire.KeysRequest{Op: wire.OpShare, RID: r.rec.ID, Share: &m})
	pending := append([]peerInfo(nil), r.p.peers...)
	for attempt := 0; len(pending) > 0 && ctx.Err() == nil; attempt++ {
		var mu sync.Mutex
		var failed []peerInfo
		var wg sync.WaitGroup
		for _, x := range pending {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := r.p.call(ctx, x.NodeID, wire.ProtoKeys, req)
				var se *wire.StatusError
				if err != nil && !(errors.As(err, &se) && se.Status == wire.StatusRefused) {
					mu.Lock()
					failed = append(failed, x)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		pending = failed
		if len(pending) == 0 || r.p.now().After(r.endAt) {
			return
		}
		if attempt == 0 {
			// Later attempts run in the background: the publication on
			// chain should not wait for a peer that is down.
			r.p.spawn(func(ctx context.Context) {
				for len(pending) > 0 && ctx.Err() == nil && r.p.now().Before(r.endAt) {
					if !r.sleepUntil(ctx, r.p.now().Add(time.Second)) {
						return
					}
					var still []peerInfo
					for _, x := range pending {
						if _, err := r.p.call(ctx, x.NodeID, wire.ProtoKeys, req); err != nil {
							still = append(still, x)
						}
					}
					pending = still
				}
			})
			return
		}
	}
}

// publish records the released share on chain. Endorsers may refuse
// transactions signed by a peer identity; clients that received the share
// then relay the same signed statement (docs/release.md).
func (r *rel) publish(ctx context.Context, pa release.PublishArgs) {
	r.p.spawn(func(ctx context.Context) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		raw, _ := json.Marshal(pa)
		err := r.p.o.Chain.Submit(cctx, ReleaseContract, release.FnPublishShare, raw)
		switch {
		case err == nil:
			r.p.log.Info("published key share on chain", "rid", r.rec.ID, "index", pa.Index)
		case strings.Contains(err.Error(), "already published"):
		default:
			r.p.log.Info("key share not published by this peer (clients relay its signed statement)", "rid", r.rec.ID, "index", pa.Index, "err", err)
		}
	})
}

// proposalsSummary lists the proposals of the last round (status).
func (r *rel) proposalsSummary() []wire.Proposal {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]wire.Proposal, 0, len(r.mu.proposals))
	for _, p := range r.mu.proposals {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From < out[j].From })
	return out
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
