// Package chaos is Folio's proving ground: it runs concurrent clients
// against a real local network while a seeded nemesis injects faults, then
// heals the network and checks what the clients saw and what every peer
// committed against what Folio promises (docs/robustness.md). `folio chaos`
// is its command; the parts are history (the record), workload (the
// clients), nemesis (the faults), lab (network namespaces), releaseprobe
// (the timed release under faults) and check (the checkers).
package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/folio-ledger/folio/internal/atomicfile"
	"github.com/folio-ledger/folio/internal/chaos/check"
	"github.com/folio-ledger/folio/internal/chaos/history"
	"github.com/folio-ledger/folio/internal/chaos/lab"
	"github.com/folio-ledger/folio/internal/chaos/nemesis"
	"github.com/folio-ledger/folio/internal/chaos/releaseprobe"
	"github.com/folio-ledger/folio/internal/chaos/workload"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/localnet/genesiscontracts"
)

// Options control a run. Zero fields take the defaults.
type Options struct {
	// Network is a running network directory to use. Empty: Run creates
	// its own network in Out/net (in network namespaces when it may) and
	// removes it afterwards (kept when the run found a problem).
	Network string
	// Exe is the folio binary that runs the nodes. Required.
	Exe string
	// Out receives report.json, history.jsonl, faults.jsonl, chains.json
	// and, on a linearizability violation, linearizability.html. Required.
	Out string
	// Duration of the workload under faults. Default 60 s.
	Duration time.Duration
	// Seed decides the faults, their targets and times, and the clients'
	// choices. 0: a random seed (reported).
	Seed int64
	// Kinds are the fault kinds to inject. Empty: every kind the setup
	// supports (the report says why any other was left out).
	Kinds []nemesis.Kind
	// Clients and Works size the workload. Defaults 8 and 6.
	Clients, Works int
	// NoRelease leaves the timed release out of the run.
	NoRelease bool
	// Keep keeps a network Run created, even when the run passed.
	Keep bool
	// Plan shapes the fault schedule (durations of faults and gaps).
	Plan nemesis.PlanOptions
	// Progress receives one line per step; nil discards.
	Progress io.Writer
}

// DefaultDuration is Options.Duration's default.
const DefaultDuration = 60 * time.Second

// MinDuration is the shortest run: one fault and its recovery.
const MinDuration = 20 * time.Second

// ConvergeBound is how long a healed network may take to bring every
// node to one height before the run reports that it did not.
const ConvergeBound = 2 * time.Minute

// Report is the outcome of a run. Its JSON form is `folio chaos --json`.
type Report struct {
	Seed      int64   `json:"seed"`
	DurationS float64 `json:"duration_s"`
	// Network says where the nodes ran: "netns" (one network namespace
	// per node on a bridge: partitions are real) or "loopback".
	Network string `json:"network"`
	Dir     string `json:"network_dir,omitempty"`

	Operations   int                                      `json:"operations"`
	OperationsBy map[history.Kind]map[history.Outcome]int `json:"operations_by"`

	// Faults counts the faults injected by kind; FaultErrors those whose
	// injection, heal or recovery failed; Skipped the kinds left out, with why.
	Faults      map[string]int    `json:"faults"`
	FaultErrors []string          `json:"fault_errors,omitempty"`
	Skipped     map[string]string `json:"skipped,omitempty"`
	Recovery    Recovery          `json:"recovery"`
	// Crashed lists nodes found down after the heal that no fault had
	// left down: a node that died on its own, with the end of its log.
	Crashed []string `json:"crashed,omitempty"`

	// Violations is the number of broken promises: the checkers'
	// violations, the timed release's, and a network that did not
	// converge after healing. Problems lists them all in words.
	Violations       int      `json:"violations"`
	LostAcknowledged int      `json:"lost_acknowledged"`
	DivergentRoots   int      `json:"divergent_roots"`
	Problems         []string `json:"problems,omitempty"`

	// ConvergedMs is how long the healed network took to reach one
	// height (Height).
	ConvergedMs int64  `json:"converged_ms"`
	Height      uint64 `json:"height"`

	Check   check.Report   `json:"check"`
	Release *ReleaseReport `json:"release,omitempty"`

	// Files written in Options.Out.
	History       string `json:"history"`
	Visualization string `json:"visualization,omitempty"`
	ReportFile    string `json:"report"`
}

