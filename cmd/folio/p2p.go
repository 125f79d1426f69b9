package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/internal/perf/p2pstorm"
)

func newP2PCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "p2p", Short: "Node-to-node session layer tools"}
	var o p2pstorm.Options
	storm := &cobra.Command{
		Use:   "storm --nodes N [--rounds R]",
		Short: "Simultaneous-dial stress test of the session layer, in this process on 127.0.0.1",
		Long: `Starts N nodes on 127.0.0.1 (one IP, many ports), makes every node dial every
other node at once (after a random delay), waits until every pair has
converged on exactly one session, counts, tears down, and repeats R times.
Prints sessions after the last round, duplicates left and missing pairs
(summed over rounds), and the slowest round's convergence time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Nodes < 2 {
				return fmt.Errorf("--nodes %d: at least 2", o.Nodes)
			}
			ctx, stop := signalContext()
			defer stop()
			res, err := p2pstorm.Run(ctx, o)
			if err != nil {
				return err
			}
			if err := g.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "%d nodes, %d rounds: %d sessions (want %d), %d duplicates left, %d missing pairs, slowest round converged in %d ms\n",
					res.Nodes, res.Rounds, res.Sessions, res.Nodes*(res.Nodes-1)/2, res.DuplicatesLeft, res.MissingPairs, res.ConvergeMS)
			}); err != nil {
				return err
			}
			if res.DuplicatesLeft != 0 || res.MissingPairs != 0 || res.Sessions != res.Nodes*(res.Nodes-1)/2 {
				return &exitError{code: 2, err: fmt.Errorf("the storm did not converge to one session per pair")}
			}
			return nil
		},
	}
	f := storm.Flags()
	f.IntVar(&o.Nodes, "nodes", 50, "number of nodes")
	f.IntVar(&o.Rounds, "rounds", 1, "how many storms to run")
	f.Uint64Var(&o.Seed, "seed", 0, "seed of the random dial delays (0: from the clock)")
	f.DurationVar(&o.MaxDelay, "max-delay", 50*time.Millisecond, "bound of each node's random delay before dialing")
	f.IntVar(&o.Orgs, "orgs", 2, "organisations the nodes are spread over")
	cmd.AddCommand(storm)
	return cmd
}
