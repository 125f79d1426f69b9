package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/internal/localnet"
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
say) and waits until every node is ready.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			wasm, err := findContract(contractPath, exe)
			if err != nil {
				return err
			}
			spec.ContractWasm = wasm
			if spec.ReleaseWasm, err = findReleaseContract(releasePath, exe); err != nil {
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
	f.IntVar(&spec.Orgs, "orgs", 0, "peer organisations of a new network (default 2)")
	f.IntVar(&spec.PeersPerOrg, "peers-per-org", 0, "peers per organisation of a new network (default 2)")
	f.IntVar(&spec.Orderers, "orderers", 0, "orderers of a new network (default 3)")
	f.IntVar(&spec.BlockMaxTx, "block-max-tx", 0, "new network: cut a block at this many transactions (default 500)")
	f.IntVar(&spec.BlockMaxBytes, "block-max-bytes", 0, "new network: cut a block at this many bytes (default 4 MiB)")
	f.DurationVar(&spec.BlockTimeout, "block-timeout", 0, "new network: cut a block this long after its first transaction (default 250ms)")
	f.BoolVar(&detach, "detach", false, "return once the network is ready, leaving it running")
	f.StringVar(&contractPath, "contract", "", "new network: the copyright contract's wasm (default build/contracts/copyright.wasm beside the binary or in the current directory)")
	f.StringVar(&releasePath, "release-contract", "", "new network: the timed-release contract's wasm (default build/contracts/release.wasm beside the binary or in the current directory)")
	f.DurationVar(&timeout, "timeout", localnet.DefaultReadyTimeout, "how long to wait for every node to be ready")
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
	cmd.Flags().DurationVar(&timeout, "timeout", localnet.DefaultReadyTimeout, "how long to wait for the node to be ready")
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
			ctx, stop := signalContext() // Ctrl-C: kill it now
			defer stop()
			res, err := localnet.StopNode(ctx, localnet.NodeOptions{Dir: g.network, Name: args[0], Grace: grace, Progress: g.progress()})
			if err != nil {
				return err
			}
			return g.emit(map[string]any{"stopped": res}, func(w io.Writer) { printNodeResult(w, res) })
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", localnet.DefaultGrace, "how long to wait after SIGTERM before SIGKILL")
	return cmd
}

func newNetworkRestartCmd(g *globals) *cobra.Command {
	var grace, timeout time.Duration
	cmd := &cobra.Command{
		Use:   "restart NODE",
		Short: "Stop one node (if it runs), start it again, and wait until it is ready",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
	cmd.Flags().DurationVar(&grace, "grace", localnet.DefaultGrace, "how long to wait after SIGTERM before SIGKILL")
	cmd.Flags().DurationVar(&timeout, "timeout", localnet.DefaultReadyTimeout, "how long to wait for the node to be ready")
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
	cmd.Flags().DurationVar(&grace, "grace", localnet.DefaultGrace, "how long to wait after SIGTERM before SIGKILL")
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

// findReleaseContract reads the timed-release contract: path if given,
// else build/contracts/release.wasm beside the binary or in the current
// directory; nil if there is none (the network starts without it).
func findReleaseContract(path, exe string) ([]byte, error) {
	return findWasm(path, exe, "--release-contract", "release.wasm")
}

// findContract loads the copyright contract for a new network: the given
// path, or the build output beside the binary or in the current directory.
// Returns nil (and no error) when none is found and none was asked for.
func findContract(path, exe string) ([]byte, error) {
	return findWasm(path, exe, "--contract", "copyright.wasm")
}

// findWasm reads path if given (a failure names flag), else
// build/contracts/file beside the binary exe or in the current directory;
// nil if neither exists.
func findWasm(path, exe, flag, file string) ([]byte, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		return b, nil
	}
	for _, p := range []string{
		filepath.Join(filepath.Dir(exe), "..", "build", "contracts", file),
		filepath.Join("build", "contracts", file),
	} {
		if b, err := os.ReadFile(p); err == nil {
			return b, nil
		}
	}
	return nil, nil
}
