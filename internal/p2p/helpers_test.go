package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p/p2ptest"
)

func newConsortium(t testing.TB, orgs int) *p2ptest.Consortium {
	t.Helper()
	c, err := p2ptest.NewConsortium(orgs)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func issue(t testing.TB, c *p2ptest.Consortium, org int, name string, role identity.Role) *p2ptest.Node {
	t.Helper()
	n, err := c.IssueNode(org, name, role)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// testHost is a running host with its registry and event subscription.
type testHost struct {
	*Host
	creds  *p2ptest.Node
	reg    *prometheus.Registry
	events <-chan Event
	stop   func()
}

// startHost creates and runs a host listening on 127.0.0.1 (unless mod
// clears ListenAddr); the test's cleanup stops it and waits for Run.
func startHost(t testing.TB, c *p2ptest.Consortium, creds *p2ptest.Node, handlers map[string]Handler, mod func(*Options)) *testHost {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts := Options{
		Self: creds.Self, TLS: creds.TLS, Verifier: c.Verifier, ListenAddr: "127.0.0.1:0",
		Logger: p2ptest.Logger().With("node", creds.Self.Name), Registerer: reg,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
	}
	if mod != nil {
		mod(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for p, fn := range handlers {
		must(t, h.Handle(p, fn))
	}
	events, unsubscribe := h.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			unsubscribe()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: Run: %v", creds.Self.Name, err)
			}
		})
	}
	t.Cleanup(stop)
	<-h.Ready()
	if opts.ListenAddr != "" && h.Addr() == nil {
		t.Fatalf("%s did not start listening", creds.Self.Name)
	}
	return &testHost{Host: h, creds: creds, reg: reg, events: events, stop: stop}
}

func (h *testHost) spec() PeerSpec {
	s := PeerSpec{NodeID: h.ID(), Name: h.creds.Self.Name}
	if a := h.Addr(); a != nil {
		s.Addr = a.String()
	}
	return s
}

// waitFor waits for an event matching pred. The timeout is a failure
// guard, not a way to wait for time to pass.
func (h *testHost) waitFor(t testing.TB, what string, pred func(Event) bool) Event {
	t.Helper()
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	for {
		select {
		case ev, ok := <-h.events:
			if !ok {
				t.Fatalf("%s: event channel closed while waiting for %s", h.creds.Self.Name, what)
			}
			if pred(ev) {
				return ev
			}
		case <-guard.C:
			t.Fatalf("%s: no %s within 30s; sessions: %+v", h.creds.Self.Name, what, h.Sessions())
		}
	}
}

// eventually polls cond (a state another goroutine changes, with no event
// to wait on) until it holds, failing after within: a guard against a
// hang, not a way to let time pass.
func eventually(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	guard := time.NewTimer(within)
	defer guard.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for !cond() {
		select {
		case <-poll.C:
		case <-guard.C:
			t.Fatalf("%s: not within %s", what, within)
		}
	}
}

func (h *testHost) waitUp(t testing.TB, peer *testHost) Event {
	t.Helper()
	return h.waitFor(t, "up of "+peer.creds.Self.Name, func(e Event) bool { return e.Kind == EventUp && e.Session.PeerID == peer.ID() })
}

// failures returns the handshake failure count for a reason.
func (h *testHost) failures(reason string) float64 {
	return counterValue(h.metrics.handshakeFailures.WithLabelValues(reason))
}

// single returns the one session h has with peer, failing if there is
// not exactly one.
func (h *testHost) single(t testing.TB, peer *testHost) SessionInfo {
	t.Helper()
	got := h.sessionsWith(peer)
	if len(got) != 1 {
		t.Fatalf("%s has %d sessions with %s: %+v", h.creds.Self.Name, len(got), peer.creds.Self.Name, got)
	}
	return got[0]
}

// echo serves a stream by returning every message.
func echo(ctx context.Context, s *Stream) {
	for {
		m, err := s.ReadMsg()
		if err != nil {
			return
		}
		if err := s.WriteMsg(m); err != nil {
			return
		}
	}
}

// roundTrip sends one message on a new stream and checks the echo.
func roundTrip(t testing.TB, from, to *testHost, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := from.OpenStream(ctx, to.ID(), "echo")
	if err != nil {
		t.Fatalf("open stream %s -> %s: %v", from.creds.Self.Name, to.creds.Self.Name, err)
	}
	defer s.Close()
	if err := s.WriteMsg([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := s.ReadMsg()
	if err != nil || string(got) != msg {
		t.Fatalf("echo %s -> %s: got %q, %v", from.creds.Self.Name, to.creds.Self.Name, got, err)
	}
}

// expectClosed reads from c until the remote closes it and fails if that
// takes longer than within.
func expectClosed(t testing.TB, c io.Reader, setDeadline func(time.Time) error, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := setDeadline(start.Add(within)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %s", within)
		}
		return time.Since(start)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func names(hosts ...*testHost) string {
	var b strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&b, "%s=%s ", h.creds.Self.Name, short(h.ID()))
	}
	return b.String()
}

// counterValue reads a counter's current value.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// converged reports whether every pair of hosts has exactly one session,
// active at both ends and the same connection.
func converged(hosts []*testHost) bool {
	for i, a := range hosts {
		for _, b := range hosts[i+1:] {
			sa, sb := a.sessionsWith(b), b.sessionsWith(a)
			if len(sa) != 1 || len(sb) != 1 || sa[0].State != "active" || sb[0].State != "active" || sa[0].Conn != sb[0].Conn {
				return false
			}
		}
	}
	return true
}

// sessionsWith lists h's sessions with peer.
func (h *testHost) sessionsWith(peer *testHost) []SessionInfo {
	var got []SessionInfo
	for _, s := range h.Sessions() {
		if s.PeerID == peer.ID() {
			got = append(got, s)
		}
	}
	return got
}

// isClosed reports whether ch is closed, without blocking.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// waitConverged waits, event by event, until converged(hosts) and no
// host has a connection attempt in flight. It consumes the hosts' event
// channels.
func waitConverged(t testing.TB, hosts ...*testHost) {
	t.Helper()
	merged := make(chan struct{}, 1)
	done := make(chan struct{})
	defer close(done)
	for _, h := range hosts {
		go func() {
			for {
				select {
				case _, ok := <-h.events:
					if !ok {
						return
					}
					select {
					case merged <- struct{}{}:
					default:
					}
				case <-done:
					return
				}
			}
		}()
	}
	guard := time.NewTimer(60 * time.Second)
	defer guard.Stop()
	for {
		var busy <-chan struct{} // a host still dialing or handshaking
		if converged(hosts) {
			for _, h := range hosts {
				if ch := h.AttemptsDone(); !isClosed(ch) {
					busy = ch
					break
				}
			}
			if busy == nil {
				return
			}
		}
		select {
		case <-merged:
		case <-busy:
		case <-guard.C:
			for _, h := range hosts {
				t.Logf("%s: %+v", h.creds.Self.Name, h.Sessions())
			}
			t.Fatalf("no convergence within 60s")
		}
	}
}

// ordered returns two node credentials, the first with the smaller ID.
func ordered(t testing.TB, c *p2ptest.Consortium, a, b string) (*p2ptest.Node, *p2ptest.Node) {
	ca, cb := issue(t, c, 0, a, identity.RolePeer), issue(t, c, 0, b, identity.RolePeer)
	if cb.Self.ID() < ca.Self.ID() {
		ca, cb = cb, ca
	}
	return ca, cb
}
