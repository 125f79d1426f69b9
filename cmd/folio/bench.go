package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/internal/localnet"
	txbench "github.com/folio-ledger/folio/internal/perf/txbench"
)

// maxBenchClients bounds --concurrency: each client is a goroutine with
// its own connections; beyond this a local benchmark measures the
// machine, not the network.
const maxBenchClients = 4096

func newBenchCmd(g *globals) *cobra.Command {
	var o txbench.TxOptions
	cmd := &cobra.Command{
		Use:   "bench [--workload register|transfer|query|mixed] [--concurrency C] [--duration D]",
		Short: "Measure committed transactions per second and latency on the running network",
		Long: `Runs --concurrency closed-loop clients against the gateways of every peer of
the running network (--network), as user1 of each peer organisation, and
reports committed transactions per second and submit-to-commit latency
percentiles (queries: evaluate latency), warm-up excluded, with failures by
code. transfer and query pre-register a few works per client first.

Ranges (checked before the network is loaded): --concurrency 1 to 4096,
--duration 1s to 24h, --warmup 1ms to 1h, --works 1 to 1000.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch o.Workload {
			case "register", "transfer", "query", "mixed":
			default:
				return usageErr("--workload %q: want register, transfer, query or mixed", o.Workload)
			}
			if err := checkRanges([]intFlag{{"concurrency", int64(o.Concurrency), 1, maxBenchClients}, {"works", int64(o.Works), 1, 1000}},
				[]durFlag{{"duration", o.Duration, time.Second, 24 * time.Hour}, {"warmup", o.Warmup, time.Millisecond, time.Hour}}); err != nil {
				return err
			}
			o.Network, o.Progress = g.network, g.progress()
			ctx, stop := signalContext()
			defer stop()
			res, err := txbench.RunTx(ctx, o)
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "%s, %d clients, %.0fs: %d committed, %d failed %v\n%.1f tx/s, latency p50 %.1f ms, p99 %.1f ms\n",
					res.Workload, res.Concurrency, res.DurationS, res.Committed, res.Failed, res.FailedBy, res.TPS, res.LatencyMs.P50, res.LatencyMs.P99)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Workload, "workload", "register", "register, transfer, query or mixed")
	f.IntVar(&o.Concurrency, "concurrency", 64, "closed-loop clients, 1 to 4096")
	f.DurationVar(&o.Duration, "duration", 30*time.Second, "measured time, 1s to 24h")
	f.DurationVar(&o.Warmup, "warmup", 10*time.Second, "warm-up before measuring, 1ms to 1h")
	f.IntVar(&o.Works, "works", 4, "works each client registers first for transfer and query, 1 to 1000")
	cmd.AddCommand(newBenchOrderingCmd(g), newBenchEnclaveCmd(g))
	return cmd
}

func newBenchOrderingCmd(g *globals) *cobra.Command {
	var o txbench.OrderingOptions
	var useNetwork bool
	cmd := &cobra.Command{
		Use:   "ordering [--orderers 3] [--concurrency C] [--duration D]",
		Short: "Measure the ordering service: pre-signed ~1 KiB envelopes to delivery at a peer",
		Long: `Starts a temporary network with --orderers orderers and one peer (or, with
--use-network, uses the running network of --network), pre-signs envelopes,
and runs --concurrency closed-loop clients that broadcast them round-robin to
the orderers. Reports envelopes/s ordered into blocks delivered at a peer and
latency from submit to delivery (warm-up excluded).

Ranges (checked before anything starts): --orderers 1 to 9, --concurrency 1
to 4096, --duration 1s to 24h, --warmup 1ms to 1h, --size 64 to 1048576
bytes, --envelopes 0 (automatic) to 10000000.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkRanges([]intFlag{{"orderers", int64(o.Orderers), 1, localnet.MaxOrderers}, {"concurrency", int64(o.Concurrency), 1, maxBenchClients},
				{"size", int64(o.EnvelopeBytes), 64, 1 << 20}, {"envelopes", int64(o.Envelopes), 0, 10_000_000}},
				[]durFlag{{"duration", o.Duration, time.Second, 24 * time.Hour}, {"warmup", o.Warmup, time.Millisecond, time.Hour}}); err != nil {
				return err
			}
			if useNetwork {
				o.Network = g.network
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			o.Exe, o.Progress = exe, g.progress()
			ctx, stop := signalContext()
			defer stop()
			res, err := txbench.RunOrdering(ctx, o)
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "%d orderers, %d clients, %.0fs: %d envelopes ordered, %.0f envelopes/s\n",
					res.Orderers, res.Concurrency, res.DurationS, res.Ordered, res.EnvelopesPerS)
				fmt.Fprintf(w, "submit -> delivered at a peer: p50 %.1f ms, p99 %.1f ms (broadcast ack p50 %.1f ms)\n",
					res.LatencyMs.P50, res.LatencyMs.P99, res.SubmitToAckMs.P50)
				fmt.Fprintf(w, "%d blocks, %.1f envelopes per block; failures %v\n", res.Blocks, res.AvgBlockTxs, res.Failed)
				if res.LeaderProfile != "" {
					fmt.Fprintf(w, "leader CPU profile: %s (go tool pprof -top %s)\n", res.LeaderProfile, res.LeaderProfile)
				}
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Orderers, "orderers", 3, "orderers of the temporary network, 1 to 9")
	f.IntVar(&o.Concurrency, "concurrency", 64, "closed-loop clients, 1 to 4096")
	f.DurationVar(&o.Duration, "duration", 30*time.Second, "measured time, 1s to 24h")
	f.DurationVar(&o.Warmup, "warmup", 5*time.Second, "warm-up before measuring, 1ms to 1h")
	f.IntVar(&o.EnvelopeBytes, "size", 1024, "envelope size in bytes, 64 to 1048576")
	f.IntVar(&o.Envelopes, "envelopes", 0, "envelopes to pre-sign, up to 10000000 (default 0: 2000 per second of warm-up and measurement)")
	f.StringVar(&o.ProfileOut, "cpuprofile", "", "write the Raft leader's CPU profile of the measured phase here")
	f.BoolVar(&useNetwork, "use-network", false, "measure the running network of --network instead of a temporary one")
	return cmd
}
