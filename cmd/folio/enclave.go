package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/trusted"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/perf/enclavebench"
)

// This file holds the enclave's commands (docs/enclave.md):
//
//	folio enclave             newEnclaveCmd: the enclave process a peer spawns (hidden)
//	folio bench enclave       newBenchEnclaveCmd: the tiered-cache benchmark
//	folio peer stats          newPeerStatsCmd: a peer's enclave counters

// newEnclaveCmd is the body of the enclave process. A peer starts it with
// its end of a socketpair on fd 3 (link.ChildFD) and talks the
// boundary protocol on it; the process exits when the peer closes it. The
// process reads its trust anchor (--genesis) and state key itself, before
// it serves: no ecall can change them.
func newEnclaveCmd(g *globals) *cobra.Command {
	var stateKey, genesis, logLevel string
	cmd := &cobra.Command{
		Use:    "enclave --genesis FILE [--state-key FILE]",
		Short:  "Serve as a peer's enclave process (started by the peer, not by hand)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usageErr("--log-level %q: %v", logLevel, err)
			}
			opts := trusted.ServeOptions{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))}
			if stateKey != "" {
				b, err := os.ReadFile(stateKey)
				if err != nil {
					return fmt.Errorf("state key: %w", err)
				}
				opts.StateKey = b
			}
			if genesis == "" {
				return usageErr("--genesis is required: the enclave runs only modules signed by an admin of an organisation of the genesis block")
			}
			b, err := os.ReadFile(genesis)
			if err != nil {
				return fmt.Errorf("genesis: %w", err)
			}
			opts.Genesis = b
			conn, err := trusted.HostConn()
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			return trusted.Serve(ctx, conn, opts)
		},
	}
	cmd.Flags().StringVar(&stateKey, "state-key", "", "file holding the network's 32-byte state key for confidential contracts (raw or 64 hex digits)")
	cmd.Flags().StringVar(&genesis, "genesis", "", "the channel's genesis block: the enclave's trust anchor (whose organisations' admins may sign the modules it runs; docs/enclave.md)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error (logs go to stderr, which the peer forwards)")
	return cmd
}

