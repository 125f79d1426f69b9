package lab

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// needLab skips the test unless this process can build a lab.
func needLab(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("chaos lab test skipped: %v (run as root with iproute2 to include it)", err)
	}
}

// testPrefix is a prefix no other test run uses.
func testPrefix(t *testing.T) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "lt" + hex.EncodeToString(b[:])
}

func newLab(t *testing.T, names ...string) *Lab {
	t.Helper()
	l, err := New(context.Background(), testPrefix(t), names)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return l
}

// inNS runs fn on a thread inside namespace ns; sockets it creates stay
// in ns and can be used from any goroutine afterwards. The thread is
// never returned to the scheduler (it ends with the goroutine), so no
// other goroutine runs in ns.
func inNS[T any](t *testing.T, ns string, fn func() (T, error)) (T, error) {
	t.Helper()
	type res struct {
		v   T
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			ch <- res{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- res{err: fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		v, err := fn()
		ch <- res{v, err}
	}()
	r := <-ch
	return r.v, r.err
}

// server is a tiny TCP server in a node's namespace: it delivers every
// line it receives on got and echoes it back.
type server struct {
	addr string
	got  chan string
	conn chan net.Conn // accepted connections
}

func startServer(t *testing.T, l *Lab, name string) *server {
	t.Helper()
	addr := net.JoinHostPort(l.Hosts()[name], "7000")
	ln, err := inNS(t, l.Netns()[name], func() (net.Listener, error) { return net.Listen("tcp4", addr) })
	if err != nil {
		t.Fatal(err)
	}
	s := &server{addr: addr, got: make(chan string, 16), conn: make(chan net.Conn, 16)}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			s.conn <- c
			go func() {
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					s.got <- sc.Text()
					_, _ = fmt.Fprintln(c, sc.Text())
				}
			}()
		}
	}()
	return s
}

// dialFrom connects from node name's namespace (or the root namespace when
// name is "") to addr.
func dialFrom(t *testing.T, l *Lab, name, addr string) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if name == "" {
		return d.Dial("tcp4", addr)
	}
	return inNS(t, l.Netns()[name], func() (net.Conn, error) { return d.Dial("tcp4", addr) })
}

