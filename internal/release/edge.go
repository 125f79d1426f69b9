package release

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/folio-ledger/folio/internal/release/schedule"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// handleSubscribe keeps a client's subscription open: a stream of events
// (one JSON object per line) until the client goes away: hello, pings
// (round-trip probes the client answers in its progress reports), the
// agreed key send time, the shares once they are released (never before
// the release time by this edge's clock, and not while its clock is off
// its peers'), and status lines saying what is wrong.
func (p *Peer) handleSubscribe(w http.ResponseWriter, req *http.Request) {
	label, ok := p.caller(w, req)
	if !ok {
		return
	}
	r, ok := p.relOf(w, req, false)
	if !ok {
		return
	}
	var s wire.Subscribe
	if !decodeBody(w, req, &s) {
		return
	}
	if !ownsClientName(label, s.Client) {
		httpError(w, http.StatusForbidden, "%s may subscribe as %s or %s/NAME, not as %s", label, label, label, s.Client)
		return
	}
	if s.EdgeDecrypt && !r.trusted {
		httpError(w, http.StatusConflict, "%s is not a trusted edge of release %s (trusted edges: %v): fetch the ciphertext, or subscribe at a trusted edge",
			p.name(), r.rec.ID, r.rec.TrustedEdges)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		httpError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	now := p.now()
	r.mu.Lock()
	sb := r.mu.subs[s.Client]
	if sb == nil {
		// A new client name: within the limits. Re-subscribing under a
		// name already held always reuses its entry.
		if lerr := r.admitLocked(label, now); lerr != nil {
			r.mu.Unlock()
			p.refuse(w, lerr)
			return
		}
		sb = r.addSubLocked(label, s.Client)
	}
	sb.edgeDecrypt, sb.naive = s.EdgeDecrypt, s.Naive
	if s.HaveBytes > sb.bytes {
		sb.bytes = s.HaveBytes
	}
	sb.total = r.rec.CipherSize
	sb.streams++
	sb.lastSeen = now
	sb.sent = map[int]bool{}
	r.notifyLocked()
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		sb.streams--
		r.leaveLocked(sb, p.now())
		r.notifyLocked()
		r.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	write := func(evs ...wire.Event) bool {
		for _, e := range evs {
			if err := enc.Encode(e); err != nil {
				return false
			}
		}
		flusher.Flush()
		return true
	}
	if !write(wire.Event{Type: wire.EventHello, ServerTime: now.UnixNano()}) {
		return
	}
	ping := time.NewTicker(p.o.PingInterval)
	defer ping.Stop()
	var lastSend, lastStart int64
	var lastReason string
	for {
		evs, ch, wake := r.pendingEvents(sb, &lastSend, &lastStart, &lastReason)
		if len(evs) > 0 && !write(evs...) {
			return
		}
		var timer <-chan time.Time
		var t *time.Timer
		if !wake.IsZero() {
			t = time.NewTimer(max(wake.Sub(p.now()), time.Millisecond))
			timer = t.C
		}
		stop := func() {
			if t != nil {
				t.Stop()
			}
		}
		select {
		case <-req.Context().Done():
			stop()
			return
		case <-p.ctx.Done():
			stop()
			return
		case <-ch:
			stop()
		case <-timer:
		case <-ping.C:
			stop()
			r.mu.Lock()
			sb.nextPing++
			id := sb.nextPing
			at := p.now()
			sb.pings[id] = at
			delete(sb.pings, id-8) // only recent pings are answered
			r.mu.Unlock()
			if !write(wire.Event{Type: wire.EventPing, ID: id, ServerTime: at.UnixNano()}) {
				return
			}
		}
	}
}

// pendingEvents returns what a subscriber has not been told yet, the
// channel of the next change, and when to look again (the release time,
// if shares are held before it).
func (r *rel) pendingEvents(sb *sub, lastSend, lastStart *int64, lastReason *string) ([]wire.Event, <-chan struct{}, time.Time) {
	now := r.p.now()
	_, skewOK, _ := r.p.clock.skew()
	r.mu.Lock()
	defer r.mu.Unlock()
	var evs []wire.Event
	var wake time.Time
	sendAt := r.mu.sendAt
	if !sendAt.IsZero() && sendAt.UnixNano() != *lastSend || sb.startAt.UnixNano() != *lastStart && !sb.startAt.IsZero() {
		e := wire.Event{Type: wire.EventSchedule}
		if !sendAt.IsZero() {
			e.SendAt = sendAt.UnixNano()
		}
		if !sb.startAt.IsZero() {
			e.StartAt = sb.startAt.UnixNano()
		}
		*lastSend, *lastStart = e.SendAt, e.StartAt
		evs = append(evs, e)
	}
	reason := r.mu.refused
	if reason == "" {
		reason = r.mu.plainErr
	}
	if reason == "" && !skewOK {
		reason = fmt.Sprintf("%v: %s holds the key until its clock agrees with its peers'; another peer can serve you", ErrClockSkew, r.p.name())
	}
	if reason == "" {
		reason = r.unreachableReasonLocked()
	}
	if reason != *lastReason {
		*lastReason = reason
		evs = append(evs, wire.Event{Type: wire.EventStatus, Reason: reason})
	}
	if !sb.edgeDecrypt && len(r.mu.shares) > 0 {
		switch {
		case now.Before(r.releaseAt):
			wake = r.releaseAt
		case skewOK:
			for _, idx := range sortedKeys(r.mu.shares) {
				if !sb.sent[idx] {
					sb.sent[idx] = true
					m := r.mu.shares[idx]
					evs = append(evs, wire.Event{Type: wire.EventShare, Index: idx, Share: m.Share})
				}
			}
		}
	}
	return evs, r.mu.changed, wake
}

// unreachableReasonLocked says which key servers cannot be reached or do
// not release, when too few have released for the threshold.
func (r *rel) unreachableReasonLocked() string {
	if len(r.mu.shares) >= r.rec.Threshold {
		return ""
	}
	var bad []string
	for _, ks := range r.rec.KeyServers {
		st := r.mu.ksStates[ks.Name]
		if st == nil || st.Released {
			continue
		}
		if !st.Reach || st.Reason != "" {
			why := st.Reason
			if why == "" {
				why = "unreachable"
			}
			bad = append(bad, fmt.Sprintf("%s (share %d): %s", ks.Name, ks.Index, why))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d shares released (%d needed); key servers not releasing: %v", len(r.mu.shares), len(r.rec.KeyServers), r.rec.Threshold, bad)
}

// decodeBody reads a small JSON request body into v, answering 400 with
// the reason when it is unreadable or invalid.
func decodeBody(w http.ResponseWriter, req *http.Request, v wire.Validator) bool {
	raw, err := io.ReadAll(io.LimitReader(req.Body, 64<<10))
	if err == nil {
		err = wire.Decode(raw, v)
	}
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return false
	}
	return true
}

// handleProgress records a client's ciphertext progress, its measured
// rate and its answer to a ping.
func (p *Peer) handleProgress(w http.ResponseWriter, req *http.Request) {
	label, ok := p.caller(w, req)
	if !ok {
		return
	}
	r, ok := p.relOf(w, req, false)
	if !ok {
		return
	}
	var pr wire.Progress
	if !decodeBody(w, req, &pr) {
		return
	}
	if !ownsClientName(label, pr.Client) {
		httpError(w, http.StatusForbidden, "%s may not report for %s", label, pr.Client)
		return
	}
	now := p.now()
	r.mu.Lock()
	sb := r.mu.subs[pr.Client]
	if sb == nil {
		r.mu.Unlock()
		httpError(w, http.StatusConflict, "subscribe before reporting progress")
		return
	}
	sb.lastSeen = now
	if pr.Total > 0 {
		sb.bytes, sb.total = pr.Bytes, pr.Total
	}
	// Waiters care about completion and, for edge-decrypt clients, the
	// rate (it moves their start); other progress only feeds the
	// predictions the key servers poll, and waking every subscriber stream
	// on every report would cost a herd of wake-ups per second.
	wake := false
	if pr.RateBps > 0 {
		wake = sb.edgeDecrypt && sb.rate != pr.RateBps
		sb.rate = pr.RateBps
	}
	if pr.Complete && !sb.complete {
		sb.complete, sb.doneAt = true, now
		wake = true
	}
	var rtt time.Duration
	if pr.Pong > 0 {
		if at, ok := sb.pings[pr.Pong]; ok {
			rtt = now.Sub(at)
			sb.rtt = rtt
			delete(sb.pings, pr.Pong)
		}
	}
	if wake {
		r.notifyLocked()
	}
	r.mu.Unlock()
	if pr.RateBps > 0 {
		p.history.addRate(pr.Client, now, pr.RateBps)
	}
	if rtt > 0 {
		p.history.setRTT(pr.Client, now, rtt)
	}
	w.WriteHeader(http.StatusNoContent)
}

// runScheduleWatch keeps a non-key-server peer informed of the agreed key
// send time and of the key servers' state (for its subscribers and
// status), from CoordLead before the release time until the key is
// released or the end time passes.
func (r *rel) runScheduleWatch(ctx context.Context) {
	if !r.sleepUntil(ctx, r.releaseAt.Add(-r.p.o.CoordLead)) {
		return
	}
	for ctx.Err() == nil && r.p.now().Before(r.endAt) {
		r.mu.Lock()
		done := len(r.mu.shares) >= r.rec.Threshold
		r.mu.Unlock()
		if done {
			return
		}
		r.querySchedules(ctx)
		if !r.sleepUntil(ctx, r.p.now().Add(r.p.o.CoordInterval)) {
			return
		}
	}
}

// querySchedules asks every key server for its agreed send time.
func (r *rel) querySchedules(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(r.p.o.CoordInterval, time.Second))
	defer cancel()
	var wg sync.WaitGroup
	var latest time.Time // the latest agreed time the key servers report now
	for _, ks := range r.rec.KeyServers {
		if ks.Index == r.ksIndex {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := r.p.call(ctx, ks.NodeID, wire.ProtoKeys, wire.Encode(wire.KeysRequest{Op: wire.OpSchedule, RID: r.rec.ID}))
			var rep wire.ScheduleReply
			if err == nil {
				err = wire.Decode(raw, &rep)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			st := r.mu.ksStates[ks.Name]
			if st == nil {
				return
			}
			old := *st
			if err != nil {
				st.Reach, st.Reason = false, err.Error()
			} else {
				st.Reach, st.Reason = true, rep.Reason
				st.Released = st.Released || rep.Released
				if t := time.Unix(0, rep.SendAt); rep.SendAt > 0 && t.After(latest) {
					latest = t
				}
			}
			if old != *st {
				r.notifyLocked()
			}
		}()
	}
	wg.Wait()
	if r.ksIndex == 0 && !latest.IsZero() {
		r.mu.Lock()
		if !latest.Equal(r.mu.sendAt) {
			r.mu.sendAt = latest
			r.notifyLocked()
		}
		r.mu.Unlock()
	}
}

// keyDeliveryMargin is added to the key send time as the target at which
// trusted edges' plaintext should arrive (the key's own trip to clients).
const keyDeliveryMargin = 0

// target is when edge-decrypt clients should complete: the agreed key send
// time (the release time until one is agreed).
func (r *rel) targetLocked() time.Time {
	t := r.mu.sendAt
	if t.Before(r.releaseAt) {
		t = r.releaseAt
	}
	return t.Add(keyDeliveryMargin)
}

// paceMargin is the share of a client's expected transfer time a trusted
// edge starts early: a rate estimate a little above what the link really
// carries would otherwise make the paced send arrive late (0.1% of a
// 24-minute transfer is 1.4 s). The last bytes are held until the target
// (tailBytes), so starting early cannot make the client finish early.
const paceMargin = 0.03

// startFor is when a trusted edge starts sending plaintext to an
// edge-decrypt client: target minus its minimum expected transfer time
// (its best observed rate) and the margin; at the target itself for naive
// delivery or an unknown rate.
func (r *rel) startForLocked(sb *sub) (time.Time, float64) {
	target := r.targetLocked()
	if sb.naive {
		return target, 0
	}
	h := r.p.history.get(sb.client)
	best := max(h.Best(), sb.rate)
	start := schedule.StartAt(target, r.rec.Size, best, 0)
	if best > 0 {
		start = start.Add(-time.Duration(paceMargin*float64(target.Sub(start))) - 100*time.Millisecond)
	}
	if lead := target.Sub(start); lead > r.p.o.MaxEdgeLead {
		start = target.Add(-r.p.o.MaxEdgeLead)
		best = float64(r.rec.Size*8) / r.p.o.MaxEdgeLead.Seconds()
	}
	return start, best
}
