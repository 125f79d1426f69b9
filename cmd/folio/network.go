package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/localnet/genesiscontracts"
)

func newNetworkCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Create, start, stop and inspect a local network"}
	cmd.AddCommand(newNetworkUpCmd(g), newNetworkDownCmd(g), newNetworkStatusCmd(g),
		newNetworkStartCmd(g), newNetworkStopCmd(g), newNetworkRestartCmd(g))
	return cmd
}

func newNetworkUpCmd(g *globals) *cobra.Command {
	var spec localnet.Spec
	var detach bool
	var timeout time.Duration
	var contractPath, releasePath string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create (first time) and start every node of a local network",
		Long: `Creates the network directory on first run (organisation CAs, node and user
certificates, configs), starts every node as its own process on 127.0.0.1, and
waits until all are ready. Without --detach it stays in the foreground, reports
any node that exits, and stops every node (peers, then orderers, then CAs, as
'down' does) on SIGINT (Ctrl-C), SIGTERM, SIGHUP (the terminal closed) or
SIGPIPE (its output pipe closed); a second Ctrl-C or SIGTERM kills the nodes
still running at once. With --detach it returns once the network is ready. A
second 'up' on an existing directory restarts the same network with its data;
with --detach it starts only the nodes that are not running (a killed node,
say) and waits until every node is ready.

A new network defines the copyright and the timed-release contracts (version
1) in its genesis block and installs them on every peer. Their wasm modules
are built into folio ('make contracts' refreshes them), so 'up' works from any
directory; --contract and --release-contract replace them with files (for
developing a contract).

Sizes are checked before anything is generated: --orgs 1 to 16,
--peers-per-org 1 to 16, --orderers 1 to 9, --block-max-tx 1 to 100000,
--block-max-bytes 64 KiB to 64 MiB, --block-timeout 1ms to 1m. On an existing
network they must match it (or be left out).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			// Every size is checked before anything is generated or started.
			if err := validateSpecFlags(cmd, spec); err != nil {
				return err
			}
			if err := checkRanges(nil, []durFlag{timeoutFlag(timeout)}); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if spec.ContractWasm, err = genesisWasm(contractPath, "--contract", genesiscontracts.Copyright); err != nil {
				return err
			}
			if spec.ReleaseWasm, err = genesisWasm(releasePath, "--release-contract", genesiscontracts.Release); err != nil {
				return err
			}
			sup := superviseSignals(detach)
			ctx := sup.ctx
			start := time.Now()
			r, err := localnet.Up(ctx, localnet.UpOptions{Dir: g.network, Exe: exe, Spec: spec, Timeout: timeout, Progress: g.progress(), StartMissing: detach})
			if err != nil {
				return err
			}
			if !detach {
				// From here on, whatever happens (a signal, a failed status, a
				// write to a closed stdout), the foreground supervisor stops
				// every node before it returns.
				defer func() {
					if s := sup.caught(); s != nil {
						fmt.Fprintf(g.progress(), "received %v: stopping the network (Ctrl-C again kills the nodes now)\n", s)
					} else {
						fmt.Fprintln(g.progress(), "stopping the network")
					}
					_, derr := localnet.Down(sup.killNow, r.Dir, localnet.DefaultGrace, g.progress())
					err = errors.Join(err, derr)
				}()
			}
			statuses, err := localnet.Status(ctx, r.Dir)
			if err != nil {
				return err
			}
			err = g.emit(map[string]any{"network": r.Dir, "generated": r.Generated, "ready_ms": time.Since(start).Milliseconds(), "nodes": statuses},
				func(w io.Writer) {
					printStatus(w, statuses)
					fmt.Fprintf(w, "\nnetwork ready in %s (%s)\n", time.Since(start).Truncate(time.Millisecond), r.Dir)
				})
			if err != nil || detach {
				if detach && !g.json {
					fmt.Fprintf(g.stdout, "stop it with: folio network down --network %s\n", r.Dir)
				}
				return err
			}
			fmt.Fprintln(g.progress(), "running in the foreground; press Ctrl-C to stop every node")
			for {
				select {
				case ex := <-r.Exits():
					if n, lerr := localnet.Load(r.Dir); lerr == nil {
						if nd, nerr := n.Node(ex.Name); nerr == nil && nd.Stopped {
							fmt.Fprintf(g.progress(), "%s stopped (folio network stop); start it again with: folio network start %s\n", ex.Name, ex.Name)
							continue
						}
					}
					fmt.Fprintf(g.progress(), "%s exited (%v); see %s/logs/%s.log; start it again with: folio network start %s\n", ex.Name, ex.Err, r.Dir, ex.Name, ex.Name)
				case <-ctx.Done():
					return nil // the deferred stop runs
				}
			}
		},
	}
	f := cmd.Flags()
	// Zero means "the default" (or, for an existing network, "as it is"),
	// so the flags default to 0; a 0 given on the command line is refused.
	f.IntVar(&spec.Orgs, "orgs", 0, fmt.Sprintf("peer organisations of a new network, 1 to %d (default 2)", localnet.MaxOrgs))
	f.IntVar(&spec.PeersPerOrg, "peers-per-org", 0, fmt.Sprintf("peers per organisation of a new network, 1 to %d (default 2)", localnet.MaxPeersPerOrg))
	f.IntVar(&spec.Orderers, "orderers", 0, fmt.Sprintf("orderers of a new network, 1 to %d (default 3)", localnet.MaxOrderers))
	f.IntVar(&spec.BlockMaxTx, "block-max-tx", 0, "new network: cut a block at this many transactions, 1 to 100000 (default 500)")
	f.IntVar(&spec.BlockMaxBytes, "block-max-bytes", 0, "new network: cut a block at this many bytes, 64 KiB to 64 MiB (default 4 MiB)")
	f.DurationVar(&spec.BlockTimeout, "block-timeout", 0, "new network: cut a block this long after its first transaction, 1ms to 1m (default 250ms)")
	f.BoolVar(&detach, "detach", false, "return once the network is ready, leaving it running")
	f.StringVar(&contractPath, "contract", "", "new network: the copyright contract's wasm (default: the copy built into folio; for developing a contract)")
	f.StringVar(&releasePath, "release-contract", "", "new network: the timed-release contract's wasm (default: the copy built into folio; for developing a contract)")
	f.DurationVar(&timeout, "timeout", localnet.DefaultReadyTimeout, "how long to wait for every node to be ready, 1s to 1h")
	return cmd
}

// supervisor turns signals into the foreground `network up`'s stop.
type supervisor struct {
	// ctx ends at the first stopping signal (localnet.SupervisorSignals).
	ctx context.Context
	// killNow ends at a later SIGINT or SIGTERM: stop waiting for the nodes
	// to exit gracefully and kill them. A later SIGPIPE or SIGHUP does not
	// (every write to the closed output raises SIGPIPE again).
	killNow context.Context
	mu      struct {
		sync.Mutex
		sig os.Signal // the first stopping signal, nil before
	}
}

// superviseSignals catches localnet.SupervisorSignals for the rest of the
// process's life. Catching is never undone: SIGPIPE stays caught until folio
// exits, so no write to a closed stdout or stderr (progress lines, the
// final error) can kill folio before it has stopped the nodes; such writes
// fail with EPIPE, which the reporting ignores. A SIGPIPE counts only if
// stdout or stderr really is a broken pipe (with SIGPIPE caught, a write to
// any closed socket raises it too). With detach, SIGPIPE never counts: the
// nodes are to be left running anyway, and the other signals only abort a
// start-up in progress (Up then stops what it started).
func superviseSignals(detach bool) *supervisor {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, localnet.SupervisorSignals...)
	ctx, stop := context.WithCancel(context.Background())
	kill, killNow := context.WithCancel(context.Background())
	s := &supervisor{ctx: ctx, killNow: kill}
	// This goroutine owns nothing but the channel; it lives until exit.
	go func() {
		for sig := range ch {
			if sig == syscall.SIGPIPE && (detach || !localnet.OutputBroken(1, 2)) {
				continue
			}
			s.mu.Lock()
			first := s.mu.sig == nil
			if first {
				s.mu.sig = sig
			}
			s.mu.Unlock()
			switch {
			case first:
				stop()
			case sig == syscall.SIGINT || sig == syscall.SIGTERM:
				killNow()
			}
		}
	}()
	return s
}

// caught returns the first stopping signal, or nil.
func (s *supervisor) caught() os.Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.sig
}

func newNetworkStartCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "start NODE",
		Short: "Start one node of the network and wait until it is ready",
		Long: `Starts one node of the network (as 'up' starts a node that is not running),
clears its 'stopped' mark, and returns once the node is ready: its /readyz
answers ready and, for a peer, it holds the blocks the orderers held when it
became ready. A node that is already running is not started again: start says
so, waits until it is ready, and exits 0. If the node is not ready within
--timeout it is left running and start exits non-zero.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRanges(nil, []durFlag{timeoutFlag(timeout)}); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			res, err := localnet.StartNode(ctx, localnet.NodeOptions{Dir: g.network, Name: args[0], Exe: exe, Timeout: timeout, Progress: g.progress()})
			if err != nil {
				return err
			}
			return g.emit(map[string]any{"started": res}, func(w io.Writer) { printNodeResult(w, res) })
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", localnet.DefaultReadyTimeout, "how long to wait for the node to be ready, 1s to 1h")
	return cmd
}

