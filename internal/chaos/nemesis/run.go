package nemesis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Target is what Run injects faults into and heals them through. Every
// method is called from several goroutines when faults overlap, so an
// implementation must be safe for concurrent use; each call is bounded by
// its ctx.
type Target interface {
	// Kill sends SIGKILL to the node and returns once it has exited.
	Kill(ctx context.Context, node string) error
	// Stop stops the node gracefully (SIGTERM) and returns once it has
	// exited.
	Stop(ctx context.Context, node string) error
	// Start starts the node if it is not running (a running node is left
	// as it is: not an error).
	Start(ctx context.Context, node string) error
	// Pause sends SIGSTOP to the node; Resume sends SIGCONT.
	Pause(ctx context.Context, node string) error
	Resume(ctx context.Context, node string) error
	// KillEnclave sends SIGKILL to a peer's enclave child process(es).
	KillEnclave(ctx context.Context, node string) error
	// SetClock moves the node's clock by offset (0 resets it).
	SetClock(ctx context.Context, node string, offset time.Duration) error
	// FillDisk fills the node's data filesystem; FreeDisk frees what
	// FillDisk took.
	FillDisk(ctx context.Context, node string) error
	FreeDisk(ctx context.Context, node string) error
	// Leader returns the name of the current Raft leader.
	Leader(ctx context.Context) (string, error)
	// Partition stops all traffic between any node of a and any of b;
	// Drop drops what from sends to to; Heal removes every partition and
	// drop.
	Partition(ctx context.Context, a, b []string) error
	Drop(ctx context.Context, from, to string) error
	Heal(ctx context.Context) error
	// Recovered blocks until the nodes are up and caught up (or ctx
	// ends: then it returns why not).
	Recovered(ctx context.Context, nodes []string) error
}

// Event is what happened to one planned fault. Times are zero for steps
// that did not happen.
type Event struct {
	Fault Fault `json:"fault"`
	// Nodes are the nodes acted on: Fault.Nodes (and Others), or for a
	// KillLeader the leader found at injection.
	Nodes    []string  `json:"nodes,omitempty"`
	Injected time.Time `json:"injected"`
	// Healed is when the heal began; Recovered when Target.Recovered
	// returned nil, RecoveryTime the time between.
	Healed       time.Time     `json:"healed"`
	Recovered    time.Time     `json:"recovered,omitzero"`
	RecoveryTime time.Duration `json:"recovery_ns,omitempty"`
	// Err joins what went wrong: the injection, the heal, the recovery.
	// An injection error does not stop the heal (undoing whatever part of
	// the fault took effect).
	Err error `json:"-"`
	// Error is Err's text, for reports.
	Error string `json:"error,omitempty"`
}

// Bounds of the steps Run does not bound by its plan.
const (
	// RecoveryTimeout bounds each wait for Target.Recovered.
	RecoveryTimeout = 2 * time.Minute
	// HealTimeout bounds a heal done after ctx ended.
	HealTimeout = 2 * time.Minute
)

// ErrCancelled is recorded in an Event whose recovery was not measured
// because the run's context ended.
var ErrCancelled = errors.New("run cancelled before the recovery was measured")

// Run injects the plan's faults into t, each at start+At (or later: a
// fault waits until fewer faults are still unrecovered than the plan ever
// runs at once, so a slow recovery is never overlapped by the next fault),
// heals it after its Duration and waits for Target.Recovered. It returns
// one Event per fault it started, in plan order, and writes one line per
// step to log (nil discards). When ctx ends it stops injecting, heals the
// active faults (with a fresh HealTimeout) and returns.
func Run(ctx context.Context, plan []Fault, t Target, start time.Time, log io.Writer) []Event {
	if log == nil {
		log = io.Discard
	}
	r := &runner{t: t, start: start, log: log}
	slots := make(chan struct{}, maxOverlap(plan))
	events := make([]*Event, len(plan))
	var wg sync.WaitGroup
schedule:
	for i, f := range plan {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break schedule
		}
		timer := time.NewTimer(time.Until(start.Add(f.At)))
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			<-slots
			break schedule
		}
		ev := &Event{Fault: f}
		events[i] = ev
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			r.one(ctx, ev)
		}()
	}
	wg.Wait()
	var out []Event
	for _, ev := range events {
		if ev != nil {
			out = append(out, *ev)
		}
	}
	return out
}

