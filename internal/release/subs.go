package release

import (
	"fmt"
	"time"
)

// subscription is one client subscribed at an edge. Owned by its
// subTable; read and written only under the lock of the edge holding the
// table.
type subscription struct {
	client string
	caller string // label of the identity that created it
	// session is the fetch holding the name: a subscribe of another
	// session while this one is live is a clash (edge.subscribe).
	session     string
	edgeDecrypt bool
	naive       bool
	// bytes of total ciphertext held, as the client last said.
	bytes, total int64
	complete     bool
	doneAt       time.Time
	// rate is the client's last reported rate (bits/s: its word, for the
	// key servers' predictions only), rtt its probed round trip.
	rate float64
	rtt  time.Duration
	// probes the edge sent this client for timing and not yet
	// acknowledged, by ID; acked the last acknowledged ones with how long
	// each took, from its first byte leaving to the acknowledgement
	// arriving; measured is the rate (bits/s) they show (measuredRate). A
	// trusted edge paces plaintext by measured alone.
	probes    map[int64]probeSent
	nextProbe int64
	acked     []probeDone
	measured  float64
	// pings sent and not yet answered, by ID, with when they left.
	pings    map[int64]time.Time
	nextPing int64
	// streams and plain count the open subscribe streams and plaintext
	// requests: a subscription with either open never expires.
	streams, plain int
	lastSeen       time.Time
}

// probeSent is a timed probe: its size and when its first byte left.
type probeSent struct {
	bytes int64
	at    time.Time
}

// probeDone is an acknowledged probe: its size and how long it took.
type probeDone struct {
	bytes int64
	took  time.Duration
}

// measuredRate is the rate (bits/s) acknowledged probes show: the
// largest probe's size over its time, or, when a smaller probe took less
// time, the difference of the two largest sizes over the difference of
// their times, if that is lower. The difference cancels what both
// probes pay alike (the round trip, and a shaper's burst allowance,
// which lets a small probe's first kilobytes through at line rate: 3 KB
// of a 16 KiB probe on a 70 kbit/s link made it look 12% faster, enough
// for a 20-minute paced send to arrive minutes late). A client can make
// either figure lower than its link, never higher: the bytes must
// arrive before it can acknowledge them. 0 without a probe.
func measuredRate(done []probeDone) float64 {
	var big, small *probeDone
	for i := range done {
		d := &done[i]
		if big == nil || d.bytes >= big.bytes {
			big = d
		}
	}
	if big == nil {
		return 0
	}
	for i := range done {
		d := &done[i]
		if d.bytes < big.bytes && (small == nil || d.bytes >= small.bytes) {
			small = d
		}
	}
	rate := float64(big.bytes*8) / max(big.took, time.Microsecond).Seconds()
	if small != nil && big.took > small.took {
		rate = min(rate, float64((big.bytes-small.bytes)*8)/(big.took-small.took).Seconds())
	}
	return rate
}

// idle: no subscribe stream and no plaintext request is open.
func (s *subscription) idle() bool { return s.streams == 0 && s.plain == 0 }

// maxPendingPings: only the most recent pings are answered.
const maxPendingPings = 8

// maxPendingProbes: only the most recent timed probes are acknowledged,
// and the most recent acknowledged ones count.
const maxPendingProbes = 8

// subTable is an edge's subscriptions to one release, bounded per caller
// and in all, with idle ones expiring: a deterministic core (no clock, no
// lock, no I/O; the caller passes the time). Not safe for concurrent use.
type subTable struct {
	// maxPerCaller, max and ttl are the limits (PeerOptions:
	// MaxSubscriptionsPerClient, MaxSubscriptions, SubscriptionTTL).
	maxPerCaller, max int
	ttl               time.Duration
	// subs by client name; byCaller counts them per caller label.
	subs     map[string]*subscription
	byCaller map[string]int
	// pruneAt is no later than the earliest time an idle subscription
	// expires; zero when none is idle.
	pruneAt time.Time
}

func newSubTable(maxPerCaller, max int, ttl time.Duration) subTable {
	return subTable{maxPerCaller: maxPerCaller, max: max, ttl: ttl, subs: map[string]*subscription{}, byCaller: map[string]int{}}
}

// open opens a subscribe stream of client's subscription at now, making
// the subscription for caller if it has none and the limits allow:
// re-subscribing under a name held always succeeds (it is the same
// subscription). At a limit it first deletes the subscriptions that
// expired, so a client that went away frees its slot; still at it, it
// returns the limit reached (what names the release and edge in the
// refusal). The stream ends with closeStream.
func (t *subTable) open(caller, client string, now time.Time, what func() (rid, edge string)) (*subscription, *LimitError) {
	if s := t.subs[client]; s != nil {
		s.streams++
		s.lastSeen = now
		return s, nil
	}
	if t.byCaller[caller] >= t.maxPerCaller || len(t.subs) >= t.max {
		t.prune(now)
	}
	if n := t.byCaller[caller]; n >= t.maxPerCaller {
		rid, edge := what()
		return nil, &LimitError{Setting: LimitSubscriptionsPerClient,
			Detail: fmt.Sprintf("%s already has %d subscriptions to release %s on %s", caller, n, rid, edge)}
	}
	if n := len(t.subs); n >= t.max {
		rid, edge := what()
		return nil, &LimitError{Setting: LimitSubscriptions,
			Detail: fmt.Sprintf("release %s already has %d subscriptions on %s", rid, n, edge)}
	}
	s := &subscription{client: client, caller: caller, pings: map[int64]time.Time{}, probes: map[int64]probeSent{}, streams: 1, lastSeen: now}
	t.subs[client] = s
	t.byCaller[caller]++
	return s, nil
}

