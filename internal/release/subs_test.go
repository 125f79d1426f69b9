package release

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"
)

func what() (string, string) { return "R", "peer0.org1" }

func TestSubTableLimits(t *testing.T) {
	tb := newSubTable(2, 3, time.Minute)
	now := tT
	a1, err := tb.open("alice@Org1", "alice@Org1/1", now, what)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.open("alice@Org1", "alice@Org1/2", now, what); err != nil {
		t.Fatal(err)
	}
	_, lerr := tb.open("alice@Org1", "alice@Org1/3", now, what)
	if lerr == nil || lerr.Setting != LimitSubscriptionsPerClient || lerr.Detail != "alice@Org1 already has 2 subscriptions to release R on peer0.org1" {
		t.Fatalf("third name of alice: %v", lerr)
	}
	// The same name again is the same subscription, at the limit.
	if again, err := tb.open("alice@Org1", "alice@Org1/1", now, what); err != nil || again != a1 {
		t.Fatalf("re-open: %v %v", again == a1, err)
	}
	if _, err := tb.open("bob@Org1", "bob@Org1", now, what); err != nil {
		t.Fatal(err)
	}
	_, lerr = tb.open("carol@Org2", "carol@Org2", now, what)
	if lerr == nil || lerr.Setting != LimitSubscriptions || lerr.Detail != "release R already has 3 subscriptions on peer0.org1" {
		t.Fatalf("fourth subscription: %v", lerr)
	}
	// alice's first subscription (two streams) goes idle; after the TTL
	// it makes room at the next refusal, not before.
	tb.closeStream(a1, now)
	tb.closeStream(a1, now)
	if _, err := tb.open("carol@Org2", "carol@Org2", now.Add(59*time.Second), what); err == nil {
		t.Fatal("admitted before the idle subscription expired")
	}
	if _, err := tb.open("carol@Org2", "carol@Org2", now.Add(time.Minute), what); err != nil {
		t.Fatalf("after the TTL: %v", err)
	}
	if _, ok := tb.subs["alice@Org1/1"]; ok {
		t.Fatal("the expired subscription is still held")
	}
	if err := tb.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestSubTablePings(t *testing.T) {
	tb := newSubTable(16, 16, time.Minute)
	s, _ := tb.open("u@O", "u@O", tT, what)
	tb.closeStream(s, tT)
	var ids []int64
	for i := range maxPendingPings + 2 {
		ids = append(ids, tb.ping(s, tT.Add(time.Duration(i)*time.Second)))
	}
	if rtt := tb.pong(s, ids[0], tT.Add(time.Hour)); rtt != 0 {
		t.Fatalf("an answer to a forgotten ping gave rtt %s", rtt)
	}
	last := ids[len(ids)-1]
	if rtt := tb.pong(s, last, tT.Add(time.Duration(len(ids)-1)*time.Second+40*time.Millisecond)); rtt != 40*time.Millisecond || s.rtt != rtt {
		t.Fatalf("rtt %s", rtt)
	}
	if rtt := tb.pong(s, last, tT.Add(time.Hour)); rtt != 0 {
		t.Fatal("a ping answered twice")
	}
	if err := tb.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

// subModel is the naive reference: every subscription with its caller,
// open streams and when it was last seen; expiry deletes every idle one
// past the TTL.
type subModel struct {
	perCaller, max int
	ttl            time.Duration
	subs           map[string]*modelSub
}

type modelSub struct {
	caller   string
	open     int
	lastSeen time.Time
}

func (m *subModel) expire(now time.Time) {
	for name, s := range m.subs {
		if s.open == 0 && !now.Before(s.lastSeen.Add(m.ttl)) {
			delete(m.subs, name)
		}
	}
}

func (m *subModel) count(caller string) int {
	n := 0
	for _, s := range m.subs {
		if s.caller == caller {
			n++
		}
	}
	return n
}

func (m *subModel) open(caller, client string, now time.Time) bool {
	if m.subs[client] != nil {
		return true
	}
	if m.count(caller) >= m.perCaller || len(m.subs) >= m.max {
		m.expire(now)
	}
	if m.count(caller) >= m.perCaller || len(m.subs) >= m.max {
		return false
	}
	m.subs[client] = &modelSub{caller: caller, lastSeen: now}
	return true
}

func (m *subModel) names() string {
	var out []string
	for n := range m.subs {
		out = append(out, n)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func tableNames(tb *subTable) string {
	var out []string
	for n := range tb.subs {
		out = append(out, n)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestSubTableAgainstModel runs random opens, stream ends and sweeps with
// a clock that moves forward, and checks the table (whose expiry is lazy,
// behind pruneAt) against the naive model after every step.
func TestSubTableAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		const perCaller, max, ttl = 3, 7, 10 * time.Second
		tb := newSubTable(perCaller, max, ttl)
		m := &subModel{perCaller: perCaller, max: max, ttl: ttl, subs: map[string]*modelSub{}}
		now := tT
		for step := range 2000 {
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			caller := fmt.Sprintf("u%d@O", rng.IntN(4))
			client := fmt.Sprintf("%s/%d", caller, rng.IntN(5))
			var op string
			switch r := rng.IntN(10); {
			case r < 5:
				op = "open " + client
				s, lerr := tb.open(caller, client, now, what)
				ok := m.open(caller, client, now)
				if (lerr == nil) != ok {
					t.Fatalf("seed %d step %d: open %s: table %v, model %v", seed, step, client, lerr, ok)
				}
				if ok {
					if s == nil || s.client != client {
						t.Fatalf("seed %d step %d: open %s returned %+v", seed, step, client, s)
					}
					m.subs[client].open++
					m.subs[client].lastSeen = now
				}
			case r < 6:
				// A plaintext request keeps the subscription as a stream
				// does.
				s := tb.subs[client]
				if s == nil {
					continue
				}
				op = "plaintext " + client
				tb.beginPlain(s)
				m.subs[client].open++
			case r < 9:
				// End one open stream or plaintext request, if any.
				s := tb.subs[client]
				switch {
				case s == nil:
					continue
				case s.plain > 0 && (s.streams == 0 || rng.IntN(2) == 0):
					op = "end plaintext " + client
					tb.endPlain(s, now)
				case s.streams > 0:
					op = "close " + client
					tb.closeStream(s, now)
				default:
					continue
				}
				m.subs[client].open--
				m.subs[client].lastSeen = now
			default:
				op = "sweep"
				tb.prune(now)
				m.expire(now)
			}
			if err := tb.checkInvariants(); err != nil {
				t.Fatalf("seed %d step %d (%s): %v", seed, step, op, err)
			}
			// The table may hold expired entries the model dropped (it
			// prunes lazily); once both sweep, they agree exactly.
			probe := tb
			probe.subs, probe.byCaller = map[string]*subscription{}, map[string]int{}
			for k, v := range tb.subs {
				probe.subs[k] = v
			}
			for k, v := range tb.byCaller {
				probe.byCaller[k] = v
			}
			mm := &subModel{perCaller: perCaller, max: max, ttl: ttl, subs: map[string]*modelSub{}}
			for k, v := range m.subs {
				c := *v
				mm.subs[k] = &c
			}
			probe.prune(now)
			mm.expire(now)
			if a, b := tableNames(&probe), mm.names(); a != b {
				t.Fatalf("seed %d step %d (%s): table holds [%s], model [%s]", seed, step, op, a, b)
			}
		}
	}
}
