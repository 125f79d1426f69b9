package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client/evidence"
	"github.com/folio-ledger/folio/contracts/copyright"
	"github.com/folio-ledger/folio/internal/explorer"
	"github.com/folio-ledger/folio/internal/explorer/index"
	"github.com/folio-ledger/folio/internal/explorer/web"
	"github.com/folio-ledger/folio/internal/localnet"
)

func newExplorerCmd(g *globals) *cobra.Command {
	var (
		addr, indexDir, tokenFile string
	)
	cmd := &cobra.Command{
		Use:   "explorer [--addr 127.0.0.1:8080] [--index DIR] [--token-file FILE]",
		Short: "Serve the Folio Explorer: blocks, transactions, works and their provenance, the network, in a browser",
		Long: `Serve the Folio Explorer, a web application that reads the network as the --as
identity (default user1@Org1) through its organisation's peers, like any client.

It keeps its own index of the chain (blocks, transactions, works by ID, owner,
author and content hash, with their provenance) in --index (default
NETWORK/explorer), builds it once and afterwards only catches up from where it
stopped; new blocks appear within a second of their commit.

It listens on 127.0.0.1:8080 by default and then needs no credentials. Any other
address (another interface, 0.0.0.0, ":8080") needs --token-file: the file's
first line is the access token (at least 16 bytes), given as
"Authorization: Bearer TOKEN" or once in the browser at /login?token=TOKEN.
What the pages show is what the --as identity may read (docs/explorer.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := web.Config{Addr: addr}
			if tokenFile != "" {
				tok, err := readTokenFile(tokenFile)
				if err != nil {
					return usageErr("--token-file: %v", err)
				}
				cfg.Token = tok
			}
			cfg.EnsureDefaults()
			if err := cfg.Validate(); err != nil {
				return &exitError{code: exitUsage, err: err, hint: "bind 127.0.0.1, or give --token-file"}
			}
			dir, n, err := g.loadNetwork()
			if err != nil {
				return err
			}
			hc, err := g.nodeHTTP(dir, n)
			if err != nil {
				return err
			}
			peers, err := g.gatewayPeers(n, orgOf(g.as))
			if err != nil {
				return err
			}
			if indexDir == "" {
				indexDir = filepath.Join(dir, "explorer")
			}
			log := slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			// The index logs what it skips and its storage engine's chatter:
			// warnings and above only.
			ixLog := slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			ix, err := index.Open(index.Options{Dir: indexDir, Logger: ixLog.With("component", "index")})
			if err != nil {
				return fmt.Errorf("explorer index %s: %w", indexDir, err)
			}
			defer ix.Close()
			var sources []index.Peer
			for _, p := range peers {
				sources = append(sources, index.Peer{Name: p.Name, Chain: foliov1connect.NewChainServiceClient(hc, "https://"+p.API)})
			}
			src, err := index.NewPeerSource(sources, log.With("component", "source"))
			if err != nil {
				return err
			}
			// The network, contracts and releases pages read the network
			// rather than the index (explorer_views.go).
			srv, err := web.New(ix, cfg, web.WithEvidence(explorerEvidence(dir, n, hc, peers)),
				web.WithSections(newExplorerViews(g, dir, n, hc)))
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", cfg.Addr)
			if err != nil {
				return fmt.Errorf("explorer: listen on %s: %w", cfg.Addr, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(g.stdout, "explorer listening on http://%s (index %s at height %d, reading as %s through %s)\n",
				ln.Addr(), indexDir, ix.Height(), g.as, peers[0].Name)
			runErr := make(chan error, 1)
			go func() { runErr <- ix.Run(ctx, src) }()
			serveErr := srv.Serve(ctx, ln)
			stop()
			if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("explorer index: %w", err)
			}
			return serveErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "where to listen; anything but a loopback address needs --token-file")
	f.StringVar(&indexDir, "index", "", "the explorer's index directory (default: NETWORK/explorer)")
	f.StringVar(&tokenFile, "token-file", "", "file whose first line is the access token (at least 16 bytes)")
	return cmd
}

// readTokenFile reads an access token: the file's first line, trimmed.
func readTokenFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if len(data) > 4096 {
		return "", fmt.Errorf("%s: %d bytes, not a token file", path, len(data))
	}
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimRight(line, "\r")
	if len(line) < web.MinTokenLen {
		return "", fmt.Errorf("%s: the token is %d bytes, at least %d are needed", path, len(line), web.MinTokenLen)
	}
	return line, nil
}

// explorerEvidence proves a work at the peers (as `folio work prove`) and
// verifies the bundle offline against the network's genesis block (as
// `folio evidence verify`): the page shows what a court would see.
func explorerEvidence(dir string, n *localnet.Network, hc *http.Client, peers []localnet.Node) web.Evidence {
	return web.EvidenceFunc(func(ctx context.Context, workID string) ([]byte, web.EvidenceReport, error) {
		key, err := copyright.WorkKey(workID)
		if err != nil {
			return nil, web.EvidenceReport{}, fmt.Errorf("%w: work %q: %v", explorer.ErrNotFound, workID, err)
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resp, err := proveAt(ctx, hc, peers, &foliov1.ProveRequest{Namespace: copyrightContract, Key: key})
		if err != nil {
			return nil, web.EvidenceReport{}, fmt.Errorf("%w: prove %s: %v", explorer.ErrUnavailable, workID, err)
		}
		b, err := evidence.Build(n.Channel, copyrightContract, key, resp)
		if err != nil {
			return nil, web.EvidenceReport{}, fmt.Errorf("%w: work %s: %v", explorer.ErrNotFound, workID, err)
		}
		data, err := b.Encode()
		if err != nil {
			return nil, web.EvidenceReport{}, err
		}
		genesis, err := os.ReadFile(filepath.Join(dir, localnet.GenesisFile))
		if err != nil {
			return nil, web.EvidenceReport{}, err
		}
		gb, err := evidence.ParseGenesis(genesis)
		if err != nil {
			return nil, web.EvidenceReport{}, err
		}
		rep, _ := evidence.Verify(data, evidence.Anchor{Genesis: gb}) // a failed check is shown, not an error
		var out web.EvidenceReport
		if rep != nil {
			out = web.EvidenceReport{Valid: rep.Valid, Subject: rep.ReadableKey, Block: rep.Block, StateRoot: rep.StateRoot}
			for _, c := range rep.Checks {
				out.Checks = append(out.Checks, web.EvidenceCheck{Name: c.Name, OK: c.OK, Detail: c.Detail})
			}
		}
		return data, out, nil
	})
}