// newBenchEnclaveCmd is `folio bench enclave`: register it under `folio
// bench`.
func newBenchEnclaveCmd(g *globals) *cobra.Command {
	var o enclavebench.Options
	var wasmPath, dir, configs string
	var keep bool
	var ecallBatch int
	cmd := &cobra.Command{
		Use:   "enclave [--works N] [--zipf S] [--duration D] [--warmup D] [--concurrency C]",
		Short: "Measure the enclave's tiered cache: copyright gets and transfers with and without caches",
		Long: `Writes --works registered works into a temporary Pebble ledger, then runs a
workload of copyright gets and transfers (--transfers percent) over them,
with Zipf-distributed work IDs (exponent --zipf), against a real enclave
process (this binary's 'folio enclave') in three configurations: no caches
(every read crosses to the ledger), the external cache only, and the full
tiered cache. Each configuration starts a fresh enclave (cold caches); a
configuration with caches first fills them (--prefill: gets of the most
popular works, each once, until the caches hold 95% of their bytes: a Zipf
warm-up of seconds leaves them far from their steady state), then each warms
up for --warmup and is measured for --duration with --concurrency closed-loop
clients. Transfers are committed to the ledger in blocks and pushed through
the tiers. Reports calls/s, boundary crossings and bytes sealed per call,
latency percentiles and hit rates per tier, the time in the VM and the CPU
time of both processes per call, the cost of one ecall round trip and of one
wasm call.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if o.Wasm, err = contractWasm(ctx, wasmPath, g.progress()); err != nil {
				return err
			}
			if dir == "" {
				if dir, err = os.MkdirTemp("", "folio-bench-enclave-"); err != nil {
					return err
				}
				if !keep {
					defer os.RemoveAll(dir)
				}
			}
			if o.Store, err = enclavebench.OpenLedger(filepath.Join(dir, "ledger"), nil); err != nil {
				return err
			}
			if configs != "" {
				o.Configs = strings.Split(configs, ",")
			}
			o.Enclave = enclave.Options{Exe: exe, Args: []string{"enclave", "--log-level", "warn"}, EcallBatch: ecallBatch}
			if cache, err := os.UserCacheDir(); err == nil {
				o.Enclave.VM.CacheDir = filepath.Join(cache, "folio", "wazero")
				_ = os.MkdirAll(o.Enclave.VM.CacheDir, 0o700)
			}
			o.Progress = g.progress()
			res, err := enclavebench.Run(ctx, o)
			if err != nil {
				return err
			}
			return g.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "%d works, Zipf s=%.2f, %d clients, ecall batches of up to %d, %.0fs per configuration (after %.0fs warm-up); setup %.1fs\n",
					res.Works, res.Zipf, res.Concurrency, res.EcallBatch, res.DurationS, res.WarmupS, res.SetupS)
				fmt.Fprintf(w, "%-9s %10s %11s %9s %9s %11s %8s %8s %9s %9s %8s %10s %10s\n", "config", "calls/s", "cross/call", "ocall/c", "call/ecall",
					"sealedB/c", "p50 µs", "p99 µs", "hit int", "hit ext", "vm µs", "host cpuµs", "encl cpuµs")
				for _, c := range res.Configs {
					fmt.Fprintf(w, "%-9s %10.0f %11.3f %9.3f %9.1f %11.1f %8.0f %8.0f %9.3f %9.3f %8.0f %10.0f %10.0f\n", c.Name, c.CallsPerS, c.CrossingsPerCall,
						c.OcallsPerCall, c.CallsPerEcall, c.BytesSealedPerCall, c.P50US, c.P99US, c.HitRate.Internal, c.HitRate.External,
						c.VMUSPerCall, c.HostCPUUSPerCall, c.EnclaveCPUUSPerCall)
				}
				if res.CallsTieredOverNone > 0 {
					fmt.Fprintf(w, "none/tiered: crossings per call x%.2f, ocalls per call x%.2f; tiered/none calls/s x%.2f\n",
						res.CrossingsNoneOverTiered, res.OcallsNoneOverTiered, res.CallsTieredOverNone)
				}
				fmt.Fprintf(w, "one ecall round trip %.1f µs; one wasm call (copyright get) %.1f µs\n", res.EcallRoundTripUS, res.WasmCallUS)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Works, "works", 1_000_000, "registered works")
	f.Float64Var(&o.Zipf, "zipf", 0.99, "Zipf exponent of work popularity")
	f.DurationVar(&o.Duration, "duration", 20*time.Second, "measured time per configuration")
	f.DurationVar(&o.Warmup, "warmup", 10*time.Second, "warm-up per configuration, after the prefill (not measured)")
	f.IntVar(&o.Prefill, "prefill", 0, "most popular works read once each to fill the caches before the warm-up, stopping when they hold 95% of their bytes (0: up to --works; -1: no prefill)")
	f.IntVar(&o.Concurrency, "concurrency", 64, "closed-loop clients (an endorsing peer under load has tens of proposals in flight)")
	f.IntVar(&ecallBatch, "ecall-batch", enclave.DefaultEcallBatch, "most simulate ecalls that share one crossing (1: every call crosses alone)")
	f.IntVar(&o.TransferPercent, "transfers", 10, "percentage of transfers (the rest are gets)")
	f.Int64Var(&o.InternalCacheBytes, "internal-cache", 256<<20, "internal cache bytes (tiered)")
	f.Int64Var(&o.ExternalCacheBytes, "external-cache", 256<<20, "external cache bytes (external, tiered)")
	f.StringVar(&configs, "configs", "", "comma-separated configurations to run (default none,external,tiered)")
	f.StringVar(&wasmPath, "contract", "build/contracts/copyright.wasm", "the copyright contract (built from ./contracts/copyright if the file is missing and the source is here)")
	f.StringVar(&dir, "dir", "", "directory for the ledger (default: a temporary one, removed afterwards)")
	f.BoolVar(&keep, "keep", false, "keep the temporary ledger directory")
	return cmd
}

// contractWasm reads the copyright contract, building it like `make
// contracts` if the file is missing and the module's source is at hand.
func contractWasm(ctx context.Context, path string, progress io.Writer) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil || !os.IsNotExist(err) {
		return b, err
	}
	if _, serr := os.Stat("contracts/copyright/cmd/copyright"); serr != nil {
		return nil, fmt.Errorf("%w (run 'make contracts' in the source tree, or give --contract)", err)
	}
	fmt.Fprintf(progress, "building %s...\n", path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	c := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildmode=c-shared", "-o", path, "./contracts/copyright/cmd/copyright")
	c.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := c.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the copyright contract: %v\n%s", err, out)
	}
	return os.ReadFile(path)
}

// newPeerStatsCmd is `folio peer stats`: register it under `folio peer`.
// It reads the peer's /metrics from its operations listener (on 127.0.0.1:
// the command runs beside the network; or the node's own address, over
// mutual TLS) and prints the enclave's counters.
func newPeerStatsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "stats [--peer NAME]",
		Short: "Show a peer's enclave counters: boundary crossings, bytes sealed, cache tiers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, n, err := g.loadNetwork()
			if err != nil {
				return err
			}
			nd, err := g.resolvePeer(n)
			if err != nil {
				return err
			}
			if nd.Operations == "" {
				return fmt.Errorf("%s has no operations listener in %s: restart the network with `folio network up` to add one", nd.Name, filepath.Join(dir, localnet.FileName))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			// Plain HTTP on loopback; on a node's own address (a chaos
			// network in namespaces) mutual TLS as its organisation's admin.
			hc, base, err := localnet.NewOperations(dir, n).Endpoint(nd)
			if err != nil {
				return fmt.Errorf("%s: %w", nd.Name, err)
			}
			s, err := enclaveStats(ctx, hc, base)
			if err != nil {
				return fmt.Errorf("%s: %w", nd.Name, err)
			}
			return g.emit(map[string]any{"enclave": s}, func(w io.Writer) {
				fmt.Fprintf(w, "%s enclave: pid %d, height %d, %d restarts\n", nd.Name, s.PID, s.Height, s.Restarts)
				fmt.Fprintf(w, "crossings %d (%d ecalls, %d ocalls), state reads %d\n", s.Crossings, s.Ecalls, s.Ocalls, s.StateReads)
				fmt.Fprintf(w, "sealed %d bytes, unsealed %d bytes; tamper detected %d, stale rejected %d, rollbacks detected %d\n",
					s.BytesSealed, s.BytesUnsealed, s.TamperDetected, s.StaleRejected, s.RollbacksDetected)
				for _, t := range []struct {
					name string
					t    enclave.TierStats
				}{{"internal", s.Internal}, {"external", s.External}} {
					fmt.Fprintf(w, "%-8s cache: %d hits, %d misses (hit rate %.3f), %d entries, %d bytes\n",
						t.name, t.t.Hits, t.t.Misses, t.t.HitRate(), t.t.Entries, t.t.Bytes)
				}
				fmt.Fprintf(w, "simulate ecall p50 %.0f µs p99 %.0f µs; ocall p50 %.0f µs p99 %.0f µs\n",
					s.EcallLatency.P50US, s.EcallLatency.P99US, s.OcallLatency.P50US, s.OcallLatency.P99US)
			})
		},
	}
}

// enclaveStats reads a peer's enclave counters from the /metrics of its
// operations listener at base ("http://127.0.0.1:PORT", or https with an
// admin's client certificate in hc when the listener requires it).
func enclaveStats(ctx context.Context, hc *http.Client, base string) (enclave.Stats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return enclave.Stats{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return enclave.Stats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return enclave.Stats{}, fmt.Errorf("/metrics: %s", resp.Status)
	}
	// A peer's metrics are tens of kilobytes; 16 MiB bounds a wrong answer.
	return enclave.StatsFromMetrics(io.LimitReader(resp.Body, 16<<20))
}
