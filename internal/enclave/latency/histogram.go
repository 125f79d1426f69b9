package latency

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

const (
	// SubBuckets splits every power of two.
	SubBuckets = 8
	// Octaves is the number of powers of two covered, from 1µs.
	Octaves = 28
	// NumBuckets is the number of buckets of a histogram.
	NumBuckets = Octaves * SubBuckets
)

// Histogram counts durations in NumBuckets buckets. The zero value is
// ready; it is safe for concurrent use (Record is lock-free).
type Histogram struct {
	counts [NumBuckets]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

// unit is an eighth of a microsecond: bucket arithmetic is done in units.
const unit = 125 * time.Nanosecond

// bucket returns the index of the bucket holding d.
func bucket(d time.Duration) int {
	u := uint64(d / unit)
	if u < SubBuckets {
		return 0
	}
	oct := bits.Len64(u) - 4 // 8<<oct <= u < 16<<oct
	if oct >= Octaves {
		return NumBuckets - 1
	}
	sub := (u - SubBuckets<<oct) >> oct
	return oct*SubBuckets + int(sub)
}

// UpperBound returns the exclusive upper bound of bucket i.
func UpperBound(i int) time.Duration {
	oct, sub := i/SubBuckets, i%SubBuckets
	return time.Duration((SubBuckets+sub+1)<<oct) * unit
}

// lowerBound returns the inclusive lower bound of bucket i.
func lowerBound(i int) time.Duration {
	if i == 0 {
		return 0
	}
	oct, sub := i/SubBuckets, i%SubBuckets
	return time.Duration((SubBuckets+sub)<<oct) * unit
}

// Record adds one observation.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucket(d)].Add(1)
	h.sum.Add(int64(d))
}

// Since records the time elapsed since start.
func (h *Histogram) Since(start time.Time) { h.Record(time.Since(start)) }

// Snapshot returns the current counts. Concurrent Records may or may not
// be included.
func (h *Histogram) Snapshot() Snapshot {
	var s Snapshot
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}

// Reset zeroes the histogram (not atomically with concurrent Records).
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.sum.Store(0)
}

// Snapshot is a copy of a histogram's counts.
type Snapshot struct {
	Counts [NumBuckets]uint64
	Sum    time.Duration
}

// Count returns the number of observations.
func (s *Snapshot) Count() uint64 {
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// Add adds o's counts into s.
func (s *Snapshot) Add(o *Snapshot) {
	for i := range s.Counts {
		s.Counts[i] += o.Counts[i]
	}
	s.Sum += o.Sum
}

// Sub returns s minus an earlier snapshot of the same histogram.
func (s *Snapshot) Sub(earlier *Snapshot) Snapshot {
	var d Snapshot
	for i := range s.Counts {
		if s.Counts[i] >= earlier.Counts[i] {
			d.Counts[i] = s.Counts[i] - earlier.Counts[i]
		}
	}
	d.Sum = s.Sum - earlier.Sum
	return d
}

// Mean returns the average observation, 0 if there is none.
func (s *Snapshot) Mean() time.Duration {
	n := s.Count()
	if n == 0 {
		return 0
	}
	return s.Sum / time.Duration(n)
}

// Quantile estimates the q-quantile (0 <= q <= 1) by linear interpolation
// inside the bucket that holds it; 0 if there are no observations.
func (s *Snapshot) Quantile(q float64) time.Duration {
	n := s.Count()
	if n == 0 {
		return 0
	}
	q = math.Max(0, math.Min(1, q))
	rank := q * float64(n)
	var seen float64
	for i, c := range s.Counts {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			lo, hi := lowerBound(i), UpperBound(i)
			frac := (rank - seen) / float64(c)
			return lo + time.Duration(frac*float64(hi-lo))
		}
		seen += float64(c)
	}
	return UpperBound(NumBuckets - 1)
}

// Summary is a JSON-friendly digest of a snapshot, in microseconds.
type Summary struct {
	Count  uint64  `json:"count"`
	MeanUS float64 `json:"mean_us"`
	P50US  float64 `json:"p50_us"`
	P99US  float64 `json:"p99_us"`
}

// Summary digests the snapshot.
func (s *Snapshot) Summary() Summary {
	us := func(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)*10) / 10 }
	return Summary{Count: s.Count(), MeanUS: us(s.Mean()), P50US: us(s.Quantile(0.5)), P99US: us(s.Quantile(0.99))}
}

// Cumulative returns, for every power of two from 1µs (every SubBuckets
// buckets), the upper bound in seconds and the number of observations
// below it: the buckets of a Prometheus histogram.
func (s *Snapshot) Cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, Octaves)
	var acc uint64
	for i, c := range s.Counts {
		acc += c
		if i%SubBuckets == SubBuckets-1 {
			out[UpperBound(i).Seconds()] = acc
		}
	}
	return out
}
