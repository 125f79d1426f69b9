package p2p

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestTableScripts runs the scripts in testdata/table: session tables of
// named nodes driven step by step through the connection protocol, the
// network between them in the script's hands. Each step prints the
// effects the table asked for and what the harness, standing in for the
// Host, did about them. `go test -run TestTableScripts -rewrite`
// regenerates the expected output; review the diff like code.
//
// Node IDs order like the node names (a < b), so the connection dialed by
// the alphabetically first node of a pair wins the tie-break; between two
// dialed by the same node, the later dial wins. Connections are named c1,
// c2, ... in dial order, with the same name at both ends.
//
// Commands:
//
//	nodes <name>... [max-conns=N] [max-per-peer=M]
//	    Nodes with empty tables (limits default to 16 and 4).
//	dial <from> <to>
//	    A new TCP+TLS connection from one node to another; both ends are
//	    in the handshake.
//	accept <conn>
//	    The accepting end completes the handshake and registers the
//	    connection (table.add); a refusal closes it.
//	handshake-done <conn>
//	    The dialing end completes the handshake and registers it.
//	deliver <conn> [from=<name>] [n=N] [only=ping|pong|notice]
//	    Delivers the first N (default all) messages in flight on the
//	    connection from one end (default: from both ends, dialer's first).
//	    With only=, the first message of that kind goes ahead of those
//	    before it: pings, pongs and notices are written by different
//	    goroutines on different streams, so their order on the wire is
//	    not the order the table asked for them. A close always stays
//	    behind everything sent before it.
//	tick
//	    Delivers every message in flight now, in connection order, once.
//	stabilize
//	    Ticks until no message is in flight.
//	close <conn> <name>
//	    The node's end of the connection closes (a failure: reset,
//	    timeout, revoked certificate). The other end learns it after
//	    everything already sent.
//	remove-peer <name> <peer>
//	    The node no longer wants a session with the peer (RemovePeer).
//	shutdown <name>
//	    The node shuts down: retires everything, refuses newcomers.
//	print
//	    Every node's table and the messages in flight.
//
// The harness does what Host.applyLocked does, at once: a confirm effect
// sends a ping (answered with a pong by a registered end); a notify effect
// writes the retire notice (then table.noticeSent); a drain closes the
// connection (no streams are open in these scripts). Messages to an end
// still in the handshake wait, as bytes wait before the multiplexer
// starts; messages to a closed end are lost.
func TestTableScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/table", func(t *testing.T, path string) {
		e := &tableEnv{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			e.t = t
			return e.handle(d)
		})
	})
}

type scriptMsgKind uint8

const (
	smPing scriptMsgKind = iota + 1
	smPong
	smNotice
	smClose
)

type scriptMsg struct {
	kind   scriptMsgKind
	reason retireReason
}

func (m scriptMsg) String() string {
	switch m.kind {
	case smPing:
		return "ping"
	case smPong:
		return "pong"
	case smNotice:
		return "notice " + reasonName(m.reason)
	default:
		return "close"
	}
}

func reasonName(r retireReason) string {
	switch r {
	case reasonSuperseded:
		return "superseded"
	case reasonLeaving:
		return "leaving"
	}
	return fmt.Sprintf("reason(%d)", r)
}

// End states of a script connection.
const (
	scriptHandshaking = iota
	scriptRegistered
	scriptClosed
)

// scriptConn is one connection; index 0 is the dialing end, 1 the
// accepting end.
type scriptConn struct {
	id    connID
	ends  [2]*scriptNode
	rank  rank
	state [2]int
	q     [2][]scriptMsg // q[i]: sent by end i, not yet delivered
}

func (c *scriptConn) name() string { return fmt.Sprintf("c%d", c.id) }

// end returns the index of n's end of c, or -1.
func (c *scriptConn) end(n *scriptNode) int {
	for i, e := range c.ends {
		if e == n {
			return i
		}
	}
	return -1
}

type scriptNode struct {
	name string
	id   string
	t    *table
	gen  uint64
}

type tableEnv struct {
	t     *testing.T
	nodes map[string]*scriptNode
	byID  map[string]*scriptNode
	conns []*scriptConn
	out   *strings.Builder
}

