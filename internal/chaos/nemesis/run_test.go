package nemesis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a fake Target that records every call as one string.
type recorder struct {
	mu     sync.Mutex
	calls  []string
	leader string
	// fail makes a call (by its recorded string) return an error.
	fail map[string]error
	// onRecovered, if set, runs inside Recovered (outside the lock).
	onRecovered func(ctx context.Context, nodes []string) error
	// injected receives each injecting call when not nil.
	injected chan string
}

var _ Target = (*recorder)(nil)

func (r *recorder) rec(ctx context.Context, call string, inject bool) error {
	r.mu.Lock()
	r.calls = append(r.calls, call)
	err := r.fail[call]
	r.mu.Unlock()
	if inject && r.injected != nil {
		r.injected <- call
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}

func (r *recorder) Kill(ctx context.Context, n string) error  { return r.rec(ctx, "kill "+n, true) }
func (r *recorder) Stop(ctx context.Context, n string) error  { return r.rec(ctx, "stop "+n, true) }
func (r *recorder) Start(ctx context.Context, n string) error { return r.rec(ctx, "start "+n, false) }
func (r *recorder) Pause(ctx context.Context, n string) error { return r.rec(ctx, "pause "+n, true) }
func (r *recorder) Resume(ctx context.Context, n string) error {
	return r.rec(ctx, "resume "+n, false)
}
func (r *recorder) KillEnclave(ctx context.Context, n string) error {
	return r.rec(ctx, "kill-enclave "+n, true)
}
func (r *recorder) SetClock(ctx context.Context, n string, off time.Duration) error {
	return r.rec(ctx, fmt.Sprintf("clock %s %s", n, off), off != 0)
}
func (r *recorder) FillDisk(ctx context.Context, n string) error { return r.rec(ctx, "fill "+n, true) }
func (r *recorder) FreeDisk(ctx context.Context, n string) error { return r.rec(ctx, "free "+n, false) }
func (r *recorder) Leader(ctx context.Context) (string, error) {
	return r.leader, r.rec(ctx, "leader", false)
}
func (r *recorder) Partition(ctx context.Context, a, b []string) error {
	return r.rec(ctx, fmt.Sprintf("partition %v %v", a, b), true)
}
func (r *recorder) Drop(ctx context.Context, from, to string) error {
	return r.rec(ctx, "drop "+from+" "+to, true)
}
func (r *recorder) Heal(ctx context.Context) error { return r.rec(ctx, "heal", false) }
func (r *recorder) Recovered(ctx context.Context, nodes []string) error {
	if err := r.rec(ctx, fmt.Sprintf("recovered %v", nodes), false); err != nil {
		return err
	}
	if r.onRecovered != nil {
		return r.onRecovered(ctx, nodes)
	}
	return nil
}

func (r *recorder) log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// sequential numbers a plan and spaces its faults 1 ms apart, each lasting
// 1 ms: Run's order, not its timing, is under test.
func sequential(faults ...Fault) []Fault {
	for i := range faults {
		faults[i].Seq = i + 1
		faults[i].At = time.Duration(i) * time.Millisecond
		faults[i].Duration = time.Millisecond
	}
	return faults
}

// TestRunEveryKind: each kind is injected, healed and waited for with the
// right calls, in order, one fault after the other.
func TestRunEveryKind(t *testing.T) {
	plan := sequential(
		Fault{Kind: Kill, Nodes: []string{"peer0"}},
		Fault{Kind: KillLeader},
		Fault{Kind: KillEnclave, Nodes: []string{"peer1"}},
		Fault{Kind: Pause, Nodes: []string{"orderer1"}},
		Fault{Kind: Partition, Nodes: []string{"peer0"}, Others: []string{"peer1", "orderer0"}},
		Fault{Kind: OneWay, Nodes: []string{"orderer0", "peer1"}},
		Fault{Kind: ClockSkew, Nodes: []string{"peer0"}, Offset: -20 * time.Second},
		Fault{Kind: ClockJump, Nodes: []string{"orderer2"}, Offset: time.Hour},
		Fault{Kind: DiskFull, Nodes: []string{"peer1"}},
		Fault{Kind: Restart, Nodes: []string{"orderer0"}},
	)
	want := [][]string{
		{"kill peer0", "start peer0", "recovered [peer0]"},
		{"leader", "kill orderer2", "start orderer2", "recovered [orderer2]"},
		{"kill-enclave peer1", "start peer1", "recovered [peer1]"},
		{"pause orderer1", "resume orderer1", "recovered [orderer1]"},
		{"partition [peer0] [peer1 orderer0]", "heal", "recovered [peer0 peer1 orderer0]"},
		{"drop orderer0 peer1", "heal", "recovered [orderer0 peer1]"},
		{"clock peer0 -20s", "clock peer0 0s", "recovered [peer0]"},
		{"clock orderer2 1h0m0s", "clock orderer2 0s", "recovered [orderer2]"},
		{"fill peer1", "free peer1", "start peer1", "recovered [peer1]"},
		{"stop orderer0", "start orderer0", "recovered [orderer0]"},
	}
	r := &recorder{leader: "orderer2"}
	var log bytes.Buffer
	events := Run(context.Background(), plan, r, time.Now(), &log)
	if got, w := r.log(), slices.Concat(want...); !slices.Equal(got, w) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
	}
	if len(events) != len(plan) {
		t.Fatalf("%d events for %d faults", len(events), len(plan))
	}
	for i, ev := range events {
		if ev.Err != nil || ev.Fault.Seq != i+1 {
			t.Errorf("event %d: %+v", i, ev)
		}
		if ev.Injected.IsZero() || ev.Healed.Before(ev.Injected) || ev.Recovered.Before(ev.Healed) || ev.RecoveryTime != ev.Recovered.Sub(ev.Healed) {
			t.Errorf("event %d: times out of order: %+v", i, ev)
		}
	}
	if got := events[1].Nodes; !slices.Equal(got, []string{"orderer2"}) {
		t.Errorf("kill-leader acted on %v, want the leader", got)
	}
	for _, step := range []string{"#2 kill-leader: injected on [orderer2]", "#10 restart: healed", "#5 partition: recovered in"} {
		if !strings.Contains(log.String(), step) {
			t.Errorf("log lacks %q:\n%s", step, log.String())
		}
	}
	if n := strings.Count(log.String(), "\n"); n != 3*len(plan) {
		t.Errorf("%d log lines for %d faults, want 3 per fault:\n%s", n, len(plan), log.String())
	}
}