func newNetworkStopCmd(g *globals) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "stop NODE",
		Short: "Stop one node of the network and wait until it exited",
		Long: `Stops one node as 'down' stops every node: SIGTERM, SIGKILL after --grace,
and returns once it has exited. The node is recorded as stopped by the user in
network.json, so 'status' shows it 'stopped' (a node that crashed or was killed
shows 'down') until 'start', 'restart' or 'up' starts it. Stopping a node that
is not running records it as stopped, says so, and exits 0.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRanges(nil, []durFlag{graceFlag(grace)}); err != nil {
				return err
			}
			ctx, stop := signalContext() // Ctrl-C: kill it now
			defer stop()
			res, err := localnet.StopNode(ctx, localnet.NodeOptions{Dir: g.network, Name: args[0], Grace: grace, Progress: g.progress()})
			if err != nil {
				return err
			}
			return g.emit(map[string]any{"stopped": res}, func(w io.Writer) { printNodeResult(w, res) })
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", localnet.DefaultGrace, "how long to wait after SIGTERM before SIGKILL, 0s to 10m")
	return cmd
}

func newNetworkRestartCmd(g *globals) *cobra.Command {
	var grace, timeout time.Duration
	cmd := &cobra.Command{
		Use:   "restart NODE",
		Short: "Stop one node (if it runs), start it again, and wait until it is ready",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRanges(nil, []durFlag{graceFlag(grace), timeoutFlag(timeout)}); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			stopped, started, err := localnet.RestartNode(ctx, localnet.NodeOptions{Dir: g.network, Name: args[0], Exe: exe, Grace: grace, Timeout: timeout, Progress: g.progress()})
			if err != nil {
				return err
			}
			return g.emit(map[string]any{"stopped": stopped, "started": started}, func(w io.Writer) {
				printNodeResult(w, stopped)
				printNodeResult(w, started)
			})
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", localnet.DefaultGrace, "how long to wait after SIGTERM before SIGKILL, 0s to 10m")
	cmd.Flags().DurationVar(&timeout, "timeout", localnet.DefaultReadyTimeout, "how long to wait for the node to be ready, 1s to 1h")
	return cmd
}

func printNodeResult(w io.Writer, r localnet.NodeResult) {
	switch {
	case r.State == localnet.StateStopped && r.Already:
		fmt.Fprintf(w, "%s was not running: recorded as stopped\n", r.Name)
	case r.State == localnet.StateStopped:
		fmt.Fprintf(w, "%s stopped (pid %d, %s)\n", r.Name, r.PID, r.How)
	case r.Already:
		fmt.Fprintf(w, "%s was already running (pid %d): up, height %d\n", r.Name, r.PID, r.Height)
	default:
		fmt.Fprintf(w, "%s up (pid %d, height %d) in %s\n", r.Name, r.PID, r.Height, (time.Duration(r.ReadyMS) * time.Millisecond).String())
	}
}

func newNetworkDownCmd(g *globals) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop every node of the network and wait until they exited",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkRanges(nil, []durFlag{graceFlag(grace)}); err != nil {
				return err
			}
			results, err := localnet.Down(cmd.Context(), g.network, grace, g.progress())
			if err != nil {
				return err
			}
			return g.emit(map[string]any{"stopped": results}, func(w io.Writer) {
				if len(results) == 0 {
					fmt.Fprintln(w, "no node was running")
					return
				}
				fmt.Fprintf(w, "stopped %d nodes\n", len(results))
			})
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", localnet.DefaultGrace, "how long to wait after SIGTERM before SIGKILL, 0s to 10m")
	return cmd
}

func newNetworkStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "List the network's nodes: role, organisation, endpoint, pid, state, height",
		Long: `Lists the network's nodes. STATE is up (ready), starting (answering, not