func (e *tableEnv) handle(d *datadriven.TestData) string {
	if d.Cmd != "nodes" && e.nodes == nil {
		d.Fatalf(e.t, "%s before nodes", d.Cmd)
	}
	e.out = &strings.Builder{}
	switch d.Cmd {
	case "nodes":
		maxConns, maxPerPeer := 16, 4
		d.MaybeScanArgs(e.t, "max-conns", &maxConns)
		d.MaybeScanArgs(e.t, "max-per-peer", &maxPerPeer)
		e.nodes, e.byID, e.conns = map[string]*scriptNode{}, map[string]*scriptNode{}, nil
		for _, name := range e.positional(d) {
			n := &scriptNode{name: name, id: scriptNodeID(name), t: newTable(maxConns, maxPerPeer)}
			e.nodes[name], e.byID[n.id] = n, n
		}
	case "dial":
		args := e.positional(d)
		if len(args) != 2 {
			d.Fatalf(e.t, "dial <from> <to>")
		}
		from, to := e.node(d, args[0]), e.node(d, args[1])
		from.gen++
		c := &scriptConn{id: connID(len(e.conns) + 1), ends: [2]*scriptNode{from, to}}
		var nonce [nonceLen]byte
		nonce[0] = byte(c.id)
		c.rank = rankOf(from.id, to.id, DialedBySelf, from.gen, nonce)
		e.conns = append(e.conns, c)
		fmt.Fprintf(e.out, "%s: %s dials %s (generation %d)\n", c.name(), from.name, to.name, from.gen)
	case "accept":
		e.register(e.conn(d), 1)
	case "handshake-done":
		e.register(e.conn(d), 0)
	case "deliver":
		c := e.conn(d)
		n := -1
		d.MaybeScanArgs(e.t, "n", &n)
		from := []int{0, 1}
		if a, ok := d.Arg("from"); ok {
			i := c.end(e.node(d, a.SingleVal(e.t)))
			if i < 0 {
				d.Fatalf(e.t, "%s is not an end of %s", a.SingleVal(e.t), c.name())
			}
			from = []int{i}
		}
		if a, ok := d.Arg("only"); ok {
			if len(from) != 1 {
				d.Fatalf(e.t, "only= needs from=")
			}
			e.deliverKind(d, c, from[0], a.SingleVal(e.t))
			break
		}
		for _, i := range from {
			for k := 0; k != n && e.deliverOne(c, i); k++ {
			}
		}
	case "tick":
		e.tick()
	case "stabilize":
		for e.tick() {
		}
	case "close":
		c := e.conn(d)
		args := e.positional(d)
		if len(args) != 2 || c.end(e.node(d, args[1])) < 0 {
			d.Fatalf(e.t, "close <conn> <end>")
		}
		e.closeEnd(c, c.end(e.node(d, args[1])), "%s closes %s")
	case "remove-peer":
		args := e.positional(d)
		if len(args) != 2 {
			d.Fatalf(e.t, "remove-peer <name> <peer>")
		}
		n, peer := e.node(d, args[0]), e.node(d, args[1])
		fmt.Fprintf(e.out, "%s removes peer %s\n", n.name, peer.name)
		e.apply(n, n.t.removePeer(peer.id))
	case "shutdown":
		n := e.node(d, d.CmdArgs[0].Key)
		fmt.Fprintf(e.out, "%s shuts down\n", n.name)
		e.apply(n, n.t.shutdownAll())
	case "print":
		e.print()
	default:
		d.Fatalf(e.t, "unknown command %s", d.Cmd)
	}
	return e.out.String()
}

// scriptNodeID makes a valid-looking node ID (64 lowercase hex digits)
// that sorts like the name.
func scriptNodeID(name string) string {
	id := hex.EncodeToString([]byte(name))
	return id + strings.Repeat("0", 64-len(id))
}

func (e *tableEnv) positional(d *datadriven.TestData) []string {
	var args []string
	for _, a := range d.CmdArgs {
		if len(a.Vals) == 0 {
			args = append(args, a.Key)
		}
	}
	return args
}

func (e *tableEnv) node(d *datadriven.TestData, name string) *scriptNode {
	n := e.nodes[name]
	if n == nil {
		d.Fatalf(e.t, "no node %s", name)
	}
	return n
}

