//go:build linux

package releasebench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Link is one client's shaped link: namespace name and rate.
type Link struct {
	NS      string
	Host    string // veth end in the root namespace
	RateBps float64
	hostIP  string // root side of its /30
	peerIP  string // namespace side
}

// Topology is the set of namespaces of one experiment.
type Topology struct {
	Prefix string
	Links  []Link
}

// ErrNotRoot: namespaces and tc need root.
var ErrNotRoot = errors.New("the experiment creates network namespaces and tc qdiscs: it must run as root")

// CheckTools reports what the machine lacks for the experiment.
func CheckTools() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	var missing []string
	for _, t := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s (Debian package iproute2; scripts/bench-release.sh installs it)", strings.Join(missing, " and "))
	}
	return nil
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// addHostAddr puts the relay address on the root namespace's lo (it may
// be there from an earlier run).
func addHostAddr(ctx context.Context) error {
	err := run(ctx, "ip", "addr", "replace", hostAddr+"/32", "dev", "lo")
	if err != nil {
		return fmt.Errorf("relay address: %w", err)
	}
	return nil
}

// burst is the tbf bucket: 10 ms at the rate, at least two full frames.
func burst(rateBps float64) int {
	return max(3200, int(rateBps/8/100))
}

// Prepare creates one namespace per rate, named prefix0, prefix1, ...,
// each with a veth pair to the root namespace shaped in both directions
// to its rate, and the host address on lo. Close removes everything.
func Prepare(ctx context.Context, prefix string, rates []float64) (*Topology, error) {
	if err := CheckTools(); err != nil {
		return nil, err
	}
	if len(rates) > 16000 {
		return nil, fmt.Errorf("at most 16000 links")
	}
	t := &Topology{Prefix: prefix}
	if err := addHostAddr(ctx); err != nil {
		return nil, err
	}
	var batch strings.Builder
	for i, r := range rates {
		l := Link{NS: fmt.Sprintf("%s%d", prefix, i), Host: fmt.Sprintf("%sh%d", prefix, i), RateBps: r}
		a, b := 10+i/16384, i%16384
		o3 := (b % 64) * 4
		l.hostIP = fmt.Sprintf("10.%d.%d.%d", 100+a, b/64, o3+1)
		l.peerIP = fmt.Sprintf("10.%d.%d.%d", 100+a, b/64, o3+2)
		t.Links = append(t.Links, l)
		fmt.Fprintf(&batch, "netns add %s\n", l.NS)
		fmt.Fprintf(&batch, "link add %s type veth peer name eth0 netns %s\n", l.Host, l.NS)
		fmt.Fprintf(&batch, "addr add %s/30 dev %s\n", l.hostIP, l.Host)
		fmt.Fprintf(&batch, "link set %s up\n", l.Host)
	}
	f, err := os.CreateTemp("", "folio-netns-*.batch")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(batch.String()); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()
	if err := run(ctx, "ip", "-batch", f.Name()); err != nil {
		t.Close()
		return nil, fmt.Errorf("create namespaces: %w", err)
	}
	for _, l := range t.Links {
		inside := fmt.Sprintf("addr add %s/30 dev eth0\nlink set eth0 up\nlink set lo up\nroute add default via %s\n", l.peerIP, l.hostIP)
		cmd := exec.CommandContext(ctx, "ip", "-n", l.NS, "-batch", "-")
		cmd.Stdin = strings.NewReader(inside)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Close()
			return nil, fmt.Errorf("configure %s: %v: %s", l.NS, err, out)
		}
		rate := fmt.Sprintf("%dbit", int64(l.RateBps))
		b := fmt.Sprint(burst(l.RateBps))
		// Download direction (root -> client) and upload (client -> root).
		if err := run(ctx, "tc", "qdisc", "add", "dev", l.Host, "root", "tbf", "rate", rate, "burst", b, "latency", "200ms"); err != nil {
			t.Close()
			return nil, err
		}
		if err := run(ctx, "tc", "-n", l.NS, "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", rate, "burst", b, "latency", "200ms"); err != nil {
			t.Close()
			return nil, err
		}
	}
	return t, nil
}

// Close removes the namespaces and links (deleting a namespace deletes
// its veth pair).
func (t *Topology) Close() error {
	var errs []error
	for _, l := range t.Links {
		if err := run(context.Background(), "ip", "netns", "del", l.NS); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Dialer returns a DialContext that creates its sockets inside link i's
// namespace and connects to the relay for the peer address asked for.
func (t *Topology) Dialer(i int, relay func(addr string) (string, bool)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	nsPath := "/var/run/netns/" + t.Links[i].NS
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		to, ok := relay(addr)
		if !ok {
			return nil, fmt.Errorf("no relay for %s", addr)
		}
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			// The thread enters the namespace and is never handed back
			// to other goroutines: returning while locked ends it.
			runtime.LockOSThread()
			ns, err := os.Open(nsPath)
			if err != nil {
				ch <- res{nil, err}
				return
			}
			defer ns.Close()
			if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- res{nil, fmt.Errorf("setns %s: %w", nsPath, err)}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp4", to)
			ch <- res{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}