// OK says whether the run found nothing wrong.
func (r *Report) OK() bool { return r.Violations == 0 && len(r.Crashed) == 0 }

// Recovery sums up how long the network took to recover after each heal.
type Recovery struct {
	Count  int                     `json:"count"`
	P50Ms  int64                   `json:"p50_ms"`
	MaxMs  int64                   `json:"max_ms"`
	ByKind map[string]RecoveryKind `json:"by_kind,omitempty"`
}

// RecoveryKind is Recovery for one fault kind.
type RecoveryKind struct {
	Count int   `json:"count"`
	P50Ms int64 `json:"p50_ms"`
	MaxMs int64 `json:"max_ms"`
}

// ReleaseReport is what the timed release probe saw.
type ReleaseReport struct {
	Work       string   `json:"work"`
	Release    string   `json:"release"`
	ReleaseAt  string   `json:"release_at"`
	EndAt      string   `json:"end_at"`
	Opened     int      `json:"opened"`
	Clients    int      `json:"clients"`
	Violations []string `json:"violations,omitempty"`
	Errors     int      `json:"errors"`
}

// Run runs one chaos run and returns its report. The error is for a run
// that could not be carried out (no network, a bad option); problems the
// run found are in the report (Report.OK).
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Exe == "" || o.Out == "" {
		return nil, errors.New("chaos: Exe and Out are required")
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Duration < MinDuration {
		return nil, fmt.Errorf("chaos: duration %s is shorter than %s (one fault and its recovery)", o.Duration, MinDuration)
	}
	if o.Seed == 0 {
		o.Seed = mrand.Int64N(1<<53) + 1
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Plan.MinFault == 0 && o.Plan.MaxFault == 0 && o.Plan.MinGap == 0 && o.Plan.MaxGap == 0 && o.Duration < 5*time.Minute {
		// A short run (make test's) gets short faults and gaps, so that
		// it still injects a fault of most kinds.
		o.Plan = nemesis.PlanOptions{MinFault: 3 * time.Second, MaxFault: 8 * time.Second, MinGap: 3 * time.Second, MaxGap: 6 * time.Second}
	}
	if err := o.Plan.Validate(); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("chaos: output directory: %w", err)
	}
	r := &run{o: o, out: out, rep: &Report{Seed: o.Seed, Faults: map[string]int{}, Skipped: map[string]string{}}}
	defer r.teardown()
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	if err := r.exercise(ctx); err != nil {
		return nil, err
	}
	r.verify(ctx)
	return r.rep, r.write()
}

// run is one Run's state; only Run's goroutine touches it.
type run struct {
	o   Options
	out string
	rep *Report

	dir     string // the network directory
	own     bool   // Run created the network
	lab     *lab.Lab
	target  *nemesis.Processes
	ops     []history.Op
	events  []nemesis.Event
	probe   *releaseprobe.Probe
	started time.Time
}

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.o.Progress, "chaos: "+format+"\n", args...)
}

// setup creates or loads the network and the fault target.
func (r *run) setup(ctx context.Context) error {
	var net nemesis.Net
	if r.o.Network != "" {
		dir, err := filepath.Abs(r.o.Network)
		if err != nil {
			return err
		}
		if _, err := localnet.Load(dir); err != nil {
			return fmt.Errorf("chaos: --network %s: %w", r.o.Network, err)
		}
		r.dir = dir
		r.rep.Network = "loopback (an existing network: its nodes run where they were started)"
	} else {
		if err := r.createNetwork(ctx); err != nil {
			return err
		}
		if r.lab != nil {
			net = r.lab
		}
	}
	r.rep.Dir = r.dir
	if r.target != nil {
		return nil // made before the nodes started (prepareDisk)
	}
	t, err := nemesis.NewProcesses(nemesis.ProcessesOptions{Dir: r.dir, Exe: r.o.Exe, Net: net, Progress: r.o.Progress})
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	r.target = t
	return nil
}

