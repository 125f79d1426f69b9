// Package lab holds the network namespaces a chaos run's nodes live in, and
// the partitions between them.
//
// A Lab is one Linux bridge in the root namespace and, per node, a network
// namespace joined to it by a veth pair, with its own IPv4 address on the
// lab's /24. The root namespace (where the chaos tool and its clients run)
// has an address on the bridge too, so it reaches every node and is never
// partitioned. Partitions and one-way drops are blackhole routes (/32) in
// the sending node's namespace: what that node sends to the address is
// discarded before it leaves, for new and established connections alike
// (a connect fails at once; an established connection stalls, its
// segments retransmitted until the route goes, as in a real partition).
// Only iproute2's `ip` is used; everything needs root (see Available).
package lab

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxNodes bounds the nodes of one lab (addresses .1 to .250 of its /24;
// the root namespace has .254).
const MaxNodes = 250

// prefixPattern keeps interface names within Linux's 15 characters
// (prefix + "v" + up to three digits) and free of separators, so one
// prefix's names never match another's.
var prefixPattern = regexp.MustCompile(`^[a-z][a-z0-9]{0,7}$`)

// namePattern is what a node name may be inside a namespace name.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Available returns nil when this process can build a lab, else why not:
// not root, no `ip`, or the kernel (a container without CAP_NET_ADMIN)
// refuses namespaces or bridges.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root (this process is not root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("network namespaces need iproute2's ip command (apt-get install iproute2): %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := os.Getpid() % 10_000_000
	ns, br := fmt.Sprintf("folio-probe-%d", id), fmt.Sprintf("fprb%d", id)
	if err := ip(ctx, "netns", "add", ns); err != nil {
		return fmt.Errorf("cannot create a network namespace here: %w", err)
	}
	_ = ip(ctx, "netns", "del", ns)
	if err := ip(ctx, "link", "add", br, "type", "bridge"); err != nil {
		return fmt.Errorf("cannot create a bridge here: %w", err)
	}
	_ = ip(ctx, "link", "del", br)
	return nil
}

// Lab is a bridge and one namespace per node. Its methods are safe for
// concurrent use.
type Lab struct {
	prefix string
	bridge string
	root   netip.Addr // the root namespace's address on the bridge
	nodes  []*node
	byName map[string]*node

	mu     sync.Mutex
	blocks map[block]bool // blackhole routes in place
	closed bool
}

type node struct {
	name string
	ns   string
	ip   netip.Addr
	veth string // root end of the veth pair (the other is eth0 in ns)
}

// block is one blackhole route: in namespace ns, to address dst.
type block struct {
	ns  string
	dst netip.Addr
}

// New builds a lab named by prefix (a lowercase letter then up to seven
// lowercase letters or digits; distinct prefixes let runs go in parallel)
// with one namespace and address per name. It first removes whatever a
// crashed earlier lab with the same prefix left behind. On error nothing
// of the new lab remains.
func New(ctx context.Context, prefix string, names []string) (*Lab, error) {
	if !prefixPattern.MatchString(prefix) {
		return nil, fmt.Errorf("lab prefix %q: want a lowercase letter then up to 7 lowercase letters or digits", prefix)
	}
	if len(names) == 0 || len(names) > MaxNodes {
		return nil, fmt.Errorf("lab %s: %d nodes: want 1 to %d", prefix, len(names), MaxNodes)
	}
	l := &Lab{prefix: prefix, bridge: prefix + "br", byName: map[string]*node{}, blocks: map[block]bool{}}
	for _, name := range names {
		if !namePattern.MatchString(name) {
			return nil, fmt.Errorf("lab %s: node name %q: want letters, digits, '.', '_' or '-'", prefix, name)
		}
		if l.byName[name] != nil {
			return nil, fmt.Errorf("lab %s: node %q twice", prefix, name)
		}
		nd := &node{name: name, ns: prefix + "-" + name, veth: fmt.Sprintf("%sv%d", prefix, len(l.nodes))}
		l.nodes = append(l.nodes, nd)
		l.byName[name] = nd
	}
	if err := Cleanup(ctx, prefix); err != nil {
		return nil, fmt.Errorf("lab %s: remove leftovers of an earlier run: %w", prefix, err)
	}
	subnet, err := freeSubnet(prefix)
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", prefix, err)
	}
	base := subnet.Addr().As4()
	l.root = netip.AddrFrom4([4]byte{base[0], base[1], base[2], 254})
	for i, nd := range l.nodes {
		nd.ip = netip.AddrFrom4([4]byte{base[0], base[1], base[2], byte(i + 1)})
	}
	if err := l.build(ctx); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("lab %s: %w", prefix, err)
	}
	return l, nil
}

