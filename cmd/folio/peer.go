package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/localnet"
)

func newPeerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "peer", Short: "Peer nodes: run one, or ask one about itself"}
	cmd.AddCommand(newNodeStartCmd(config.RolePeer), newPeerInfoCmd(g), newPeerStatsCmd(g), newPeerRebuildCmd(g))
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
		return nil, g.noPeersOf(n, org)
	}
	return &peers[0], nil
}

// peerConn is a command's connection to one peer (resolvePeer: --peer,
// else the first peer of the --as identity's organisation) as --as.
type peerConn struct {
	node *localnet.Node
	hc   *http.Client
}

func (g *globals) connectPeer() (*peerConn, error) {
	dir, n, err := g.loadNetwork()
	if err != nil {
		return nil, err
	}
	nd, err := g.resolvePeer(n)
	if err != nil {
		return nil, err
	}
	id, err := g.signer(dir, "")
	if err != nil {
		return nil, err
	}
	return newPeerConn(dir, n, nd, id)
}

// newPeerConn connects to the peer nd as id, trusting the network's roots.
func newPeerConn(dir string, n *localnet.Network, nd *localnet.Node, id *client.Identity) (*peerConn, error) {
	roots, err := localnet.RootPool(dir, n)
	if err != nil {
		return nil, err
	}
	return &peerConn{node: nd, hc: client.HTTPClient(id, roots)}, nil
}

func (p *peerConn) lifecycle() foliov1connect.LifecycleServiceClient {
	return foliov1connect.NewLifecycleServiceClient(p.hc, "https://"+p.node.API)
}

func (p *peerConn) chain() foliov1connect.ChainServiceClient {
	return foliov1connect.NewChainServiceClient(p.hc, "https://"+p.node.API)
}

// gatewayPeers lists the peers whose gateways a command that talks to a
// gateway uses, in order of preference. With --peer: that peer first, then
// the other peers of its organisation (failover). Without: every peer of
// org (the signing identity's organisation), in network.json order.
func (g *globals) gatewayPeers(n *localnet.Network, org string) ([]localnet.Node, error) {
	if g.peer != "" {
		nd, err := n.Node(g.peer)
		if err != nil {
			return nil, err
		}
		if nd.Role != config.RolePeer {
			return nil, fmt.Errorf("--peer %s is a %s, not a peer", g.peer, nd.Role)
		}
		out := []localnet.Node{*nd}
		for _, p := range n.PeersOf(nd.Org) {
			if p.Name != nd.Name {
				out = append(out, p)
			}
		}
		return out, nil
	}
	peers := n.PeersOf(org)
	if len(peers) == 0 {
		return nil, g.noPeersOf(n, org)
	}
	return peers, nil
}

// gatewayClient makes the SDK gateway client for id: every peer of
// gatewayPeers(n, id.Org), so that with one peer down the call goes
// through another of the organisation. It also returns the peers' names,
// in order.
func (g *globals) gatewayClient(hc *http.Client, n *localnet.Network, id *client.Identity) (*client.Gateway, []string, error) {
	peers, err := g.gatewayPeers(n, id.Org())
	if err != nil {
		return nil, nil, err
	}
	eps := make([]client.Endpoint, len(peers))
	names := make([]string, len(peers))
	for i, p := range peers {
		eps[i] = client.Endpoint{Name: p.Name, Addr: p.API}
		names[i] = p.Name
	}
	gw, err := client.NewGatewayWithOptions(hc, id, client.GatewayOptions{Channel: n.Channel, Endpoints: eps})
	if err != nil {
		return nil, nil, err
	}
	return gw, names, nil
}

func newPeerInfoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Ask a peer who it is, as the identity given by --as (the peer's MSP checks that identity)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := g.connectPeer()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			info, err := client.NodeInfo(ctx, p.hc, p.node.API)
			if err != nil {
				return fmt.Errorf("%s as %s: %w", p.node.Name, g.as, err)
			}
			return g.emit(info, func(w io.Writer) {
				fmt.Fprintf(w, "%s  %s of %s (%s)\nnode id  %s\nversion  %s (%s)\nready    %v %s\n",
					info.Name, info.Role, info.Org, info.MspId, info.NodeId, info.Version, info.Commit, info.Ready, info.NotReadyReason)
			})
		},
	}
}

func newPeerRebuildCmd(g *globals) *cobra.Command {
	var grace, timeout time.Duration
	cmd := &cobra.Command{
		Use:   "rebuild --peer NAME",
		Short: "Rebuild a peer's ledger from the chain (a peer whose state diverged)",
		Long: `Stops the peer, moves its ledger (data_dir/db, and its health record
data_dir/health.json) aside into data_dir/ledger.diverged-<UTC time> (nothing is
deleted; its keys, installed contracts and timed-release store stay), and starts
it again: it replays every block from block 0 from the orderers and recomputes
every state root. Returns once it holds the blocks the other peers held, its
health is ok, and another peer signed the same state root (docs/evidence.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.peer == "" {
				return usageErr("name the peer to rebuild with --peer NAME")
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			res, err := localnet.RebuildPeer(ctx, localnet.NodeOptions{Dir: g.network, Name: g.peer, Exe: exe, Grace: grace, Timeout: timeout, Progress: g.progress()})
			if err != nil {
				return err
			}
			return g.emit(map[string]any{"rebuilt": res}, func(w io.Writer) {
				if res.MovedTo != "" {
					fmt.Fprintf(w, "old ledger kept in %s\n", res.MovedTo)
				}
				fmt.Fprintf(w, "%s rebuilt from the chain in %s: height %d (others at %d), health %s, state root %.16s after block %d signed alike by %s\n",
					res.Name, (time.Duration(res.TookMS) * time.Millisecond).String(), res.Height, res.Target, res.Health, res.StateRoot, res.RootBlock, strings.Join(res.Agreeing, ", "))
			})
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", localnet.DefaultGrace, "how long to wait after SIGTERM before SIGKILL")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Minute, "how long to wait for the peer to catch up and agree with the others")
	return cmd
}

// noPeersOf explains why the --as identity's organisation org has no
// peer to use: --as is malformed, names no organisation of the network,
// or an organisation without peers (then --peer names one).
func (g *globals) noPeersOf(n *localnet.Network, org string) error {
	if _, _, err := wallet.ParseLabel(g.as); err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("--as %s: want name@Org, e.g. user1@Org1", g.as)}
	}
	if _, err := n.Org(org); err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("--as %s: no organisation %q in this network (organisations with peers: %s)", g.as, org, strings.Join(peerOrgs(n), ", "))}
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("organisation %q of identity %s has no peers: name one with --peer", org, g.as)}
}
