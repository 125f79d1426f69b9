package schedule

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Params describe a release for Decide.
type Params struct {
	ReleaseAt, EndAt time.Time
	// ReadyFraction of the subscribed clients must be ready before the key
	// is sent later than T ("nearly all"). Default 1 (all).
	ReadyFraction float64
	// KeyBytes is what a key delivery puts on a client's link (the share
	// events of a threshold of key servers with framing). Default 1500.
	KeyBytes int64
	// Margin is added to the key delivery time. Default 100ms.
	Margin time.Duration
}

func (p *Params) ensureDefaults() {
	if p.ReadyFraction <= 0 || p.ReadyFraction > 1 {
		p.ReadyFraction = 1
	}
	if p.KeyBytes <= 0 {
		p.KeyBytes = 1500
	}
	if p.Margin <= 0 {
		p.Margin = 100 * time.Millisecond
	}
}

// Client is what the key servers know of one subscribed client.
type Client struct {
	Name string
	// Complete: the client holds the whole ciphertext since DoneAt.
	Complete bool
	DoneAt   time.Time
	// PredictedAt is when it will be complete; zero if unknown.
	PredictedAt time.Time
	// RateBps is the client's recent rate; RTT its round trip to its edge.
	RateBps float64
	RTT     time.Duration
}

// readyAt is when the client has (or will have) the ciphertext; the zero
// time and false if unknown.
func (c Client) readyAt() (time.Time, bool) {
	if c.Complete {
		return c.DoneAt, true
	}
	if c.PredictedAt.IsZero() {
		return time.Time{}, false
	}
	return c.PredictedAt, true
}

// Decision is a key server's proposal.
type Decision struct {
	SendAt time.Time
	// Latest is E - KeyDelivery (never before T).
	Latest      time.Time
	KeyDelivery time.Duration
	// Ready clients will have the ciphertext by SendAt, of Total.
	Ready, Total int
	// Reason explains the choice in words.
	Reason string
}

// KeyDelivery is the time the key needs to reach the slowest of the
// clients: half its round trip plus KeyBytes at its rate, plus the margin.
// A client without a known rate does not count.
func KeyDelivery(p Params, clients []Client) time.Duration {
	p.ensureDefaults()
	var worst time.Duration
	for _, c := range clients {
		if c.RateBps <= 0 {
			continue
		}
		d := c.RTT/2 + time.Duration(float64(p.KeyBytes*8)/c.RateBps*float64(time.Second))
		worst = max(worst, d)
	}
	return worst + p.Margin
}

