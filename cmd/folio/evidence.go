package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/evidence"
	"github.com/folio-ledger/folio/contracts/copyright"
	"github.com/folio-ledger/folio/internal/atomicfile"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/localnet"
)

func newWorkProveCmd(g *globals) *cobra.Command {
	var id, out string
	cmd := &cobra.Command{
		Use:   "prove --id ID --out FILE",
		Short: "Write an evidence bundle for a work, verifiable offline with 'folio evidence verify'",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, n, err := g.loadNetwork()
			if err != nil {
				return err
			}
			peers, err := g.gatewayPeers(n, orgOf(g.as))
			if err != nil {
				return err
			}
			hc, err := g.nodeHTTP(dir, n)
			if err != nil {
				return err
			}
			key, err := copyright.WorkKey(id)
			if err != nil {
				return fmt.Errorf("--id %q: %w", id, err)
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			resp, err := proveAt(ctx, hc, peers, &foliov1.ProveRequest{Namespace: copyrightContract, Key: key})
			if err != nil {
				return fmt.Errorf("prove %s: %w", id, err)
			}
			b, err := evidence.Build(n.Channel, copyrightContract, key, resp)
			if err != nil {
				return err
			}
			data, err := b.Encode()
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFile(out, data, 0o644); err != nil {
				return err
			}
			res := map[string]any{"file": out, "work": id, "block": b.BlockNumber, "state_root": b.StateRoot,
				"attestations": len(b.Attestations), "history": len(b.History), "config_updates": len(b.ConfigUpdates)}
			return g.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "wrote %s: work %s at block %d (state root %s), %d attestations, %d changes, %d config updates\nverify with: folio evidence verify %s --genesis %s\n",
					out, id, b.BlockNumber, b.StateRoot, len(b.Attestations), len(b.History), len(b.ConfigUpdates), out, filepath.Join(dir, localnet.GenesisFile))
			})
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "the work")
	cmd.Flags().StringVar(&out, "out", "", "where to write the bundle (JSON)")
	_ = cmd.MarkFlagRequired("id")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// proveAt asks the peers in turn for a proof, moving on while a peer is
// unreachable (client.Unreachable) or silent for proveAttemptTimeout; the
// error names every peer tried.
// proveAttemptTimeout bounds asking one peer for a proof (a read).
const proveAttemptTimeout = 10 * time.Second

