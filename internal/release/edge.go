package release

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/schedule"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// edge is one release's client-facing edge on this peer: its subscribed
// clients, their progress, rates and round trips, and the predictions of
// their ciphertext completion the key servers collect.
//
// Lock rules: mu guards the subscription table and every subscription in
// it; it is never held while calling out (the history and the signal are
// taken after it is released, or are leaves).
type edge struct {
	env     *env
	rec     *release.Record
	changed *signal

	mu struct {
		sync.Mutex
		t subTable
	}
}

func newEdge(e *env, rec *release.Record, changed *signal) *edge {
	ed := &edge{env: e, rec: rec, changed: changed}
	ed.mu.t = newSubTable(e.o.MaxSubscriptionsPerClient, e.o.MaxSubscriptions, e.o.SubscriptionTTL)
	return ed
}

// subscribeArgs are a subscription request's fields the edge keeps.
type subscribeArgs struct {
	client, session    string
	edgeDecrypt, naive bool
	haveBytes          int64
}

// subscribe opens a stream of caller's subscription under a.client
// (making the subscription within the limits) at now. The caller must
// call endStream when the stream ends. A name held by a live
// subscription (an open stream or plaintext request) of another session
// is refused (ErrClientNameInUse): two fetches under one name would
// share one subscription, their progress and the edge's measurements
// mixed, and one would wait for the other. A reconnect of the same
// session, or a new session once the old one is idle, takes the name.
// The error is a *LimitError at a limit.
func (ed *edge) subscribe(caller string, a subscribeArgs, now time.Time) (*subscription, error) {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	if old := ed.mu.t.subs[a.client]; old != nil && old.session != a.session && !old.idle() {
		return nil, fmt.Errorf("%w: %s already has a live subscription to release %s on %s (another fetch under this name is running): name this fetch with another --client, or wait until the other one ends",
			ErrClientNameInUse, a.client, ed.rec.ID, ed.env.name())
	}
	s, lerr := ed.mu.t.open(caller, a.client, now, func() (string, string) { return ed.rec.ID, ed.env.name() })
	if lerr != nil {
		return nil, lerr
	}
	if s.session != a.session {
		ed.mu.t.takeOver(s, a.session)
	}
	s.edgeDecrypt, s.naive = a.edgeDecrypt, a.naive
	s.bytes = max(s.bytes, a.haveBytes)
	s.total = ed.rec.CipherSize
	ed.changed.notify()
	return s, nil
}

// endStream ends a stream opened by subscribe.
func (ed *edge) endStream(s *subscription, now time.Time) {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	ed.mu.t.closeStream(s, now)
	ed.changed.notify()
}

// decryptView is what a trusted edge needs of an edge-decrypt
// subscription: measured is the rate the edge itself observed
// (bits/s; 0 before a timed probe was acknowledged), never the client's
// word.
type decryptView struct {
	client      string
	edgeDecrypt bool
	naive       bool
	measured    float64
}

func viewOf(s *subscription) decryptView {
	return decryptView{client: s.client, edgeDecrypt: s.edgeDecrypt, naive: s.naive, measured: s.measured}
}

// beginPlaintext marks an open plaintext request of client's
// subscription (it keeps the subscription from expiring); false if the
// client has no subscription. The caller must call endPlaintext.
func (ed *edge) beginPlaintext(client string) (decryptView, bool) {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	s := ed.mu.t.subs[client]
	if s == nil {
		return decryptView{}, false
	}
	ed.mu.t.beginPlain(s)
	return viewOf(s), true
}

// endPlaintext ends a request begun by beginPlaintext.
func (ed *edge) endPlaintext(client string, now time.Time) {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	if s := ed.mu.t.subs[client]; s != nil && s.plain > 0 {
		ed.mu.t.endPlain(s, now)
	}
}

// decryptClient is the current view of client's subscription.
func (ed *edge) decryptClient(client string) (decryptView, bool) {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	s := ed.mu.t.subs[client]
	if s == nil {
		return decryptView{}, false
	}
	return viewOf(s), true
}

// decryptClients lists the edge-decrypt subscriptions.
func (ed *edge) decryptClients() []decryptView {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	var out []decryptView
	for _, s := range ed.mu.t.subs {
		if s.edgeDecrypt {
			out = append(out, viewOf(s))
		}
	}
	return out
}

