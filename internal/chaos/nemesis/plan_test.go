package nemesis

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// testNodes is the default local network: 3 CAs, 4 peers, 3 orderers;
// every peer and orderer has a disk of its own.
func testNodes() []Node {
	nodes := []Node{{Name: "ca.org1", Role: RoleCA}, {Name: "ca.org2", Role: RoleCA}, {Name: "ca.ordererorg", Role: RoleCA}}
	for _, p := range []string{"peer0.org1", "peer1.org1", "peer0.org2", "peer1.org2"} {
		nodes = append(nodes, Node{Name: p, Role: RolePeer, Disk: true})
	}
	for _, o := range []string{"orderer0", "orderer1", "orderer2"} {
		nodes = append(nodes, Node{Name: o, Role: RoleOrderer, Disk: true})
	}
	return nodes
}

func TestPlanSameSeedSamePlan(t *testing.T) {
	nodes := testNodes()
	a := Plan(42, 10*time.Minute, nodes, Kinds(), PlanOptions{})
	// The caller's order of nodes and kinds does not matter.
	rn, rk := slices.Clone(nodes), slices.Clone(Kinds())
	slices.Reverse(rn)
	slices.Reverse(rk)
	b := Plan(42, 10*time.Minute, rn, rk, PlanOptions{})
	if len(a) == 0 || !reflect.DeepEqual(a, b) {
		t.Fatalf("seed 42 gave two plans:\n%s\n---\n%s", planText(a), planText(b))
	}
	c := Plan(43, 10*time.Minute, nodes, Kinds(), PlanOptions{})
	if reflect.DeepEqual(a, c) {
		t.Fatalf("seeds 42 and 43 gave the same plan:\n%s", planText(a))
	}
}

// TestPlanInvariants checks every plan of many seeds, lengths and
// concurrency limits against the plan's promises.
func TestPlanInvariants(t *testing.T) {
	nodes := testNodes()
	noDisk := slices.Clone(nodes)
	for i := range noDisk {
		noDisk[i].Disk = false
	}
	peersOnly := []Node{{Name: "p0", Role: RolePeer}, {Name: "p1", Role: RolePeer}}
	cases := []struct {
		name  string
		nodes []Node
		kinds []Kind
		o     PlanOptions
		d     time.Duration
	}{
		{"default", nodes, Kinds(), PlanOptions{}, 10 * time.Minute},
		{"short", nodes, Kinds(), PlanOptions{}, 40 * time.Second},
		{"two at once", nodes, Kinds(), PlanOptions{MaxConcurrent: 2}, 10 * time.Minute},
		{"three at once", nodes, Kinds(), PlanOptions{MaxConcurrent: 3, MinGap: time.Second, MaxGap: 2 * time.Second}, 10 * time.Minute},
		{"no disk", noDisk, Kinds(), PlanOptions{}, 10 * time.Minute},
		{"two peers", peersOnly, Kinds(), PlanOptions{MaxConcurrent: 2}, 5 * time.Minute},
		{"kills only", nodes, []Kind{Kill, KillLeader}, PlanOptions{MinFault: time.Second, MaxFault: time.Second, MinGap: time.Second, MaxGap: time.Second}, time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for seed := int64(0); seed < 300; seed++ {
				plan := Plan(seed, c.d, c.nodes, c.kinds, c.o)
				if err := checkPlan(plan, c.d, c.nodes, c.kinds, c.o); err != nil {
					t.Fatalf("seed %d: %v\n%s", seed, err, planText(plan))
				}
			}
		})
	}
}