func (l *Lab) build(ctx context.Context) error {
	if err := ip(ctx, "link", "add", l.bridge, "type", "bridge"); err != nil {
		return err
	}
	if err := ip(ctx, "addr", "add", l.root.String()+"/24", "dev", l.bridge); err != nil {
		return err
	}
	if err := ip(ctx, "link", "set", l.bridge, "up"); err != nil {
		return err
	}
	for _, nd := range l.nodes {
		steps := [][]string{
			{"netns", "add", nd.ns},
			{"link", "add", nd.veth, "type", "veth", "peer", "name", "eth0", "netns", nd.ns},
			{"link", "set", nd.veth, "master", l.bridge},
			{"link", "set", nd.veth, "up"},
			{"-n", nd.ns, "addr", "add", nd.ip.String() + "/24", "dev", "eth0"},
			{"-n", nd.ns, "link", "set", "eth0", "up"},
			// The node's own loopback: its enclave children and anything
			// else local to the node.
			{"-n", nd.ns, "link", "set", "lo", "up"},
		}
		for _, s := range steps {
			if err := ip(ctx, s...); err != nil {
				return fmt.Errorf("node %s: %w", nd.name, err)
			}
		}
	}
	return nil
}

// Hosts returns each node's address (node name -> IP), for
// localnet.Spec.Hosts.
func (l *Lab) Hosts() map[string]string {
	out := make(map[string]string, len(l.nodes))
	for _, nd := range l.nodes {
		out[nd.name] = nd.ip.String()
	}
	return out
}

// Netns returns each node's namespace (node name -> namespace name), for
// localnet.Spec.Netns.
func (l *Lab) Netns() map[string]string {
	out := make(map[string]string, len(l.nodes))
	for _, nd := range l.nodes {
		out[nd.name] = nd.ns
	}
	return out
}

// RootAddr is the root namespace's address on the lab's bridge: the
// source address nodes see for the chaos tool's clients.
func (l *Lab) RootAddr() string { return l.root.String() }

// Partition cuts every node of a off from every node of b, both ways,
// until Heal. Partitions add up (two at once cut both sets of links) and
// repeating one changes nothing. A node in both sets is an error.
func (l *Lab) Partition(ctx context.Context, a, b []string) error {
	as, err := l.lookup(a)
	if err != nil {
		return fmt.Errorf("partition: %w", err)
	}
	bs, err := l.lookup(b)
	if err != nil {
		return fmt.Errorf("partition: %w", err)
	}
	var want []block
	for _, x := range as {
		for _, y := range bs {
			if x == y {
				return fmt.Errorf("partition: %s is on both sides", x.name)
			}
			want = append(want, block{x.ns, y.ip}, block{y.ns, x.ip})
		}
	}
	return l.add(ctx, want)
}

// Drop discards what node from sends to node to, until Heal; what to sends
// to from still arrives. (A TCP connection between them stalls anyway, one
// side's acknowledgements being lost, but data sent by to is delivered.)
func (l *Lab) Drop(ctx context.Context, from, to string) error {
	nds, err := l.lookup([]string{from, to})
	if err != nil {
		return fmt.Errorf("drop: %w", err)
	}
	if nds[0] == nds[1] {
		return fmt.Errorf("drop: from and to are both %s", from)
	}
	return l.add(ctx, []block{{nds[0].ns, nds[1].ip}})
}