// ping records a ping to s at now and returns its ID.
func (ed *edge) ping(s *subscription, now time.Time) int64 {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	return ed.mu.t.ping(s, now)
}

// probe starts a timed probe of bytes to client's subscription at now
// and returns its ID; false if the client has no subscription.
func (ed *edge) probe(client string, bytes int64, now time.Time) (int64, bool) {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	s := ed.mu.t.subs[client]
	if s == nil {
		return 0, false
	}
	return ed.mu.t.probeStart(s, bytes, now), true
}

// progressArgs are a progress report's fields.
type progressArgs struct {
	client       string
	bytes, total int64
	rate         float64
	complete     bool
	pong         int64
	probeAck     int64
}

// progress records a subscribed client's progress at now; false if the
// client has no subscription. It feeds the client's rate and round trip
// to the history, and wakes the waiters when what they wait for changed
// (completion; an edge-decrypt client's rate, which moves its start):
// waking every subscriber stream on every report would cost a herd of
// wake-ups per second.
func (ed *edge) progress(p progressArgs, now time.Time) bool {
	ed.mu.Lock()
	s := ed.mu.t.subs[p.client]
	if s == nil {
		ed.mu.Unlock()
		return false
	}
	s.lastSeen = now
	if p.total > 0 {
		s.bytes, s.total = p.bytes, p.total
	}
	wake := false
	if p.rate > 0 {
		// The client's word moves no plaintext start: it only feeds the
		// key servers' predictions of ciphertext completion.
		s.rate = p.rate
	}
	if p.probeAck > 0 {
		before := s.measured
		ed.mu.t.probeAck(s, p.probeAck, now)
		wake = wake || s.edgeDecrypt && s.measured != before
	}
	if p.complete && !s.complete {
		s.complete, s.doneAt = true, now
		wake = true
	}
	var rtt time.Duration
	if p.pong > 0 {
		rtt = ed.mu.t.pong(s, p.pong, now)
	}
	ed.mu.Unlock()
	if wake {
		ed.changed.notify()
	}
	if p.rate > 0 {
		ed.env.history.addRate(p.client, now, p.rate)
	}
	if rtt > 0 {
		ed.env.history.setRTT(p.client, now, rtt)
	}
	return true
}

// predictions is this edge's report on its live subscribed clients at
// now (a client with no open stream for 3 pings is gone), by name. A
// client without a measured rate is predicted from its history.
func (ed *edge) predictions(now time.Time) []wire.ClientPrediction {
	ed.mu.Lock()
	type entry struct {
		wire.ClientPrediction
		left int64
	}
	var live []entry
	for _, s := range ed.mu.t.subs {
		if s.streams == 0 && now.Sub(s.lastSeen) > 3*ed.env.o.PingInterval {
			continue
		}
		rate := s.rate
		if s.edgeDecrypt {
			rate = s.measured // what the trusted edge paces by (status)
		}
		e := entry{ClientPrediction: wire.ClientPrediction{Client: s.client, EdgeDecrypt: s.edgeDecrypt, RateBps: rate,
			RTTMS: float64(s.rtt) / float64(time.Millisecond)}, left: -1}
		switch {
		case s.complete:
			e.Complete, e.DoneAt = true, s.doneAt.UnixNano()
		case s.total > 0:
			e.left = s.total - s.bytes
		}
		live = append(live, e)
	}
	ed.mu.Unlock()
	out := make([]wire.ClientPrediction, 0, len(live))
	for _, e := range live {
		if e.RateBps == 0 {
			h := ed.env.history.get(e.Client)
			e.RateBps = h.Recent()
		}
		if e.left >= 0 {
			if t := schedule.Predict(now, e.left, e.RateBps); !t.IsZero() {
				e.PredictedAt = t.UnixNano()
			}
		}
		out = append(out, e.ClientPrediction)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Client < out[j].Client })
	return out
}

// count is the number of subscriptions held, live and idle.
func (ed *edge) count() int {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	return len(ed.mu.t.subs)
}

// prune deletes the subscriptions expired at now; it returns how many.
func (ed *edge) prune(now time.Time) int {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	return ed.mu.t.prune(now)
}
