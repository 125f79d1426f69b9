package nemesis

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind is a kind of fault.
type Kind string

const (
	// Kill sends SIGKILL to a peer or orderer; healed by starting it again.
	Kill Kind = "kill"
	// KillLeader kills the orderer that is the Raft leader when the fault
	// is injected (the plan cannot know which); healed by starting it.
	KillLeader Kind = "kill-leader"
	// KillEnclave sends SIGKILL to a peer's enclave child process(es);
	// healed by starting the peer if it died (a peer that restarted its
	// enclave itself is fine).
	KillEnclave Kind = "kill-enclave"
	// Pause sends SIGSTOP to a node; healed by SIGCONT.
	Pause Kind = "pause"
	// Partition isolates one node from all others, or splits the nodes in
	// two groups; healed by removing every partition.
	Partition Kind = "partition"
	// OneWay drops what one node sends to another (the reverse path
	// works); healed by removing every partition.
	OneWay Kind = "one-way"
	// ClockSkew moves one node's clock within the admission bounds
	// (PlanOptions.MaxSkew); healed by resetting its offset to 0.
	ClockSkew Kind = "clock-skew"
	// ClockJump moves one node's clock beyond the bounds
	// (PlanOptions.Jumps); healed by resetting its offset to 0.
	ClockJump Kind = "clock-jump"
	// DiskFull fills one node's data filesystem; healed by freeing the
	// space and starting the node if the full disk stopped it.
	DiskFull Kind = "disk-full"
	// Restart stops a node gracefully (SIGTERM); healed by starting it.
	Restart Kind = "restart"
)

// Kinds returns every kind, in a fixed order.
func Kinds() []Kind {
	return []Kind{Kill, KillLeader, KillEnclave, Pause, Partition, OneWay, ClockSkew, ClockJump, DiskFull, Restart}
}

// ParseKind returns the kind named s.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, 0, len(Kinds()))
	for _, k := range Kinds() {
		names = append(names, string(k))
	}
	return "", fmt.Errorf("no fault kind %q (kinds: %s)", s, strings.Join(names, ", "))
}

// Roles of the nodes (as in network.json).
const (
	RolePeer    = "peer"
	RoleOrderer = "orderer"
	RoleCA      = "ca"
)

// Node is a node a plan may target.
type Node struct {
	Name string
	// Role is RolePeer, RoleOrderer or RoleCA.
	Role string
	// Disk says the node's data directory is a filesystem of its own that
	// may be filled (Processes.PrepareDisk): DiskFull targets only such
	// nodes, so a plan never fills a shared disk.
	Disk bool
}

// Applies reports whether a fault of kind k may target node n. CAs are
// never targeted: no client operation of a chaos run goes through them
// after enrolment, so faulting them would only dilute the plan.
func Applies(k Kind, n Node) bool {
	switch k {
	case KillEnclave:
		return n.Role == RolePeer
	case KillLeader:
		return n.Role == RoleOrderer
	case DiskFull:
		return n.Disk && (n.Role == RolePeer || n.Role == RoleOrderer)
	case Kill, Pause, Partition, OneWay, ClockSkew, ClockJump, Restart:
		return n.Role == RolePeer || n.Role == RoleOrderer
	}
	return false
}

// network reports whether k acts on the network between nodes: those
// faults share one Heal, so at most one is active at a time.
func (k Kind) network() bool { return k == Partition || k == OneWay }

// Fault is one planned fault.
type Fault struct {
	// Seq numbers the plan's faults from 1, in order of At.
	Seq  int  `json:"seq"`
	Kind Kind `json:"kind"`
	// Nodes are the targets: one node for most kinds; none for
	// KillLeader (resolved at injection); for Partition one side; for
	// OneWay [from, to].
	Nodes []string `json:"nodes,omitempty"`
	// Others is the other side of a Partition.
	Others []string `json:"others,omitempty"`
	// Offset is the clock offset of ClockSkew and ClockJump.
	Offset time.Duration `json:"offset,omitempty"`
	// At is when the fault is injected, from the run's start; it is healed
	// Duration later.
	At       time.Duration `json:"at"`
	Duration time.Duration `json:"duration"`
}

// End is when the fault is healed, from the run's start.
func (f Fault) End() time.Duration { return f.At + f.Duration }

// Isolation reports whether a Partition cuts one node off from all others
// (rather than splitting the nodes in two groups).
func (f Fault) Isolation() bool { return f.Kind == Partition && len(f.Nodes) == 1 }

// String describes the fault on one line.
func (f Fault) String() string {
	var what string
	switch f.Kind {
	case KillLeader:
		what = "the Raft leader"
	case Partition:
		if f.Isolation() {
			what = f.Nodes[0] + " from all others"
		} else {
			what = fmt.Sprintf("{%s} | {%s}", strings.Join(f.Nodes, " "), strings.Join(f.Others, " "))
		}
	case OneWay:
		if len(f.Nodes) == 2 {
			what = f.Nodes[0] + " -> " + f.Nodes[1] + " dropped"
		}
	case ClockSkew, ClockJump:
		what = fmt.Sprintf("%s by %s", strings.Join(f.Nodes, " "), f.Offset)
	default:
		what = strings.Join(f.Nodes, " ")
	}
	return fmt.Sprintf("#%d %s %s at %s for %s", f.Seq, f.Kind, what, f.At, f.Duration)
}

// touches returns the nodes a fault disrupts: two concurrent faults never
// touch the same node. A KillLeader touches every orderer (which one it
// kills is known only at injection), a split touches both sides.
func (f Fault) touches(orderers []string) []string {
	switch {
	case f.Kind == KillLeader:
		return orderers
	case f.Kind == Partition && !f.Isolation():
		return append(slices.Clone(f.Nodes), f.Others...)
	}
	return f.Nodes
}