func mustDial(t *testing.T, l *Lab, name, addr string) net.Conn {
	t.Helper()
	c, err := dialFrom(t, l, name, addr)
	if err != nil {
		t.Fatalf("dial %s from %q: %v", addr, name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mustFailDial checks that a new connection from name to addr is refused
// at once: the blackhole route fails the connect locally, so this takes
// no waiting.
func mustFailDial(t *testing.T, l *Lab, name, addr string) {
	t.Helper()
	c, err := dialFrom(t, l, name, addr)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s from %s succeeded across a partition", addr, name)
	}
	if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("dial %s from %s: %v, want the blackhole route's EINVAL", addr, name, err)
	}
}

// roundTrip sends a line on c and waits for the server to get it and the
// echo to come back.
func roundTrip(t *testing.T, c net.Conn, s *server, line string) {
	t.Helper()
	if _, err := fmt.Fprintln(c, line); err != nil {
		t.Fatal(err)
	}
	if got := <-s.got; got != line {
		t.Fatalf("server got %q, want %q", got, line)
	}
	echo, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || echo != line+"\n" {
		t.Fatalf("echo %q, %v", echo, err)
	}
}

// outq is the number of bytes c has sent (or queued) that its peer has not
// acknowledged.
func outq(t *testing.T, c net.Conn) int {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ioErr error
	if err := rc.Control(func(fd uintptr) { n, ioErr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }); err != nil {
		t.Fatal(err)
	}
	if ioErr != nil {
		t.Fatal(ioErr)
	}
	return n
}

// stalled waits until the kernel has tried, and failed, to send c's
// queued bytes for a while: they stay unacknowledged over a window in
// which a working link (RTT well under a millisecond on a bridge) would
// have delivered them hundreds of times. The window only bounds how long
// the test looks for a delivery that must not happen; it cannot fail a
// correct lab.
func stalled(t *testing.T, c net.Conn, got <-chan string) {
	t.Helper()
	deadline := time.After(time.Second)
	for {
		select {
		case line := <-got:
			t.Fatalf("%q was delivered across the cut", line)
		case <-deadline:
			if n := outq(t, c); n == 0 {
				t.Fatal("the sender's bytes were acknowledged across the cut")
			}
			return
		}
	}
}

// TestPartitionBothWays cuts a from b: an established connection stalls
// both ways and new ones fail, while the root namespace and a third node
// still reach both; Heal lets the stalled bytes through on the same
// connection.
func TestPartitionBothWays(t *testing.T) {
	needLab(t)
	l := newLab(t, "a", "b", "c")
	ctx := context.Background()
	sa, sb := startServer(t, l, "a"), startServer(t, l, "b")
	ba := mustDial(t, l, "b", sa.addr)
	roundTrip(t, ba, sa, "before")
	mustDial(t, l, "a", sb.addr)
	<-sb.conn
	<-sa.conn

	if err := l.Partition(ctx, []string{"a"}, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	if got := l.Blocked(); strings.Join(got, " ") != "a->b b->a" {
		t.Fatalf("blocked %v", got)
	}
	// The established connection: b's line does not reach a.
	if _, err := fmt.Fprintln(ba, "during"); err != nil {
		t.Fatal(err)
	}
	stalled(t, ba, sa.got)
	mustFailDial(t, l, "a", sb.addr)
	mustFailDial(t, l, "b", sa.addr)
	// The root namespace and c are not partitioned.
	roundTrip(t, mustDial(t, l, "", sa.addr), sa, "root-a")
	roundTrip(t, mustDial(t, l, "", sb.addr), sb, "root-b")
	roundTrip(t, mustDial(t, l, "c", sa.addr), sa, "c-a")
	roundTrip(t, mustDial(t, l, "c", sb.addr), sb, "c-b")

	if err := l.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if got := l.Blocked(); len(got) != 0 {
		t.Fatalf("blocked after heal: %v", got)
	}
	// The stalled line arrives on the same connection once the kernel
	// retransmits it, and the echo comes back.
	if got := <-sa.got; got != "during" {
		t.Fatalf("after heal a got %q", got)
	}
	if echo, err := bufio.NewReader(ba).ReadString('\n'); err != nil || echo != "during\n" {
		t.Fatalf("echo after heal %q, %v", echo, err)
	}
	roundTrip(t, mustDial(t, l, "a", sb.addr), sb, "healed")
}

// TestDropOneWay drops what a sends to b: b's bytes reach a, a's do not
// reach b, until Heal.
func TestDropOneWay(t *testing.T) {
	needLab(t)
	l := newLab(t, "a", "b")
	ctx := context.Background()
	sa := startServer(t, l, "a")
	ba := mustDial(t, l, "b", sa.addr)
	roundTrip(t, ba, sa, "before")
	atA := <-sa.conn

	if err := l.Drop(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if got := l.Blocked(); strings.Join(got, " ") != "a->b" {
		t.Fatalf("blocked %v", got)
	}
	// b -> a still arrives; a's echo back to b is dropped.
	if _, err := fmt.Fprintln(ba, "one-way"); err != nil {
		t.Fatal(err)
	}
	if got := <-sa.got; got != "one-way" {
		t.Fatalf("a got %q", got)
	}
	echoes := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(ba).ReadString('\n')
		echoes <- line
	}()
	stalled(t, atA, echoes)
	mustFailDial(t, l, "a", net.JoinHostPort(l.Hosts()["b"], "7000"))

	if err := l.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if echo := <-echoes; echo != "one-way\n" {
		t.Fatalf("echo after heal %q", echo)
	}
}

// TestPartitionsComposeAndHeal: repeating a partition changes nothing,
// two partitions hold at once, and Heal removes every route.
func TestPartitionsComposeAndHeal(t *testing.T) {
	needLab(t)
	l := newLab(t, "a", "b", "c")
	ctx := context.Background()
	sa, sb, sc := startServer(t, l, "a"), startServer(t, l, "b"), startServer(t, l, "c")
	for range 2 {
		if err := l.Partition(ctx, []string{"a"}, []string{"b"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Partition(ctx, []string{"a"}, []string{"c"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(l.Blocked(), " "); got != "a->b a->c b->a c->a" {
		t.Fatalf("blocked %s", got)
	}
	mustFailDial(t, l, "a", sb.addr)
	mustFailDial(t, l, "a", sc.addr)
	mustFailDial(t, l, "b", sa.addr)
	mustFailDial(t, l, "c", sa.addr)
	roundTrip(t, mustDial(t, l, "b", sc.addr), sc, "b-c")
	if err := l.Partition(ctx, []string{"a"}, []string{"a", "b"}); err == nil {
		t.Fatal("a partition with a node on both sides was accepted")
	}
	if err := l.Drop(ctx, "a", "nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("drop to an unknown node: %v", err)
	}

	if err := l.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	for name, ns := range l.Netns() {
		out, err := exec.Command("ip", "-n", ns, "route", "show", "type", "blackhole").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Fatalf("%s after heal: %s %v", name, out, err)
		}
	}
	roundTrip(t, mustDial(t, l, "a", sb.addr), sb, "a-b")
	roundTrip(t, mustDial(t, l, "c", sa.addr), sa, "c-a")
	if err := l.Heal(ctx); err != nil {
		t.Fatalf("second heal: %v", err)
	}
}

// TestCloseLeavesNothing: a lab whose process "crashed" (never closed) is
// cleaned up by the next New with its prefix, and Close removes every
// namespace, veth and the bridge.
func TestCloseLeavesNothing(t *testing.T) {
	needLab(t)
	ctx := context.Background()
	prefix := testPrefix(t)
	crashed, err := New(ctx, prefix, []string{"x", "y"})
	if err != nil {
		t.Fatal(err)
	}
	if err := crashed.Partition(ctx, []string{"x"}, []string{"y"}); err != nil {
		t.Fatal(err)
	}
	l, err := New(ctx, prefix, []string{"x", "y", "z"})
	if err != nil {
		t.Fatalf("new lab over a crashed one: %v", err)
	}
	if got := leftovers(t, prefix); len(got) != 3+3+1 {
		t.Fatalf("lab of 3 nodes has %v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := leftovers(t, prefix); len(got) != 0 {
		t.Fatalf("left after close: %v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := l.Heal(ctx); err == nil {
		t.Fatal("heal of a closed lab succeeded")
	}
}

// leftovers lists the namespaces and links of labs with prefix.
func leftovers(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	b, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix+"-") {
			out = append(out, "netns "+f[0])
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifs {
		if strings.HasPrefix(ifc.Name, prefix) {
			out = append(out, "link "+ifc.Name)
		}
	}
	return out
}

func TestNewRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		prefix string
		names  []string
	}{
		{"", []string{"a"}},
		{"Upper", []string{"a"}},
		{"toolongprefix", []string{"a"}},
		{"ok", nil},
		{"ok", []string{"a", "a"}},
		{"ok", []string{"a/b"}},
	} {
		if _, err := New(ctx, c.prefix, c.names); err == nil {
			t.Errorf("New(%q, %q) succeeded", c.prefix, c.names)
		}
	}
}

func TestOwnLink(t *testing.T) {
	for name, want := range map[string]bool{"abbr": true, "abv0": true, "abv12": true, "abv": false, "abvbr": false, "abv1v0": false, "abc": false, "xabv1": false} {
		if got := ownLink("ab", name); got != want {
			t.Errorf("ownLink(ab, %s) = %v", name, got)
		}
	}
}
