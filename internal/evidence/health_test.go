package evidence

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// h32 is a 32-byte hash made of one repeated byte.
func h32(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func agree(peer string, hash, root byte) Report {
	return Report{Peer: peer, Result: ResultAgree, BlockHash: h32(hash), StateRoot: h32(root)}
}

func disagree(peer string, hash, root byte) Report {
	return Report{Peer: peer, Result: ResultDisagree, BlockHash: h32(hash), StateRoot: h32(root)}
}

func round(block uint64, hash, root byte, others int, reports ...Report) Round {
	return Round{Block: block, BlockHash: h32(hash), StateRoot: h32(root), Others: others, Reports: reports}
}

// TestHealthCases: the judgements the issue names, one by one.
func TestHealthCases(t *testing.T) {
	unavailable := func(peer string) Report { return Report{Peer: peer, Result: ResultUnavailable} }
	invalid := func(peer string) Report { return Report{Peer: peer, Result: ResultInvalid} }
	signedFork := func(peer string, hash, root byte) Report {
		r := disagree(peer, hash, root)
		r.Signed, r.Proof = true, "signed by orderer0@OrdererOrg"
		return r
	}
	cases := []struct {
		name       string
		round      Round
		want       string
		unproven   []string
		wantDetail string
	}{
		{"every other peer agrees", round(5, 1, 2, 3, agree("a", 1, 2), agree("b", 1, 2), agree("c", 1, 2)), HealthOK, nil, ""},
		{"root differs from all three others", round(5, 1, 9, 3, disagree("a", 1, 2), disagree("b", 1, 2), disagree("c", 1, 2)), HealthDiverged, nil,
			"state root after block 5 is 0909090909090909 here, but every other peer that reported that block (3 of 3: a, b, c) signed 0202020202020202 for the same block hash 0101010101010101"},
		{"one lying peer against two honest ones", round(5, 1, 2, 3, disagree("liar", 1, 7), agree("a", 1, 2), agree("b", 1, 2)), HealthOK, nil, ""},
		{"one lying peer, the honest ones unreachable", round(5, 1, 2, 3, disagree("liar", 1, 7), unavailable("a"), unavailable("b")), HealthOK, nil, ""},
		{"one lying peer, the honest ones invalid", round(5, 1, 2, 3, disagree("liar", 1, 7), invalid("a"), invalid("b")), HealthOK, nil, ""},
		{"two liars that disagree with each other", round(5, 1, 2, 3, disagree("l1", 1, 7), disagree("l2", 1, 8), unavailable("a")), HealthOK, nil, ""},
		{"diverged from a quorum, the rest unavailable", round(5, 1, 9, 3, disagree("a", 1, 2), disagree("b", 1, 2), unavailable("c")), HealthDiverged, nil, "(2 of 3: a, b)"},
		{"the others disagree among themselves", round(5, 1, 9, 3, disagree("a", 1, 2), disagree("b", 1, 3), disagree("c", 1, 2)), HealthOK, nil, ""},
		{"no other peer reported", round(5, 1, 9, 3, unavailable("a"), invalid("b"), unavailable("c")), HealthOK, nil, ""},
		{"only peer of two, it differs", round(5, 1, 9, 1, disagree("a", 1, 2)), HealthDiverged, nil, "(1 of 1: a)"},
		{"another block hash, orderer-signed", round(5, 1, 2, 3, signedFork("a", 4, 2), agree("b", 1, 2), agree("c", 1, 2)), HealthEquivocation, nil,
			"two different orderer-signed blocks exist for block 5: this peer holds 0101010101010101, a holds 0404040404040404 (signed by orderer0@OrdererOrg)"},
		{"another block hash without proof", round(5, 1, 2, 3, disagree("liar", 4, 2), agree("b", 1, 2), agree("c", 1, 2)), HealthOK, []string{"liar"}, ""},
		{"another block hash without proof, root differs from the rest", round(5, 1, 9, 3, disagree("liar", 4, 2), disagree("b", 1, 2), disagree("c", 1, 2)), HealthOK, []string{"liar"}, ""},
		{"a result label without a statement does not count", round(5, 1, 9, 1, Report{Peer: "a", Result: ResultDisagree}), HealthOK, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, f := NextHealth(Health{}, c.round)
			if h.State != c.want {
				t.Fatalf("health %q (%s), want %q", h.State, h.Detail, c.want)
			}
			if !slices.Equal(f.Unproven, c.unproven) {
				t.Fatalf("unproven %v, want %v", f.Unproven, c.unproven)
			}
			if !strings.Contains(h.Detail, c.wantDetail) || (c.want == HealthOK) != (h.Detail == "") {
				t.Fatalf("detail %q, want it to contain %q", h.Detail, c.wantDetail)
			}
			if c.want != HealthOK && h.Block != c.round.Block {
				t.Fatalf("block %d, want %d", h.Block, c.round.Block)
			}
		})
	}
}