ready, with the reason), unreachable (running, not answering), stopped (not
running: stopped by the user with 'folio network stop') or down (not running,
not stopped by the user: crashed, killed, or brought down with 'down').
HEALTH is a running peer's own judgement from the other peers' signed state
roots: ok, diverged (its state root differs from every other peer's: it
stopped endorsing; rebuild it with 'folio peer rebuild --peer NAME') or
equivocation (it saw two orderer-signed blocks for one height and stopped
committing); the NOTE column says what was found. With --json every node
has "health" and "health_detail".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			statuses, err := localnet.Status(cmd.Context(), g.network)
			if err != nil {
				return err
			}
			return g.emit(map[string]any{"nodes": statuses}, func(w io.Writer) { printStatus(w, statuses) })
		},
	}
}

func printStatus(w io.Writer, statuses []localnet.NodeStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tORG\tSTATE\tHEALTH\tPID\tAPI\tHEIGHT\tRAFT\tSESSIONS\tNOTE")
	for _, s := range statuses {
		pid, height, raft, sessions, health := "-", "-", "-", "-", "-"
		if s.Health != "" {
			health = s.Health
		}
		if s.PID > 0 {
			pid = fmt.Sprint(s.PID)
		}
		if s.Role != "ca" {
			height, sessions = fmt.Sprint(s.Height), fmt.Sprint(len(s.Sessions))
		}
		if s.RaftRole != "" {
			raft = s.RaftRole
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Role, s.Org, s.State, health, pid, s.API, height, raft, sessions, s.Note())
	}
	tw.Flush()
}

