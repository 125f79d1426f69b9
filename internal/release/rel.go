package release

import (
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/keys"
	"github.com/folio-ledger/folio/internal/release/schedule"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// rel is one release as this peer serves it. rec, the times, the roles
// and st are fixed at creation; everything in mu changes.
type rel struct {
	p                 *Peer
	rec               release.Record
	releaseAt, endAt  time.Time
	st                *store
	ksIndex           int // this peer's share index, 0 if not a key server
	trusted, isOrigin bool
	encShare          []byte

	mu struct {
		sync.Mutex
		// refused says why this peer serves nothing of the release.
		refused string
		// changed is closed (and replaced) whenever anything below
		// changes: waiters take it under mu, then select on it.
		changed chan struct{}
		// shares are the verified shares received in the open (at or
		// after the release time), with the signed statements.
		shares  map[int]wire.ShareMsg
		sharesT map[int]time.Time // when each arrived here
		// relayed marks shares this peer forwarded to the others.
		relayed map[int]bool
		// early lists refused shares that came before the release time.
		early []string
		// subs has a subscription per client name; byCaller counts them
		// per caller label (the identity that created them), for
		// MaxSubscriptionsPerClient. Both are bounded (admitLocked) and
		// idle entries expire (pruneSubsLocked).
		subs     map[string]*sub
		byCaller map[string]int
		// pruneAt is no later than the earliest time an idle subscription
		// expires; zero when none is idle.
		pruneAt time.Time
		// sendAt is the agreed key send time as this peer knows it (its
		// own agreement if a key server, else the latest a key server
		// told it); zero before coordination.
		sendAt time.Time
		// Key server state.
		decision  schedule.Decision
		proposals map[string]wire.Proposal
		released  bool
		ksReason  string
		// ksStates: reachability and release of each key server, as the
		// coordination (key servers) or schedule queries (edges) saw it.
		ksStates map[string]*wire.KeyServerState
		// Trusted edge: early shares (never given to clients) and the
		// decrypted plaintext.
		earlyShares map[int][]byte
		plainReady  bool
		plainErr    string
		fetchErr    string
		rejected    int64
	}
}

// sub is one subscribed client at this edge.
type sub struct {
	client      string
	caller      string // label of the identity that created it
	edgeDecrypt bool
	naive       bool
	bytes       int64
	total       int64
	complete    bool
	doneAt      time.Time
	rate        float64
	rtt         time.Duration
	pings       map[int64]time.Time
	nextPing    int64
	sent        map[int]bool // share events sent on the current stream
	streams     int          // open subscribe streams
	plain       int          // open plaintext requests
	lastSeen    time.Time
	startAt     time.Time // edge decrypt: when its plaintext starts
}

func newRel(p *Peer, rec release.Record, st *store) *rel {
	r := &rel{p: p, rec: rec, st: st, isOrigin: rec.Origin == p.name(), trusted: rec.IsTrustedEdge(p.name())}
	r.releaseAt, r.endAt, _ = rec.Times()
	for _, ks := range rec.KeyServers {
		if ks.Name == p.name() && ks.NodeID == p.o.Self.ID() {
			r.ksIndex = ks.Index
			r.encShare, _ = hex.DecodeString(ks.EncShare)
		}
	}
	r.mu.changed = make(chan struct{})
	r.mu.shares = map[int]wire.ShareMsg{}
	r.mu.sharesT = map[int]time.Time{}
	r.mu.relayed = map[int]bool{}
	r.mu.subs = map[string]*sub{}
	r.mu.byCaller = map[string]int{}
	r.mu.proposals = map[string]wire.Proposal{}
	r.mu.ksStates = map[string]*wire.KeyServerState{}
	r.mu.earlyShares = map[int][]byte{}
	for _, ks := range rec.KeyServers {
		r.mu.ksStates[ks.Name] = &wire.KeyServerState{Name: ks.Name, Index: ks.Index}
	}
	return r
}

// start launches the release's background work.
func (r *rel) start() {
	r.mu.Lock()
	refused := r.mu.refused
	r.mu.Unlock()
	if refused != "" {
		return
	}
	r.p.spawn(r.runFetcher)
	if r.ksIndex > 0 {
		r.p.spawn(r.runKeyServer)
	} else {
		r.p.spawn(r.runScheduleWatch)
	}
	if r.trusted {
		r.p.spawn(r.runTrustedEdge)
	}
}

// notifyLocked wakes everyone waiting for a change.
func (r *rel) notifyLocked() {
	close(r.mu.changed)
	r.mu.changed = make(chan struct{})
}

func (r *rel) notify() {
	r.mu.Lock()
	r.notifyLocked()
	r.mu.Unlock()
}

// waitCh returns the channel closed at the next change.
func (r *rel) waitCh() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.changed
}

func (r *rel) refusedReason() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.refused
}

