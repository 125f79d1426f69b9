package index

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/folio-ledger/folio/internal/explorer"
	"github.com/folio-ledger/folio/internal/kv"
)

// RateHorizon is how far back Rates and Latency can look: the ring holds
// one slot per second of the last hour, 3,600 slots whatever the load.
const RateHorizon = time.Hour

const ringSlots = int64(RateHorizon / time.Second)

// Commit latencies are counted in a log-linear histogram of milliseconds:
// exact below LatencyExactMs, then latSub buckets per power of two (each
// at most 1/latSub = 3.1% wide, reported at its middle, so within 1.6%).
// Latencies from LatencyMaxMs on (4.6 hours) share the last bucket. A
// slot keeps only the buckets it uses, so a second of similar latencies
// costs a few bytes however many transactions it holds, and at most
// latBuckets entries whatever they are.
const (
	latSub = 32
	// LatencyExactMs: latencies below it are reported exactly.
	LatencyExactMs = 2 * latSub
	// LatencyMaxMs: latencies from it on are reported as it.
	LatencyMaxMs = 1 << 24
	latBuckets   = LatencyExactMs + (24-6)*latSub
)

// latBucket is the bucket of a latency of ms milliseconds.
func latBucket(ms int64) uint16 {
	switch {
	case ms < 0:
		return 0 // clocks disagree: the proposal looks younger than its block
	case ms < LatencyExactMs:
		return uint16(ms)
	case ms >= LatencyMaxMs:
		return latBuckets - 1
	}
	k := bits.Len64(uint64(ms)) - 1 // 6..23
	sub := (ms >> (k - 5)) - latSub // 0..31
	return uint16(LatencyExactMs + (k-6)*latSub + int(sub))
}

// latValue is the latency a bucket reports: its middle.
func latValue(b uint16) float64 {
	if b < LatencyExactMs {
		return float64(b)
	}
	if b == latBuckets-1 {
		return LatencyMaxMs
	}
	i := int(b) - LatencyExactMs
	k, sub := i/latSub+6, int64(i%latSub)
	lower, width := (latSub+sub)<<(k-5), int64(1)<<(k-5)
	return float64(lower) + float64(width-1)/2
}

// bucketCount is one used bucket of a sparse histogram.
type bucketCount struct {
	b uint16
	n uint32
}

// hist is a sparse latency histogram, sorted by bucket.
type hist []bucketCount

func (h *hist) add(b uint16, n uint32) {
	i, found := slices.BinarySearchFunc(*h, b, func(e bucketCount, b uint16) int { return int(e.b) - int(b) })
	if found {
		(*h)[i].n = satAdd((*h)[i].n, n)
		return
	}
	*h = slices.Insert(*h, i, bucketCount{b, n})
}

func satAdd(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint32
}

// percentiles returns the nearest-rank p50, p95 and p99, the largest
// latency and the number of latencies counted in h.
func percentiles(h hist) (p50, p95, p99, most float64, total uint64) {
	for _, e := range h {
		total += uint64(e.n)
	}
	if total == 0 {
		return 0, 0, 0, 0, 0
	}
	var out [3]float64
	ranks := [3]uint64{rank(total, 50), rank(total, 95), rank(total, 99)}
	var seen uint64
	j := 0
	for _, e := range h {
		seen += uint64(e.n)
		for j < len(ranks) && seen >= ranks[j] {
			out[j] = latValue(e.b)
			j++
		}
	}
	return out[0], out[1], out[2], latValue(h[len(h)-1].b), total
}

// rank is the nearest rank of percentile p among n values: the smallest
// value with at least p% of them at or below it.
func rank(n uint64, p uint64) uint64 {
	return max(1, (n*p+99)/100)
}

// blockLatency is what one block adds to the ring, as the 'l' record
// keeps it for the rebuild after a restart.
type blockLatency struct {
	at             time.Time
	valid, invalid int
	lat            hist
}

func (b *blockLatency) encode() []byte {
	out := binary.AppendVarint(nil, b.at.UnixNano())
	out = binary.AppendUvarint(out, uint64(b.valid))
	out = binary.AppendUvarint(out, uint64(b.invalid))
	for _, e := range b.lat {
		out = binary.AppendUvarint(out, uint64(e.b))
		out = binary.AppendUvarint(out, uint64(e.n))
	}
	return out
}

var errLatencyRecord = errors.New("malformed latency record")

func decodeBlockLatency(raw []byte) (blockLatency, error) {
	var b blockLatency
	at, n := binary.Varint(raw)
	if n <= 0 {
		return b, errLatencyRecord
	}
	raw = raw[n:]
	var u [2]uint64
	for i := range u {
		if u[i], n = binary.Uvarint(raw); n <= 0 || u[i] > math.MaxInt32 {
			return b, errLatencyRecord
		}
		raw = raw[n:]
	}
	b.at, b.valid, b.invalid = time.Unix(0, at), int(u[0]), int(u[1])
	for len(raw) > 0 {
		bk, n := binary.Uvarint(raw)
		if n <= 0 || bk >= latBuckets {
			return b, errLatencyRecord
		}
		raw = raw[n:]
		c, n := binary.Uvarint(raw)
		if n <= 0 || c > math.MaxUint32 {
			return b, errLatencyRecord
		}
		raw = raw[n:]
		b.lat.add(uint16(bk), uint32(c))
	}
	return b, nil
}

