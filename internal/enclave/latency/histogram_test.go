package latency

import (
	"sort"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	for _, d := range []time.Duration{0, 500 * time.Nanosecond, time.Microsecond, 3 * time.Microsecond,
		7 * time.Microsecond, 9 * time.Microsecond, 17 * time.Microsecond, 100 * time.Microsecond,
		time.Millisecond, 1234567 * time.Nanosecond, time.Second, 100 * time.Second} {
		i := bucket(d)
		if d >= time.Microsecond && (d < lowerBound(i) || d >= UpperBound(i)) {
			t.Errorf("%v in bucket %d [%v, %v)", d, i, lowerBound(i), UpperBound(i))
		}
	}
	for i := 1; i < NumBuckets; i++ {
		if lowerBound(i) != UpperBound(i-1) {
			t.Fatalf("bucket %d starts at %v, previous ends at %v", i, lowerBound(i), UpperBound(i-1))
		}
	}
	if bucket(1000*time.Hour) != NumBuckets-1 {
		t.Error("huge duration not in the last bucket")
	}
}

// TestQuantileAgainstSort checks the estimates against exact quantiles.
func TestQuantileAgainstSort(t *testing.T) {
	var h Histogram
	var all []time.Duration
	x := uint64(12345)
	for i := 0; i < 20000; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		d := time.Duration(x%5000000) * time.Nanosecond // up to 5ms
		h.Record(d)
		all = append(all, d)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	s := h.Snapshot()
	if s.Count() != uint64(len(all)) {
		t.Fatalf("count %d", s.Count())
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		exact := all[int(q*float64(len(all)))-1]
		got := s.Quantile(q)
		if diff := float64(got-exact) / float64(exact); diff > 0.13 || diff < -0.13 {
			t.Errorf("q%.2f: %v, exact %v", q, got, exact)
		}
	}
	var empty Snapshot
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("empty snapshot")
	}
	c := s.Cumulative()
	if len(c) != Octaves || c[UpperBound(NumBuckets-1).Seconds()] != s.Count() {
		t.Errorf("cumulative: %d bounds", len(c))
	}
	d := s.Sub(&empty)
	if d.Count() != s.Count() {
		t.Error("sub")
	}
}
