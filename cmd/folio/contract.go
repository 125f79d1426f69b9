package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/localnet"
)

// This file holds `folio contract ...`: packages, installs, activations and
// status of contract versions (docs/lifecycle.md).

func newContractCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "contract", Short: "Contracts: package, install on peers, activate at a block, status; invoke and query any function"}
	cmd.AddCommand(newContractPackageCmd(g), newContractInstallCmd(g), newContractInstalledCmd(g),
		newContractActivateCmd(g), newContractStatusCmd(g), newContractInvokeCmd(g), newContractQueryCmd(g))
	return cmd
}

func newContractPackageCmd(g *globals) *cobra.Command {
	var name, version, wasmPath, out string
	var confidential bool
	cmd := &cobra.Command{
		Use:   "package --name NAME --version V --wasm FILE --out PKG",
		Short: "Make a signed contract package (signed by --as, default the admin of its organisation); prints its package ID name:version:sha256",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || version == "" || wasmPath == "" || out == "" {
				return usageErr("--name, --version, --wasm and --out are required")
			}
			wasm, err := os.ReadFile(wasmPath)
			if err != nil {
				return fmt.Errorf("--wasm: %w", err)
			}
			if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
				return usageErr("--wasm %s is not a WebAssembly module (build one with `make contracts`)", wasmPath)
			}
			dir, _, err := g.loadNetwork()
			if err != nil {
				return err
			}
			// Peers' enclaves run only modules an admin packaged
			// (docs/enclave.md): without --as, the admin of the default
			// identity's organisation signs.
			label := ""
			if !cmd.Flags().Changed("as") {
				label = "admin@" + orgOf(g.as)
			}
			id, err := g.signer(dir, label)
			if err != nil {
				return err
			}
			spkg, err := client.PackageContract(id, name, version, wasm, confidential)
			if err != nil {
				return err
			}
			pkg, err := client.OpenPackage(spkg)
			if err != nil {
				return err
			}
			raw, err := proto.Marshal(spkg)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, raw, 0o644); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			pid := client.PackageID(name, version, pkg.WasmSha256)
			return g.emit(map[string]any{"package_id": pid, "file": out, "packager": id.Label(), "bytes": len(raw)}, func(w io.Writer) {
				fmt.Fprintf(w, "%s\nwritten to %s, signed by %s\n", pid, out, id.Label())
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "contract name")
	f.StringVar(&version, "version", "", "version (a version names one module forever)")
	f.StringVar(&wasmPath, "wasm", "", "the contract's wasm module (e.g. build/contracts/copyright.wasm)")
	f.StringVar(&out, "out", "", "package file to write")
	f.BoolVar(&confidential, "confidential", false, "the contract keeps its state sealed (docs/enclave.md)")
	return cmd
}

func readPackage(path string) (*foliov1.SignedContractPackage, *foliov1.ContractPackage, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var spkg foliov1.SignedContractPackage
	if err := proto.Unmarshal(raw, &spkg); err != nil {
		return nil, nil, fmt.Errorf("%s is not a contract package (make one with `folio contract package`): %w", path, err)
	}
	pkg, err := client.OpenPackage(&spkg)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return &spkg, pkg, nil
}

func asChanged(cmd *cobra.Command) bool {
	return cmd.Flags().Changed("as") || cmd.Root().PersistentFlags().Changed("as")
}

// walletAdmins returns the admin identities of the wallet, by organisation.
func walletAdmins(dir string, w *wallet.Wallet) (map[string]*client.Identity, error) {
	entries, err := w.List()
	if err != nil {
		return nil, err
	}
	out := map[string]*client.Identity{}
	for _, e := range entries {
		if e.Role != string(identity.RoleAdmin) || out[e.Org] != nil {
			continue
		}
		id, err := w.Load(e.Label())
		if err != nil {
			return nil, err
		}
		out[e.Org] = id
	}
	return out, nil
}

type installView struct {
	Peer      string `json:"peer"`
	PackageID string `json:"package_id,omitempty"`
	TxID      string `json:"tx_id,omitempty"`
	Block     uint64 `json:"block,omitempty"`
	Error     string `json:"error,omitempty"`
}