// closeStream ends a stream opened by open at now.
func (t *subTable) closeStream(s *subscription, now time.Time) {
	s.streams--
	t.leave(s, now)
}

// beginPlain marks an open plaintext request of s (it keeps s from
// expiring); it ends with endPlain.
func (t *subTable) beginPlain(s *subscription) { s.plain++ }

// endPlain ends a plaintext request at now.
func (t *subTable) endPlain(s *subscription, now time.Time) {
	s.plain--
	t.leave(s, now)
}

// leave notes the end of an open stream or plaintext request of s at now;
// when none is left open, s expires ttl later.
func (t *subTable) leave(s *subscription, now time.Time) {
	s.lastSeen = now
	if !s.idle() {
		return
	}
	if exp := now.Add(t.ttl); t.pruneAt.IsZero() || exp.Before(t.pruneAt) {
		t.pruneAt = exp
	}
}

// prune deletes the subscriptions idle for ttl at now and returns how
// many. It costs nothing before pruneAt, so refusals at a limit stay
// cheap.
func (t *subTable) prune(now time.Time) int {
	if t.pruneAt.IsZero() || now.Before(t.pruneAt) {
		return 0
	}
	var next time.Time
	n := 0
	for name, s := range t.subs {
		if !s.idle() {
			continue
		}
		exp := s.lastSeen.Add(t.ttl)
		if now.Before(exp) {
			if next.IsZero() || exp.Before(next) {
				next = exp
			}
			continue
		}
		delete(t.subs, name)
		if t.byCaller[s.caller]--; t.byCaller[s.caller] <= 0 {
			delete(t.byCaller, s.caller)
		}
		n++
	}
	t.pruneAt = next
	return n
}

// ping records a ping sent to s at now and returns its ID; only the
// last maxPendingPings are remembered.
func (t *subTable) ping(s *subscription, now time.Time) int64 {
	s.nextPing++
	s.pings[s.nextPing] = now
	delete(s.pings, s.nextPing-maxPendingPings)
	return s.nextPing
}

// pong records the answer to ping id at now and returns the round trip
// (0 for a ping not sent, too old or answered before).
func (t *subTable) pong(s *subscription, id int64, now time.Time) time.Duration {
	at, ok := s.pings[id]
	if !ok {
		return 0
	}
	delete(s.pings, id)
	s.rtt = now.Sub(at)
	return s.rtt
}

// probeStart records a timed probe of bytes to s whose first byte leaves
// at now and returns its ID; only the last maxPendingProbes are
// remembered.
func (t *subTable) probeStart(s *subscription, bytes int64, now time.Time) int64 {
	s.nextProbe++
	s.probes[s.nextProbe] = probeSent{bytes: bytes, at: now}
	delete(s.probes, s.nextProbe-maxPendingProbes)
	return s.nextProbe
}

// probeAck records the client's acknowledgement of probe id at now and
// updates s.measured (measuredRate); false for a probe not sent, too old
// or acknowledged before.
func (t *subTable) probeAck(s *subscription, id int64, now time.Time) bool {
	p, ok := s.probes[id]
	if !ok {
		return false
	}
	delete(s.probes, id)
	s.acked = append(s.acked, probeDone{bytes: p.bytes, took: now.Sub(p.at)})
	if len(s.acked) > maxPendingProbes {
		s.acked = s.acked[1:]
	}
	s.measured = measuredRate(s.acked)
	return true
}

// takeOver gives the name of an idle subscription s to a new fetch
// (session): what the edge measured of the previous one's connection no
// longer holds.
func (t *subTable) takeOver(s *subscription, session string) {
	s.session = session
	clear(s.probes)
	s.acked, s.measured = nil, 0
}

// checkInvariants verifies the table (tests call it after every step).
func (t *subTable) checkInvariants() error {
	counts := map[string]int{}
	for name, s := range t.subs {
		if s.client != name {
			return fmt.Errorf("subscription %q filed under %q", s.client, name)
		}
		if s.streams < 0 || s.plain < 0 {
			return fmt.Errorf("%s: %d streams, %d plaintext requests", name, s.streams, s.plain)
		}
		if len(s.pings) > maxPendingPings {
			return fmt.Errorf("%s: %d pings pending", name, len(s.pings))
		}
		if len(s.probes) > maxPendingProbes || len(s.acked) > maxPendingProbes {
			return fmt.Errorf("%s: %d probes pending", name, len(s.probes))
		}
		counts[s.caller]++
		if s.idle() && (t.pruneAt.IsZero() || t.pruneAt.After(s.lastSeen.Add(t.ttl))) {
			return fmt.Errorf("%s idle since %s but prune not due until %s", name, s.lastSeen, t.pruneAt)
		}
	}
	if len(counts) != len(t.byCaller) {
		return fmt.Errorf("byCaller has %d callers, the subscriptions %d", len(t.byCaller), len(counts))
	}
	for c, n := range counts {
		if t.byCaller[c] != n {
			return fmt.Errorf("caller %s: counted %d, holds %d", c, t.byCaller[c], n)
		}
		if n > t.maxPerCaller {
			return fmt.Errorf("caller %s holds %d subscriptions, limit %d", c, n, t.maxPerCaller)
		}
	}
	if len(t.subs) > t.max {
		return fmt.Errorf("%d subscriptions, limit %d", len(t.subs), t.max)
	}
	return nil
}