// TestRunInjectionErrorIsRecorded: a failed injection is recorded, the
// fault is still healed, and the run goes on.
func TestRunInjectionErrorIsRecorded(t *testing.T) {
	boom := errors.New("no such process")
	r := &recorder{fail: map[string]error{"kill peer0": boom, "leader": errors.New("no leader")}}
	plan := sequential(Fault{Kind: Kill, Nodes: []string{"peer0"}}, Fault{Kind: KillLeader}, Fault{Kind: Pause, Nodes: []string{"peer1"}})
	events := Run(context.Background(), plan, r, time.Now(), nil)
	if len(events) != 3 {
		t.Fatalf("%d events", len(events))
	}
	if !errors.Is(events[0].Err, boom) || !strings.Contains(events[0].Error, "inject") {
		t.Errorf("kill: %v", events[0].Err)
	}
	if events[0].Recovered.IsZero() {
		t.Errorf("the failed kill was not healed and waited for: %+v", events[0])
	}
	if events[1].Err == nil || !strings.Contains(events[1].Error, "find the leader") {
		t.Errorf("kill-leader without a leader: %v", events[1].Err)
	}
	if events[2].Err != nil || events[2].Recovered.IsZero() {
		t.Errorf("the pause after two failures: %+v", events[2])
	}
	want := []string{"kill peer0", "start peer0", "recovered [peer0]", "leader", "pause peer1", "resume peer1", "recovered [peer1]"}
	if got := r.log(); !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
}

// TestRunCancelHealsActive: cancelling the run heals the active fault
// (with a live context), starts no further fault, and records that the
// recovery was not measured.
func TestRunCancelHealsActive(t *testing.T) {
	r := &recorder{injected: make(chan string, 1)}
	plan := []Fault{
		{Seq: 1, Kind: Pause, Nodes: []string{"peer0"}, At: 0, Duration: time.Hour},
		{Seq: 2, Kind: Kill, Nodes: []string{"peer1"}, At: 2 * time.Hour, Duration: time.Minute},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []Event)
	go func() { done <- Run(ctx, plan, r, time.Now(), nil) }()
	if got := <-r.injected; got != "pause peer0" {
		t.Fatalf("injected %q", got)
	}
	cancel()
	events := <-done
	if len(events) != 1 || !errors.Is(events[0].Err, ErrCancelled) || events[0].Healed.IsZero() {
		t.Fatalf("events %+v", events)
	}
	// The heal succeeded although ctx was cancelled (rec returns ctx.Err()).
	if strings.Contains(events[0].Error, "heal") {
		t.Fatalf("heal failed: %v", events[0].Err)
	}
	if got, want := r.log(), []string{"pause peer0", "resume peer0"}; !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
}

// TestRunWaitsForRecovery: a plan of one fault at a time never overlaps a
// slow recovery with the next fault, even when that fault is due.
func TestRunWaitsForRecovery(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	r := &recorder{}
	r.onRecovered = func(ctx context.Context, nodes []string) error {
		if slices.Equal(nodes, []string{"peer0"}) {
			close(entered)
			<-release
		}
		return nil
	}
	plan := sequential(Fault{Kind: Kill, Nodes: []string{"peer0"}}, Fault{Kind: Kill, Nodes: []string{"peer1"}})
	done := make(chan []Event)
	go func() { done <- Run(context.Background(), plan, r, time.Now(), nil) }()
	<-entered
	// Fault 2 is due now; it must still wait for fault 1's recovery.
	close(release)
	events := <-done
	want := []string{"kill peer0", "start peer0", "recovered [peer0]", "kill peer1", "start peer1", "recovered [peer1]"}
	if got := r.log(); !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if !events[1].Injected.After(events[0].Recovered) && !events[1].Injected.Equal(events[0].Recovered) {
		t.Fatalf("fault 2 injected at %s before fault 1 recovered at %s", events[1].Injected, events[0].Recovered)
	}
}

func TestMaxOverlap(t *testing.T) {
	plan := []Fault{
		{At: 0, Duration: 10},
		{At: 5, Duration: 10},
		{At: 6, Duration: 1},
		{At: 20, Duration: 1},
	}
	if got := maxOverlap(plan); got != 3 {
		t.Fatalf("maxOverlap %d, want 3", got)
	}
	if got := maxOverlap(nil); got != 1 {
		t.Fatalf("maxOverlap(nil) %d, want 1", got)
	}
}