func (l *Lab) add(ctx context.Context, want []block) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("lab is closed")
	}
	for _, b := range want {
		if l.blocks[b] {
			continue
		}
		// replace, not add: a route left by a failed call is no error.
		if err := ip(ctx, "-n", b.ns, "route", "replace", "blackhole", b.dst.String()+"/32"); err != nil {
			return err
		}
		l.blocks[b] = true
	}
	return nil
}

// Heal removes every partition and drop: each node's namespace is left
// with no blackhole route at all, including any the lab lost track of.
func (l *Lab) Heal(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("lab is closed")
	}
	var errs []error
	for _, nd := range l.nodes {
		if err := ip(ctx, "-n", nd.ns, "route", "flush", "type", "blackhole"); err != nil {
			errs = append(errs, err)
			continue
		}
		for b := range l.blocks {
			if b.ns == nd.ns {
				delete(l.blocks, b)
			}
		}
	}
	return errors.Join(errs...)
}

// Blocked lists the links cut now, as "from->to" (node names), sorted.
func (l *Lab) Blocked() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	byIP := map[netip.Addr]string{}
	byNS := map[string]string{}
	for _, nd := range l.nodes {
		byIP[nd.ip], byNS[nd.ns] = nd.name, nd.name
	}
	var out []string
	for b := range l.blocks {
		out = append(out, byNS[b.ns]+"->"+byIP[b.dst])
	}
	slices.Sort(out)
	return out
}

// Close removes the namespaces, veth pairs and bridge. Nodes still running
// in a namespace keep it (without its link to the bridge) until they
// exit: stop them first. Closing twice is harmless.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return Cleanup(ctx, l.prefix)
}

// Cleanup removes every namespace, veth and bridge of labs with this
// prefix: what Close removes, also when the lab's process died before it
// could. New calls it first.
func Cleanup(ctx context.Context, prefix string) error {
	if !prefixPattern.MatchString(prefix) {
		return fmt.Errorf("lab prefix %q: want a lowercase letter then up to 7 lowercase letters or digits", prefix)
	}
	var errs []error
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("ip netns list: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		// "name" or "name (id: 3)"
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], prefix+"-") {
			if err := ip(ctx, "netns", "del", f[0]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list interfaces: %w", err))...)
	}
	for _, ifc := range ifs {
		if ownLink(prefix, ifc.Name) {
			// Deleting a veth end deletes its pair; a namespace whose
			// processes still run keeps only its eth0 gone.
			if err := ip(ctx, "link", "del", ifc.Name); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// ownLink reports whether an interface name is one a lab with prefix
// creates: its bridge prefix+"br" or a veth prefix+"v"+digits.
func ownLink(prefix, name string) bool {
	if name == prefix+"br" {
		return true
	}
	rest, ok := strings.CutPrefix(name, prefix+"v")
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// freeSubnet picks a /24 in 10.200.0.0-10.249.255.0 that overlaps no
// address or network of this namespace's interfaces, starting at a place
// derived from the prefix so that parallel labs rarely try the same one.
func freeSubnet(prefix string) (netip.Prefix, error) {
	var used []netip.Prefix
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if p, err := netip.ParsePrefix(ipn.String()); err == nil {
				used = append(used, p.Masked())
			}
		}
	}
	h := fnv.New32a()
	h.Write([]byte(prefix))
	const n = 50 * 256
	start := int(h.Sum32() % n)
	for k := range n {
		i := (start + k) % n
		cand := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(200 + i/256), byte(i % 256), 0}), 24)
		if !slices.ContainsFunc(used, cand.Overlaps) {
			return cand, nil
		}
	}
	return netip.Prefix{}, errors.New("no free /24 in 10.200.0.0/16-10.249.0.0/16")
}

func (l *Lab) lookup(names []string) ([]*node, error) {
	out := make([]*node, 0, len(names))
	for _, name := range names {
		nd := l.byName[name]
		if nd == nil {
			known := make([]string, len(l.nodes))
			for i, n := range l.nodes {
				known[i] = n.name
			}
			return nil, fmt.Errorf("no node %q in the lab (its nodes: %s)", name, strings.Join(known, ", "))
		}
		out = append(out, nd)
	}
	return out, nil
}

// ip runs one iproute2 command, its output in the error.
func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