// TestHealthSticky: diverged is left only for equivocation, equivocation
// never; a round in which everyone agrees again changes nothing.
func TestHealthSticky(t *testing.T) {
	all := round(5, 1, 2, 2, agree("a", 1, 2), agree("b", 1, 2))
	h, _ := NextHealth(Health{}, round(4, 1, 9, 2, disagree("a", 1, 2), disagree("b", 1, 2)))
	if h.State != HealthDiverged || h.Block != 4 || !slices.Equal(h.Peers, []string{"a", "b"}) {
		t.Fatalf("%+v", h)
	}
	if next, _ := NextHealth(h, all); !equalHealth(next, h) {
		t.Fatalf("a diverged peer became %+v when the roots agreed again", next)
	}
	fork := all
	fork.Reports = []Report{{Peer: "a", Result: ResultDisagree, BlockHash: h32(3), StateRoot: h32(2), Signed: true}, agree("b", 1, 2)}
	eq, _ := NextHealth(h, fork)
	if eq.State != HealthEquivocation || eq.Block != 5 {
		t.Fatalf("%+v", eq)
	}
	if next, _ := NextHealth(eq, all); !equalHealth(next, eq) {
		t.Fatalf("equivocation became %+v", next)
	}
}

func equalHealth(a, b Health) bool {
	return a.State == b.State && a.Detail == b.Detail && a.Block == b.Block && slices.Equal(a.Peers, b.Peers)
}

// healthSim is one randomized scenario: this peer and others other peers,
// some of which lie (sign any root or block hash, but cannot sign a block
// as the orderers), this peer's state possibly wrong, the orderers possibly
// equivocating (some honest peers then hold another, orderer-signed block).
type healthSim struct {
	rng      *rand.Rand
	others   int
	liars    map[int]bool
	selfBad  bool // this peer's state root is wrong from some block on
	badFrom  uint64
	forked   map[int]bool // honest peers holding the other block
	forkFrom uint64
}

func (s *healthSim) round(block uint64) Round {
	hash, good := byte(block%200)+1, byte(block%200)+50
	own := good
	if s.selfBad && block >= s.badFrom {
		own = good + 100
	}
	r := Round{Block: block, BlockHash: h32(hash), StateRoot: h32(own), Others: s.others}
	for i := range s.others {
		rep := Report{Peer: fmt.Sprintf("p%d", i)}
		switch x := s.rng.IntN(10); {
		case x < 2:
			rep.Result = ResultUnavailable
		case x < 3:
			rep.Result = ResultInvalid
		case s.liars[i]:
			bh, root := hash, good
			if s.rng.IntN(3) == 0 {
				bh = byte(s.rng.IntN(256))
			}
			switch s.rng.IntN(3) {
			case 0:
				root = byte(s.rng.IntN(256))
			case 1:
				root = own + 1
			}
			rep.BlockHash, rep.StateRoot = h32(bh), h32(root)
		case s.forked[i] && block >= s.forkFrom:
			rep.BlockHash, rep.StateRoot, rep.Signed = h32(hash+1), h32(good), true
		default:
			rep.BlockHash, rep.StateRoot = h32(hash), h32(good)
		}
		if rep.BlockHash != nil {
			rep.Result = ResultDisagree
			if bytes.Equal(rep.BlockHash, r.BlockHash) && bytes.Equal(rep.StateRoot, r.StateRoot) {
				rep.Result = ResultAgree
			}
		}
		r.Reports = append(r.Reports, rep)
	}
	return r
}