// createNetwork generates and starts a network of its own in Out/net:
// every node in its own network namespace when this process may create
// them, each node following a clock file, and one peer and one orderer on
// a small filesystem of their own for the disk-full fault.
func (r *run) createNetwork(ctx context.Context) error {
	r.dir = filepath.Join(r.out, "net")
	if _, err := os.Stat(filepath.Join(r.dir, localnet.FileName)); err == nil {
		return fmt.Errorf("chaos: %s already holds a network (from an earlier run?): remove it, or give another --out", r.dir)
	}
	// A run killed before its teardown leaves its disk-full filesystems
	// mounted under the directory; remove them with the rest.
	if err := unmountUnder(r.dir); err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	if err := os.RemoveAll(r.dir); err != nil {
		return err
	}
	cw, err := genesiscontracts.Copyright.Wasm()
	if err != nil {
		return err
	}
	rw, err := genesiscontracts.Release.Wasm()
	if err != nil {
		return err
	}
	spec := localnet.Spec{ContractWasm: cw, ReleaseWasm: rw, Env: map[string][]string{}}
	names := localnet.NodeNames(spec)
	for _, n := range names {
		spec.Env[n] = []string{nemesis.ClockEnv(r.dir, n)}
	}
	if why := lab.Available(); why == nil {
		var b [3]byte
		_, _ = rand.Read(b[:])
		l, err := lab.New(ctx, "fc"+hex.EncodeToString(b[:]), names)
		if err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
		r.lab = l
		spec.Hosts, spec.Netns = l.Hosts(), l.Netns()
		r.rep.Network = "netns"
		r.logf("%d nodes, each in its own network namespace", len(names))
	} else {
		r.rep.Network = "loopback"
		r.rep.Skipped[string(nemesis.Partition)] = why.Error()
		r.rep.Skipped[string(nemesis.OneWay)] = why.Error()
		r.logf("nodes on 127.0.0.1: no partitions (%v)", why)
	}
	r.own = true
	disks := r.diskNodes(names)
	_, err = localnet.Up(ctx, localnet.UpOptions{Dir: r.dir, Exe: r.o.Exe, Spec: spec, Progress: r.o.Progress,
		BeforeStart: func(n *localnet.Network) error {
			for _, name := range disks {
				if err := r.prepareDisk(n, name); err != nil {
					return err
				}
			}
			return nil
		}})
	if err != nil {
		return fmt.Errorf("chaos: start the network: %w", err)
	}
	return nil
}

// releaseClients is the number of honest clients of the timed release.
const releaseClients = 4

// DiskSize is the filesystem a disk-full node's data directory gets: room
// for a run's blocks and state, small enough to fill in a moment.
const DiskSize = 512 << 20

// diskNodes picks, from the seed, the peer and the orderer whose data
// directories get a filesystem of their own (root only), so that
// disk-full has targets while every other node keeps the real disk.
func (r *run) diskNodes(names []string) []string {
	if os.Geteuid() != 0 {
		return nil
	}
	var peers, orderers []string
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "peer"):
			peers = append(peers, n)
		case strings.HasPrefix(n, "orderer"):
			orderers = append(orderers, n)
		}
	}
	rng := mrand.New(mrand.NewPCG(uint64(r.o.Seed), 7))
	var out []string
	for _, group := range [][]string{peers, orderers} {
		if len(group) > 0 {
			out = append(out, group[rng.IntN(len(group))])
		}
	}
	return out
}

