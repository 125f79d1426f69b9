package schedule

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Step-by-step tests of the coordinator (the key server's deterministic
// core), then a randomized simulation of several key servers exchanging
// proposals over a lossy network in the order a scheduler picks, with the
// invariants checked after every step.

func newCoord(t *testing.T, self string, T, E time.Time) *Coordinator {
	t.Helper()
	c, err := NewCoordinator(CoordinatorConfig{Self: self, ReleaseAt: T, EndAt: E, Lead: 30 * time.Second, Interval: time.Second,
		Freeze: 500 * time.Millisecond, RoundTimeout: time.Second, Retry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// must checks an input's step and the coordinator's invariants.
func must(t *testing.T, c *Coordinator, st Step, err error) Step {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.checkInvariants(); err != nil {
		t.Fatalf("after %+v: %v", st, err)
	}
	return st
}

func tick(t *testing.T, c *Coordinator, now time.Time) Step {
	t.Helper()
	return must(t, c, c.Tick(now), nil)
}

// round runs one full round at now with clients and the others' answers.
func round(t *testing.T, c *Coordinator, now time.Time, clients []Client, answers map[string]Proposal) Step {
	t.Helper()
	st := tick(t, c, now)
	if !st.Gather {
		t.Fatalf("at %s: %+v, want a round", now.Sub(t0), st)
	}
	st, err := c.Gathered(now, clients)
	st = must(t, c, st, err)
	if !st.Exchange || st.Own.From != "ks1" {
		t.Fatalf("after gathering: %+v", st)
	}
	st, err = c.Exchanged(now, answers)
	return must(t, c, st, err)
}

func TestCoordinatorAloneSendsAtT(t *testing.T) {
	T, E := at(100), at(200)
	c := newCoord(t, "ks1", T, E)
	if st := tick(t, c, at(0)); st.Wake != at(70) || st.Gather {
		t.Fatalf("before coordination: %+v, want to wake at T - 30s", st)
	}
	ready := []Client{{Name: "a", Complete: true, DoneAt: at(10), RateBps: 1e6}}
	st := round(t, c, at(70), ready, nil)
	if !st.Agreed.Equal(T) || st.Frozen || st.Wake != at(71) {
		t.Fatalf("first round: %+v, want agreed T, next round in 1s", st)
	}
	// Rounds go on every Interval until the agreed time is within Freeze
	// plus a round; no change, no Agreed.
	now := at(71)
	for ; now.Before(at(99)); now = now.Add(time.Second) {
		st = round(t, c, now, ready, nil)
		if !st.Agreed.IsZero() || st.Frozen {
			t.Fatalf("round at %s: %+v", now.Sub(t0), st)
		}
	}
	st = round(t, c, now, ready, nil) // T is 1s away, within Freeze + a round
	if !st.Frozen || st.Wake != T {
		t.Fatalf("round at %s: %+v, want frozen until T", now.Sub(t0), st)
	}
	if st := tick(t, c, at(99).Add(500*time.Millisecond)); st.Release || st.Wake != T {
		t.Fatalf("an early tick: %+v, want to sleep until T", st)
	}
	if st := tick(t, c, T); !st.Release {
		t.Fatalf("at T: %+v, want release", st)
	}
	if st := tick(t, c, T); st.Release || st.Gather || !st.Wake.IsZero() {
		t.Fatalf("a tick while releasing: %+v, want nothing", st)
	}
	st, err := c.Released(T, nil)
	if st = must(t, c, st, err); !st.Done || !c.ShareReleased() {
		t.Fatalf("released: %+v", st)
	}
}

func TestCoordinatorDelaysForLateClients(t *testing.T) {
	T, E := at(100), at(200)
	c := newCoord(t, "ks1", T, E)
	tick(t, c, at(0))
	late := []Client{{Name: "a", PredictedAt: at(150), RateBps: 1e6}}
	if st := round(t, c, at(70), late, nil); !st.Agreed.Equal(at(150)) || st.Reason == "" {
		t.Fatalf("a client predicted at T+50s: %+v", st)
	}
	// Hopeless: bounded by E minus the key's delivery time.
	c2 := newCoord(t, "ks1", T, E)
	tick(t, c2, at(0))
	st := round(t, c2, at(70), []Client{{Name: "a", PredictedAt: at(500), RateBps: 1e6}}, nil)
	if !st.Agreed.Before(E) || !st.Agreed.After(at(199)) {
		t.Fatalf("a client predicted after E: agreed %s", st.Agreed.Sub(t0))
	}
}

// TestCoordinatorLatestProposalWins: the agreement is the latest proposal
// held; a key server that does not answer a round no longer counts; one
// proposing past E cannot hold the key back past E.
func TestCoordinatorLatestProposalWins(t *testing.T) {
	T, E := at(100), at(200)
	c := newCoord(t, "ks1", T, E)
	tick(t, c, at(0))
	st := round(t, c, at(70), nil, map[string]Proposal{"ks2": {From: "ks2", SendAt: at(120)}, "ks3": {From: "ks3", SendAt: at(110)}})
	if !st.Agreed.Equal(at(120)) {
		t.Fatalf("agreed %s, want ks2's T+20s", st.Agreed.Sub(t0))
	}
	st = round(t, c, st.Wake, nil, map[string]Proposal{"ks3": {From: "ks3", SendAt: at(110)}})
	if !st.Agreed.Equal(at(110)) {
		t.Fatalf("ks2 silent: agreed %s, want ks3's T+10s", st.Agreed.Sub(t0))
	}
	// An answer under another name is ignored.
	st = round(t, c, st.Wake, nil, map[string]Proposal{"ks3": {From: "ks2", SendAt: at(150)}})
	if !st.Agreed.Equal(T) {
		t.Fatalf("answer under another name: agreed %s, want T", st.Agreed.Sub(t0))
	}
	// Past E, far in the future (80 years): capped at E.
	far := T.AddDate(80, 0, 0)
	if p := c.Receive(Proposal{From: "ks2", SendAt: far}); p.From != "ks1" {
		t.Fatalf("Receive answered %+v", p)
	}
	st = round(t, c, st.Wake, nil, map[string]Proposal{"ks2": {From: "ks2", SendAt: far}})
	if !st.Agreed.Equal(E) {
		t.Fatalf("a proposal past E: agreed %s, want E", st.Agreed.Sub(t0))
	}
}

// TestCoordinatorRoundsStopBeforeFreeze: a round never runs into the
// freeze point of the last agreement (an unreachable key server cannot
// delay the send), and never asks for less than minRound.
func TestCoordinatorRoundsStopBeforeFreeze(t *testing.T) {
	T, E := at(100), at(200)
	c := newCoord(t, "ks1", T, E)
	tick(t, c, at(0))
	st := round(t, c, at(70), nil, nil)
	if st.Wake != at(71) {
		t.Fatalf("next round at %s", st.Wake.Sub(t0))
	}
	// The driver was late: its round starts 1.2s before T, and a full
	// round would end 0.2s before T, past the freeze point.
	late := T.Add(-1200 * time.Millisecond)
	st = tick(t, c, late)
	if want := T.Add(-500 * time.Millisecond); !st.Gather || !st.Deadline.Equal(want) {
		t.Fatalf("late round: %+v, want a deadline at the freeze point %s", st, want.Sub(t0))
	}
	// Later still (the driver slept through): the freeze point passed, a
	// minimal round.
	c2 := newCoord(t, "ks1", T, E)
	tick(t, c2, at(0))
	round(t, c2, at(70), nil, nil)
	st = tick(t, c2, T.Add(-200*time.Millisecond))
	if !st.Deadline.Equal(T.Add(-200*time.Millisecond + minRound)) {
		t.Fatalf("round after the freeze point: deadline %s", st.Deadline.Sub(T))
	}
}

func TestCoordinatorRetriesReleaseUntilE(t *testing.T) {
	T, E := at(100), at(105)
	c := newCoord(t, "ks1", T, E)
	tick(t, c, at(0))
	now := at(70)
	st := round(t, c, now, nil, nil)
	for !st.Frozen {
		now = st.Wake
		st = round(t, c, now, nil, nil)
	}
	if st := tick(t, c, T); !st.Release {
		t.Fatalf("at T: %+v", st)
	}
	skew := errors.New("clock skew")
	st, err := c.Released(T, skew)
	if st = must(t, c, st, err); st.Wake != at(101) || st.Done {
		t.Fatalf("after a failed release: %+v, want a retry in 1s", st)
	}
	for now = at(101); !st.Done; now = now.Add(time.Second) {
		if now.After(E.Add(time.Second)) {
			t.Fatalf("still retrying at %s, after E", now.Sub(t0))
		}
		if st := tick(t, c, now); !st.Release {
			t.Fatalf("retry at %s: %+v", now.Sub(t0), st)
		}
		st, err = c.Released(now, skew)
		st = must(t, c, st, err)
	}
	if !st.Done || c.ShareReleased() {
		t.Fatalf("after E: %+v, released %v; want done without release", st, c.ShareReleased())
	}
}

func TestCoordinatorInputsOutOfTurn(t *testing.T) {
	c := newCoord(t, "ks1", at(100), at(200))
	if _, err := c.Gathered(at(0), nil); !errors.Is(err, ErrOutOfTurn) {
		t.Fatalf("Gathered before a round: %v", err)
	}
	if _, err := c.Exchanged(at(0), nil); !errors.Is(err, ErrOutOfTurn) {
		t.Fatalf("Exchanged before a round: %v", err)
	}
	if _, err := c.Released(at(0), nil); !errors.Is(err, ErrOutOfTurn) {
		t.Fatalf("Released before a release: %v", err)
	}
	if p := c.Receive(Proposal{From: "ks2", SendAt: at(150)}); p.From != "ks1" || !p.SendAt.Equal(at(100)) {
		t.Fatalf("Receive before any decision: %+v, want T", p)
	}
	if _, err := NewCoordinator(CoordinatorConfig{Self: "ks1", ReleaseAt: at(2), EndAt: at(1)}); err == nil {
		t.Fatal("a coordinator with E before T")
	}
	if _, err := NewCoordinator(CoordinatorConfig{ReleaseAt: at(1), EndAt: at(2)}); err == nil {
		t.Fatal("a coordinator without a name")
	}
}

// simKS is one key server of the simulation: its core, the step it asked
// for last, and what the checks remember.
type simKS struct {
	name       string
	c          *Coordinator
	st         Step
	clients    []Client
	frozen     time.Time // agreed time when it froze
	releasedAt time.Time
	releases   int
	failures   int
}

// TestCoordinatorSimulation runs key servers against each other: every
// step is either a key server's pending action (gather, exchange with
// each other key server through a network that loses messages, release
// that sometimes fails) or the earliest wake-up, with random driver
// latencies. After every step each core's invariants hold; a frozen
// agreement never moves; a share is released once, never before T or its
// agreed time, and never after E unless the first attempt was already
// late; every key server whose agreed time leaves room for its retries
// releases. With no loss, every key server freezes the same time.
func TestCoordinatorSimulation(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		lossy := seed%3 != 0
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { simulate(t, seed, lossy) })
	}
}

func simulate(t *testing.T, seed uint64, lossy bool) {
	rng := rand.New(rand.NewPCG(seed, 7))
	T := at(100)
	E := T.Add(time.Duration(5+rng.IntN(100)) * time.Second)
	n := 2 + rng.IntN(3)
	var kss []*simKS
	for i := range n {
		name := fmt.Sprintf("ks%d", i+1)
		c, err := NewCoordinator(CoordinatorConfig{Self: name, ReleaseAt: T, EndAt: E, Lead: time.Duration(5+rng.IntN(30)) * time.Second,
			Interval: time.Duration(200+rng.IntN(1000)) * time.Millisecond, Freeze: time.Duration(100+rng.IntN(500)) * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		// Each key server sees its own edges' clients (fixed: the
		// no-loss agreement is then the same everywhere).
		var cs []Client
		for j := range rng.IntN(5) {
			cs = append(cs, Client{Name: fmt.Sprintf("c%d", j), PredictedAt: T.Add(time.Duration(rng.IntN(200)-100) * time.Second), RateBps: float64(1e4 + rng.IntN(1e7))})
		}
		kss = append(kss, &simKS{name: name, c: c, clients: cs})
	}
	now := at(0)
	for _, k := range kss {
		k.st = k.c.Tick(now)
	}
	lose := func() bool { return lossy && rng.IntN(4) == 0 }
	latency := func() time.Duration { return time.Duration(rng.IntN(40)) * time.Millisecond }
	for step := 0; ; step++ {
		if step > 100_000 {
			t.Fatal("no end after 100,000 steps")
		}
		// Pending actions first, in random order; else the earliest wake.
		var busy, sleeping []*simKS
		for _, k := range kss {
			switch {
			case k.st.Gather || k.st.Exchange || k.st.Release:
				busy = append(busy, k)
			case !k.st.Done:
				sleeping = append(sleeping, k)
			}
		}
		var k *simKS
		switch {
		case len(busy) > 0:
			k = busy[rng.IntN(len(busy))]
		case len(sleeping) > 0:
			k = sleeping[0]
			for _, s := range sleeping {
				if s.st.Wake.Before(k.st.Wake) {
					k = s
				}
			}
			now = maxTime(now, k.st.Wake.Add(latency())) // timers fire late, never early
		default:
			checkSimEnd(t, kss, T, E, lossy)
			return
		}
		prev := k.c.Agreed()
		wasFrozen := !k.frozen.IsZero()
		var err error
		switch {
		case k.st.Gather:
			now = now.Add(latency())
			k.st, err = k.c.Gathered(now, k.clients)
		case k.st.Exchange:
			answers := map[string]Proposal{}
			for _, o := range kss {
				if o == k || lose() {
					continue
				}
				reply := o.c.Receive(k.st.Own)
				if !lose() {
					answers[o.name] = reply
				}
				if err := o.c.checkInvariants(); err != nil {
					t.Fatalf("step %d: %s after Receive: %v", step, o.name, err)
				}
			}
			now = now.Add(latency())
			k.st, err = k.c.Exchanged(now, answers)
		case k.st.Release:
			if now.Before(T) || now.Before(k.c.Agreed()) {
				t.Fatalf("step %d: %s releases at %s, T %s, agreed %s", step, k.name, now.Sub(t0), T.Sub(t0), k.c.Agreed().Sub(t0))
			}
			var rerr error
			if k.failures < 2 && rng.IntN(3) == 0 {
				k.failures++
				rerr = errors.New("clock skew")
			} else {
				k.releasedAt = now
				k.releases++
			}
			k.st, err = k.c.Released(now, rerr)
		default:
			k.st = k.c.Tick(now)
		}
		if err != nil {
			t.Fatalf("step %d: %s: %v", step, k.name, err)
		}
		if err := k.c.checkInvariants(); err != nil {
			t.Fatalf("step %d: %s: %v", step, k.name, err)
		}
		if k.st.Frozen {
			k.frozen = k.c.Agreed()
		}
		if wasFrozen && !k.c.Agreed().Equal(prev) {
			t.Fatalf("step %d: %s's frozen agreement moved from %s to %s", step, k.name, prev.Sub(t0), k.c.Agreed().Sub(t0))
		}
		if !k.st.Agreed.IsZero() && !k.st.Agreed.Equal(k.c.Agreed()) {
			t.Fatalf("step %d: %s reports agreed %s, holds %s", step, k.name, k.st.Agreed.Sub(t0), k.c.Agreed().Sub(t0))
		}
		if !k.st.Done && !k.st.Gather && !k.st.Exchange && !k.st.Release && k.st.Wake.IsZero() {
			t.Fatalf("step %d: %s asks for nothing and never wakes: %+v", step, k.name, k.st)
		}
	}
}

func checkSimEnd(t *testing.T, kss []*simKS, T, E time.Time, lossy bool) {
	t.Helper()
	var agreed time.Time
	for _, k := range kss {
		if k.releases > 1 {
			t.Fatalf("%s released %d times", k.name, k.releases)
		}
		if k.releases == 1 && (k.releasedAt.Before(T) || k.releasedAt.After(E.Add(2*time.Second))) {
			t.Fatalf("%s released at %s, outside [T, E]", k.name, k.releasedAt.Sub(T))
		}
		if k.releases == 0 && (k.c.ShareReleased() || k.frozen.Before(E.Add(-3*time.Second))) {
			t.Fatalf("%s did not release (agreed %s, E %s; says released %v)", k.name, k.frozen.Sub(T), E.Sub(T), k.c.ShareReleased())
		}
		if !lossy {
			if agreed.IsZero() {
				agreed = k.frozen
			} else if !k.frozen.Equal(agreed) {
				t.Fatalf("without loss %s froze %s, another %s", k.name, k.frozen.Sub(T), agreed.Sub(T))
			}
		}
	}
}
