package index

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/explorer"
	"github.com/folio-ledger/folio/internal/kv"
)

// latencyBlock cuts a block one second after the chain's clock whose
// transactions were proposed latencies before it, the last invalid
// (MVCC) when invalidLast is set.
func latencyBlock(c *testChain, latencies []time.Duration, invalidLast bool) *foliov1.Block {
	at := c.clock.Add(time.Second)
	var envs [][]byte
	var codes []foliov1.ValidationCode
	for i, l := range latencies {
		c.clock = at.Add(-l)
		_, e := c.register(c.user1, work{fmt.Sprintf("L%d-%d", len(c.blocks), i), "T", "A", "user1@Org1", fmt.Sprintf("sha256:%064x", len(c.blocks)*1000+i)})
		code := valid
		if invalidLast && i == len(latencies)-1 {
			code = mvcc
		}
		envs, codes = append(envs, e), append(codes, code)
	}
	c.clock = at.Add(-time.Second)
	return c.block(codes, envs...)
}

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

// TestLatencyPercentiles: a block of 60 transactions proposed 1 to 60 ms
// before it gives p50 30, p95 57, p99 60 (nearest rank) in its second,
// invalid ones included; a second block of 10 at 1 s widens the window's
// figures; both survive a restart (rebuilt from the latency records).
func TestLatencyPercentiles(t *testing.T) {
	c := newTestChain(t)
	_, cfg := c.configTx()
	c.block(nil, cfg)
	var sixty []int
	for i := 1; i <= 60; i++ {
		sixty = append(sixty, i)
	}
	b1 := latencyBlock(c, ms(sixty...), true)
	b2 := latencyBlock(c, ms(1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000), false)
	dir := t.TempDir()
	ix := open(t, dir)
	applyAll(t, ix, c.blocks...)

	check := func(ix *Index) {
		t.Helper()
		got := map[int64]explorer.Rate{}
		for _, r := range ix.Rates(time.Hour) {
			if r.Valid+r.Invalid > 0 {
				got[r.At.Unix()] = r
			}
		}
		r1, r2 := got[b1.Header.TimestampUnixNano/1e9], got[b2.Header.TimestampUnixNano/1e9]
		if r1.Valid != 59 || r1.Invalid != 1 || r1.P50 != 30 || r1.P95 != 57 || r1.P99 != 60 {
			t.Errorf("block 1's second: %+v; want 59 valid, 1 invalid, p50 30, p95 57, p99 60", r1)
		}
		// 1000 ms is in the bucket [992, 1008): reported as its middle.
		if r2.Valid != 10 || r2.P50 != r2.P99 || math.Abs(r2.P50-1000) > 1000*0.016 {
			t.Errorf("block 2's second: %+v; want 10 valid at ~1000 ms", r2)
		}
		// The genesis block's config transaction has no commit latency.
		if len(got) != 3 {
			t.Errorf("%d seconds with transactions, want 3 (genesis, 1, 2)", len(got))
		}
		l := ix.Latency(time.Hour)
		// 70 latencies: rank 35 is 35 ms, rank 67 (p95) and 70 are 1 s.
		if l.Count != 70 || l.P50 != 35 || l.P95 != r2.P50 || l.P99 != r2.P50 || l.Max != r2.P50 || l.Window != time.Hour {
			t.Errorf("Latency(1h) = %+v", l)
		}
	}
	check(ix)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = open(t, dir)
	defer ix.Close()
	check(ix)
}

// TestLatencyBuckets: every latency up to LatencyMaxMs is reported within
// 1.6%, exactly below LatencyExactMs; buckets grow monotonically.
func TestLatencyBuckets(t *testing.T) {
	prev := uint16(0)
	for v := int64(0); v < LatencyMaxMs; v += 1 + v/200 {
		b := latBucket(v)
		if b < prev || b >= latBuckets {
			t.Fatalf("bucket of %d ms is %d after %d", v, b, prev)
		}
		prev = b
		got := latValue(b)
		if v < LatencyExactMs && got != float64(v) {
			t.Fatalf("%d ms reported as %v", v, got)
		}
		if math.Abs(got-float64(v)) > 0.016*float64(v) {
			t.Fatalf("%d ms reported as %v", v, got)
		}
	}
	if latBucket(-5) != 0 || latValue(latBucket(1<<40)) != LatencyMaxMs {
		t.Fatal("out-of-range latencies are not clamped")
	}
	rec := blockLatency{at: time.Unix(0, 1234567890), valid: 3, invalid: 1}
	rec.lat.add(latBucket(7), 2)
	rec.lat.add(latBucket(5000), 1)
	got, err := decodeBlockLatency(rec.encode())
	if err != nil || !got.at.Equal(rec.at) || got.valid != 3 || got.invalid != 1 || fmt.Sprint(got.lat) != fmt.Sprint(rec.lat) {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, rec)
	}
	for _, bad := range [][]byte{nil, {0x80}, append(rec.encode(), 0xff, 0xff, 0x03, 1)} {
		if _, err := decodeBlockLatency(bad); err == nil {
			t.Errorf("decodeBlockLatency(%x) accepted", bad)
		}
	}
}

// TestOrgInvalid: invalid transactions are counted per creator
// organisation and reason, and the counts survive a restart.
func TestOrgInvalid(t *testing.T) {
	c := newTestChain(t)
	_, cfg := c.configTx()
	c.block(nil, cfg)
	latencyBlock(c, ms(5, 6, 7), true)
	latencyBlock(c, ms(5, 6), true)
	dir := t.TempDir()
	ix := open(t, dir)
	applyAll(t, ix, c.blocks...)
	want := "map[Org1MSP:map[MVCC_READ_CONFLICT:2]]"
	if got := fmt.Sprint(ix.Stats().OrgInvalid); got != want {
		t.Errorf("OrgInvalid = %s, want %s", got, want)
	}
	ix.Close()
	ix = open(t, dir)
	defer ix.Close()
	if got := fmt.Sprint(ix.Stats().OrgInvalid); got != want {
		t.Errorf("after restart: OrgInvalid = %s, want %s", got, want)
	}
}

// TestOlderFormatRebuilds: an index of format 1 (before the latency
// records) is emptied at open, so Run indexes the chain again once.
func TestOlderFormatRebuilds(t *testing.T) {
	s := newScenario(t)
	dir := t.TempDir()
	ix := open(t, dir)
	applyAll(t, ix, s.c.blocks...)
	b := ix.st.NewBatch()
	if err := b.Set(keyFormat, []byte{0, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(kv.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	ix = open(t, dir)
	if h := ix.Height(); h != 0 {
		t.Fatalf("height %d after opening an older format, want 0", h)
	}
	if _, err := ix.Block(0); !errors.Is(err, explorer.ErrNotFound) {
		t.Fatalf("block 0 after the reset: %v", err)
	}
	applyAll(t, ix, s.c.blocks...)
	ix.Close()
	ix = open(t, dir) // the current format: kept
	defer ix.Close()
	if h := ix.Height(); h != uint64(len(s.c.blocks)) {
		t.Fatalf("height %d after reopening, want %d", h, len(s.c.blocks))
	}
}
