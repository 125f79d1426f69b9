package p2p

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// The step-by-step cases of the session table (one session, simultaneous
// dials, crossing notices, redials, limits, leaving, shutdown) are scripts
// in testdata/table, run by TestTableScripts. Here: what a script cannot
// express, then a randomized simulation of two tables exchanging the
// protocol's messages over FIFO connections in every interleaving the
// scheduler picks.

func mustAdd(t *testing.T, tb *table, id connID, peer string, r rank) effects {
	t.Helper()
	eff, err := tb.add(id, peer, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	return eff
}

// TestTableRefusesSameConnectionTwice: registering a connection ID that is
// already registered is a driver bug the table reports.
func TestTableRefusesSameConnectionTwice(t *testing.T) {
	tb := newTable(8, 4)
	peer := nodeIDFor("peer")
	r := rankOf(nodeIDFor("self"), peer, DialedBySelf, 1, [nonceLen]byte{})
	mustAdd(t, tb, 1, peer, r)
	if _, err := tb.add(1, peer, r); err == nil {
		t.Fatal("the same connection was registered twice")
	}
	if err := tb.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

// --- simulation -----------------------------------------------------

type simMsgKind uint8

const (
	msgPing simMsgKind = iota + 1
	msgPong
	msgNotice
	msgSyn
	msgConnClose
)

type simMsg struct {
	kind   simMsgKind
	reason retireReason
	stream int
}

type endState uint8

const (
	endHandshaking endState = iota
	endRegistered
	endClosed
)

type simConn struct {
	id     connID
	dialer int
	rank   rank
	state  [2]endState
	q      [2][]simMsg // q[i]: sent by end i, not yet delivered to the other
	// pending effects at each end, carried out by later steps
	notify [2]*retireReason
	drain  [2]bool
}

type simStream struct {
	conn      connID
	opener    int
	delivered bool
	finished  bool
}

type simEnd struct {
	id       string
	t        *table
	wants    bool
	dialable bool
	dialing  bool
	gen      uint64
	up       bool
	downs    int
}

type sim struct {
	t       *testing.T
	rng     *rand.Rand
	ends    [2]*simEnd
	conns   []*simConn
	streams []*simStream
	next    connID
	// failures left to inject; streams left to open
	failures, opens int
	everLive        bool
	maxLive         int
	retired         bool
	log             []string
}

func (s *sim) fatalf(format string, args ...any) {
	s.t.Helper()
	tail := s.log
	if len(tail) > 40 {
		tail = tail[len(tail)-40:]
	}
	s.t.Fatalf(format+"\nlast steps:\n  %s", append(args, strings.Join(tail, "\n  "))...)
}

func (s *sim) conn(id connID) *simConn {
	for _, c := range s.conns {
		if c.id == id {
			return c
		}
	}
	return nil
}

// apply carries out a table step's effects at end i.
func (s *sim) apply(i int, eff effects) {
	for _, id := range eff.confirm {
		c := s.conn(id)
		c.q[i] = append(c.q[i], simMsg{kind: msgPing})
	}
	for _, n := range eff.notify {
		s.retired = true
		r := n.reason
		s.conn(n.conn).notify[i] = &r
	}
	for _, id := range eff.drain {
		s.conn(id).drain[i] = true
	}
	for _, e := range eff.events {
		switch e.kind {
		case evUp:
			s.ends[i].up = true
		case evDown:
			s.ends[i].up = false
			s.ends[i].downs++
		}
	}
	if err := s.ends[i].t.checkInvariants(); err != nil {
		s.fatalf("end %d: %v", i, err)
	}
}

// closeEnd closes connection c at end i (the other end learns it after
// everything i sent before).
func (s *sim) closeEnd(c *simConn, i int) {
	if c.state[i] == endClosed {
		return
	}
	registered := c.state[i] == endRegistered
	c.state[i] = endClosed
	c.q[i] = append(c.q[i], simMsg{kind: msgConnClose})
	c.q[1-i] = nil // unread bytes toward a closed end are lost
	if c.dialer == i {
		s.ends[i].dialing = false
	}
	if registered {
		s.apply(i, s.ends[i].t.closed(c.id))
	}
}

type action struct {
	name string
	do   func()
}

func (s *sim) actions() []action {
	var acts []action
	for i, e := range s.ends {
		other := s.ends[1-i]
		if e.wants && other.dialable && !e.dialing && e.t.needDial(other.id) {
			acts = append(acts, action{fmt.Sprintf("dial %d", i), func() { s.dial(i) }})
		}
	}
	for _, c := range s.conns {
		for i := range 2 {
			j := 1 - i
			if c.state[i] == endHandshaking {
				acts = append(acts, action{fmt.Sprintf("register %d at %d", c.id, i), func() { s.register(c, i) }})
			}
			if len(c.q[i]) > 0 && c.state[j] == endRegistered {
				acts = append(acts, action{fmt.Sprintf("deliver %d %d->%d", c.id, i, j), func() { s.deliver(c, i) }})
			}
			if c.state[j] == endHandshaking && c.state[i] == endClosed {
				// The handshake at j fails on the closed connection.
				acts = append(acts, action{fmt.Sprintf("handshake of %d fails at %d", c.id, j), func() { s.closeEnd(c, j) }})
			}
			if c.notify[i] != nil && c.state[i] == endRegistered {
				acts = append(acts, action{fmt.Sprintf("notice %d from %d", c.id, i), func() { s.sendNotice(c, i) }})
				if s.opens > 0 {
					// A stream opened by a caller that picked this session
					// just before it was retired: it precedes the notice.
					acts = append(acts, action{fmt.Sprintf("late open %d at %d", c.id, i), func() { s.open(c, i) }})
				}
			}
			if c.drain[i] && c.state[i] == endRegistered && s.quiet(c, i) {
				acts = append(acts, action{fmt.Sprintf("drain-close %d at %d", c.id, i), func() { s.drainClose(c, i) }})
			}
			if s.failures > 0 && c.state[i] != endClosed {
				acts = append(acts, action{fmt.Sprintf("kill %d at %d", c.id, i), func() { s.failures--; s.closeEnd(c, i) }})
			}
		}
	}
	for i, e := range s.ends {
		if id, ok := e.t.active(s.ends[1-i].id); ok && s.opens > 0 {
			acts = append(acts, action{fmt.Sprintf("open on %d at %d", id, i), func() { s.open(s.conn(id), i) }})
		}
	}
	for n, st := range s.streams {
		if st.delivered && !st.finished {
			acts = append(acts, action{fmt.Sprintf("finish stream %d", n), func() { st.finished = true }})
		}
	}
	return acts
}

func (s *sim) dial(i int) {
	e, other := s.ends[i], s.ends[1-i]
	e.gen++
	e.dialing = true
	s.next++
	var nonce [nonceLen]byte
	nonce[0], nonce[1] = byte(s.next), byte(i)
	r := rankOf(e.id, other.id, DialedBySelf, e.gen, nonce)
	if r != rankOf(other.id, e.id, DialedByRemote, e.gen, nonce) {
		s.fatalf("ends rank connection %d differently", s.next)
	}
	s.conns = append(s.conns, &simConn{id: s.next, dialer: i, rank: r})
}

func (s *sim) register(c *simConn, i int) {
	e := s.ends[i]
	eff, err := e.t.add(c.id, s.ends[1-i].id, c.rank)
	if c.dialer == i {
		e.dialing = false
	}
	if err != nil {
		s.closeEnd(c, i) // refused: the other end sees the connection close
		return
	}
	c.state[i] = endRegistered
	s.apply(i, eff)
}

func (s *sim) deliver(c *simConn, i int) {
	j := 1 - i
	m := c.q[i][0]
	c.q[i] = c.q[i][1:]
	switch m.kind {
	case msgPing:
		c.q[j] = append(c.q[j], simMsg{kind: msgPong})
	case msgPong:
		s.apply(j, s.ends[j].t.confirmed(c.id))
	case msgNotice:
		s.apply(j, s.ends[j].t.remoteNotice(c.id, m.reason))
	case msgSyn:
		s.streams[m.stream].delivered = true
	case msgConnClose:
		if c.state[j] == endHandshaking && c.dialer == j {
			s.ends[j].dialing = false
		}
		if c.state[j] == endRegistered {
			c.state[j] = endClosed
			c.q[j] = nil
			s.apply(j, s.ends[j].t.closed(c.id))
		}
		c.state[j] = endClosed
	}
}

func (s *sim) sendNotice(c *simConn, i int) {
	c.q[i] = append(c.q[i], simMsg{kind: msgNotice, reason: *c.notify[i]})
	c.notify[i] = nil
	s.apply(i, s.ends[i].t.noticeSent(c.id))
}

func (s *sim) open(c *simConn, i int) {
	s.opens--
	s.streams = append(s.streams, &simStream{conn: c.id, opener: i})
	c.q[i] = append(c.q[i], simMsg{kind: msgSyn, stream: len(s.streams) - 1})
}

// quiet: no stream on c that end i knows of is still open (the drain
// condition).
func (s *sim) quiet(c *simConn, i int) bool {
	for _, st := range s.streams {
		if st.conn == c.id && !st.finished && (st.opener == i || st.delivered) {
			return false
		}
	}
	return true
}

func (s *sim) drainClose(c *simConn, i int) {
	// No message loss: nothing the other end opened may still be on its
	// way, and the other end must not be able to open more.
	for _, m := range c.q[1-i] {
		if m.kind == msgSyn {
			s.fatalf("end %d closes connection %d while a stream from end %d is in flight", i, c.id, 1-i)
		}
	}
	if c.state[1-i] == endRegistered {
		if id, ok := s.ends[1-i].t.active(s.ends[i].id); ok && id == c.id {
			s.fatalf("end %d closes connection %d which end %d still uses", i, c.id, 1-i)
		}
	}
	s.closeEnd(c, i)
}

func (s *sim) live() int {
	n := 0
	for _, c := range s.conns {
		if c.state[0] == endRegistered && c.state[1] == endRegistered {
			n++
		}
	}
	return n
}

// run steps the simulation to quiescence and checks the end state.
func (s *sim) run() {
	failureFree := s.failures == 0
	for step := 0; ; step++ {
		if step > 10000 {
			s.fatalf("no quiescence after %d steps", step)
		}
		acts := s.actions()
		if len(acts) == 0 {
			break
		}
		a := acts[s.rng.IntN(len(acts))]
		s.log = append(s.log, a.name)
		a.do()
		live := s.live()
		s.maxLive = max(s.maxLive, live)
		if live > 0 {
			s.everLive = true
		} else if s.everLive && failureFree {
			s.fatalf("the pair has no session any more although nothing failed")
		}
	}
	// Exactly one connection survives, registered, confirmed and active at
	// both ends: the same one.
	var open []*simConn
	for _, c := range s.conns {
		if c.state[0] != endClosed || c.state[1] != endClosed {
			open = append(open, c)
		}
	}
	if len(open) != 1 || open[0].state != [2]endState{endRegistered, endRegistered} {
		s.fatalf("%d connections left open: %+v", len(open), open)
	}
	for i, e := range s.ends {
		id, ok := e.t.active(s.ends[1-i].id)
		if !ok || id != open[0].id || len(e.t.conns) != 1 || !e.up {
			s.fatalf("end %d: active %d %v, %d conns, up %v; survivor %d", i, id, ok, len(e.t.conns), e.up, open[0].id)
		}
		if failureFree && e.downs != 0 {
			s.fatalf("end %d went down %d times although nothing failed", i, e.downs)
		}
	}
	for _, c := range s.conns {
		if c != open[0] && failureFree && s.bothDialed() && outranks(c.rank, open[0].rank) {
			s.fatalf("survivor %d is outranked by closed connection %d", open[0].id, c.id)
		}
	}
}

func (s *sim) bothDialed() bool {
	d := [2]bool{}
	for _, c := range s.conns {
		d[c.dialer] = true
	}
	return d[0] && d[1]
}

func newSim(t *testing.T, seed uint64, failures int, wants, dialable [2]bool) *sim {
	rng := rand.New(rand.NewPCG(seed, 7))
	s := &sim{t: t, rng: rng, failures: failures, opens: 4}
	for i := range 2 {
		s.ends[i] = &simEnd{id: nodeIDFor(fmt.Sprint(seed, "/", i)), t: newTable(16, 4), wants: wants[i], dialable: dialable[i]}
	}
	return s
}

// TestTableSimulation: two session tables run the protocol (register in
// either order, confirm by ping, retire notices, drain) over FIFO
// connections, with every interleaving the random scheduler picks, with
// streams opened at any time (also on a session about to be retired).
// Without failures: the pair is never left with zero sessions once it had
// one, never goes down, no stream is lost, and it ends with exactly one
// session that both ends use. With connection failures injected: it
// still ends with exactly one.
func TestTableSimulation(t *testing.T) {
	both, aOnly, bOnly := [2]bool{true, true}, [2]bool{true, false}, [2]bool{false, true}
	variants := []struct {
		name              string
		wants, dialable   [2]bool
		failures, samples int
	}{
		{"both dial", both, both, 0, 10000},
		{"both dial, failures", both, both, 3, 10000},
		{"node 0 dial-only", both, bOnly, 0, 1000},
		{"node 1 dial-only, failures", both, aOnly, 2, 1000},
		{"only node 0 wants", aOnly, both, 0, 500},
		{"only node 1 wants, failures", bOnly, both, 2, 500},
	}
	for _, v := range variants {
		if raceEnabled { // the table has no goroutines; fewer schedules suffice under -race
			v.samples /= 4
		}
		t.Run(v.name, func(t *testing.T) {
			duplicates := 0
			for seed := range uint64(v.samples) {
				s := newSim(t, seed, v.failures, v.wants, v.dialable)
				s.run()
				if s.maxLive > 1 && s.retired {
					duplicates++
				}
			}
			t.Logf("%d of %d runs resolved a duplicate session", duplicates, v.samples)
			if v.name == "both dial" && duplicates < v.samples/4 {
				t.Fatalf("only %d of %d runs had duplicates: the simulation does not exercise the tie-break", duplicates, v.samples)
			}
		})
	}
}
