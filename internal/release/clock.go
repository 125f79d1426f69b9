package release

import (
	"context"
	"sync"
	"time"

	"github.com/folio-ledger/folio/internal/release/schedule"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// clocks compares this peer's clock with the other peers' (an NTP-style
// exchange over protocol "keys", op "clock") every ClockInterval, and on
// demand before a key server acts. mu guards offsets and at.
type clocks struct {
	p  *env
	mu struct {
		sync.Mutex
		// offsets: peer name -> its last measured offset (peer - us).
		// A peer that does not answer keeps its last sample until it is
		// older than maxAge.
		offsets map[string]offsetSample
		at      time.Time // last measurement
	}
}

// offsetSample is one peer's measured offset and when it was measured
// (by the local monotonic clock).
type offsetSample struct {
	off time.Duration
	at  time.Time
}

func newClocks(p *env) *clocks {
	c := &clocks{p: p}
	c.mu.offsets = map[string]offsetSample{}
	return c
}

// maxAge is how long a peer's offset sample counts.
func (c *clocks) maxAge() time.Duration { return max(4*c.p.o.ClockInterval, 30*time.Second) }

func (c *clocks) run(ctx context.Context) {
	t := time.NewTicker(c.p.o.ClockInterval)
	defer t.Stop()
	for {
		c.measure(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// measure compares clocks with every other peer (a few exchanges each).
func (c *clocks) measure(ctx context.Context) { c.measureWithin(ctx, 2*time.Second) }

// measureWithin is measure with a bound on the exchanges with each peer.
func (c *clocks) measureWithin(ctx context.Context, timeout time.Duration) {
	var wg sync.WaitGroup
	res := map[string]time.Duration{}
	var mu sync.Mutex
	for _, x := range c.p.peers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			// NTP style: of a few exchanges keep the one with the shortest
			// round trip, and count only the part of the offset that its
			// uncertainty (half the round trip) cannot explain, so that a
			// loaded machine's slow answers do not look like a skewed clock.
			best, bestRTT := time.Duration(0), time.Duration(-1)
			for k := 0; k < 3 && cctx.Err() == nil; k++ {
				t0 := c.p.now()
				raw, err := c.p.call(cctx, x.NodeID, wire.ProtoKeys, wire.Encode(wire.KeysRequest{Op: wire.OpClock, T0: t0.UnixNano()}))
				t3 := c.p.now()
				if err != nil {
					break
				}
				var rep wire.ClockReply
				if wire.Decode(raw, &rep) != nil {
					break
				}
				off, rtt := schedule.Offset(t0, time.Unix(0, rep.T1), t3)
				if bestRTT < 0 || rtt < bestRTT {
					best, bestRTT = off, rtt
				}
			}
			if bestRTT < 0 || bestRTT > time.Second {
				return // nothing, or too noisy to judge
			}
			mu.Lock()
			res[x.Name] = schedule.Certain(best, bestRTT)
			mu.Unlock()
		}()
	}
	wg.Wait()
	now := time.Now()
	c.mu.Lock()
	for name, off := range res {
		c.mu.offsets[name] = offsetSample{off: off, at: now}
	}
	for name, s := range c.mu.offsets {
		if now.Sub(s.at) > c.maxAge() {
			delete(c.mu.offsets, name)
		}
	}
	c.mu.at = c.p.now()
	c.mu.Unlock()
}

// skew returns the median offset of the nodes (this one included, at 0)
// relative to this node, whether it is within the bound, and whether any
// peer's clock could be measured recently (ok is true when none could:
// callers that must not act on an unchecked clock test known). Counting
// itself, a node is off when it disagrees with the majority: one skewed
// peer among three does not make the other two refuse to act.
func (c *clocks) skew() (median time.Duration, ok, known bool) {
	now := time.Now()
	c.mu.Lock()
	offs := make([]time.Duration, 0, len(c.mu.offsets)+1)
	for _, o := range c.mu.offsets {
		if now.Sub(o.at) <= c.maxAge() {
			offs = append(offs, o.off)
		}
	}
	c.mu.Unlock()
	if len(offs) > 0 {
		offs = append(offs, 0)
	}
	return schedule.Skew(offs, c.p.o.MaxClockSkew)
}

// fresh makes sure the offsets are at most maxAge old, measuring with a
// short timeout if they are not (peers that do not answer quickly keep
// their last sample rather than delaying a key release).
func (c *clocks) fresh(ctx context.Context, maxAge time.Duration) {
	c.mu.Lock()
	age := c.p.now().Sub(c.mu.at)
	c.mu.Unlock()
	if age <= maxAge {
		return
	}
	c.measureWithin(ctx, time.Second)
}
