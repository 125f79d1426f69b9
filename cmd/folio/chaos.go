package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/internal/chaos"
	"github.com/folio-ledger/folio/internal/chaos/nemesis"
)

func newChaosCmd(g *globals) *cobra.Command {
	var (
		o      chaos.Options
		faults string
	)
	cmd := &cobra.Command{
		Use:   "chaos [--network DIR] [--duration 60s] [--seed N] [--json]",
		Short: "Run clients under random faults and check what they saw and what every peer committed",
		Long: `Runs concurrent clients registering, transferring and reading a few contended
works while a nemesis injects faults chosen from --seed: SIGKILL of any node
(the Raft leader included) or of a peer's enclave, SIGSTOP pauses, graceful
restarts, partitions and one-way drops, clock jumps within and beyond the
admission bounds, and a full disk. A timed release opens in the middle of the
run. Then it heals the network and checks:

  - linearizability of every work's writes and linearizable reads against a
    model of the copyright register (porcupine);
  - every read against the committed chain, its minimum height and its
    client's own writes and earlier reads;
  - every acknowledged transaction on every peer, VALID, in the block its
    client was told; no transaction twice; identical blocks and state roots
    at every height; every node at one height within 2 minutes;
  - the timed release: no key or share to a client, and no edge-decrypt
    client holding more clear bytes, before the release time.

Without --network it creates its own network in OUT/net (as root, every node
in its own network namespace, so partitions are real; one peer and one
orderer on a small filesystem of their own for the full disk) and removes it
afterwards, unless the run found a problem: then the network directory and
its logs stay. With --network it uses that running network; the kinds it
cannot inject there (partitions, clock jumps, the full disk) are listed.

OUT (--out) receives report.json, history.jsonl (every client operation),
plan.jsonl, faults.jsonl, chains.json and, on a linearizability violation,
linearizability.html. Replay a run with the same --seed. Exit status 2 when
the run found a violation. docs/robustness.md says what is and is not covered.

Ranges: --duration 20s to 24h, --clients 1 to 64, --works 1 to 100.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkRanges([]intFlag{{"clients", int64(o.Clients), 1, 64}, {"works", int64(o.Works), 1, 100}},
				[]durFlag{{"duration", o.Duration, chaos.MinDuration, 24 * time.Hour}}); err != nil {
				return err
			}
			if faults != "" {
				for _, s := range strings.Split(faults, ",") {
					k, err := nemesis.ParseKind(strings.TrimSpace(s))
					if err != nil {
						return usageErr("--faults: %v", err)
					}
					o.Kinds = append(o.Kinds, k)
				}
			}
			if cmd.Flag("network").Changed || os.Getenv("FOLIO_NETWORK") != "" {
				o.Network = g.network
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("chaos: find the folio binary: %w", err)
			}
			o.Exe, o.Progress = exe, g.progress()
			ctx, stop := signalContext()
			defer stop()
			rep, err := chaos.Run(ctx, o)
			if err != nil {
				return err
			}
			if err := g.emit(rep, func(w io.Writer) { printChaos(w, rep) }); err != nil {
				return err
			}
			if !rep.OK() {
				return &exitError{code: exitInvalid, err: fmt.Errorf("chaos: %d violation(s), %d node(s) crashed: see %s", rep.Violations, len(rep.Crashed), rep.ReportFile),
					hint: fmt.Sprintf("replay with --seed %d; the history is %s", rep.Seed, rep.History)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Duration, "duration", chaos.DefaultDuration, "how long the clients run under faults, 20s to 24h")
	f.Int64Var(&o.Seed, "seed", 0, "seed of the faults and the clients' choices (0: a random one, printed)")
	f.StringVar(&o.Out, "out", "folio-chaos", "directory for the report, the history and, for a network of its own, the network")
	f.StringVar(&faults, "faults", "", "comma-separated fault kinds to inject (default: every kind the setup supports): "+kindNames())
	f.IntVar(&o.Clients, "clients", 8, "concurrent clients, each its own identity, 1 to 64")
	f.IntVar(&o.Works, "works", 6, "works in play at a time, 1 to 100")
	f.BoolVar(&o.NoRelease, "no-release", false, "leave the timed release out")
	f.BoolVar(&o.Keep, "keep", false, "keep the network chaos created even when the run passed")
	return cmd
}

func kindNames() string {
	var s []string
	for _, k := range nemesis.Kinds() {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

// printChaos is the text form of a chaos report.
func printChaos(w io.Writer, r *chaos.Report) {
	verdict := "PASSED"
	if !r.OK() {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "chaos %s: seed %d, %.0fs, nodes on %s\n", verdict, r.Seed, r.DurationS, r.Network)
	fmt.Fprintf(w, "operations %d:", r.Operations)
	for _, k := range sortedKeys(r.OperationsBy) {
		m := r.OperationsBy[k]
		fmt.Fprintf(w, " %s ok %d fail %d unknown %d;", k, m["ok"], m["fail"], m["unknown"])
	}
	fmt.Fprintln(w)
	var fk []string
	for _, k := range sortedKeys(r.Faults) {
		fk = append(fk, fmt.Sprintf("%s %d", k, r.Faults[k]))
	}
	fmt.Fprintf(w, "faults: %s\n", strings.Join(fk, ", "))
	for _, k := range sortedKeys(r.Skipped) {
		fmt.Fprintf(w, "  not injected: %s (%s)\n", k, r.Skipped[k])
	}
	fmt.Fprintf(w, "recovery after heal: p50 %d ms, max %d ms (%d faults); healed network at one height (%d) after %d ms\n",
		r.Recovery.P50Ms, r.Recovery.MaxMs, r.Recovery.Count, r.Height, r.ConvergedMs)
	fmt.Fprintf(w, "linearizability: %s (%d works, %d ops); violations %d, lost acknowledged %d, divergent roots %d, stale reads %d\n",
		r.Check.Linearizability.Result, r.Check.Linearizability.Works, r.Check.Linearizability.Ops, r.Violations, r.LostAcknowledged, r.DivergentRoots, r.Check.StaleReads)
	if rel := r.Release; rel != nil {
		fmt.Fprintf(w, "timed release %s: %d of %d clients opened it, %d early accesses\n", rel.Work, rel.Opened, rel.Clients, len(rel.Violations))
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  PROBLEM: %s\n", p)
	}
	for _, c := range r.Crashed {
		fmt.Fprintf(w, "  CRASHED: %s\n", c)
	}
	for _, e := range r.FaultErrors {
		fmt.Fprintf(w, "  fault step failed: %s\n", e)
	}
	fmt.Fprintf(w, "report %s, history %s\n", r.ReportFile, r.History)
	if r.Visualization != "" {
		fmt.Fprintf(w, "linearizability visualisation: %s\n", r.Visualization)
	}
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