func newContractInstallCmd(g *globals) *cobra.Command {
	var allPeers bool
	cmd := &cobra.Command{
		Use:   "install PKG [--peer NAME | --all-peers]",
		Short: "Install a package on peers (as an admin of their organisation) and wait for their install records to commit",
		Long: `Installs a contract package on one peer (--peer, default the first peer of
the --as identity's organisation) or, with --all-peers, on every peer of every
organisation whose admin is in the wallet (only the --as identity's
organisation when --as is given). Each peer loads the module into its enclave,
stores it, and records the install on chain; installing changes nothing the
peers execute until an activation.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spkg, pkg, err := readPackage(args[0])
			if err != nil {
				return err
			}
			dir, n, err := g.loadNetwork()
			if err != nil {
				return err
			}
			if allPeers && g.peer != "" {
				return usageErr("give --peer or --all-peers, not both")
			}
			type target struct {
				node *localnet.Node
				as   *client.Identity
			}
			var targets []target
			admins, err := walletAdmins(dir, g.wallet(dir))
			if err != nil {
				return err
			}
			adminFor := func(org string) (*client.Identity, error) {
				if asChanged(cmd) {
					return g.signer(dir, "")
				}
				if a := admins[org]; a != nil {
					return a, nil
				}
				return nil, fmt.Errorf("the wallet holds no admin of %s: give --as", org)
			}
			if allPeers {
				for _, o := range n.Orgs {
					if asChanged(cmd) && o.Name != orgOf(g.as) {
						continue
					}
					id, err := adminFor(o.Name)
					if err != nil {
						continue
					}
					for _, p := range n.PeersOf(o.Name) {
						targets = append(targets, target{node: &p, as: id})
					}
				}
				if len(targets) == 0 {
					return errors.New("no peers to install on: the wallet holds no admin of an organisation with peers")
				}
			} else {
				nd, err := g.resolvePeer(n)
				if err != nil {
					return err
				}
				id, err := adminFor(nd.Org)
				if err != nil {
					return err
				}
				targets = append(targets, target{node: nd, as: id})
			}
			pid := client.PackageID(pkg.Name, pkg.Version, pkg.WasmSha256)
			fmt.Fprintf(g.progress(), "installing %s on %d peer(s)...\n", pid, len(targets))
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			views := make([]installView, len(targets))
			var wg sync.WaitGroup
			for i, t := range targets {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v := installView{Peer: t.node.Name}
					defer func() { views[i] = v }()
					pc, err := newPeerConn(dir, n, t.node, t.as)
					if err != nil {
						v.Error = err.Error()
						return
					}
					resp, err := pc.lifecycle().Install(ctx, connect.NewRequest(&foliov1.InstallRequest{Package: spkg}))
					if err != nil {
						v.Error = err.Error()
						return
					}
					v.PackageID, v.TxID, v.Block = resp.Msg.PackageId, resp.Msg.TxId, resp.Msg.BlockNumber
					fmt.Fprintf(g.progress(), "  %s: installed, recorded in block %d\n", t.node.Name, v.Block)
				}()
			}
			wg.Wait()
			failed := 0
			for _, v := range views {
				if v.Error != "" {
					failed++
				}
			}
			if err := g.emit(map[string]any{"package_id": pid, "installs": views}, func(w io.Writer) {
				for _, v := range views {
					if v.Error != "" {
						fmt.Fprintf(w, "%-12s FAILED: %s\n", v.Peer, v.Error)
					} else {
						fmt.Fprintf(w, "%-12s installed %s (install record %s, block %d)\n", v.Peer, v.PackageID, v.TxID, v.Block)
					}
				}
			}); err != nil {
				return err
			}
			if failed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("install failed on %d of %d peers", failed, len(views))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&allPeers, "all-peers", false, "install on every peer the wallet's admins may install on")
	return cmd
}

func newContractInstalledCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "installed [--peer NAME]",
		Short: "List the packages installed on a peer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := g.connectPeer()
			if err != nil {
				return err
			}
			lc, nd := p.lifecycle(), p.node
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			resp, err := lc.Installed(ctx, connect.NewRequest(&foliov1.InstalledRequest{}))
			if err != nil {
				return fmt.Errorf("%s: %w", nd.Name, err)
			}
			type pkgView struct {
				Name        string `json:"name"`
				Version     string `json:"version"`
				PackageID   string `json:"package_id"`
				PackageHash string `json:"package_hash"`
			}
			out := struct {
				Peer     string    `json:"peer"`
				Packages []pkgView `json:"packages"`
			}{Peer: resp.Msg.Peer, Packages: []pkgView{}}
			for _, p := range resp.Msg.Packages {
				out.Packages = append(out.Packages, pkgView{Name: p.Name, Version: p.Version, PackageID: client.PackageID(p.Name, p.Version, p.PackageHash),
					PackageHash: "sha256:" + hex.EncodeToString(p.PackageHash)})
			}
			return g.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "%s has %d package(s) installed\n", out.Peer, len(out.Packages))
				for _, p := range out.Packages {
					fmt.Fprintf(w, "  %s\n", p.PackageID)
				}
			})
		},
	}
}

func newContractActivateCmd(g *globals) *cobra.Command {
	var name, version, policySrc, pkgPath, approvals string
	var atBlock, afterBlocks, expiresAfter uint64
	var minInstalled uint32
	var confidential bool
	cmd := &cobra.Command{
		Use:   "activate --name NAME --version V [--at-block N | --after-blocks K] [--min-installed M] [--expires-after-blocks E]",
		Short: "Make a version the one every peer runs from a start block on (approved by admins, checked against install records)",
		Long: `Submits an activation: from the start block on (--at-block N, or the block
committing the activation plus --after-blocks K, default 1) every peer endorses
the contract with version V and validators accept only transactions endorsed
with it. The activation is valid only if the install records on chain show
at least --min-installed peers (default: every peer of the channel) with V's
package hash; otherwise it is rejected with the missing peers named.
Upgrade and downgrade are the same operation.

The activation is approved by the admins given with --approvals (default:
the wallet's admins of every organisation with peers) and must satisfy the channel's
lifecycle/activation policy (default: admins of a majority of the
organisations). It is submitted by --as if given, else by the first
approver.

On channels at capability level 2 or later the approvals also bind the
channel, the contract definition's sequence (read from the peer's contract
status: the sequence in force + 1) and an expiry: the activation is refused
if it commits after the peer's current height + --expires-after-blocks
(default 100), if another activation of the contract commits first, or if
it is submitted again. Then collect the approvals again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || version == "" {
				return usageErr("--name and --version are required")
			}
			if atBlock > 0 && cmd.Flags().Changed("after-blocks") {
				return usageErr("give --at-block or --after-blocks, not both")
			}
			if cmd.Flags().Changed("at-block") && atBlock == 0 {
				return usageErr("--at-block 0: must be 1 or more (a block after the one committing the activation)")
			}
			if cmd.Flags().Changed("after-blocks") && (afterBlocks < 1 || afterBlocks > maxActivationBlocks) {
				return usageErr("--after-blocks %d: must be 1 to %d", afterBlocks, maxActivationBlocks)
			}
			if expiresAfter < 1 || expiresAfter > maxActivationBlocks {
				return usageErr("--expires-after-blocks %d: must be 1 to %d", expiresAfter, maxActivationBlocks)
			}
			dir, n, err := g.loadNetwork()
			if err != nil {
				return err
			}
			peers := 0
			for _, nd := range n.Nodes {
				if nd.Role == config.RolePeer {
					peers++
				}
			}
			if int(minInstalled) > peers {
				return usageErr("--min-installed %d: must be 0 (every peer) to %d, the peers of the network", minInstalled, peers)
			}
			w := g.wallet(dir)
			var approvers []*client.Identity
			if approvals != "" {
				for _, l := range strings.Split(approvals, ",") {
					id, err := w.Load(strings.TrimSpace(l))
					if err != nil {
						return fmt.Errorf("--approvals: %w", err)
					}
					approvers = append(approvers, id)
				}
			} else {
				admins, err := walletAdmins(dir, w)
				if err != nil {
					return err
				}
				for _, o := range n.Orgs {
					if a := admins[o.Name]; a != nil && len(n.PeersOf(o.Name)) > 0 {
						approvers = append(approvers, a)
					}
				}
			}
			creator := (*client.Identity)(nil)
			if asChanged(cmd) {
				if creator, err = g.signer(dir, ""); err != nil {
					return err
				}
			} else if len(approvers) > 0 {
				creator = approvers[0]
			} else {
				return errors.New("no admin identity in the wallet: give --as and --approvals")
			}
			nd, err := g.peerOf(n, creator)
			if err != nil {
				return err
			}
			pc, err := newPeerConn(dir, n, nd, creator)
			if err != nil {
				return err
			}
			lc, chain := pc.lifecycle(), pc.chain()
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			st, err := client.ContractStatusOf(ctx, lc, chain, name)
			if err != nil {
				return fmt.Errorf("%s: %w", nd.Name, err)
			}
			hash, err := activationHash(st, name, version, pkgPath)
			if err != nil {
				return err
			}
			act := &foliov1.Activation{Contract: name, Version: version, PackageHash: hash, AtBlock: atBlock, AfterBlocks: afterBlocks,
				MinInstalled: minInstalled, EndorsementPolicy: policySrc, Confidential: confidential}
			if err := client.BindActivation(act, n.Channel, st, expiresAfter); err != nil {
				return usageErr("--expires-after-blocks: %v", err)
			}
			env, txID, err := client.NewLifecycleEnvelope(creator, n.Channel, &foliov1.LifecycleRequest{Op: &foliov1.LifecycleRequest_Activate{Activate: act}}, approvers)
			if err != nil {
				return err
			}
			gw, _, err := g.gatewayClient(pc.hc, n, creator)
			if err != nil {
				return err
			}
			res, err := gw.SubmitEnvelope(ctx, env, txID)
			var inv *client.InvalidError
			if err != nil && !errors.As(err, &inv) {
				return fmt.Errorf("activate: %w", err)
			}
			out := map[string]any{"tx_id": res.TxID, "block": res.Block, "status": res.Code.String(),
				"sequence": act.Sequence, "expires_at_block": act.ExpiresAtBlock}
			if inv != nil {
				out["reason"] = res.Reason
			} else if st, err := lc.Status(ctx, connect.NewRequest(&foliov1.ContractStatusRequest{Name: name})); err == nil {
				for _, a := range st.Msg.Activations {
					if a.TxId == txID {
						out["start_block"] = a.StartBlock
						out["signers"] = a.Signers
					}
				}
			}
			if perr := g.emit(out, func(w io.Writer) {
				if inv != nil {
					fmt.Fprintf(w, "activation %s is %s in block %d: %s\n", res.TxID, res.Code, res.Block, res.Reason)
					return
				}
				fmt.Fprintf(w, "activation %s committed in block %d: %s version %s runs from block %v on (sequence %d, approved by %v)\n",
					res.TxID, res.Block, name, version, out["start_block"], act.Sequence, out["signers"])
			}); perr != nil {
				return perr
			}
			if inv != nil {
				return &exitError{code: 1, err: inv}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "contract name")
	f.StringVar(&version, "version", "", "version to run from the start block on")
	f.Uint64Var(&atBlock, "at-block", 0, "start block, 1 or more (must be after the block that commits the activation)")
	f.Uint64Var(&afterBlocks, "after-blocks", 0, "start this many blocks after the one committing the activation, 1 to 1000000 (default 1)")
	f.Uint32Var(&minInstalled, "min-installed", 0, "peers that must have recorded installing the version, 0 to the network's peers (default 0: every peer of the channel)")
	f.StringVar(&policySrc, "policy", "", "endorsement policy from the start block (default: keep the current one; required for a new contract)")
	f.StringVar(&pkgPath, "package", "", "the version's package file, for its hash (default: the hash the install records show)")
	f.StringVar(&approvals, "approvals", "", "comma-separated admin identities that approve (default: the wallet's admins of organisations with peers)")
	f.Uint64Var(&expiresAfter, "expires-after-blocks", client.DefaultActivationExpiry,
		"the approvals expire this many blocks after the peer's current height, 1 to 1000000: a later commit is refused (capability level 2 on)")
	f.BoolVar(&confidential, "confidential", false, "a new contract is confidential (must match the installed packages)")
	return cmd
}

// maxActivationBlocks bounds --after-blocks and --expires-after-blocks: a
// million blocks is weeks at a block a second; more is a typo.
const maxActivationBlocks = 1_000_000

// peerOf is the peer whose gateway an identity uses: --peer, or the first
// peer of the identity's organisation.
func (g *globals) peerOf(n *localnet.Network, id *client.Identity) (*localnet.Node, error) {
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
	ps := n.PeersOf(id.Org())
	if len(ps) == 0 {
		return nil, fmt.Errorf("organisation %s has no peers: give --peer", id.Org())
	}
	return &ps[0], nil
}

// activationHash is the package hash an activation names: the package
// file's, or else the one install records in the contract's status st show
// for the version (refusing if peers recorded different ones).
func activationHash(st *foliov1.ContractStatus, name, version, pkgPath string) ([]byte, error) {
	if pkgPath != "" {
		_, pkg, err := readPackage(pkgPath)
		if err != nil {
			return nil, fmt.Errorf("--package: %w", err)
		}
		if pkg.Name != name || pkg.Version != version {
			return nil, usageErr("--package %s holds %s version %s, not %s version %s", pkgPath, pkg.Name, pkg.Version, name, version)
		}
		return pkg.WasmSha256, nil
	}
	seen := map[string][]string{}
	for _, pi := range st.GetInstalls() {
		for i, v := range pi.Versions {
			if v == version && i < len(pi.PackageHashes) {
				h := hex.EncodeToString(pi.PackageHashes[i])
				seen[h] = append(seen[h], pi.Peer)
			}
		}
	}
	switch len(seen) {
	case 0:
		return nil, fmt.Errorf("no peer recorded installing %s version %s: install it first, or give --package to submit anyway", name, version)
	case 1:
		for h := range seen {
			b, _ := hex.DecodeString(h)
			return b, nil
		}
	}
	var parts []string
	for h, ps := range seen {
		parts = append(parts, fmt.Sprintf("%s… on %s", h[:16], strings.Join(ps, ", ")))
	}
	sort.Strings(parts)
	return nil, fmt.Errorf("peers recorded different packages as %s version %s (%s): give --package to choose", name, version, strings.Join(parts, "; "))
}

// contractStatusView is `folio contract status` as CLI.md specifies.
type contractStatusView struct {
	Name             string              `json:"name"`
	EffectiveVersion string              `json:"effective_version"`
	Next             *nextVersionView    `json:"next"`
	Installs         []peerInstallsView  `json:"installs"`
	HaltedPeers      []string            `json:"halted_peers"`
	Activations      []activationView    `json:"activations"`
	Height           uint64              `json:"height"`
	Sequence         uint64              `json:"sequence"`
	Peer             string              `json:"peer"`
	Packages         map[string][]string `json:"package_hashes,omitempty"`
}

type nextVersionView struct {
	Version    string `json:"version"`
	StartBlock uint64 `json:"start_block"`
}

type peerInstallsView struct {
	Peer     string   `json:"peer"`
	Versions []string `json:"versions"`
}

type activationView struct {
	Version    string   `json:"version"`
	StartBlock uint64   `json:"start_block"`
	Block      uint64   `json:"block"`
	TxID       string   `json:"tx_id"`
	Signers    []string `json:"signers"`
	Sequence   uint64   `json:"sequence"`
}

func newContractStatusCmd(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "status --name NAME",
		Short: "Show a contract's version in force, a pending switch, installs per peer, halted peers and activations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usageErr("--name is required")
			}
			p, err := g.connectPeer()
			if err != nil {
				return err
			}
			lc, nd := p.lifecycle(), p.node
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			resp, err := lc.Status(ctx, connect.NewRequest(&foliov1.ContractStatusRequest{Name: name}))
			if err != nil {
				return fmt.Errorf("%s: %w", nd.Name, err)
			}
			st := resp.Msg
			v := contractStatusView{Name: st.Name, EffectiveVersion: st.EffectiveVersion, Height: st.Height, Sequence: st.Sequence, Peer: nd.Name,
				Installs: []peerInstallsView{}, HaltedPeers: append([]string{}, st.HaltedPeers...), Activations: []activationView{},
				Packages: map[string][]string{}}
			if st.Next != nil {
				v.Next = &nextVersionView{Version: st.Next.Version, StartBlock: st.Next.StartBlock}
			}
			for _, pi := range st.Installs {
				v.Installs = append(v.Installs, peerInstallsView{Peer: pi.Peer, Versions: append([]string{}, pi.Versions...)})
				for i, ver := range pi.Versions {
					if i < len(pi.PackageHashes) {
						h := "sha256:" + hex.EncodeToString(pi.PackageHashes[i])
						if !slices.Contains(v.Packages[ver], h) {
							v.Packages[ver] = append(v.Packages[ver], h)
						}
					}
				}
			}
			for _, a := range st.Activations {
				v.Activations = append(v.Activations, activationView{Version: a.Version, StartBlock: a.StartBlock, Block: a.BlockNumber, TxID: a.TxId,
					Signers: append([]string{}, a.Signers...), Sequence: a.Sequence})
			}
			return g.emit(v, func(w io.Writer) {
				if v.EffectiveVersion == "" {
					fmt.Fprintf(w, "%s: no version in force yet at height %d, definition sequence %d (as %s sees it)\n", v.Name, v.Height, v.Sequence, v.Peer)
				} else {
					fmt.Fprintf(w, "%s: version %s in force at height %d, definition sequence %d (as %s sees it)\n", v.Name, v.EffectiveVersion, v.Height, v.Sequence, v.Peer)
				}
				if v.Next != nil {
					fmt.Fprintf(w, "next: version %s from block %d\n", v.Next.Version, v.Next.StartBlock)
				}
				for _, pi := range v.Installs {
					fmt.Fprintf(w, "  %-12s installed: %s\n", pi.Peer, strings.Join(pi.Versions, ", "))
				}
				if len(v.HaltedPeers) > 0 {
					fmt.Fprintf(w, "halted (no install of version %s): %s\n", v.EffectiveVersion, strings.Join(v.HaltedPeers, ", "))
				}
				for _, a := range v.Activations {
					fmt.Fprintf(w, "activation in block %d: sequence %d, version %s from block %d, approved by %s\n", a.Block, a.Sequence, a.Version, a.StartBlock, strings.Join(a.Signers, ", "))
				}
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "contract name")
	return cmd
}