// genesisWasm is the module a new network defines in its genesis block:
// the file given with flag (a development override, e.g. a contract being
// changed, before `make contracts`), else the copy embedded in this binary
// (internal/localnet/genesiscontracts: what `make contracts` built when
// folio was built). There is no search of build directories: one source of
// truth, whatever the current directory.
func genesisWasm(path, flag string, c *genesiscontracts.Contract) ([]byte, error) {
	if path == "" {
		return c.Wasm()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErr("%s: %v", flag, err)
	}
	if !bytes.HasPrefix(b, []byte("\x00asm")) {
		return nil, usageErr("%s %s is not a WebAssembly module", flag, path)
	}
	return b, nil
}

// validateSpecFlags checks the sizes of a new network given on the command
// line, naming the flag and its range, before anything is generated. A
// flag left out is 0 (the default, or the existing network's size); one
// given as 0 is refused rather than silently read as the default.
func validateSpecFlags(cmd *cobra.Command, spec localnet.Spec) error {
	var errs []string
	for _, f := range []struct {
		name, rng string
		zero      bool
	}{
		{"orgs", fmt.Sprintf("1 to %d", localnet.MaxOrgs), spec.Orgs == 0},
		{"peers-per-org", fmt.Sprintf("1 to %d", localnet.MaxPeersPerOrg), spec.PeersPerOrg == 0},
		{"orderers", fmt.Sprintf("1 to %d", localnet.MaxOrderers), spec.Orderers == 0},
		{"block-max-tx", "1 to 100000", spec.BlockMaxTx == 0},
		{"block-max-bytes", "64 KiB to 64 MiB", spec.BlockMaxBytes == 0},
		{"block-timeout", "1ms to 1m", spec.BlockTimeout == 0},
	} {
		if f.zero && cmd.Flags().Changed(f.name) {
			errs = append(errs, fmt.Sprintf("--%s %s: must be %s", f.name, cmd.Flags().Lookup(f.name).Value, f.rng))
		}
	}
	spec.EnsureDefaults() // the zeros refused above become valid: Validate reports the others
	if err := spec.Validate(); err != nil {
		errs = append(errs, strings.Split(err.Error(), "\n")...)
	}
	if len(errs) > 0 {
		return usageErr("%s", strings.Join(errs, "; "))
	}
	return nil
}

// timeoutFlag is --timeout of the commands that wait for nodes to be ready.
func timeoutFlag(v time.Duration) durFlag { return durFlag{"timeout", v, time.Second, time.Hour} }

// graceFlag is --grace of the commands that stop nodes (0: SIGKILL at once).
func graceFlag(v time.Duration) durFlag { return durFlag{"grace", v, 0, 10 * time.Minute} }