// TestCheckPlanFlags: the invariant checker flags broken plans, so the
// test above would see a broken Plan.
func TestCheckPlanFlags(t *testing.T) {
	nodes := testNodes()
	o := PlanOptions{}
	d := 10 * time.Minute
	good := Plan(7, d, nodes, Kinds(), o)
	if err := checkPlan(good, d, nodes, Kinds(), o); err != nil {
		t.Fatalf("a plan from Plan: %v", err)
	}
	breakers := map[string]func([]Fault) []Fault{
		"overlap": func(p []Fault) []Fault { p[1].At = p[0].At; return p },
		"beyond d": func(p []Fault) []Fault {
			p[len(p)-1].Duration = d
			return p
		},
		"enclave of an orderer": func(p []Fault) []Fault {
			for i := range p {
				if p[i].Kind == KillEnclave {
					p[i].Nodes = []string{"orderer0"}
				}
			}
			return p
		},
		"a CA killed": func(p []Fault) []Fault {
			for i := range p {
				if p[i].Kind == Kill {
					p[i].Nodes = []string{"ca.org1"}
				}
			}
			return p
		},
		"kind missing": func(p []Fault) []Fault {
			return slices.DeleteFunc(p, func(f Fault) bool { return f.Kind == Pause })
		},
		"unknown node": func(p []Fault) []Fault { p[0].Nodes = []string{"peer9"}; p[0].Kind = Kill; return p },
		"skew too big": func(p []Fault) []Fault {
			for i := range p {
				if p[i].Kind == ClockSkew {
					p[i].Offset = time.Hour
				}
			}
			return p
		},
	}
	for name, br := range breakers {
		bad := br(clonePlan(good))
		for i := range bad {
			bad[i].Seq = i + 1
		}
		if err := checkPlan(bad, d, nodes, Kinds(), o); err == nil {
			t.Errorf("%s: not flagged:\n%s", name, planText(bad))
		}
	}
}

func clonePlan(p []Fault) []Fault {
	out := make([]Fault, len(p))
	for i, f := range p {
		f.Nodes, f.Others = slices.Clone(f.Nodes), slices.Clone(f.Others)
		out[i] = f
	}
	return out
}

// checkPlan checks a plan against every promise of Plan.
func checkPlan(plan []Fault, d time.Duration, nodes []Node, kinds []Kind, o PlanOptions) error {
	o.EnsureDefaults()
	byName := map[string]Node{}
	var orderers []string
	for _, n := range nodes {
		byName[n.Name] = n
		if n.Role == RoleOrderer {
			orderers = append(orderers, n.Name)
		}
	}
	slices.Sort(orderers)
	budget := max(1, (len(orderers)-1)/2)
	enabled := map[Kind]bool{}
	for _, k := range kinds {
		applicable := 0
		for _, n := range nodes {
			if Applies(k, n) {
				applicable++
			}
		}
		if applicable >= 1 && (!k.network() || applicable >= 2) {
			enabled[k] = true
		}
	}
	covered := map[Kind]bool{}
	for i, f := range plan {
		if f.Seq != i+1 {
			return fmt.Errorf("fault %d has Seq %d", i, f.Seq)
		}
		if i > 0 && f.At < plan[i-1].At {
			return fmt.Errorf("%s: before the previous fault", f)
		}
		if f.At < o.MinGap || f.End() > d || f.Duration < o.MinFault || f.Duration > o.MaxFault {
			return fmt.Errorf("%s: outside [MinGap, d=%s] or its duration outside [%s, %s]", f, d, o.MinFault, o.MaxFault)
		}
		if !enabled[f.Kind] {
			return fmt.Errorf("%s: kind not enabled or not applicable", f)
		}
		covered[f.Kind] = true
		if err := checkTargets(f, byName, o); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		// The faults active when f starts (f included).
		var active []Fault
		for _, g := range plan[:i+1] {
			if g.End() > f.At {
				active = append(active, g)
			}
		}
		if len(active) > o.MaxConcurrent {
			return fmt.Errorf("%s: %d faults active, MaxConcurrent %d", f, len(active), o.MaxConcurrent)
		}
		touched, network, ordererFaults := map[string]bool{}, 0, 0
		for _, g := range active {
			touchesO := g.Kind == KillLeader
			for _, n := range g.touches(orderers) {
				if touched[n] {
					return fmt.Errorf("%s: %s touched by two active faults", f, n)
				}
				touched[n] = true
				touchesO = touchesO || byName[n].Role == RoleOrderer
			}
			if g.Kind.network() {
				network++
			}
			if touchesO {
				ordererFaults++
			}
		}
		if network > 1 || ordererFaults > budget {
			return fmt.Errorf("%s: %d network faults, %d faults on orderers active (budget %d)", f, network, ordererFaults, budget)
		}
		if o.MaxConcurrent == 1 && i > 0 && f.At < plan[i-1].End()+o.MinGap {
			return fmt.Errorf("%s: less than MinGap after %s", f, plan[i-1])
		}
	}
	// Every enabled kind is covered when d fits a round of them.
	if round := o.MaxGap + time.Duration(len(enabled))*(o.MaxFault+o.MaxGap); d >= round {
		for k := range enabled {
			if !covered[k] {
				return fmt.Errorf("kind %s never planned in %s (a round takes at most %s)", k, d, round)
			}
		}
	}
	return nil
}