// TestHealthSimulation runs NextHealth over random sequences of rounds and
// checks after every step: health only grows in severity; it has a detail
// exactly when it is not ok; an honest peer is never judged diverged
// while fewer peers than a quorum lie, whatever the others' availability;
// without forked blocks nobody sees an equivocation, and with one, the
// first round that shows a signed other block moves to equivocation; a
// peer whose root is wrong is diverged after the first round in which a
// quorum of honest peers (and no liar) reported; and NextHealth is a pure
// function (replaying the rounds gives the same states).
func TestHealthSimulation(t *testing.T) {
	samples := 5000
	if testing.Short() {
		samples = 1000
	}
	counts := map[string]int{}
	for seed := range uint64(samples) {
		rng := rand.New(rand.NewPCG(seed, 11))
		s := &healthSim{rng: rng, others: 1 + rng.IntN(6), liars: map[int]bool{}, forked: map[int]bool{}}
		for i := range s.others {
			if rng.IntN(4) == 0 {
				s.liars[i] = true
			}
		}
		s.selfBad = rng.IntN(2) == 0
		s.badFrom = uint64(rng.IntN(20))
		if rng.IntN(5) == 0 {
			for i := range s.others {
				if !s.liars[i] && rng.IntN(2) == 0 {
					s.forked[i] = true
				}
			}
			s.forkFrom = uint64(rng.IntN(20))
		}
		var h Health
		var rounds []Round
		var states []Health
		for block := uint64(1); block <= 30; block++ {
			r := s.round(block)
			prev := h
			next, f := NextHealth(h, r)
			h = next
			rounds, states = append(rounds, r), append(states, h)
			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("seed %d, block %d (others %d, liars %v, self bad %v from %d, forked %v from %d): %s\nround %+v\nbefore %+v\nafter %+v",
					seed, block, s.others, s.liars, s.selfBad, s.badFrom, s.forked, s.forkFrom, fmt.Sprintf(format, args...), r, prev, h)
			}
			if healthRank(h.State) < healthRank(prev.State) {
				fail("health went from %s back to %s", prev.State, h.State)
			}
			if healthRank(prev.State) > 0 && h.State == prev.State && !equalHealth(h, prev) {
				fail("a non-ok health changed its statement")
			}
			if (h.State == HealthOK) != (h.Detail == "") {
				fail("detail %q with state %s", h.Detail, h.State)
			}
			honest := !s.selfBad || block < s.badFrom
			// Liars that are not a strict majority of the other peers
			// (one liar among two or more others, say) never make an
			// honest peer diverged (stated without Quorum on purpose).
			fewLiars := 2*len(s.liars) <= s.others
			if h.State == HealthDiverged && !s.selfBad && fewLiars {
				fail("an honest peer judged diverged by %d liars of %d peers", len(s.liars), s.others)
			}
			if h.State == HealthDiverged && honest && prev.State != HealthDiverged && fewLiars {
				fail("diverged before its state went wrong")
			}
			if h.State == HealthEquivocation && len(s.forked) == 0 {
				fail("equivocation without any orderer-signed other block")
			}
			signedOther := false
			honestValid, liarValid := 0, 0
			for i, rep := range r.Reports {
				if !rep.valid() {
					continue
				}
				if rep.Signed {
					signedOther = true
				}
				if s.liars[i] {
					liarValid++
				} else if !s.forked[i] || block < s.forkFrom {
					honestValid++
				}
			}
			if signedOther && h.State != HealthEquivocation {
				fail("a signed other block did not raise equivocation")
			}
			if s.selfBad && block >= s.badFrom && liarValid == 0 && !signedOther && 2*honestValid > s.others && healthRank(h.State) < 1 {
				fail("a peer whose root differs from a quorum of honest peers is %s", h.State)
			}
			if len(f.Equivocation) > 0 && !signedOther {
				fail("finding %v without a signed report", f.Equivocation)
			}
		}
		counts[h.State]++
		// Pure: the same rounds give the same states.
		var again Health
		for i, r := range rounds {
			again, _ = NextHealth(again, r)
			if !equalHealth(again, states[i]) {
				t.Fatalf("seed %d: replay of round %d gave %+v, first run %+v", seed, i, again, states[i])
			}
		}
	}
	t.Logf("final states over %d runs: %v", samples, counts)
	for _, st := range []string{HealthOK, HealthDiverged, HealthEquivocation} {
		if counts[st] == 0 {
			t.Fatalf("no run ended %s: the simulation does not exercise it (%v)", st, counts)
		}
	}
}
