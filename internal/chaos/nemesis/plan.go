package nemesis

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"
)

// PlanOptions shape a plan. Zero fields take their defaults.
type PlanOptions struct {
	// MaxConcurrent is how many faults may be active at once. Default 1:
	// the service promises to keep writing through any single failure
	// (DESIGN 6), not through two.
	MaxConcurrent int
	// MinFault and MaxFault bound how long a fault lasts. Default 5 s and
	// 15 s.
	MinFault, MaxFault time.Duration
	// MinGap and MaxGap bound the quiet gap after a fault is healed (and
	// before the first fault). Default 5 s and 15 s.
	MinGap, MaxGap time.Duration
	// MaxSkew bounds a ClockSkew offset: a whole number of seconds in
	// [-MaxSkew, -1s] or [1s, MaxSkew]. Default 20 s, within the admission
	// bounds.
	MaxSkew time.Duration
	// Jumps are the offsets a ClockJump picks from. Default ±10 min and
	// ±1 h, beyond the admission bounds.
	Jumps []time.Duration
}

// EnsureDefaults fills zero fields with their defaults.
func (o *PlanOptions) EnsureDefaults() {
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 1
	}
	if o.MinFault <= 0 {
		o.MinFault = 5 * time.Second
	}
	if o.MaxFault <= 0 {
		o.MaxFault = max(15*time.Second, o.MinFault)
	}
	if o.MinGap <= 0 {
		o.MinGap = 5 * time.Second
	}
	if o.MaxGap <= 0 {
		o.MaxGap = max(15*time.Second, o.MinGap)
	}
	if o.MaxSkew <= 0 {
		o.MaxSkew = 20 * time.Second
	}
	if len(o.Jumps) == 0 {
		o.Jumps = []time.Duration{10 * time.Minute, -10 * time.Minute, time.Hour, -time.Hour}
	}
}