func checkTargets(f Fault, byName map[string]Node, o PlanOptions) error {
	all := append(slices.Clone(f.Nodes), f.Others...)
	seen := map[string]bool{}
	for _, n := range all {
		nd, ok := byName[n]
		if !ok {
			return fmt.Errorf("unknown node %q", n)
		}
		if seen[n] {
			return fmt.Errorf("%s twice", n)
		}
		seen[n] = true
		if !Applies(f.Kind, nd) {
			return fmt.Errorf("%s does not apply to %s (%s)", f.Kind, n, nd.Role)
		}
	}
	want := map[Kind]int{KillLeader: 0, OneWay: 2}
	switch n, ok := want[f.Kind]; {
	case f.Kind == Partition:
		if len(f.Nodes) == 0 || len(f.Others) == 0 {
			return fmt.Errorf("a partition with an empty side")
		}
	case ok && len(f.Nodes) != n, !ok && len(f.Nodes) != 1:
		return fmt.Errorf("%d target nodes", len(f.Nodes))
	}
	if f.Kind != Partition && len(f.Others) > 0 {
		return fmt.Errorf("Others set")
	}
	switch f.Kind {
	case ClockSkew:
		if f.Offset == 0 || f.Offset > o.MaxSkew || f.Offset < -o.MaxSkew {
			return fmt.Errorf("skew %s outside ±%s", f.Offset, o.MaxSkew)
		}
	case ClockJump:
		if !slices.Contains(o.Jumps, f.Offset) {
			return fmt.Errorf("jump %s not one of %v", f.Offset, o.Jumps)
		}
	default:
		if f.Offset != 0 {
			return fmt.Errorf("offset %s on a %s", f.Offset, f.Kind)
		}
	}
	return nil
}

func planText(p []Fault) string {
	var b strings.Builder
	for _, f := range p {
		b.WriteString(f.String() + "\n")
	}
	return b.String()
}

// TestPlanCoversEveryKindAndSplits: over seeds, partitions both isolate
// and split, and a split involves every peer and orderer.
func TestPlanCoversEveryKindAndSplits(t *testing.T) {
	var isolations, splits int
	for seed := int64(0); seed < 50; seed++ {
		for _, f := range Plan(seed, 30*time.Minute, testNodes(), []Kind{Partition, Kill}, PlanOptions{}) {
			if f.Kind != Partition {
				continue
			}
			if f.Isolation() {
				isolations++
			} else {
				splits++
				if len(f.Nodes)+len(f.Others) != 7 || len(f.Nodes) < 2 || len(f.Others) < 2 {
					t.Fatalf("seed %d: split %s", seed, f)
				}
			}
		}
	}
	if isolations == 0 || splits == 0 {
		t.Fatalf("%d isolations, %d splits over 50 seeds: want both", isolations, splits)
	}
}

func TestPlanNothingToDo(t *testing.T) {
	if p := Plan(1, time.Minute, testNodes(), nil, PlanOptions{}); len(p) != 0 {
		t.Fatalf("no kinds: %s", planText(p))
	}
	cas := []Node{{Name: "ca.org1", Role: RoleCA}}
	if p := Plan(1, time.Minute, cas, Kinds(), PlanOptions{}); len(p) != 0 {
		t.Fatalf("only a CA: %s", planText(p))
	}
	if p := Plan(1, 3*time.Second, testNodes(), Kinds(), PlanOptions{}); len(p) != 0 {
		t.Fatalf("3 s cannot hold a gap and a fault: %s", planText(p))
	}
}
