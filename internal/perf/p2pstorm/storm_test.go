package p2pstorm

import (
	"context"
	"testing"

	"github.com/folio-ledger/folio/internal/p2p/p2ptest"
)

// The storm tests: N nodes on 127.0.0.1 (one shared IP) start at once and
// every node declares, and so dials, every other node at the same moment
// (after random delays below MaxDelay). Afterwards every pair must have
// exactly one session, both ends naming the same one, and no pair may be
// missing.

func checkStorm(t *testing.T, o Options) Result {
	t.Helper()
	o.Logger = p2ptest.Logger()
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("storm: %+v", res)
	want := o.Nodes * (o.Nodes - 1) / 2
	if res.Nodes != o.Nodes || res.Rounds != o.Rounds || res.Sessions != want || res.DuplicatesLeft != 0 || res.MissingPairs != 0 {
		t.Fatalf("storm result %+v, want %d sessions, no duplicates left, no missing pairs", res, want)
	}
	return res
}

// TestStorm: 50 nodes, repeated (2 rounds under -race, 3 otherwise, 1
// in -short mode).
func TestStorm(t *testing.T) {
	rounds := 3
	switch {
	case testing.Short():
		rounds = 1
	case raceEnabled:
		rounds = 2
	}
	checkStorm(t, Options{Nodes: 50, Rounds: rounds, Seed: 1})
}

// TestStormManyRounds: a smaller storm repeated many times (8 rounds
// under -race or -short, 25 otherwise), each round with fresh hosts and
// new random delays.
func TestStormManyRounds(t *testing.T) {
	rounds := 25
	if raceEnabled || testing.Short() {
		rounds = 8
	}
	checkStorm(t, Options{Nodes: 12, Rounds: rounds, Seed: 2, MaxDelay: 20e6})
}

// TestStorm100 is the acceptance figure: 100 nodes, 4950 sessions.
func TestStorm100(t *testing.T) {
	if testing.Short() {
		t.Skip("100-node storm skipped in -short mode")
	}
	if raceEnabled {
		t.Skip("100-node storm skipped under -race (too slow on small machines); run it without -race")
	}
	checkStorm(t, Options{Nodes: 100, Rounds: 1, Seed: 3})
}

// TestOptionsValidate: the options Run refuses.
func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{Nodes: 1}, {Nodes: 3, MaxDelay: -1}, {Nodes: 3, Orgs: -1}} {
		o.EnsureDefaults()
		if err := o.Validate(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	o := Options{Nodes: 2}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		t.Errorf("two nodes with defaults: %v", err)
	}
}