func (e *tableEnv) conn(d *datadriven.TestData) *scriptConn {
	args := e.positional(d)
	if len(args) == 0 {
		d.Fatalf(e.t, "%s: which connection?", d.Cmd)
	}
	for _, c := range e.conns {
		if c.name() == args[0] {
			return c
		}
	}
	d.Fatalf(e.t, "no connection %s", args[0])
	return nil
}

// register completes the handshake at end i of c.
func (e *tableEnv) register(c *scriptConn, i int) {
	n, peer := c.ends[i], c.ends[1-i]
	if c.state[i] != scriptHandshaking {
		fmt.Fprintf(e.out, "%s: %s is not in the handshake at %s\n", c.name(), c.name(), n.name)
		return
	}
	eff, err := n.t.add(c.id, peer.id, c.rank)
	if err != nil {
		fmt.Fprintf(e.out, "%s refuses %s: %s\n", n.name, c.name(), e.names(err.Error()))
		e.closeEnd(c, i, "%s closes %s")
		return
	}
	c.state[i] = scriptRegistered
	fmt.Fprintf(e.out, "%s registers %s with %s\n", n.name, c.name(), peer.name)
	e.apply(n, eff)
}

// apply carries out a table step's effects at node n, as the Host does.
func (e *tableEnv) apply(n *scriptNode, eff effects) {
	for _, ev := range eff.events {
		peer := e.byID[ev.peer].name
		switch ev.kind {
		case evUp:
			fmt.Fprintf(e.out, "  %s: %s is up on c%d\n", n.name, peer, ev.conn)
		case evDown:
			fmt.Fprintf(e.out, "  %s: %s is down (c%d was the last)\n", n.name, peer, ev.conn)
		case evClosed:
			dup := ""
			if ev.superseded {
				dup = ", a resolved duplicate"
			}
			fmt.Fprintf(e.out, "  %s: c%d to %s closed%s\n", n.name, ev.conn, peer, dup)
		}
	}
	for _, id := range eff.confirm {
		c := e.conns[id-1]
		i := c.end(n)
		fmt.Fprintf(e.out, "  %s: ping on %s\n", n.name, c.name())
		c.q[i] = append(c.q[i], scriptMsg{kind: smPing})
	}
	for _, no := range eff.notify {
		c := e.conns[no.conn-1]
		i := c.end(n)
		fmt.Fprintf(e.out, "  %s: retires %s (%s), notice sent\n", n.name, c.name(), reasonName(no.reason))
		c.q[i] = append(c.q[i], scriptMsg{kind: smNotice, reason: no.reason})
		e.apply(n, n.t.noticeSent(c.id))
	}
	for _, id := range eff.drain {
		c := e.conns[id-1]
		e.closeEnd(c, c.end(n), "  %s: drains and closes %s")
	}
	if err := n.t.checkInvariants(); err != nil {
		e.t.Errorf("%s: %v", n.name, err)
		fmt.Fprintf(e.out, "INVARIANT BROKEN at %s: %s\n", n.name, e.names(err.Error()))
	}
}

// closeEnd closes end i of c; the other end learns it after everything
// end i sent before, and whatever was still on its way to end i is lost.
// how is the line to print, given the node and connection names.
func (e *tableEnv) closeEnd(c *scriptConn, i int, how string) {
	if c.state[i] == scriptClosed {
		return
	}
	registered := c.state[i] == scriptRegistered
	c.state[i] = scriptClosed
	if c.state[1-i] != scriptClosed {
		c.q[i] = append(c.q[i], scriptMsg{kind: smClose})
	}
	c.q[1-i] = nil
	fmt.Fprintf(e.out, how+"\n", c.ends[i].name, c.name())
	if registered {
		e.apply(c.ends[i], c.ends[i].t.closed(c.id))
	}
}

