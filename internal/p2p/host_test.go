package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/folio-ledger/folio/internal/identity"
)

func TestEchoOverOneSession(t *testing.T) {
	c := newConsortium(t, 2)
	ca, cb := issue(t, c, 0, "peer0.org1", identity.RolePeer), issue(t, c, 1, "peer0.org2", identity.RolePeer)
	a := startHost(t, c, ca, map[string]Handler{"echo": echo}, nil)
	b := startHost(t, c, cb, map[string]Handler{"echo": echo}, nil)
	must(t, a.AddPeer(b.spec()))
	up := a.waitUp(t, b)
	b.waitUp(t, a)
	if up.Session.DialedBy != "self" || up.Session.Name != "peer0.org2" || up.Session.Org != "Org2" || up.Session.Role != identity.RolePeer {
		t.Fatalf("a's up event: %+v", up.Session)
	}
	roundTrip(t, a, b, "hello b")
	roundTrip(t, b, a, "hello a")
	sa, sb := a.single(t, b), b.single(t, a)
	if sa.Conn != sb.Conn || sa.DialedBy != "self" || sb.DialedBy != "remote" || sa.State != "active" || sb.State != "active" {
		t.Fatalf("ends disagree: a sees %+v, b sees %+v", sa, sb)
	}
	if sb.Addr != a.Addr().String() {
		t.Fatalf("b sees a listening at %q, want %q", sb.Addr, a.Addr())
	}
	// Many concurrent streams on the same session.
	errs := make(chan error, 32)
	for i := range 32 {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			s, err := a.OpenStream(ctx, b.ID(), "echo")
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			msg := bytes.Repeat([]byte{byte(i)}, 1000*i+1)
			for range 10 {
				if err := s.WriteMsg(msg); err != nil {
					errs <- err
					return
				}
				got, err := s.ReadMsg()
				if err != nil || !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("stream %d: echo mismatch (%d bytes, %v)", i, len(got), err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 32 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(a.Sessions()); n != 1 {
		t.Fatalf("a has %d sessions after 32 streams", n)
	}
	if got := counterValue(a.metrics.bytes.WithLabelValues("echo", "out")); got < 32*10*4 {
		t.Fatalf("echo bytes out = %v", got)
	}
}

func TestUnknownProtocolAndLimits(t *testing.T) {
	c := newConsortium(t, 1)
	a := startHost(t, c, issue(t, c, 0, "peer0.org1", identity.RolePeer), nil, nil)
	b := startHost(t, c, issue(t, c, 0, "peer1.org1", identity.RolePeer), map[string]Handler{"echo": echo}, func(o *Options) {
		o.MaxFrameBytes = 1024
	})
	must(t, a.AddPeer(b.spec()))
	a.waitUp(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := a.OpenStream(ctx, b.ID(), "gossip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadMsg(); !errors.Is(err, ErrUnknownProtocol) {
		t.Fatalf("read on unknown protocol: %v", err)
	}
	_ = s.Close()

	// b accepts messages of at most 1 KiB: a larger one fails b's ReadMsg,
	// its handler returns and closes the stream; the session survives.
	s, err = a.OpenStream(ctx, b.ID(), "echo")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteMsg(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadMsg(); !errors.Is(err, io.EOF) {
		t.Fatalf("after an oversized message: %v, want EOF", err)
	}
	_ = s.Close()
	roundTrip(t, a, b, "still fine")
	if _, err := a.OpenStream(ctx, b.ID(), "Bad Name"); err == nil {
		t.Fatal("invalid protocol name accepted")
	}
	if err := a.Handle("late", echo); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("Handle after Run: %v", err)
	}
}

// TestSimultaneousDial: two nodes declare each other at the same moment,
// many times over. Each time they end with one session that both ends
// name; whenever both dials got through, the survivor is the one dialed
// by the smaller node ID.
func TestSimultaneousDial(t *testing.T) {
	c := newConsortium(t, 1)
	lo, hi := ordered(t, c, "peer0.org1", "peer1.org1")
	resolved := 0
	for round := range 15 {
		a := startHost(t, c, lo, nil, nil)
		b := startHost(t, c, hi, nil, nil)
		start := make(chan struct{})
		errs := make(chan error, 2)
		go func() { <-start; errs <- a.AddPeer(b.spec()) }()
		go func() { <-start; errs <- b.AddPeer(a.spec()) }()
		close(start)
		must(t, <-errs)
		must(t, <-errs)
		waitConverged(t, a, b)
		sa := a.single(t, b)
		dialed := counterValue(a.metrics.handshakes.WithLabelValues("outbound")) + counterValue(a.metrics.handshakes.WithLabelValues("inbound"))
		if dialed > 1 { // a duplicate existed and was resolved
			resolved++
			if sa.DialedBy != "self" {
				t.Fatalf("round %d: survivor dialed by the larger ID (%s)", round, names(a, b))
			}
		}
		a.stop()
		b.stop()
	}
	t.Logf("%d of 15 rounds resolved a duplicate", resolved)
}

// TestDialOnlyNode: a node that refuses all inbound connections still
// ends up connected to everyone; the others never dial it.
func TestDialOnlyNode(t *testing.T) {
	c := newConsortium(t, 2)
	a := startHost(t, c, issue(t, c, 0, "peer0.org1", identity.RolePeer), map[string]Handler{"echo": echo}, nil)
	b := startHost(t, c, issue(t, c, 1, "peer0.org2", identity.RolePeer), map[string]Handler{"echo": echo}, nil)
	d := startHost(t, c, issue(t, c, 1, "orderer0.org2", identity.RoleOrderer), map[string]Handler{"echo": echo}, func(o *Options) { o.ListenAddr = "" })
	if d.Addr() != nil {
		t.Fatalf("dial-only node listens on %s", d.Addr())
	}
	must(t, a.AddPeer(b.spec()))
	must(t, b.AddPeer(a.spec()))
	must(t, a.AddPeer(d.spec())) // no address: a waits for d to dial
	must(t, b.AddPeer(d.spec()))
	must(t, d.AddPeer(a.spec()))
	must(t, d.AddPeer(b.spec()))
	waitConverged(t, a, b, d)
	for _, h := range []*testHost{a, b} {
		s := h.single(t, d)
		if s.DialedBy != "remote" || s.Addr != "" || s.Role != identity.RoleOrderer {
			t.Fatalf("%s's session with the dial-only node: %+v", h.creds.Self.Name, s)
		}
		roundTrip(t, h, d, "to the dial-only node")
		roundTrip(t, d, h, "from the dial-only node")
	}
}

// TestRemovePeerDrains: removing a peer retires its session gracefully:
// a stream in flight finishes without losing a message, then both ends
// see the session go down.
func TestRemovePeerDrains(t *testing.T) {
	c := newConsortium(t, 1)
	a := startHost(t, c, issue(t, c, 0, "peer0.org1", identity.RolePeer), nil, nil)
	b := startHost(t, c, issue(t, c, 0, "peer1.org1", identity.RolePeer), map[string]Handler{"echo": echo}, nil)
	must(t, a.AddPeer(b.spec()))
	a.waitUp(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := a.OpenStream(ctx, b.ID(), "echo")
	must(t, err)
	must(t, st.WriteMsg([]byte("before")))
	must(t, a.RemovePeer(b.ID()))
	a.waitFor(t, "down", func(e Event) bool { return e.Kind == EventDown && e.Session.PeerID == b.ID() })
	select {
	case <-st.Draining():
	case <-ctx.Done():
		t.Fatal("stream not told its session is draining")
	}
	for i := range 20 {
		msg := fmt.Sprint("during drain ", i)
		must(t, st.WriteMsg([]byte(msg)))
		if i == 0 {
			if got, err := st.ReadMsg(); err != nil || string(got) != "before" {
				t.Fatalf("echo of the message sent before RemovePeer: %q %v", got, err)
			}
		}
		if got, err := st.ReadMsg(); err != nil || string(got) != msg {
			t.Fatalf("message %d lost while draining: %q %v", i, got, err)
		}
	}
	// OpenStream waits for a new session, which a no longer dials; with an
	// expired context it must fail rather than use the retiring session.
	expired, expire := context.WithCancel(context.Background())
	expire()
	if _, err := a.OpenStream(expired, b.ID(), "echo"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("open on a peer whose only session is retiring: %v", err)
	}
	must(t, st.Close())
	if _, err := st.ReadMsg(); !errors.Is(err, io.EOF) {
		t.Fatalf("after close: %v", err)
	}
	// Down came when the session was retired; it closes once drained.
	for _, h := range []*testHost{a, b} {
		h.waitFor(t, "the retired session closing", func(e Event) bool { return e.Kind == EventClosed })
	}
	if len(a.Sessions())+len(b.Sessions()) != 0 {
		t.Fatalf("sessions left: %v %v", a.Sessions(), b.Sessions())
	}
}

// TestDuplicateDrainsWithoutLoss: the larger ID dials first and a stream
// runs on that session; then the smaller ID dials too. Its session wins
// at both ends; the first one is retired, its stream keeps working to the
// end, and only then is it closed.
func TestDuplicateDrainsWithoutLoss(t *testing.T) {
	c := newConsortium(t, 1)
	lo, hi := ordered(t, c, "peer0.org1", "peer1.org1")
	a := startHost(t, c, lo, map[string]Handler{"echo": echo}, nil)
	b := startHost(t, c, hi, map[string]Handler{"echo": echo}, nil)
	must(t, b.AddPeer(a.spec()))
	first := a.waitUp(t, b).Session
	b.waitUp(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := a.OpenStream(ctx, b.ID(), "echo")
	must(t, err)
	must(t, st.WriteMsg([]byte("on the first session")))
	if got, err := st.ReadMsg(); err != nil || string(got) != "on the first session" {
		t.Fatal(got, err)
	}
	// a dials as well (as if both had dialed at once).
	must(t, a.dialOnce(ctx, &want{spec: b.spec()})) // dials although a session exists
	select {
	case <-st.Draining():
	case <-ctx.Done():
		t.Fatal("the first session was not retired")
	}
	states := map[string]string{}
	for _, s := range a.Sessions() {
		states[s.DialedBy] = s.State
	}
	if states["remote"] != "retiring" || states["self"] != "active" {
		t.Fatalf("a's sessions while draining: %v", states)
	}
	for i := range 50 {
		msg := fmt.Sprint("message ", i)
		must(t, st.WriteMsg([]byte(msg)))
		if got, err := st.ReadMsg(); err != nil || string(got) != msg {
			t.Fatalf("message %d lost on the retired session: %q %v", i, got, err)
		}
	}
	roundTrip(t, a, b, "on the new session")
	must(t, st.Close())
	if _, err := st.ReadMsg(); !errors.Is(err, io.EOF) {
		t.Fatalf("after close: %v", err)
	}
	for _, h := range []*testHost{a, b} {
		ev := h.waitFor(t, "the duplicate closing", func(e Event) bool { return e.Kind == EventClosed })
		if !ev.Superseded || ev.Session.Conn != first.Conn {
			t.Fatalf("%s: closed event %+v, want the first session superseded", h.creds.Self.Name, ev)
		}
	}
	sa, sb := a.single(t, b), b.single(t, a)
	if sa.Conn != sb.Conn || sa.Conn == first.Conn || sa.DialedBy != "self" {
		t.Fatalf("survivor: a %+v, b %+v", sa, sb)
	}
	if got := counterValue(a.metrics.duplicates); got != 1 {
		t.Fatalf("duplicates resolved = %v", got)
	}
}

// TestIdlePeerDetected: a peer that completes the handshake and then goes
// silent (no data, no keepalive answers) is closed after IdleTimeout, and
// the node goes down.
func TestIdlePeerDetected(t *testing.T) {
	c := newConsortium(t, 1)
	a := startHost(t, c, issue(t, c, 0, "peer0.org1", identity.RolePeer), nil, func(o *Options) {
		o.KeepAliveInterval = 100 * time.Millisecond
		o.IdleTimeout = 400 * time.Millisecond
	})
	mute, err := New(Options{Self: issue(t, c, 0, "peer1.org1", identity.RolePeer).Self, Verifier: c.Verifier})
	if err == nil || mute != nil {
		t.Fatal("New accepted options without a TLS certificate")
	}
	creds := issue(t, c, 0, "peer1.org1", identity.RolePeer)
	mute, err = New(Options{Self: creds.Self, TLS: creds.TLS, Verifier: c.Verifier})
	must(t, err)
	raw, err := net.Dial("tcp", a.Addr().String())
	must(t, err)
	defer raw.Close()
	tc, _, err := mute.hs.run(context.Background(), raw, DialedBySelf, 1, expectation{nodeID: a.ID()})
	must(t, err)
	// Answer a's confirmation ping like a live node would, then go silent
	// while keeping the connection open.
	mc := &muteConn{Conn: tc, mute: make(chan struct{}), released: make(chan struct{})}
	mux, err := yamux.Client(mc, mute.muxConf)
	must(t, err)
	defer func() {
		close(mc.released)
		_ = mux.Close()
	}()
	a.waitFor(t, "up", func(e Event) bool { return e.Kind == EventUp })
	gate := time.Now()
	close(mc.mute)
	ev := a.waitFor(t, "down", func(e Event) bool { return e.Kind == EventDown })
	if ev.Session.PeerID != mute.ID() {
		t.Fatalf("down for %s", ev.Session.PeerID)
	}
	if took := time.Since(gate); took < 300*time.Millisecond {
		t.Fatalf("closed after %s, before the idle timeout", took)
	}
	if got := a.refusals(refusedIdle); got != 1 {
		t.Fatalf("refused{%s} = %v, want 1", refusedIdle, got)
	}
}

// TestReconnect: when the session dies, the host that wants the peer
// dials again (with backoff) and the peer comes back up.
func TestReconnect(t *testing.T) {
	c := newConsortium(t, 1)
	a := startHost(t, c, issue(t, c, 0, "peer0.org1", identity.RolePeer), map[string]Handler{"echo": echo}, nil)
	b := startHost(t, c, issue(t, c, 0, "peer1.org1", identity.RolePeer), map[string]Handler{"echo": echo}, nil)
	must(t, a.AddPeer(b.spec()))
	first := a.waitUp(t, b).Session
	for i := range 3 {
		b.mu.Lock()
		for _, s := range b.mu.sessions {
			_ = s.conn.Close() // the connection breaks under both ends
		}
		b.mu.Unlock()
		a.waitFor(t, "down", func(e Event) bool { return e.Kind == EventDown })
		again := a.waitUp(t, b).Session
		if again.Conn == first.Conn {
			t.Fatalf("round %d: same connection after a break", i)
		}
		roundTrip(t, a, b, "after reconnecting")
		first = again
	}
	if got := counterValue(a.metrics.dials.WithLabelValues("ok")); got < 4 {
		t.Fatalf("dials = %v, want 4 or more", got)
	}
}

// TestBackpressure: a writer is held back by the receive window while the
// reader does not read, and resumes when it does.
func TestBackpressure(t *testing.T) {
	c := newConsortium(t, 1)
	gate := make(chan struct{})
	received := make(chan int, 1)
	slow := func(ctx context.Context, s *Stream) {
		<-gate
		n, _ := io.Copy(io.Discard, s)
		received <- int(n)
	}
	a := startHost(t, c, issue(t, c, 0, "peer0.org1", identity.RolePeer), nil, nil)
	b := startHost(t, c, issue(t, c, 0, "peer1.org1", identity.RolePeer), map[string]Handler{"slow": slow}, nil)
	must(t, a.AddPeer(b.spec()))
	a.waitUp(t, b)
	st, err := a.OpenStream(context.Background(), b.ID(), "slow")
	must(t, err)
	big := make([]byte, 4<<20)
	must(t, st.SetWriteDeadline(time.Now().Add(300*time.Millisecond)))
	n, err := st.Write(big)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || n >= len(big) || n < minStreamWindow {
		t.Fatalf("write against a full window: wrote %d, err %v", n, err)
	}
	close(gate)
	must(t, st.SetWriteDeadline(time.Time{}))
	m, err := st.Write(big[n:])
	must(t, err)
	must(t, st.Close())
	if got := <-received; got != n+m || got != len(big) {
		t.Fatalf("received %d of %d bytes", got, len(big))
	}
}

// muteConn stops delivering and sending bytes once mute is closed, while
// the connection itself stays open: a frozen peer.
type muteConn struct {
	net.Conn
	mute, released chan struct{}
}

func (c *muteConn) Read(p []byte) (int, error) {
	select {
	case <-c.mute:
		<-c.released
		return 0, io.EOF
	default:
	}
	n, err := c.Conn.Read(p)
	select {
	case <-c.mute:
		<-c.released
		return 0, io.EOF
	default:
		return n, err
	}
}

func (c *muteConn) Write(p []byte) (int, error) {
	select {
	case <-c.mute:
		return len(p), nil
	default:
		return c.Conn.Write(p)
	}
}
