package p2p

import (
	"fmt"
	"sort"
)

// connID is a connection's handle inside one host; never reused.
type connID uint64

// retireReason is carried by a retire notice.
type retireReason uint8

const (
	// reasonSuperseded: a better connection to the same node has been
	// confirmed live end to end; this one will be closed once drained.
	reasonSuperseded retireReason = 1
	// reasonLeaving: the sender no longer wants this session (RemovePeer,
	// shutdown), or acknowledges the other end's leaving.
	reasonLeaving retireReason = 2
)

// connEntry is the table's view of one registered connection.
type connEntry struct {
	id   connID
	peer string
	rank rank
	// confirmed: a ping on it was answered, so the remote registered it
	// too (a host starts a connection's multiplexer only after registering
	// it).
	confirmed bool
	// retired: this end opens no more streams on it and will close it.
	retired bool
	// superseded: retired because a better connection won (a duplicate).
	superseded bool
	// noticeSent: this end's retire notice has been written on it.
	noticeSent bool
	// remoteRetired: the remote's retire notice arrived, so the remote
	// opens no more streams on it.
	remoteRetired bool
	// draining: the close has been ordered (effects.drain).
	draining bool
}

// eligible connections may win the tie-break.
func (c *connEntry) eligible() bool { return c.confirmed && !c.retired && !c.remoteRetired }

// usable connections may carry new streams opened by this end.
func (c *connEntry) usable() bool { return c.confirmed && !c.retired }

type peerEntry struct {
	conns []*connEntry
	// active is the connection new streams go to; nil when the peer is
	// down. It is always usable.
	active *connEntry
}

type tableEventKind uint8

const (
	evUp     tableEventKind = iota + 1 // the peer got its first usable session
	evDown                             // the peer lost its last usable session
	evClosed                           // a connection closed without changing up/down
)

type tableEvent struct {
	kind tableEventKind
	peer string
	conn connID
	// superseded (evClosed): the closed connection was a resolved duplicate.
	superseded bool
}

type notice struct {
	conn   connID
	reason retireReason
}

// effects are what the driver must do after a table step, in any order:
// ping to confirm, send retire notices, drain and close, publish events
// (events in order).
type effects struct {
	confirm []connID
	notify  []notice
	drain   []connID
	events  []tableEvent
}

func (e *effects) merge(o effects) {
	e.confirm = append(e.confirm, o.confirm...)
	e.notify = append(e.notify, o.notify...)
	e.drain = append(e.drain, o.drain...)
	e.events = append(e.events, o.events...)
}

// table is the session table: the deterministic core of the session
// manager. It decides which connections to confirm, retire and close and
// when a peer is up or down; it does no I/O, starts no goroutines and
// reads no clock. Not safe for concurrent use (Host.mu guards it).
//
// Protocol, per connection between this node and a peer:
//
//	add -> (confirm ping answered) confirmed -> ... -> retired (notice sent)
//	    -> remote's notice received -> drain -> closed
//
// A connection is retired only when a better one (rank) is confirmed and
// eligible, or when a node leaves. It is closed only when both ends have
// retired it. The best connection registered at both ends is therefore
// never retired, so a pair never ends with zero sessions, and every other
// connection is eventually retired by both ends, so it ends with one.
type table struct {
	maxConns   int
	maxPerPeer int
	conns      map[connID]*connEntry
	peers      map[string]*peerEntry
	shutdown   bool
}

func newTable(maxConns, maxPerPeer int) *table {
	return &table{maxConns: maxConns, maxPerPeer: maxPerPeer, conns: map[connID]*connEntry{}, peers: map[string]*peerEntry{}}
}

