package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/localnet"
)

func newPeerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "peer", Short: "Peer nodes: run one, or ask one about itself"}
	cmd.AddCommand(newNodeStartCmd(config.RolePeer), newPeerInfoCmd(g), newPeerStatsCmd(g))
	return cmd
}

// resolvePeer picks the peer named by --peer, or the first peer of the
// signing identity's organisation.
func (g *globals) resolvePeer(n *localnet.Network) (*localnet.Node, error) {
	if g.peer != "" {
		nd, err := n.Node(g.peer)
		if err != nil {
			return nil, err
		}
		if nd.Role != config.RolePeer {
			return nil, fmt.Errorf("--peer %s is a %s, not a peer", g.peer, nd.Role)
		}
		return nd, nil
	}
	org := orgOf(g.as)
	peers := n.PeersOf(org)
	if len(peers) == 0 {
		return nil, fmt.Errorf("organisation %q of identity %s has no peers: name one with --peer", org, g.as)
	}
	return &peers[0], nil
}

func newPeerInfoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Ask a peer who it is, as the identity given by --as (the peer's MSP checks that identity)",
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
			id, err := g.signer(dir, "")
			if err != nil {
				return err
			}
			roots, err := localnet.RootPool(dir, n)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			info, err := client.NodeInfo(ctx, client.HTTPClient(id, roots), nd.API)
			if err != nil {
				return fmt.Errorf("%s as %s: %w", nd.Name, g.as, err)
			}
			return g.emit(info, func(w io.Writer) {
				fmt.Fprintf(w, "%s  %s of %s (%s)\nnode id  %s\nversion  %s (%s)\nready    %v %s\n",
					info.Name, info.Role, info.Org, info.MspId, info.NodeId, info.Version, info.Commit, info.Ready, info.NotReadyReason)
			})
		},
	}
}