// prepareDisk mounts a node's filesystem before the nodes start.
func (r *run) prepareDisk(_ *localnet.Network, name string) error {
	if r.target == nil {
		var net nemesis.Net
		if r.lab != nil {
			net = r.lab
		}
		t, err := nemesis.NewProcesses(nemesis.ProcessesOptions{Dir: r.dir, Exe: r.o.Exe, Net: net, Progress: r.o.Progress})
		if err != nil {
			return err
		}
		r.target = t
	}
	if err := r.target.PrepareDisk(name, DiskSize); err != nil {
		return err
	}
	r.logf("%s keeps its data on a %d MiB filesystem of its own (disk-full target)", name, DiskSize>>20)
	return nil
}

// exercise runs the workload, the release probe and the nemesis, then
// heals the network.
func (r *run) exercise(ctx context.Context) error {
	ids, err := workload.Enroll(ctx, r.dir, r.clients())
	if err != nil {
		return fmt.Errorf("chaos: enroll the clients: %w", err)
	}
	unsupported := r.target.Unsupported()
	for k, why := range unsupported {
		if _, ok := r.rep.Skipped[string(k)]; !ok {
			r.rep.Skipped[string(k)] = why
		}
	}
	kinds := r.o.Kinds
	if len(kinds) == 0 {
		kinds = nemesis.Kinds()
	}
	kinds = nemesis.Enabled(kinds, unsupported)
	if !r.clockFollows() {
		var keep []nemesis.Kind
		for _, k := range kinds {
			if k == nemesis.ClockSkew || k == nemesis.ClockJump {
				r.rep.Skipped[string(k)] = "the nodes were not started with " + nemesis.ClockEnv(r.dir, "NODE") + " (a network chaos creates has it)"
				continue
			}
			keep = append(keep, k)
		}
		kinds = keep
	}
	r.started = time.Now()
	if !r.o.NoRelease {
		// The release is created before the first fault (the nemesis
		// waits its first gap), opens mid-run, and ends before the run.
		at := r.started.Add(r.o.Duration * 2 / 5)
		end := at.Add(min(20*time.Second, r.o.Duration/4))
		p, err := releaseprobe.Start(ctx, releaseprobe.Config{NetDir: r.dir, ReleaseAt: at, EndAt: end, Seed: r.o.Seed, Clients: releaseClients})
		if err != nil {
			r.problem("timed release: could not create the release before the faults: %v", err)
		} else {
			r.probe = p
			r.logf("timed release of work %s opens at %s, ends at %s", p.Work(), at.Format(time.TimeOnly), end.Format(time.TimeOnly))
		}
	}
	plan := nemesis.Plan(r.o.Seed, r.o.Duration, r.target.Nodes(), kinds, r.o.Plan)
	if err := writeJSONLines(filepath.Join(r.out, "plan.jsonl"), plan); err != nil {
		return err
	}
	r.logf("seed %d: %d faults planned over %s (%s)", r.o.Seed, len(plan), r.o.Duration, kindList(kinds))
	rec := history.NewRecorder(r.started)
	wctx, stop := context.WithDeadline(ctx, r.started.Add(r.o.Duration))
	defer stop()
	done := make(chan struct{})
	var stats workload.Stats
	var werr error
	go func() {
		defer close(done)
		stats, werr = workload.Run(wctx, workload.Config{NetDir: r.dir, Clients: r.clients(), Works: r.o.Works,
			Seed: uint64(r.o.Seed), Identities: ids}, rec)
	}()
	r.events = nemesis.Run(wctx, plan, r.target, r.started, progressLog{r.o.Progress})
	<-done
	if werr != nil {
		return fmt.Errorf("chaos: workload: %w", werr)
	}
	r.ops = rec.Ops()
	r.logf("workload: %s", stats)
	return r.heal(ctx)
}

func (r *run) clients() int {
	if r.o.Clients > 0 {
		return r.o.Clients
	}
	return workload.DefaultClients
}