// admit reports whether a new connection to peer would be accepted now.
func (t *table) admit(peer string) error {
	if t.shutdown {
		return ErrHandshakeShutdown
	}
	if len(t.conns) >= t.maxConns {
		return &LimitError{Err: ErrTooManySessions, Detail: fmt.Sprintf("%d connections registered, limit %d", len(t.conns), t.maxConns), Option: "MaxSessions"}
	}
	if p := t.peers[peer]; p != nil && len(p.conns) >= t.maxPerPeer {
		return &LimitError{Err: ErrTooManySessions, Detail: fmt.Sprintf("%d connections to node %s, limit %d", len(p.conns), short(peer), t.maxPerPeer), Option: "MaxSessionsPerPeer"}
	}
	return nil
}

// add registers a connection whose handshake has completed.
func (t *table) add(id connID, peer string, r rank) (effects, error) {
	var eff effects
	if err := t.admit(peer); err != nil {
		return eff, err
	}
	if _, dup := t.conns[id]; dup {
		return eff, fmt.Errorf("p2p table: connection %d registered twice", id)
	}
	c := &connEntry{id: id, peer: peer, rank: r}
	t.conns[id] = c
	p := t.peers[peer]
	if p == nil {
		p = &peerEntry{}
		t.peers[peer] = p
	}
	p.conns = append(p.conns, c)
	t.evaluate(p, &eff)
	if !c.retired {
		eff.confirm = append(eff.confirm, id)
	}
	return eff, nil
}

// confirmed records that a confirmation ping on the connection was
// answered.
func (t *table) confirmed(id connID) effects {
	var eff effects
	c := t.conns[id]
	if c == nil || c.confirmed {
		return eff
	}
	c.confirmed = true
	t.evaluate(t.peers[c.peer], &eff)
	return eff
}

// remoteNotice records the remote's retire notice on the connection.
func (t *table) remoteNotice(id connID, reason retireReason) effects {
	var eff effects
	c := t.conns[id]
	if c == nil || c.remoteRetired {
		return eff
	}
	c.remoteRetired = true
	if reason == reasonLeaving && !c.retired {
		t.retire(c, reasonLeaving, &eff)
	}
	t.evaluate(t.peers[c.peer], &eff)
	t.maybeDrain(c, &eff)
	return eff
}

// noticeSent records that this end's retire notice was written.
func (t *table) noticeSent(id connID) effects {
	var eff effects
	c := t.conns[id]
	if c == nil {
		return eff
	}
	c.noticeSent = true
	t.maybeDrain(c, &eff)
	return eff
}

// closed removes a connection that has gone away, for whatever reason.
func (t *table) closed(id connID) effects {
	var eff effects
	c := t.conns[id]
	if c == nil {
		return eff
	}
	delete(t.conns, id)
	p := t.peers[c.peer]
	for i, pc := range p.conns {
		if pc == c {
			p.conns = append(p.conns[:i], p.conns[i+1:]...)
			break
		}
	}
	// p.active may still point at c: evaluate then reports evDown if no
	// other connection can take over, or switches silently if one can.
	t.evaluate(p, &eff)
	if p.active != nil || len(eff.events) == 0 || eff.events[len(eff.events)-1].kind != evDown {
		eff.events = append(eff.events, tableEvent{kind: evClosed, peer: c.peer, conn: id, superseded: c.superseded})
	}
	if len(p.conns) == 0 {
		delete(t.peers, c.peer)
	}
	return eff
}

// removePeer retires every connection to peer: this node no longer wants
// a session with it.
func (t *table) removePeer(peer string) effects {
	var eff effects
	p := t.peers[peer]
	if p == nil {
		return eff
	}
	for _, c := range p.conns {
		if !c.retired {
			t.retire(c, reasonLeaving, &eff)
		}
		t.maybeDrain(c, &eff)
	}
	t.evaluate(p, &eff)
	return eff
}

// shutdownAll retires every connection and refuses new ones.
func (t *table) shutdownAll() effects {
	var eff effects
	t.shutdown = true
	for _, peer := range t.peerIDs() {
		eff.merge(t.removePeer(peer))
	}
	return eff
}

// active returns the connection new streams to peer should use.
func (t *table) active(peer string) (connID, bool) {
	if p := t.peers[peer]; p != nil && p.active != nil {
		return p.active.id, true
	}
	return 0, false
}

