package gateway

import (
	"math/rand/v2"
	"testing"
	"time"
)

// Step-by-step tests of the health tracker (a deterministic core), then a
// randomized run against a naive reference model.

func TestHealthBackoffGrowsAndResets(t *testing.T) {
	h := newHealth(time.Second, 30*time.Second)
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	if st := h.standing("o0", t0); st != healthy {
		t.Fatalf("unknown node: %s, want healthy", st)
	}
	h.failed("o0", t0, "no session")
	if st := h.standing("o0", at(999*time.Millisecond)); st != backingOff {
		t.Fatalf("0.999s after a failure: %s, want backing off", st)
	}
	if st := h.standing("o0", at(time.Second)); st != due {
		t.Fatalf("1s after a failure: %s, want due", st)
	}
	// The probe is handed out: others skip it for another second.
	h.began("o0", at(time.Second))
	if st := h.standing("o0", at(1500*time.Millisecond)); st != backingOff {
		t.Fatalf("while probing: %s, want backing off", st)
	}
	// The probe fails: 2s now, from the failure.
	h.failed("o0", at(2*time.Second), "no session")
	if st := h.standing("o0", at(3999*time.Millisecond)); st != backingOff {
		t.Fatalf("after a second failure: %s, want backing off for 2s", st)
	}
	if got := h.describe("o0", at(3*time.Second)); got != "failed 2 times, last 1s ago: no session" {
		t.Fatalf("describe = %q", got)
	}
	for range 10 {
		h.failed("o0", at(4*time.Second), "x")
	}
	if b := h.backoff(h.nodes["o0"].fails); b != 30*time.Second {
		t.Fatalf("backoff after 12 failures = %s, want the 30s cap", b)
	}
	if err := h.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	h.succeeded("o0")
	if st := h.standing("o0", at(4*time.Second)); st != healthy || h.describe("o0", at(4*time.Second)) != "" {
		t.Fatalf("after a success: %s, want healthy", st)
	}
}

// refHealth is the naive reference: per node the consecutive failures and
// the time of the latest failure or probe handed out.
type refHealth struct {
	fails map[string]int
	since map[string]time.Time
}

func (r *refHealth) backoff(n int) time.Duration {
	d := time.Second
	for range n - 1 {
		d *= 2
		if d >= 30*time.Second {
			return 30 * time.Second
		}
	}
	return d
}

func (r *refHealth) standing(node string, now time.Time) standing {
	if r.fails[node] == 0 {
		return healthy
	}
	if now.Sub(r.since[node]) < r.backoff(r.fails[node]) {
		return backingOff
	}
	return due
}

func TestHealthRandomizedAgainstReference(t *testing.T) {
	nodes := []string{"peer0", "peer1", "orderer0"}
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 7))
		h := newHealth(time.Second, 30*time.Second)
		ref := &refHealth{fails: map[string]int{}, since: map[string]time.Time{}}
		now := time.Unix(0, 0)
		for step := range 400 {
			now = now.Add(time.Duration(rng.Int64N(int64(5 * time.Second))))
			n := nodes[rng.IntN(len(nodes))]
			var op string
			switch rng.IntN(3) {
			case 0:
				op = "began"
				if ref.standing(n, now) == due {
					ref.since[n] = now
				}
				h.began(n, now)
			case 1:
				op = "succeeded"
				ref.fails[n] = 0
				h.succeeded(n)
			case 2:
				op = "failed"
				ref.fails[n]++
				ref.since[n] = now
				h.failed(n, now, "x")
			}
			if err := h.checkInvariants(); err != nil {
				t.Fatalf("seed %d step %d (%s %s): %v", seed, step, op, n, err)
			}
			for _, m := range nodes {
				// Check now and at points within the next backoff period.
				for _, d := range []time.Duration{0, 999 * time.Millisecond, 4 * time.Second, 31 * time.Second} {
					if got, want := h.standing(m, now.Add(d)), ref.standing(m, now.Add(d)); got != want {
						t.Fatalf("seed %d step %d (%s %s): %s at +%s is %s, reference says %s", seed, step, op, n, m, d, got, want)
					}
				}
				// No node stays out of the rotation beyond the cap.
				if st := h.standing(m, now.Add(30*time.Second)); st == backingOff {
					t.Fatalf("seed %d step %d: %s still backing off 30s later", seed, step, m)
				}
			}
		}
	}
}