// Validate reports options Plan would have to correct.
func (o PlanOptions) Validate() error {
	var errs []error
	if o.MaxFault < o.MinFault {
		errs = append(errs, fmt.Errorf("MaxFault %s < MinFault %s", o.MaxFault, o.MinFault))
	}
	if o.MaxGap < o.MinGap {
		errs = append(errs, fmt.Errorf("MaxGap %s < MinGap %s", o.MaxGap, o.MinGap))
	}
	if o.MaxSkew > 0 && o.MaxSkew < time.Second {
		errs = append(errs, fmt.Errorf("MaxSkew %s < 1s", o.MaxSkew))
	}
	for _, j := range o.Jumps {
		if j == 0 {
			errs = append(errs, errors.New("a clock jump of 0"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nemesis plan options: %w", err)
	}
	return nil
}

// seedSalt separates this package's random stream from other users of the
// same seed (the workload draws from it too).
const seedSalt = 0x6e656d65736973 // "nemesis"

// Plan returns the faults of a run of length d, in order of At, as a pure
// function of its arguments. Options are defaulted; inverted bounds are
// corrected (the larger wins; see PlanOptions.Validate).
//
// Each of o.MaxConcurrent lanes alternates a quiet gap (the first one too)
// and a fault. A fault's kind is the next enabled kind not yet planned, in
// a seeded order, then a random kind; its targets are random nodes it
// applies to. Concurrent faults never touch the same node, at most one
// network fault (Partition, OneWay: they share one Heal) is active, and
// the faults touching orderers at once are at most a minority of the
// orderers (at least one). Kinds
// that apply to no node (or to too few: a partition needs two) are left
// out. Every fault ends by d.
func Plan(seed int64, d time.Duration, nodes []Node, kinds []Kind, o PlanOptions) []Fault {
	o.EnsureDefaults()
	o.MaxFault = max(o.MaxFault, o.MinFault)
	o.MaxGap = max(o.MaxGap, o.MinGap)
	o.MaxSkew = max(o.MaxSkew, time.Second)
	p := &planner{o: o, rng: rand.New(rand.NewPCG(uint64(seed), seedSalt))}
	p.nodes = slices.Clone(nodes)
	sort.Slice(p.nodes, func(i, j int) bool { return p.nodes[i].Name < p.nodes[j].Name })
	p.nodes = slices.CompactFunc(p.nodes, func(a, b Node) bool { return a.Name == b.Name })
	for _, n := range p.nodes {
		if n.Role == RoleOrderer {
			p.orderers = append(p.orderers, n.Name)
		}
	}
	p.ordererBudget = max(1, (len(p.orderers)-1)/2)
	seen := map[Kind]bool{}
	for _, k := range kinds {
		if !seen[k] && p.possible(k) {
			seen[k] = true
			p.kinds = append(p.kinds, k)
		}
	}
	slices.Sort(p.kinds) // the caller's order does not change the plan
	if len(p.kinds) == 0 || d <= 0 {
		return nil
	}
	for _, i := range p.rng.Perm(len(p.kinds)) {
		p.pending = append(p.pending, p.kinds[i])
	}
	return p.run(d)
}

type planner struct {
	o             PlanOptions
	rng           *rand.Rand
	nodes         []Node   // sorted by name, unique
	orderers      []string // names, sorted
	ordererBudget int      // orderers touched at once, at most
	kinds         []Kind   // enabled and possible, sorted
	pending       []Kind   // kinds not planned yet, in coverage order
	faults        []Fault
}

// possible reports whether k has enough nodes to apply to.
func (p *planner) possible(k Kind) bool {
	n := 0
	for _, nd := range p.nodes {
		if Applies(k, nd) {
			n++
		}
	}
	if k.network() {
		return n >= 2
	}
	return n >= 1
}

func (p *planner) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(p.rng.Int64N(int64(hi-lo)+1))
}

func (p *planner) run(d time.Duration) []Fault {
	next := make([]time.Duration, p.o.MaxConcurrent) // each lane's next start
	for i := range next {
		next[i] = p.between(p.o.MinGap, p.o.MaxGap)
	}
	for {
		lane := 0
		for i := range next {
			if next[i] < next[lane] {
				lane = i
			}
		}
		start := next[lane]
		if start+p.o.MinFault > d {
			break // the earliest lane cannot fit a fault: no lane can
		}
		dur := min(p.between(p.o.MinFault, p.o.MaxFault), d-start)
		if f, ok := p.choose(start, dur); ok {
			f.Seq = len(p.faults) + 1
			p.faults = append(p.faults, f)
			next[lane] = start + dur
		}
		// After a fault, or when nothing fits beside the active ones, the
		// lane waits a gap.
		next[lane] += p.between(p.o.MinGap, p.o.MaxGap)
	}
	return p.faults
}

// choose picks the fault starting at start: the first pending kind that
// fits beside the active faults, else a random kind that fits.
func (p *planner) choose(start, dur time.Duration) (Fault, bool) {
	var active []Fault
	for _, f := range p.faults { // planned in order of start: all start <= start
		if f.End() > start {
			active = append(active, f)
		}
	}
	for i, k := range p.pending {
		if f, ok := p.target(k, active); ok {
			p.pending = slices.Delete(p.pending, i, i+1)
			f.At, f.Duration = start, dur
			return f, true
		}
	}
	for _, i := range p.rng.Perm(len(p.kinds)) {
		if f, ok := p.target(p.kinds[i], active); ok {
			f.At, f.Duration = start, dur
			return f, true
		}
	}
	return Fault{}, false
}

// target picks the nodes of a fault of kind k beside the active faults.
func (p *planner) target(k Kind, active []Fault) (Fault, bool) {
	busy := map[string]bool{}
	orderersTouched := 0
	for _, f := range active {
		if k.network() && f.Kind.network() {
			return Fault{}, false
		}
		for _, n := range f.touches(p.orderers) {
			busy[n] = true
		}
		if p.touchesOrderer(f) {
			orderersTouched++
		}
	}
	ordererFree := orderersTouched < p.ordererBudget
	var free []string
	for _, nd := range p.nodes {
		if Applies(k, nd) && !busy[nd.Name] && (nd.Role != RoleOrderer || ordererFree) {
			free = append(free, nd.Name)
		}
	}
	f := Fault{Kind: k}
	switch k {
	case KillLeader:
		for _, o := range p.orderers {
			if busy[o] {
				return Fault{}, false
			}
		}
		return f, ordererFree && len(p.orderers) > 0
	case Partition:
		var all []string // every node a partition may involve
		for _, nd := range p.nodes {
			if Applies(k, nd) {
				all = append(all, nd.Name)
			}
		}
		// Half the partitions split the nodes in two groups (when there
		// are enough to make both groups bigger than one and nothing else
		// is active); the others isolate one node.
		if len(all) >= 4 && len(active) == 0 && p.rng.IntN(2) == 0 {
			shuffled := slices.Clone(all)
			p.rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			cut := 2 + p.rng.IntN(len(all)-3)
			f.Nodes, f.Others = slices.Sorted(slices.Values(shuffled[:cut])), slices.Sorted(slices.Values(shuffled[cut:]))
			return f, true
		}
		if len(free) == 0 {
			return Fault{}, false
		}
		x := free[p.rng.IntN(len(free))]
		f.Nodes = []string{x}
		for _, n := range all {
			if n != x {
				f.Others = append(f.Others, n)
			}
		}
		return f, len(f.Others) > 0
	case OneWay:
		if len(free) < 2 {
			return Fault{}, false
		}
		i := p.rng.IntN(len(free))
		rest := slices.Delete(slices.Clone(free), i, i+1)
		f.Nodes = []string{free[i], rest[p.rng.IntN(len(rest))]}
		return f, true
	}
	if len(free) == 0 {
		return Fault{}, false
	}
	f.Nodes = []string{free[p.rng.IntN(len(free))]}
	switch k {
	case ClockSkew:
		secs := 1 + p.rng.Int64N(int64(p.o.MaxSkew/time.Second))
		if p.rng.IntN(2) == 0 {
			secs = -secs
		}
		f.Offset = time.Duration(secs) * time.Second
	case ClockJump:
		f.Offset = p.o.Jumps[p.rng.IntN(len(p.o.Jumps))]
	}
	return f, true
}

func (p *planner) isOrderer(name string) bool {
	_, ok := slices.BinarySearch(p.orderers, name)
	return ok
}

// touchesOrderer reports whether f disrupts at least one orderer; such
// faults count against the orderer budget, one each (a one-way drop between
// two orderers disrupts one link; a split touches orderers on both sides
// but runs alone).
func (p *planner) touchesOrderer(f Fault) bool {
	if f.Kind == KillLeader {
		return true
	}
	for _, n := range f.touches(p.orderers) {
		if p.isOrderer(n) {
			return true
		}
	}
	return false
}
