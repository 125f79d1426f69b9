package gateway

import (
	"fmt"
	"time"
)

// health remembers the recent failures of the nodes the gateway calls and
// says which to try first. It is a deterministic state machine: every
// method takes the current time; there is no goroutine, clock or I/O
// inside. Not safe for concurrent use (Gateway.mu guards the gateway's).
//
// A node is, at time now:
//   - healthy: no call to it failed since its last success (the default);
//   - backing off: its last k calls failed and now is before until, the
//     latest failure (or probe) plus backoff(k): base, doubling with every
//     consecutive failure, capped at max. Callers try it last;
//   - due: the backoff ended; the next attempt at it is a probe and it is
//     ranked like a healthy node. Handing a probe out (began) puts it back
//     in backoff for backoff(k) from then, so the calls under way do not
//     all pile onto a node that is probably still down; the probe's
//     outcome decides: success makes it healthy, failure lengthens the
//     backoff.
//
// The entries are keyed by node name; the gateway calls a fixed set of
// nodes, so the map stays bounded.
type health struct {
	base, max time.Duration
	nodes     map[string]*nodeHealth
}

type nodeHealth struct {
	// fails counts consecutive failures (>= 1; healthy nodes have no entry).
	fails int
	// last is the time of the latest failure.
	last time.Time
	// until is the end of the backoff: last + backoff(fails), or later
	// when a probe was handed out.
	until time.Time
	// reason is the latest failure's error.
	reason string
}

// standing is a node's place in the order of attempts.
type standing uint8

const (
	healthy standing = iota
	due
	backingOff
)

func (s standing) String() string {
	return [...]string{"healthy", "due", "backing off"}[s]
}

func newHealth(base, max time.Duration) *health {
	return &health{base: base, max: max, nodes: map[string]*nodeHealth{}}
}

// backoff is how long a node with fails consecutive failures is tried last.
func (h *health) backoff(fails int) time.Duration {
	d := h.base
	for i := 1; i < fails && d < h.max; i++ {
		d *= 2
	}
	return min(d, h.max)
}

// standing reports where node stands at now.
func (h *health) standing(node string, now time.Time) standing {
	e := h.nodes[node]
	switch {
	case e == nil:
		return healthy
	case now.Before(e.until):
		return backingOff
	}
	return due
}

// began records that an attempt at node starts at now. If node is due,
// this attempt is its probe: the node backs off again until the probe's
// outcome is known or another backoff period passed.
func (h *health) began(node string, now time.Time) {
	if e := h.nodes[node]; e != nil && !now.Before(e.until) {
		e.until = now.Add(h.backoff(e.fails))
	}
}

// succeeded records that node answered: it is healthy again.
func (h *health) succeeded(node string) {
	delete(h.nodes, node)
}

// failed records that a call to node failed at now for reason.
func (h *health) failed(node string, now time.Time, reason string) {
	e := h.nodes[node]
	if e == nil {
		e = &nodeHealth{}
		h.nodes[node] = e
	}
	e.fails++
	e.last = now
	e.reason = reason
	e.until = later(e.until, now.Add(h.backoff(e.fails)))
}

// describe says why node is tried late at now ("" if healthy), for errors
// and logs: "failed 3 times, last 2.1s ago: <reason>".
func (h *health) describe(node string, now time.Time) string {
	e := h.nodes[node]
	if e == nil {
		return ""
	}
	times := "once"
	if e.fails > 1 {
		times = fmt.Sprintf("%d times", e.fails)
	}
	return fmt.Sprintf("failed %s, last %s ago: %s", times, roundDuration(now.Sub(e.last)), e.reason)
}

// checkInvariants reports the first broken invariant (tests call it after
// every step).
func (h *health) checkInvariants() error {
	for n, e := range h.nodes {
		if e.fails < 1 {
			return fmt.Errorf("%s: entry with %d failures", n, e.fails)
		}
		if b := h.backoff(e.fails); b > h.max || b < min(h.base, h.max) {
			return fmt.Errorf("%s: backoff %s outside [%s, %s]", n, b, h.base, h.max)
		}
		if e.until.Before(e.last.Add(h.backoff(e.fails))) {
			return fmt.Errorf("%s: backoff ends at %s, before the latest failure %s plus %s", n, e.until, e.last, h.backoff(e.fails))
		}
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// roundDuration rounds d for messages: to 10ms below a second, else to 100ms.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