func proveAt(ctx context.Context, hc *http.Client, peers []localnet.Node, req *foliov1.ProveRequest) (*foliov1.ProveResponse, error) {
	var tried []string
	for _, p := range peers {
		actx, cancel := context.WithTimeout(ctx, proveAttemptTimeout)
		resp, err := foliov1connect.NewEvidenceServiceClient(hc, "https://"+p.API).Prove(actx, connect.NewRequest(req))
		timedOut := ctx.Err() == nil && actx.Err() != nil
		cancel()
		if err == nil {
			return resp.Msg, nil
		}
		if !timedOut && !client.Unreachable(err) {
			return nil, fmt.Errorf("on %s: %w", p.Name, err)
		}
		tried = append(tried, fmt.Sprintf("%s: %v", p.Name, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("no peer answered (%s): %w", strings.Join(tried, "; "), client.ErrNoGateway)
}

func newEvidenceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "evidence", Short: "Verify evidence bundles offline"}
	var roots []string
	var genesisFile string
	verify := &cobra.Command{
		Use:   "verify FILE [--genesis genesis.block | --root MSPID=CERT.pem ...]",
		Short: "Check an evidence bundle offline against the network's genesis block (exit 0 = valid)",
		Long: `Checks every part of a bundle and prints what it proves: the record's value is in
the state trie under a state root (Ethereum secure-trie proofs); that root
follows a block signed by an orderer of the channel and is attested by peers
of every organisation; and every change of the record, none missing, was
signed by its creator, endorsed under the contract's endorsement policy in
force at its block, ordered in a block signed by the channel's orderers, and
committed VALID (its block's validation codes attested by peers of every
organisation). Organisations, orderers and policies come from the chain the
bundle proves, starting from the trust anchor:

  --genesis FILE        the network's genesis block (genesis.block in the
                        network directory), pinned: the strongest anchor;
  --root MSPID=FILE     the organisations' root CA certificates (repeatable):
                        the bundle's genesis block is accepted when its
                        organisations are exactly these.

With neither, the network directory's genesis.block (--network) is pinned.
A re-indented file verifies; any other change does not. Exit status 2 means
the evidence is invalid.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			anchor, err := g.evidenceAnchor(genesisFile, roots)
			if err != nil {
				return err
			}
			rep, verr := evidence.Verify(data, anchor)
			if err := g.emit(rep, func(w io.Writer) {
				for _, c := range rep.Checks {
					mark := "ok  "
					if !c.OK {
						mark = "FAIL"
					}
					fmt.Fprintf(w, "%s %-13s %s\n", mark, c.Name, c.Detail)
				}
				if rep.Valid {
					fmt.Fprintf(w, "valid: %s %s after block %d is\n  %s\n", rep.Namespace, rep.ReadableKey, rep.Block, rep.Value)
				}
			}); err != nil {
				return err
			}
			if verr != nil {
				return &exitError{code: 2, err: verr}
			}
			return nil
		},
	}
	verify.Flags().StringVar(&genesisFile, "genesis", "", "the network's genesis block, pinned as the trust anchor (default: the network directory's genesis.block)")
	verify.Flags().StringArrayVar(&roots, "root", nil, "trusted root certificate of an organisation, MSPID=FILE (repeatable; instead of --genesis)")
	verify.MarkFlagsMutuallyExclusive("genesis", "root")
	cmd.AddCommand(verify)
	return cmd
}

// evidenceAnchor reads the verifier's trust anchor: --genesis FILE, the
// --root MSPID=FILE flags, or else the network directory's genesis block.
func (g *globals) evidenceAnchor(genesisFile string, flags []string) (evidence.Anchor, error) {
	if len(flags) > 0 {
		var out []evidence.Root
		for _, f := range flags {
			msp, path, ok := strings.Cut(f, "=")
			if !ok || msp == "" {
				return evidence.Anchor{}, errors.New("--root: want MSPID=FILE, e.g. --root Org1MSP=org1-ca.pem")
			}
			c, err := fcrypto.ReadCertificate(path)
			if err != nil {
				return evidence.Anchor{}, fmt.Errorf("--root %s: %w", msp, err)
			}
			out = append(out, evidence.Root{MSPID: msp, Cert: c})
		}
		return evidence.Anchor{Roots: out}, nil
	}
	what := "--genesis " + genesisFile
	if genesisFile == "" {
		dir, _, err := g.loadNetwork()
		if err != nil {
			return evidence.Anchor{}, fmt.Errorf("no --genesis or --root given and %w", err)
		}
		genesisFile = filepath.Join(dir, localnet.GenesisFile)
		what = genesisFile
	}
	data, err := os.ReadFile(genesisFile)
	if err != nil {
		return evidence.Anchor{}, fmt.Errorf("%s: %w", what, err)
	}
	b, err := evidence.ParseGenesis(data)
	if err != nil {
		return evidence.Anchor{}, fmt.Errorf("%s: %w", what, err)
	}
	return evidence.Anchor{Genesis: b}, nil
}

// trustedRoots reads --root MSPID=FILE flags, or the network directory's
// organisations when none are given.
func (g *globals) trustedRoots(flags []string) ([]evidence.Root, error) {
	if len(flags) > 0 {
		a, err := g.evidenceAnchor("", flags)
		return a.Roots, err
	}
	dir, n, err := g.loadNetwork()
	if err != nil {
		return nil, fmt.Errorf("no --root given and %w", err)
	}
	var out []evidence.Root
	for _, o := range n.Orgs {
		c, err := fcrypto.ReadCertificate(filepath.Join(dir, o.RootCert))
		if err != nil {
			return nil, err
		}
		out = append(out, evidence.Root{MSPID: o.MSPID, Cert: c})
	}
	return out, nil
}