// rates counts transactions and their commit latencies per second of
// block time in a ring of ringSlots seconds. Guarded by Index.mu.
type rates struct {
	slot [ringSlots]struct {
		at             int64 // Unix second the counts belong to
		valid, invalid int
		lat            hist // reused when the slot moves on
	}
	// rebuildBelow: blocks below it were indexed before this process
	// started; the first Rates or Latency call folds the last hour of them
	// in once (rebuilt).
	rebuildBelow uint64
	rebuilt      bool
}

func (r *rates) add(b *blockLatency) {
	sec := b.at.Unix()
	s := &r.slot[((sec%ringSlots)+ringSlots)%ringSlots]
	switch {
	case s.at == sec:
	case s.at > sec:
		return // the slot holds a newer second: this one left the ring
	default:
		s.at, s.valid, s.invalid, s.lat = sec, 0, 0, s.lat[:0]
	}
	s.valid += b.valid
	s.invalid += b.invalid
	for _, e := range b.lat {
		s.lat.add(e.b, e.n)
	}
}

func clampWindow(window time.Duration) time.Duration {
	if window <= 0 {
		window = 5 * time.Minute
	}
	return min(window, RateHorizon)
}

// Rates returns one point per second of the last window (at most
// RateHorizon; 0 means 5 minutes), oldest first, by block time, with the
// latency percentiles of each second (see LatencyExactMs for precision).
func (ix *Index) Rates(window time.Duration) []explorer.Rate {
	window = clampWindow(window)
	ix.rebuildRates()
	now := ix.opts.Now().Unix()
	n := int64(window / time.Second)
	out := make([]explorer.Rate, 0, n)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for sec := now - n + 1; sec <= now; sec++ {
		p := explorer.Rate{At: time.Unix(sec, 0).UTC()}
		if s := &ix.mu.rates.slot[((sec%ringSlots)+ringSlots)%ringSlots]; s.at == sec {
			p.Valid, p.Invalid = s.valid, s.invalid
			p.P50, p.P95, p.P99, _, _ = percentiles(s.lat)
		}
		out = append(out, p)
	}
	return out
}

// Latency returns the commit latency of the transactions committed in the
// last window (at most RateHorizon; 0 means 5 minutes) by block time.
func (ix *Index) Latency(window time.Duration) explorer.Latency {
	window = clampWindow(window)
	ix.rebuildRates()
	now := ix.opts.Now().Unix()
	var dense [latBuckets]uint64
	ix.mu.Lock()
	for sec := now - int64(window/time.Second) + 1; sec <= now; sec++ {
		if s := &ix.mu.rates.slot[((sec%ringSlots)+ringSlots)%ringSlots]; s.at == sec {
			for _, e := range s.lat {
				dense[e.b] += uint64(e.n)
			}
		}
	}
	ix.mu.Unlock()
	var h hist
	for b, n := range dense {
		if n > 0 {
			h = append(h, bucketCount{uint16(b), uint32(min(n, math.MaxUint32))})
		}
	}
	l := explorer.Latency{Window: window}
	var total uint64
	l.P50, l.P95, l.P99, l.Max, total = percentiles(h)
	l.Count = int(min(total, math.MaxInt32))
	return l
}

// rebuildRates folds the blocks of the last hour indexed before this
// process started into the ring, once, reading their latency records
// newest first until one is older than the horizon.
func (ix *Index) rebuildRates() {
	ix.mu.Lock()
	if ix.mu.rates.rebuilt || ix.mu.closed {
		ix.mu.Unlock()
		return
	}
	ix.mu.rates.rebuilt = true
	below := ix.mu.rates.rebuildBelow
	ix.mu.Unlock()
	if below == 0 {
		return
	}
	since := ix.opts.Now().Add(-RateHorizon)
	it, err := ix.st.NewIter(&kv.IterOptions{Lower: []byte{pLatency}, Upper: latencyKey(below)})
	if err != nil {
		return // the series starts empty; nothing else depends on it
	}
	defer it.Close()
	var pts []blockLatency
	for ok := it.Last(); ok; ok = it.Prev() {
		b, err := decodeBlockLatency(it.Value())
		if err != nil {
			ix.opts.Logger.Warn("explorer index: skipping a malformed latency record", "key", it.Key())
			continue
		}
		if b.at.Before(since) {
			break
		}
		pts = append(pts, b)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for i := range pts {
		ix.mu.rates.add(&pts[i])
	}
}