// deliverOne delivers the first message end i sent on c, if the other end
// can read it; it reports whether it delivered one.
func (e *tableEnv) deliverOne(c *scriptConn, i int) bool {
	j := 1 - i
	if len(c.q[i]) == 0 || (c.state[j] == scriptHandshaking && c.q[i][0].kind != smClose) {
		return false
	}
	m := c.q[i][0]
	c.q[i] = c.q[i][1:]
	from, to := c.ends[i], c.ends[j]
	fmt.Fprintf(e.out, "%s %s->%s: %s\n", c.name(), from.name, to.name, m)
	switch m.kind {
	case smPing:
		fmt.Fprintf(e.out, "  %s: pong on %s\n", to.name, c.name())
		c.q[j] = append(c.q[j], scriptMsg{kind: smPong})
	case smPong:
		e.apply(to, to.t.confirmed(c.id))
	case smNotice:
		e.apply(to, to.t.remoteNotice(c.id, m.reason))
	case smClose:
		e.closeEnd(c, j, "  %s: sees %s closed")
	}
	return true
}

// deliverKind delivers the first message of the named kind end i sent
// on c, ahead of the ones before it.
func (e *tableEnv) deliverKind(d *datadriven.TestData, c *scriptConn, i int, kind string) {
	for k, m := range c.q[i] {
		if m.kind == smClose {
			break
		}
		if strings.HasPrefix(m.String(), kind) {
			c.q[i] = append(append([]scriptMsg{m}, c.q[i][:k]...), c.q[i][k+1:]...)
			if !e.deliverOne(c, i) {
				d.Fatalf(e.t, "%s cannot be delivered yet", m)
			}
			return
		}
	}
	d.Fatalf(e.t, "no %s in flight on %s from %s", kind, c.name(), c.ends[i].name)
}

// tick delivers what is in flight now, once; it reports whether anything
// was delivered.
func (e *tableEnv) tick() bool {
	inFlight := make([][2]int, len(e.conns))
	for k, c := range e.conns {
		inFlight[k] = [2]int{len(c.q[0]), len(c.q[1])}
	}
	moved := false
	for k, c := range e.conns {
		for i := range 2 {
			for range inFlight[k][i] {
				if e.deliverOne(c, i) {
					moved = true
				}
			}
		}
	}
	return moved
}

func (e *tableEnv) print() {
	names := make([]string, 0, len(e.nodes))
	for name := range e.nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n := e.nodes[name]
		var state []string
		if n.t.shutdown {
			state = append(state, "shut down")
		}
		if len(n.t.peers) == 0 {
			state = append(state, "no sessions")
		}
		fmt.Fprintf(e.out, "%s:", name)
		if len(state) > 0 {
			e.out.WriteString(" " + strings.Join(state, ", "))
		}
		e.out.WriteString("\n")
		for _, peerID := range n.t.peerIDs() {
			p := n.t.peers[peerID]
			var conns []string
			if p.active == nil {
				conns = append(conns, "down")
			}
			for _, c := range p.conns {
				desc := fmt.Sprintf("c%d %s", c.id, n.t.connState(c.id))
				var flags []string
				for _, f := range []struct {
					on   bool
					name string
				}{
					{c.confirmed && n.t.connState(c.id) == "retiring", "confirmed"},
					{c.superseded, "superseded"},
					{c.retired && !c.superseded, "leaving"},
					{c.remoteRetired, "remote-retired"},
					{c.draining, "draining"},
				} {
					if f.on {
						flags = append(flags, f.name)
					}
				}
				if len(flags) > 0 {
					desc += " (" + strings.Join(flags, ", ") + ")"
				}
				conns = append(conns, desc)
			}
			fmt.Fprintf(e.out, "  %s: %s\n", e.byID[peerID].name, strings.Join(conns, ", "))
		}
	}
	for _, c := range e.conns {
		for i := range 2 {
			if c.state[i] == scriptHandshaking && c.state[1-i] != scriptClosed {
				fmt.Fprintf(e.out, "%s in the handshake at %s\n", c.name(), c.ends[i].name)
			}
		}
	}
	for _, c := range e.conns {
		for i := range 2 {
			if len(c.q[i]) == 0 {
				continue
			}
			msgs := make([]string, len(c.q[i]))
			for k, m := range c.q[i] {
				msgs[k] = m.String()
			}
			fmt.Fprintf(e.out, "in flight %s %s->%s: %s\n", c.name(), c.ends[i].name, c.ends[1-i].name, strings.Join(msgs, ", "))
		}
	}
}

// names replaces the short node IDs in a message with node names.
func (e *tableEnv) names(s string) string {
	for id, n := range e.byID {
		s = strings.ReplaceAll(s, short(id), n.name)
	}
	return s
}