// acceptShare checks a released share and keeps it. It refuses forged
// shares (not the committed share, or a statement the key server did not
// sign), statements that say they were sent before the release time, and
// shares that arrive before the release time (beyond the clock skew bound)
// by this peer's clock. It reports whether the share is new here.
func (r *rel) acceptShare(m wire.ShareMsg, from string) (bool, error) {
	if reason := r.refusedReason(); reason != "" {
		return false, fmt.Errorf("%w: %s", ErrRefused, reason)
	}
	share, err := hex.DecodeString(m.Share)
	if err != nil {
		return false, fmt.Errorf("%w: share is not hex", keys.ErrForged)
	}
	if err := keys.CheckShare(&r.rec, m.Index, share); err != nil {
		return false, err
	}
	ks, _ := r.rec.KeyServer(m.Index)
	sentAt, _ := time.Parse(time.RFC3339Nano, m.SentAt)
	sig, _ := hex.DecodeString(m.Sig)
	pub, _ := hex.DecodeString(ks.NodeKey)
	if m.NodeID != ks.NodeID {
		return false, fmt.Errorf("%w: share %d signed by node %s, not by its key server %s", keys.ErrForged, m.Index, short(m.NodeID), ks.Name)
	}
	if err := release.VerifyP256(pub, release.DomainShare, release.ShareStatement(r.rec.ID, m.Index, share, sentAt, ks.NodeID), sig); err != nil {
		return false, fmt.Errorf("%w: share %d: key server %s's signature does not verify", keys.ErrForged, m.Index, ks.Name)
	}
	now := r.p.now()
	if sentAt.Before(r.releaseAt) || now.Before(r.releaseAt.Add(-r.p.o.MaxClockSkew)) {
		note := fmt.Sprintf("share %d from %s (key server %s), stated sent at %s, arrived at %s: before the release time %s",
			m.Index, from, ks.Name, m.SentAt, now.UTC().Format(time.RFC3339Nano), r.rec.ReleaseAt)
		r.mu.Lock()
		if len(r.mu.early) < 64 {
			r.mu.early = append(r.mu.early, note)
		}
		r.mu.Unlock()
		r.p.log.Warn("refused a share sent before the release time", "rid", r.rec.ID, "index", m.Index, "from", from, "key_server", ks.Name)
		return false, fmt.Errorf("%w: %s", ErrTooEarly, note)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.mu.shares[m.Index]; ok {
		return false, nil
	}
	m.Relayed = false
	r.mu.shares[m.Index] = m
	r.mu.sharesT[m.Index] = now
	if st := r.mu.ksStates[ks.Name]; st != nil {
		st.Released = true
	}
	r.notifyLocked()
	return true, nil
}

// acceptPublished keeps a share already published on chain.
func (r *rel) acceptPublished(p release.Published) {
	_, _ = r.acceptShare(wire.ShareMsg{Index: p.Index, Share: p.Share, SentAt: p.SentAt, NodeID: p.NodeID, Sig: p.Sig}, "the chain")
}

// sharesHeld lists the indexes of the shares held, sorted.
func (r *rel) sharesHeld() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int, 0, len(r.mu.shares))
	for i := range r.mu.shares {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// predictions is this edge's report on its subscribed clients.
func (r *rel) predictions() []wire.ClientPrediction {
	now := r.p.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []wire.ClientPrediction{}
	for _, s := range r.mu.subs {
		if s.streams == 0 && now.Sub(s.lastSeen) > 3*r.p.o.PingInterval {
			continue // gone
		}
		cp := wire.ClientPrediction{Client: s.client, EdgeDecrypt: s.edgeDecrypt, RateBps: s.rate, RTTMS: float64(s.rtt) / float64(time.Millisecond)}
		if cp.RateBps == 0 {
			h := r.p.history.get(s.client)
			cp.RateBps = h.Recent()
		}
		switch {
		case s.complete:
			cp.Complete, cp.DoneAt = true, s.doneAt.UnixNano()
		case s.total > 0:
			if t := schedule.Predict(now, s.total-s.bytes, cp.RateBps); !t.IsZero() {
				cp.PredictedAt = t.UnixNano()
			}
		}
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Client < out[j].Client })
	return out
}

// status is this edge's view of the release.
func (r *rel) status() wire.EdgeStatus {
	have, total := r.st.progress()
	med, _, _ := r.p.clock.skew()
	s := wire.EdgeStatus{Edge: r.p.name(), RID: r.rec.ID, ChunksHave: have, ChunksTotal: total, SharesHeld: r.sharesHeld(),
		Subscribers: r.predictions(), ClockSkewMS: float64(med) / float64(time.Millisecond)}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.mu.refused != "":
		s.State, s.Reason = "refused", r.mu.refused
	case r.mu.fetchErr != "" && have < total:
		s.State, s.Reason = "fetching", r.mu.fetchErr
	case total == 0 || have < total:
		s.State = "fetching"
	case len(r.mu.shares) >= r.rec.Threshold:
		s.State = "released"
	default:
		s.State = "ready"
	}
	if r.mu.ksReason != "" && s.Reason == "" {
		s.Reason = r.mu.ksReason
	}
	if !r.mu.sendAt.IsZero() {
		s.SendAt = r.mu.sendAt.UnixNano()
	}
	s.RejectedChunks = r.mu.rejected
	s.Subscriptions = len(r.mu.subs)
	s.EarlyShares = append(s.EarlyShares, r.mu.early...)
	names := make([]string, 0, len(r.mu.ksStates))
	for n := range r.mu.ksStates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s.KeyServers = append(s.KeyServers, *r.mu.ksStates[n])
	}
	return s
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