// Decide proposes the key send time (package doc).
func Decide(p Params, clients []Client) Decision {
	p.ensureDefaults()
	d := Decision{KeyDelivery: KeyDelivery(p, clients), Total: len(clients)}
	d.Latest = p.EndAt.Add(-d.KeyDelivery)
	if d.Latest.Before(p.ReleaseAt) {
		d.Latest = p.ReleaseAt
	}
	times := make([]time.Time, 0, len(clients))
	unknown := 0
	for _, c := range clients {
		if t, ok := c.readyAt(); ok {
			times = append(times, t)
		} else {
			unknown++
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	// Clients without any estimate yet (just subscribed, nothing measured)
	// do not hold the key back: nothing says when they would be ready.
	need := int(math.Ceil(p.ReadyFraction * float64(len(times))))
	target := p.ReleaseAt
	if need > 0 {
		target = times[need-1]
	}
	switch {
	case !target.After(p.ReleaseAt):
		d.SendAt = p.ReleaseAt
	case target.After(d.Latest):
		d.SendAt = d.Latest
	default:
		d.SendAt = target
	}
	for _, t := range times {
		if !t.After(d.SendAt) {
			d.Ready++
		}
	}
	switch {
	case len(clients) == 0:
		d.Reason = "no subscribed client: send at the release time"
	case d.SendAt.Equal(p.ReleaseAt) && d.Ready == d.Total:
		d.Reason = fmt.Sprintf("all %d clients have the ciphertext by the release time", d.Total)
	case d.SendAt.Equal(p.ReleaseAt) && d.Ready+unknown == d.Total:
		d.Reason = fmt.Sprintf("%d of %d clients have the ciphertext by the release time (%d without an estimate yet)", d.Ready, d.Total, unknown)
	case d.SendAt.Equal(p.ReleaseAt):
		d.Reason = fmt.Sprintf("%d of %d clients ready by the release time (enough, or later would pass the end time)", d.Ready, d.Total)
	case d.SendAt.Equal(d.Latest) && d.Ready < d.Total:
		d.Reason = fmt.Sprintf("delayed to the end time minus the key delivery time (%s): %d of %d clients ready, %d will miss it (%d without an estimate)",
			d.KeyDelivery.Round(time.Millisecond), d.Ready, d.Total, d.Total-d.Ready-unknown, unknown)
	default:
		d.Reason = fmt.Sprintf("delayed until %d of %d clients have the ciphertext", d.Ready, d.Total)
	}
	return d
}

// Agree returns the key send time of a round: the latest of the
// proposals, never before T and never after E. Without the upper bound
// one key server proposing a far-future time (a bug, a wrong clock, or
// on purpose) would hold every key server's share, and every trusted
// edge's tail key, until then; with it the key is out by E at the latest.
func Agree(releaseAt, endAt time.Time, proposals ...time.Time) time.Time {
	out := releaseAt
	for _, p := range proposals {
		if p.After(out) {
			out = p
		}
	}
	if out.After(endAt) && !endAt.Before(releaseAt) {
		out = endAt
	}
	return out
}

// TransferTime is how long size bytes take at rateBps (bits per second).
func TransferTime(size int64, rateBps float64) time.Duration {
	if rateBps <= 0 {
		return 0
	}
	return time.Duration(float64(size*8) / rateBps * float64(time.Second))
}

// StartAt is when a trusted edge starts sending size bytes of plaintext
// to a client whose best observed rate is rateBps, so that, paced at that
// rate, the last byte arrives at target: target - size/rate - rtt/2. With
// an unknown rate it is target (the client cannot be early).
func StartAt(target time.Time, size int64, rateBps float64, rtt time.Duration) time.Time {
	if rateBps <= 0 {
		return target
	}
	return target.Add(-TransferTime(size, rateBps) - rtt/2)
}

// Pacer says when each byte of a paced send may leave: byte n (0-based
// count of bytes already sent) not before Start + n/Rate. A zero Rate
// means no pacing. The last byte therefore never leaves before
// Start + (size-1)/Rate, so a client cannot finish early by reading faster
// than it claimed.
type Pacer struct {
	Start   time.Time
	RateBps float64
}

// NotBefore is the earliest time the bytes after the first sent ones may
// be written.
func (p Pacer) NotBefore(sent int64) time.Time {
	if p.RateBps <= 0 {
		return p.Start
	}
	return p.Start.Add(TransferTime(sent, p.RateBps))
}

// Offset estimates a peer's clock offset (peer minus local) and the round
// trip from one exchange: sent at local t0, answered at peer time t1,
// received at local t3.
func Offset(t0, t1, t3 time.Time) (offset, rtt time.Duration) {
	rtt = t3.Sub(t0)
	mid := t0.Add(rtt / 2)
	return t1.Sub(mid), rtt
}

// Certain is the part of a measured offset that the measurement's
// uncertainty (half its round trip) cannot explain: the offset moved
// towards zero by rtt/2, zero if that crosses it.
func Certain(offset, rtt time.Duration) time.Duration {
	u := rtt / 2
	switch {
	case offset > u:
		return offset - u
	case offset < -u:
		return offset + u
	}
	return 0
}

// Skew summarises offsets to the peers: the median offset of the peers
// relative to this node (a positive value means the peers are ahead, i.e.
// this clock is slow) and whether its magnitude is within bound. With no
// sample, ok is true and known is false.
func Skew(offsets []time.Duration, bound time.Duration) (median time.Duration, ok, known bool) {
	if len(offsets) == 0 {
		return 0, true, false
	}
	s := append([]time.Duration(nil), offsets...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	n := len(s)
	if n%2 == 1 {
		median = s[n/2]
	} else {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	abs := median
	if abs < 0 {
		abs = -abs
	}
	return median, abs <= bound, true
}

// Sample is one observed transfer rate of a client.
type Sample struct {
	At      time.Time `json:"at"`
	RateBps float64   `json:"rate_bps"`
}

// History is a client's recent rate observations, oldest first, at most
// MaxSamples. Not safe for concurrent use.
type History struct {
	Samples []Sample `json:"samples"`
	// RTT is the last probed round trip.
	RTT time.Duration `json:"rtt"`
}

// MaxSamples bounds a history.
const MaxSamples = 32

// Add records an observation.
func (h *History) Add(s Sample) {
	if s.RateBps <= 0 {
		return
	}
	h.Samples = append(h.Samples, s)
	if len(h.Samples) > MaxSamples {
		h.Samples = append(h.Samples[:0], h.Samples[len(h.Samples)-MaxSamples:]...)
	}
}

// Best is the highest recent rate: it gives the minimum expected transfer
// time. 0 if nothing was observed.
func (h *History) Best() float64 {
	var b float64
	for _, s := range h.Samples {
		b = max(b, s.RateBps)
	}
	return b
}

// Recent is the mean of the last (up to) four observations: the rate a
// running transfer is predicted to keep.
func (h *History) Recent() float64 {
	n := min(4, len(h.Samples))
	if n == 0 {
		return 0
	}
	var sum float64
	for _, s := range h.Samples[len(h.Samples)-n:] {
		sum += s.RateBps
	}
	return sum / float64(n)
}

// Predict is when a transfer with left bytes to go completes at rateBps,
// seen at now; the zero time if the rate is unknown.
func Predict(now time.Time, left int64, rateBps float64) time.Time {
	if left <= 0 {
		return now
	}
	if rateBps <= 0 {
		return time.Time{}
	}
	return now.Add(TransferTime(left, rateBps))
}
