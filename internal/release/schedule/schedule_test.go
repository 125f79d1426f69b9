package schedule

import (
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func TestDecide(t *testing.T) {
	p := Params{ReleaseAt: at(100), EndAt: at(200), Margin: time.Second, KeyBytes: 1000}
	fast := 1e6 // 1000 bytes take 8 ms
	cases := []struct {
		name    string
		p       Params
		clients []Client
		want    time.Time
		reason  string
		ready   int
	}{
		{"no clients", p, nil, at(100), "no subscribed client", 0},
		{"all ready before T", p, []Client{{Complete: true, DoneAt: at(10), RateBps: fast}, {PredictedAt: at(90), RateBps: fast}}, at(100), "all 2 clients", 2},
		{"one late: wait for it", p, []Client{{Complete: true, DoneAt: at(10), RateBps: fast}, {PredictedAt: at(150), RateBps: fast}}, at(150), "delayed until 2 of 2", 2},
		{"too late: bounded by E - D", p, []Client{{Complete: true, DoneAt: at(10), RateBps: fast}, {PredictedAt: at(500), RateBps: fast}},
			at(200).Add(-time.Second - 8*time.Millisecond), "1 will miss", 1},
		{"a client without an estimate does not hold the key back", p, []Client{{Complete: true, DoneAt: at(10), RateBps: fast}, {}}, at(100), "1 without an estimate yet", 1},
		{"others wait, the unknown one does not count", p, []Client{{PredictedAt: at(150), RateBps: fast}, {}}, at(150), "delayed until 1 of 2", 1},
		{"nearly all", Params{ReleaseAt: at(100), EndAt: at(200), Margin: time.Second, ReadyFraction: 0.5},
			[]Client{{PredictedAt: at(120)}, {PredictedAt: at(500)}}, at(120), "delayed until 1 of 2", 1},
		{"slow client's key time shrinks the window", Params{ReleaseAt: at(100), EndAt: at(200), Margin: time.Second, KeyBytes: 7000},
			[]Client{{PredictedAt: at(1000), RateBps: 56000, RTT: 2 * time.Second}}, at(200).Add(-time.Second - time.Second - time.Second), "will miss", 0},
		{"end time too close: never before T", Params{ReleaseAt: at(100), EndAt: at(100).Add(time.Millisecond)},
			[]Client{{PredictedAt: at(150), RateBps: fast}}, at(100), "ready by the release time", 0},
	}
	for _, c := range cases {
		d := Decide(c.p, c.clients)
		if !d.SendAt.Equal(c.want) || !strings.Contains(d.Reason, c.reason) || d.Ready != c.ready {
			t.Errorf("%s: send %s (%s) ready %d; want %s, %q, %d", c.name, d.SendAt.Sub(t0), d.Reason, d.Ready, c.want.Sub(t0), c.reason, c.ready)
		}
		if d.SendAt.Before(c.p.ReleaseAt) {
			t.Errorf("%s: send time before the release time", c.name)
		}
	}
}

// Whatever the inputs, the decision is within [T, max(T, E - D)].
func TestDecideBounds(t *testing.T) {
	for i := 0; i < 1000; i++ {
		p := Params{ReleaseAt: at(100), EndAt: at(100 + i%150)}
		if i%150 == 0 {
			p.EndAt = at(101)
		}
		var cs []Client
		for j := 0; j < i%7; j++ {
			cs = append(cs, Client{PredictedAt: at((i * (j + 3)) % 400), RateBps: float64(1000 * (j + 1)), RTT: time.Duration(j) * time.Millisecond, Complete: j%3 == 0, DoneAt: at(j)})
		}
		d := Decide(p, cs)
		if d.SendAt.Before(p.ReleaseAt) || d.SendAt.After(d.Latest) && d.Latest.After(p.ReleaseAt) {
			t.Fatalf("case %d: send %s outside [T, %s]", i, d.SendAt.Sub(t0), d.Latest.Sub(t0))
		}
	}
}

func TestAgree(t *testing.T) {
	T, E := at(100), at(200)
	if got := Agree(T, E); !got.Equal(T) {
		t.Fatal(got)
	}
	if got := Agree(T, E, at(50), at(130), at(120)); !got.Equal(at(130)) {
		t.Fatal(got)
	}
	// One key server proposing a far-future time (here 80 years on) used
	// to be the agreed time, stalling every key server until then: now
	// the agreement is E.
	farFuture := T.AddDate(80, 0, 0)
	if got := Agree(T, E, at(130), farFuture); !got.Equal(E) {
		t.Fatalf("a far-future proposal: agreed T+%s, want E", got.Sub(T))
	}
	if got := Agree(T, E, time.Unix(0, math.MaxInt64)); !got.Equal(E) {
		t.Fatalf("the largest time: agreed %s, want E", got)
	}
}

func TestStaggerAndPacing(t *testing.T) {
	target := at(100)
	size := int64(10 << 20)
	rate := 8e6 // 1 MB/s: 10.49 s
	start := StartAt(target, size, rate, 100*time.Millisecond)
	want := target.Add(-TransferTime(size, rate) - 50*time.Millisecond)
	if !start.Equal(want) {
		t.Fatalf("start %s, want %s", start.Sub(t0), want.Sub(t0))
	}
	p := Pacer{Start: start, RateBps: rate}
	if last := p.NotBefore(size); last.Before(target.Add(-50 * time.Millisecond)) {
		t.Fatalf("last byte may leave at %s, before the target minus half the RTT", last.Sub(t0))
	}
	// A client that claims to be slower than it is starts earlier but is
	// paced at the slow rate: its last byte still leaves at the target.
	slow := StartAt(target, size, rate/10, 0)
	if last := (Pacer{Start: slow, RateBps: rate / 10}).NotBefore(size); last.Before(target) {
		t.Fatalf("slow claim: last byte at %s, before the target", last.Sub(t0))
	}
	if got := StartAt(target, size, 0, time.Second); !got.Equal(target) {
		t.Fatal("unknown rate must start at the target")
	}
}

func TestOffsetAndSkew(t *testing.T) {
	off, rtt := Offset(at(0), at(0).Add(10*time.Second+5*time.Millisecond), at(0).Add(10*time.Millisecond))
	if off != 10*time.Second || rtt != 10*time.Millisecond {
		t.Fatalf("offset %s rtt %s", off, rtt)
	}
	med, ok, known := Skew([]time.Duration{time.Second, -2 * time.Second, 3 * time.Second}, 500*time.Millisecond)
	if med != time.Second || ok || !known {
		t.Fatalf("skew %s %v %v", med, ok, known)
	}
	if _, ok, known := Skew(nil, time.Millisecond); !ok || known {
		t.Fatal("no samples")
	}
	if med, ok, _ := Skew([]time.Duration{10 * time.Millisecond, -20 * time.Millisecond}, 50*time.Millisecond); !ok || med != -5*time.Millisecond {
		t.Fatalf("skew %s %v", med, ok)
	}
}

func TestHistory(t *testing.T) {
	var h History
	if h.Best() != 0 || h.Recent() != 0 {
		t.Fatal("empty history")
	}
	for i := 1; i <= 40; i++ {
		h.Add(Sample{At: at(i), RateBps: float64(i)})
	}
	h.Add(Sample{RateBps: -1})
	if len(h.Samples) != MaxSamples || h.Best() != 40 || h.Recent() != (37+38+39+40)/4.0 {
		t.Fatalf("history %d best %v recent %v", len(h.Samples), h.Best(), h.Recent())
	}
	if got := Predict(at(0), 1000, 8000); !got.Equal(at(1)) {
		t.Fatal(got)
	}
	if !Predict(at(0), 10, 0).IsZero() || !Predict(at(5), 0, 0).Equal(at(5)) {
		t.Fatal("predict edge cases")
	}
}

func TestCertain(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct{ off, rtt, want time.Duration }{
		{700 * ms, 400 * ms, 500 * ms},
		{-700 * ms, 400 * ms, -500 * ms},
		{150 * ms, 400 * ms, 0},
		{-150 * ms, 400 * ms, 0},
		{5 * time.Second, 10 * ms, 5*time.Second - 5*ms},
	} {
		if got := Certain(c.off, c.rtt); got != c.want {
			t.Errorf("Certain(%s, %s) = %s, want %s", c.off, c.rtt, got, c.want)
		}
	}
}