// clockFollows says whether the nodes follow their clock files.
func (r *run) clockFollows() bool {
	n, err := localnet.Load(r.dir)
	if err != nil {
		return false
	}
	for _, nd := range n.Nodes {
		if nd.Role == "ca" {
			continue
		}
		if !slices.Contains(nd.Env, nemesis.ClockEnv(r.dir, nd.Name)) {
			return false
		}
	}
	return true
}

// heal undoes whatever a fault may have left behind (the nemesis heals
// each fault; this is the belt to its braces), notes nodes that died on
// their own, restarts every node, and waits for one height everywhere.
func (r *run) heal(ctx context.Context) error {
	hctx, cancel := context.WithTimeout(ctx, nemesis.HealTimeout)
	defer cancel()
	if err := r.target.Heal(hctx); err != nil && !errors.Is(err, nemesis.ErrNoNamespaces) {
		r.problem("heal the partitions: %v", err)
	}
	n, err := localnet.Load(r.dir)
	if err != nil {
		return err
	}
	clocks := r.clockFollows()
	for _, nd := range n.Nodes {
		if nd.Role != "ca" && clocks {
			_ = r.target.SetClock(hctx, nd.Name, 0)
		}
		_ = r.target.FreeDisk(hctx, nd.Name)
		_ = r.target.Resume(hctx, nd.Name)
	}
	st, err := localnet.Status(hctx, r.dir)
	if err != nil {
		return fmt.Errorf("chaos: status after the run: %w", err)
	}
	for _, s := range st {
		if s.State == localnet.StateDown || s.State == localnet.StateStopped {
			r.rep.Crashed = append(r.rep.Crashed, fmt.Sprintf("%s was %s after the heal (no fault left it so): %s", s.Name, s.State, lastLines(filepath.Join(r.dir, "logs", s.Name+".log"), 5)))
			if err := r.target.Start(hctx, s.Name); err != nil {
				r.problem("restart %s after the run: %v", s.Name, err)
			}
		}
	}
	h, took, err := converged(ctx, r.dir, ConvergeBound)
	r.rep.ConvergedMs, r.rep.Height = took.Milliseconds(), h
	if err != nil {
		r.problem("%v", err)
	} else {
		r.logf("healed: every node at height %d after %s", h, took.Round(time.Millisecond))
	}
	return nil
}

// verify waits for the release probe, reads every peer's chain and runs
// the checkers.
func (r *run) verify(ctx context.Context) {
	if r.probe != nil {
		res := r.probe.Wait(ctx)
		rr := &ReleaseReport{Work: res.Work, Release: res.Release, ReleaseAt: res.ReleaseAt.Format(time.RFC3339Nano),
			EndAt: res.EndAt.Format(time.RFC3339Nano), Opened: len(res.Opened), Clients: releaseClients, Errors: len(res.Errors), Violations: res.Violations()}
		r.rep.Release = rr
		for _, v := range rr.Violations {
			r.problem("timed release: %s", v)
		}
	}
	chains, err := workload.Collect(ctx, r.dir)
	if err != nil {
		r.problem("read the peers' chains: %v", err)
	}
	if err := writeJSON(filepath.Join(r.out, "chains.json"), chains); err != nil {
		r.problem("write chains.json: %v", err)
	}
	viz := filepath.Join(r.out, "linearizability.html")
	r.rep.Check = check.All(r.ops, chains, check.Options{VisualizePath: viz})
	if r.rep.Check.Linearizability.Visualization != "" {
		r.rep.Visualization = r.rep.Check.Linearizability.Visualization
	}
	for _, v := range r.rep.Check.Violations {
		r.rep.Problems = append(r.rep.Problems, fmt.Sprintf("%s: %s", v.Check, v.Detail))
	}
	r.rep.Violations += len(r.rep.Check.Violations)
	for _, n := range r.rep.Check.Suppressed {
		r.rep.Violations += n
	}
	if r.rep.Check.Linearizability.Result == check.ResultUnknown {
		r.problem("linearizability: the check did not finish within its budget (result unknown)")
	}
	r.rep.LostAcknowledged = r.rep.Check.LostAcknowledged
	r.rep.DivergentRoots = r.rep.Check.DivergentRoots
	r.rep.Operations = len(r.ops)
	r.rep.OperationsBy = r.rep.Check.Operations
	r.summarizeFaults()
	r.rep.DurationS = r.o.Duration.Seconds()
}