// maxOverlap is the most faults of the plan active at one time (at least 1).
func maxOverlap(plan []Fault) int {
	most := 1
	for _, f := range plan {
		n := 0
		for _, g := range plan {
			if g.At <= f.At && g.End() > f.At {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

type runner struct {
	t     Target
	start time.Time
	mu    sync.Mutex // serialises writes to log
	log   io.Writer
}

func (r *runner) logf(f Fault, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.log, "nemesis %8.1fs #%d %s: %s\n", time.Since(r.start).Seconds(), f.Seq, f.Kind, fmt.Sprintf(format, args...))
}

// one runs one fault: inject, wait, heal, wait for recovery.
func (r *runner) one(ctx context.Context, ev *Event) {
	f := ev.Fault
	var errs []error
	ev.Injected = time.Now()
	nodes, err := r.inject(ctx, f)
	ev.Nodes = nodes
	if err != nil {
		errs = append(errs, fmt.Errorf("inject: %w", err))
		r.logf(f, "injection failed on %v: %v", nodes, err)
	} else {
		r.logf(f, "injected on %v (%s)", nodes, f)
	}
	timer := time.NewTimer(time.Until(ev.Injected.Add(f.Duration)))
	cancelled := false
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
		cancelled = true
	}
	hctx := ctx
	if cancelled || ctx.Err() != nil {
		cancelled = true
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), HealTimeout)
		defer cancel()
	}
	ev.Healed = time.Now()
	if err := r.heal(hctx, f, nodes); err != nil {
		errs = append(errs, fmt.Errorf("heal: %w", err))
		r.logf(f, "heal failed: %v", err)
	} else {
		r.logf(f, "healed")
	}
	if cancelled {
		errs = append(errs, ErrCancelled)
		ev.setErr(errs)
		return
	}
	wait := affected(f, nodes)
	if len(wait) == 0 { // nothing was acted on (no leader found): nothing to recover
		ev.setErr(errs)
		return
	}
	rctx, cancel := context.WithTimeout(ctx, RecoveryTimeout)
	defer cancel()
	if err := r.t.Recovered(rctx, wait); err != nil {
		errs = append(errs, fmt.Errorf("recovery: %w", err))
		r.logf(f, "not recovered: %v", err)
	} else {
		ev.Recovered = time.Now()
		ev.RecoveryTime = ev.Recovered.Sub(ev.Healed)
		r.logf(f, "recovered in %s", ev.RecoveryTime.Round(time.Millisecond))
	}
	ev.setErr(errs)
}

func (ev *Event) setErr(errs []error) {
	if ev.Err = errors.Join(errs...); ev.Err != nil {
		ev.Error = ev.Err.Error()
	}
}

// affected are the nodes whose recovery a fault's heal waits for.
func affected(f Fault, nodes []string) []string {
	if f.Kind == Partition {
		return append(append([]string(nil), f.Nodes...), f.Others...)
	}
	return nodes
}

// inject starts the fault; it returns the nodes acted on.
func (r *runner) inject(ctx context.Context, f Fault) ([]string, error) {
	t := r.t
	one := func(do func(context.Context, string) error) ([]string, error) {
		if len(f.Nodes) != 1 {
			return f.Nodes, fmt.Errorf("%s needs one node, the plan has %v", f.Kind, f.Nodes)
		}
		return f.Nodes, do(ctx, f.Nodes[0])
	}
	switch f.Kind {
	case Kill:
		return one(t.Kill)
	case KillLeader:
		leader, err := t.Leader(ctx)
		if err != nil {
			return nil, fmt.Errorf("find the leader: %w", err)
		}
		return []string{leader}, t.Kill(ctx, leader)
	case KillEnclave:
		return one(t.KillEnclave)
	case Pause:
		return one(t.Pause)
	case Restart:
		return one(t.Stop)
	case DiskFull:
		return one(t.FillDisk)
	case ClockSkew, ClockJump:
		return one(func(ctx context.Context, n string) error { return t.SetClock(ctx, n, f.Offset) })
	case Partition:
		return affected(f, f.Nodes), t.Partition(ctx, f.Nodes, f.Others)
	case OneWay:
		if len(f.Nodes) != 2 {
			return f.Nodes, fmt.Errorf("one-way needs [from, to], the plan has %v", f.Nodes)
		}
		return f.Nodes, t.Drop(ctx, f.Nodes[0], f.Nodes[1])
	}
	return f.Nodes, fmt.Errorf("unknown fault kind %q", f.Kind)
}

// heal undoes the fault on the nodes inject acted on.
func (r *runner) heal(ctx context.Context, f Fault, nodes []string) error {
	t := r.t
	each := func(do func(context.Context, string) error) error {
		var errs []error
		for _, n := range nodes {
			if err := do(ctx, n); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	switch f.Kind {
	case Kill, KillLeader, KillEnclave, Restart:
		return each(t.Start)
	case Pause:
		return each(t.Resume)
	case DiskFull:
		return each(func(ctx context.Context, n string) error {
			if err := t.FreeDisk(ctx, n); err != nil {
				return err
			}
			return t.Start(ctx, n) // the full disk may have stopped it
		})
	case ClockSkew, ClockJump:
		return each(func(ctx context.Context, n string) error { return t.SetClock(ctx, n, 0) })
	case Partition, OneWay:
		return t.Heal(ctx)
	}
	return nil // an unknown kind injected nothing
}