// needDial reports whether this end should dial peer: no connection to it
// is eligible or on its way to being confirmed.
func (t *table) needDial(peer string) bool {
	p := t.peers[peer]
	if p == nil {
		return true
	}
	for _, c := range p.conns {
		if !c.retired && !c.remoteRetired {
			return false
		}
	}
	return true
}

// connState names a connection's state for listings.
func (t *table) connState(id connID) string {
	c := t.conns[id]
	switch {
	case c == nil:
		return "closed"
	case t.peers[c.peer].active == c:
		return "active"
	case c.retired:
		return "retiring"
	case !c.confirmed:
		return "confirming"
	default:
		return "standby"
	}
}

func (t *table) peerIDs() []string {
	ids := make([]string, 0, len(t.peers))
	for id := range t.peers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (t *table) retire(c *connEntry, reason retireReason, eff *effects) {
	c.retired = true
	c.superseded = reason == reasonSuperseded
	eff.notify = append(eff.notify, notice{conn: c.id, reason: reason})
}

func (t *table) maybeDrain(c *connEntry, eff *effects) {
	if c.retired && c.noticeSent && c.remoteRetired && !c.draining {
		c.draining = true
		eff.drain = append(eff.drain, c.id)
	}
}

// evaluate applies the tie-break to a peer's connections: the best
// eligible connection wins; every other connection that is not a better
// candidate still being confirmed is retired. The active connection is
// the winner, else (while the winner is still being confirmed) the best
// usable one.
func (t *table) evaluate(p *peerEntry, eff *effects) {
	if p == nil {
		return
	}
	var best *connEntry
	for _, c := range p.conns {
		if c.eligible() && (best == nil || outranks(c.rank, best.rank)) {
			best = c
		}
	}
	if best != nil && !t.shutdown {
		for _, c := range p.conns {
			if c == best || c.retired {
				continue
			}
			if !c.confirmed && !c.remoteRetired && outranks(c.rank, best.rank) {
				continue // a better connection still being confirmed
			}
			t.retire(c, reasonSuperseded, eff)
		}
	}
	next := best
	if next == nil {
		for _, c := range p.conns {
			if c.usable() && (next == nil || outranks(c.rank, next.rank)) {
				next = c
			}
		}
	}
	switch {
	case p.active == nil && next != nil:
		eff.events = append(eff.events, tableEvent{kind: evUp, peer: next.peer, conn: next.id})
	case p.active != nil && next == nil:
		eff.events = append(eff.events, tableEvent{kind: evDown, peer: p.active.peer, conn: p.active.id})
	}
	p.active = next
}

// checkInvariants returns an error describing the first broken invariant;
// tests call it after every step.
func (t *table) checkInvariants() error {
	n := 0
	for peer, p := range t.peers {
		if len(p.conns) == 0 {
			return fmt.Errorf("peer %s kept with no connections", short(peer))
		}
		eligible, usable := 0, 0
		for _, c := range p.conns {
			n++
			if t.conns[c.id] != c || c.peer != peer {
				return fmt.Errorf("connection %d indexed inconsistently", c.id)
			}
			if c.eligible() {
				eligible++
			}
			if c.usable() {
				usable++
			}
			if c.draining && !(c.retired && c.noticeSent && c.remoteRetired) {
				return fmt.Errorf("connection %d draining before both ends retired it", c.id)
			}
		}
		if eligible > 1 {
			return fmt.Errorf("peer %s has %d eligible connections after evaluation", short(peer), eligible)
		}
		if p.active != nil && !p.active.usable() {
			return fmt.Errorf("peer %s: active connection %d is not usable", short(peer), p.active.id)
		}
		if usable > 0 && p.active == nil {
			return fmt.Errorf("peer %s has a usable connection but none active", short(peer))
		}
	}
	if n != len(t.conns) {
		return fmt.Errorf("%d connections indexed by peer, %d by id", n, len(t.conns))
	}
	return nil
}
