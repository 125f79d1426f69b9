package p2p

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func nodeIDFor(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(sum[:])
}

// TestTieBreakTable spells the rule out on named cases.
func TestTieBreakTable(t *testing.T) {
	lo, hi := "1"+nodeIDFor("a")[1:], "f"+nodeIDFor("b")[1:]
	var n1, n2 [nonceLen]byte
	n1[0], n2[0] = 1, 2
	cases := []struct {
		name string
		a, b rank
		want bool // a outranks b
	}{
		{"lower dialer beats higher dialer", rankOf(lo, hi, DialedBySelf, 1, n1), rankOf(lo, hi, DialedByRemote, 99, n2), true},
		{"higher dialer loses whatever its generation", rankOf(hi, lo, DialedBySelf, 1000, n2), rankOf(hi, lo, DialedByRemote, 1, n1), false},
		{"same dialer: newer generation wins", rankOf(lo, hi, DialedBySelf, 7, n1), rankOf(lo, hi, DialedBySelf, 6, n2), true},
		{"same dialer: older generation loses", rankOf(hi, lo, DialedByRemote, 6, n2), rankOf(hi, lo, DialedByRemote, 7, n1), false},
		{"same dialer and generation: larger nonce wins", rankOf(lo, hi, DialedBySelf, 7, n2), rankOf(lo, hi, DialedBySelf, 7, n1), true},
	}
	for _, c := range cases {
		if got := outranks(c.a, c.b); got != c.want {
			t.Errorf("%s: outranks = %v, want %v", c.name, got, c.want)
		}
		if c.a != c.b && outranks(c.b, c.a) == outranks(c.a, c.b) {
			t.Errorf("%s: not antisymmetric", c.name)
		}
	}
}

// connection is one simulated connection between nodes x and y.
type connection struct {
	dialer string
	gen    uint64
	nonce  [nonceLen]byte
}

func (c connection) rankAt(self, peer string) rank {
	side := DialedBySelf
	if c.dialer != self {
		side = DialedByRemote
	}
	return rankOf(self, peer, side, c.gen, c.nonce)
}

// TestTieBreakBothEndsAgree: for random node pairs and random sets of
// connections between them, both ends compute identical ranks, the order
// is a strict total order, and both ends pick the same survivor, which is
// dialed by the smaller ID whenever that node dialed any.
func TestTieBreakBothEndsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 5000 {
		x, y := nodeIDFor(fmt.Sprint("x", iter)), nodeIDFor(fmt.Sprint("y", iter))
		if iter%7 == 0 { // IDs that differ only in the last character
			y = x[:63] + string("0123456789abcdef"[(int(x[63]-'0')+1)%10])
		}
		lo := min(x, y)
		conns := make([]connection, 1+rng.IntN(6))
		loDialed := false
		for i := range conns {
			c := connection{dialer: x, gen: uint64(rng.IntN(4))}
			if rng.IntN(2) == 0 {
				c.dialer = y
			}
			c.nonce[rng.IntN(nonceLen)] = byte(rng.Uint32())
			conns[i] = c
			loDialed = loDialed || c.dialer == lo
		}
		var bestX, bestY int
		for i, c := range conns {
			rx, ry := c.rankAt(x, y), c.rankAt(y, x)
			if rx != ry {
				t.Fatalf("ends compute different ranks for %+v: %+v vs %+v", c, rx, ry)
			}
			if outranks(rx, rx) {
				t.Fatal("a connection outranks itself")
			}
			for j, d := range conns {
				rd := d.rankAt(x, y)
				if i != j && rx != rd && outranks(rx, rd) == outranks(rd, rx) {
					t.Fatalf("not total/antisymmetric on %+v and %+v", c, d)
				}
				for _, e := range conns {
					re := e.rankAt(x, y)
					if outranks(rx, rd) && outranks(rd, re) && !outranks(rx, re) {
						t.Fatal("not transitive")
					}
				}
			}
			if outranks(rx, conns[bestX].rankAt(x, y)) {
				bestX = i
			}
			if outranks(ry, conns[bestY].rankAt(y, x)) {
				bestY = i
			}
		}
		if conns[bestX] != conns[bestY] {
			t.Fatalf("ends pick different survivors: %+v vs %+v", conns[bestX], conns[bestY])
		}
		if loDialed && conns[bestX].dialer != lo {
			t.Fatalf("survivor dialed by the larger ID although the smaller dialed too: %+v", conns)
		}
	}
}

func TestBackoff(t *testing.T) {
	min, max := 100*time.Millisecond, 30*time.Second
	prevFloor := time.Duration(0)
	for attempt := 1; attempt <= 40; attempt++ {
		lo, hi := backoffDelay(attempt, min, max, 0), backoffDelay(attempt, min, max, 0.999999)
		if lo > hi || hi > max || lo < min/2 {
			t.Fatalf("attempt %d: range [%s, %s] outside [%s, %s]", attempt, lo, hi, min/2, max)
		}
		if lo < prevFloor {
			t.Fatalf("attempt %d: floor %s shrank from %s", attempt, lo, prevFloor)
		}
		prevFloor = lo
		if attempt >= 10 && (lo != max/2 || hi < max-time.Millisecond) {
			t.Fatalf("attempt %d: not capped: [%s, %s]", attempt, lo, hi)
		}
	}
	if got := backoffDelay(3, min, max, 0.5); got != 300*time.Millisecond {
		t.Fatalf("attempt 3, jitter 0.5 = %s, want 300ms (400ms/2 + 200ms*0.5)", got)
	}
	if got := backoffDelay(0, min, max, -1); got != 50*time.Millisecond {
		t.Fatalf("out-of-range inputs: %s", got)
	}
}
