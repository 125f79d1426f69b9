package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/internal/localnet"
)

func newNetworkCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Create, start, stop and inspect a local network"}
	cmd.AddCommand(newNetworkUpCmd(g), newNetworkDownCmd(g), newNetworkStatusCmd(g))
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
waits until all are ready. Without --detach it stays in the foreground and stops
all nodes on Ctrl-C; with --detach it returns once the network is ready. A
second 'up' on an existing directory restarts the same network with its data;
with --detach it starts only the nodes that are not running (a killed node,
say) and waits until every node is ready.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			ctx, stop := signalContext()
			defer stop()
			start := time.Now()
			r, err := localnet.Up(ctx, localnet.UpOptions{Dir: g.network, Exe: exe, Spec: spec, Timeout: timeout, Progress: g.progress(), StartMissing: detach})
			if err != nil {
				return err
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
		wait:
			for {
				select {
				case ex := <-r.Exits():
					fmt.Fprintf(g.progress(), "%s exited (%v); see %s/logs/%s.log\n", ex.Name, ex.Err, r.Dir, ex.Name)
				case <-ctx.Done():
					break wait
				}
			}
			fmt.Fprintln(g.progress(), "stopping the network")
			_, err = localnet.Down(context.Background(), r.Dir, localnet.DefaultGrace, g.progress())
			return err
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
		Args:  cobra.NoArgs,
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
	fmt.Fprintln(tw, "NAME\tROLE\tORG\tSTATE\tPID\tAPI\tHEIGHT\tRAFT\tSESSIONS\tNOTE")
	for _, s := range statuses {
		pid, height, raft, sessions := "-", "-", "-", "-"
		if s.PID > 0 {
			pid = fmt.Sprint(s.PID)
		}
		if s.Role != "ca" {
			height, sessions = fmt.Sprint(s.Height), fmt.Sprint(len(s.Sessions))
		}
		if s.RaftRole != "" {
			raft = s.RaftRole
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Role, s.Org, s.State, pid, s.API, height, raft, sessions, s.Note())
	}
	tw.Flush()
}

// findReleaseContract reads the timed-release contract: path if given,
// else build/contracts/release.wasm beside the binary or in the current
// directory; nil if there is none (the network starts without it).
func findReleaseContract(path, exe string) ([]byte, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--release-contract: %w", err)
		}
		return b, nil
	}
	for _, p := range []string{
		filepath.Join(filepath.Dir(exe), "..", "build", "contracts", "release.wasm"),
		filepath.Join("build", "contracts", "release.wasm"),
	} {
		if b, err := os.ReadFile(p); err == nil {
			return b, nil
		}
	}
	return nil, nil
}

// findContract loads the copyright contract for a new network: the given
// path, or the build output beside the binary or in the current directory.
// Returns nil (and no error) when none is found and none was asked for.
func findContract(path, exe string) ([]byte, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--contract: %w", err)
		}
		return b, nil
	}
	for _, p := range []string{
		filepath.Join(filepath.Dir(exe), "..", "build", "contracts", "copyright.wasm"),
		filepath.Join("build", "contracts", "copyright.wasm"),
	} {
		if b, err := os.ReadFile(p); err == nil {
			return b, nil
		}
	}
	return nil, nil
}
