package release

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/schedule"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// ksState is what this peer knows of one key server of a release.
type ksState struct {
	Name     string
	Index    int
	Reach    bool
	Released bool
	Reason   string
}

// keyWatch is what one peer knows of a release's key servers: the agreed
// key send time (its own agreement on a key server, else the latest a
// key server reported) and whether each key server is reachable and has
// released. Subscribers' schedule and status events, the trusted edge's
// target and status read it.
//
// Lock rules: mu guards sendAt and states; never held while calling out
// (notify is a leaf).
type keyWatch struct {
	env     *env
	rec     *release.Record
	ksIndex int // this peer's share index; 0 if not a key server
	changed *signal
	// window is the release's [T, E] (ok: the record's times parse):
	// every agreed time taken is clamped to it.
	window struct {
		releaseAt, endAt time.Time
		ok               bool
	}

	mu struct {
		sync.Mutex
		sendAt time.Time
		states map[string]*ksState
	}
}

func newKeyWatch(e *env, rec *release.Record, ksIndex int, changed *signal) *keyWatch {
	w := &keyWatch{env: e, rec: rec, ksIndex: ksIndex, changed: changed}
	if t, end, err := rec.Times(); err == nil && t.Before(end) {
		w.window.releaseAt, w.window.endAt, w.window.ok = t, end, true
	}
	w.mu.states = map[string]*ksState{}
	for _, ks := range rec.KeyServers {
		w.mu.states[ks.Name] = &ksState{Name: ks.Name, Index: ks.Index}
	}
	return w
}

// sendAt is the agreed key send time as this peer knows it (zero before
// coordination).
func (w *keyWatch) sendAt() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.sendAt
}

// setSendAt records the agreed key send time, clamped to [T, E]: a key
// server that reports a far-future agreement (schedule.Agree) cannot
// make this peer's trusted edge hold its clients' tail keys, or its
// status promise a send time, past the end time.
func (w *keyWatch) setSendAt(t time.Time) {
	if w.window.ok {
		t = schedule.Agree(w.window.releaseAt, w.window.endAt, t)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !t.Equal(w.mu.sendAt) {
		w.mu.sendAt = t
		w.changed.notify()
	}
}

// update changes what is known of key server name.
func (w *keyWatch) update(name string, f func(*ksState)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.mu.states[name]
	if st == nil {
		return
	}
	old := *st
	f(st)
	if old != *st {
		w.changed.notify()
	}
}

// setReach records whether key server name answered (reason: why not, or
// why it does not act).
func (w *keyWatch) setReach(name string, reach bool, reason string) {
	w.update(name, func(st *ksState) { st.Reach, st.Reason = reach, reason })
}

// setReleased records that key server name released its share.
func (w *keyWatch) setReleased(name string) {
	w.update(name, func(st *ksState) { st.Released = true })
}

// states lists the key servers' states by name.
func (w *keyWatch) states() []ksState {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]ksState, 0, len(w.mu.states))
	for _, st := range w.mu.states {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// notReleasing says which key servers cannot be reached or do not
// release, when fewer than the threshold have released (held shares
// here); "" otherwise.
func (w *keyWatch) notReleasing(held int) string {
	if held >= w.rec.Threshold {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var bad []string
	for _, ks := range w.rec.KeyServers {
		st := w.mu.states[ks.Name]
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
	return fmt.Sprintf("%d of %d shares released (%d needed); key servers not releasing: %v", held, len(w.rec.KeyServers), w.rec.Threshold, bad)
}

// run keeps a peer that is not a key server informed of the agreed key
// send time and of the key servers' state (for its subscribers and
// status), from CoordLead before the release time until the threshold of
// shares is held here or the end time passes.
func (w *keyWatch) run(ctx context.Context, releaseAt, endAt time.Time, shares *shareBox) {
	if !w.env.sleepUntil(ctx, releaseAt.Add(-w.env.o.CoordLead)) {
		return
	}
	for ctx.Err() == nil && w.env.now().Before(endAt) && shares.count() < w.rec.Threshold {
		w.query(ctx)
		if !w.env.sleepUntil(ctx, w.env.now().Add(w.env.o.CoordInterval)) {
			return
		}
	}
}

// query asks every other key server for its agreed send time, reach and
// release; a peer that is not a key server takes the latest agreed time
// reported.
func (w *keyWatch) query(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(w.env.o.CoordInterval, time.Second))
	defer cancel()
	req := wire.Encode(wire.KeysRequest{Op: wire.OpSchedule, RID: w.rec.ID})
	var mu sync.Mutex
	var latestAgreed time.Time
	var wg sync.WaitGroup
	for _, ks := range w.rec.KeyServers {
		if ks.Index == w.ksIndex {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := w.env.call(ctx, ks.NodeID, wire.ProtoKeys, req)
			var rep wire.ScheduleReply
			if err == nil {
				err = wire.Decode(raw, &rep)
			}
			if err != nil {
				w.setReach(ks.Name, false, err.Error())
				return
			}
			w.update(ks.Name, func(st *ksState) {
				st.Reach, st.Reason = true, rep.Reason
				st.Released = st.Released || rep.Released
			})
			if rep.SendAt > 0 {
				mu.Lock()
				latestAgreed = latest(latestAgreed, time.Unix(0, rep.SendAt))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if w.ksIndex == 0 && !latestAgreed.IsZero() {
		w.setSendAt(latestAgreed)
	}
}