// problem records a broken promise or a failed step of the run.
func (r *run) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.rep.Problems = append(r.rep.Problems, msg)
	r.rep.Violations++
	r.logf("PROBLEM: %s", msg)
}

// summarizeFaults counts the injected faults and their recovery times.
func (r *run) summarizeFaults() {
	var all []time.Duration
	byKind := map[string][]time.Duration{}
	for _, ev := range r.events {
		if ev.Injected.IsZero() {
			continue
		}
		k := string(ev.Fault.Kind)
		r.rep.Faults[k]++
		if ev.Error != "" {
			r.rep.FaultErrors = append(r.rep.FaultErrors, fmt.Sprintf("%s: %s", ev.Fault, ev.Error))
		}
		if !ev.Recovered.IsZero() {
			all = append(all, ev.RecoveryTime)
			byKind[k] = append(byKind[k], ev.RecoveryTime)
		}
	}
	r.rep.Recovery = Recovery{Count: len(all), ByKind: map[string]RecoveryKind{}}
	r.rep.Recovery.P50Ms, r.rep.Recovery.MaxMs = percentiles(all)
	for k, ds := range byKind {
		p50, mx := percentiles(ds)
		r.rep.Recovery.ByKind[k] = RecoveryKind{Count: len(ds), P50Ms: p50, MaxMs: mx}
	}
}

func percentiles(ds []time.Duration) (p50, mx int64) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2].Milliseconds(), s[len(s)-1].Milliseconds()
}

// write saves the history and the report in Out.
func (r *run) write() error {
	r.rep.History = filepath.Join(r.out, "history.jsonl")
	if err := history.WriteFile(r.rep.History, r.ops); err != nil {
		return err
	}
	if err := writeJSONLines(filepath.Join(r.out, "faults.jsonl"), r.events); err != nil {
		return err
	}
	r.rep.ReportFile = filepath.Join(r.out, "report.json")
	return writeJSON(r.rep.ReportFile, r.rep)
}

// teardown stops a network Run created and removes its namespaces and
// filesystems; the network directory stays when the run found a problem
// (its logs are the evidence) or Keep is set.
func (r *run) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if !r.own {
		if r.target != nil {
			_ = r.target.Heal(ctx)
		}
		return
	}
	if _, err := localnet.Down(ctx, r.dir, localnet.DefaultGrace, io.Discard); err != nil {
		r.logf("network down: %v", err)
	}
	if r.target != nil {
		if err := r.target.Cleanup(); err != nil {
			r.logf("unmount the disk-full filesystems: %v", err)
		}
	}
	if r.lab != nil {
		if err := r.lab.Close(); err != nil {
			r.logf("remove the network namespaces: %v", err)
		}
	}
	if r.rep.OK() && !r.o.Keep && r.rep.ReportFile != "" {
		_ = os.RemoveAll(r.dir)
		r.rep.Dir = ""
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o644)
}

func writeJSONLines[T any](path string, items []T) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func kindList(kinds []nemesis.Kind) string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// lastLines returns the last n lines of a file, joined by " | ".
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// progressLog prefixes the nemesis's lines.
type progressLog struct{ w io.Writer }

func (p progressLog) Write(b []byte) (int, error) {
	if _, err := fmt.Fprintf(p.w, "nemesis: %s", b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// unmountUnder unmounts every filesystem mounted under dir (deepest
// first), as listed in /proc/self/mountinfo.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil // not Linux: nothing was mounted by a run
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		if err := unmount(p); err != nil {
			return fmt.Errorf("unmount %s left by an earlier run: %w", p, err)
		}
	}
	return nil
}
