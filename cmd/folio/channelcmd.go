package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	releasecc "github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/atomicfile"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/consortium"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/localnet/genesiscontracts"
	"github.com/folio-ledger/folio/internal/policy"
)

// newChannelCmd is `folio channel`: forming a consortium's channel and
// changing its membership by config updates that the admins approve, each
// on their own host (docs/operations.md).
func newChannelCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "channel", Short: "Form a channel from organisation definitions; add and remove organisations; sign and submit proposals"}
	cmd.AddCommand(newChannelGenesisCmd(g), newChannelAddOrgCmd(g), newChannelRemoveOrgCmd(g), newChannelSetPolicyCmd(g),
		newChannelSignCmd(g), newChannelSubmitCmd(g), newChannelShowCmd(g))
	return cmd
}

func newChannelGenesisCmd(g *globals) *cobra.Command {
	var dir, out, name string
	var defs []string
	cmd := &cobra.Command{
		Use:   "genesis --dir DIR --definition FILE... --out FILE [--channel folio]",
		Short: "Form a channel from organisation definitions: write block 0, signed by DIR's admin",
		Long: `Forms a consortium's channel from definitions only ('folio org export' of each
organisation; no other organisation's key is needed). The organisation in DIR
(typically the ordering organisation; its definition is added if not given)
signs block 0 with its admin. The channel's configuration holds every
organisation and node of the definitions, orderers with the Raft ID their key
derives, the policies 'folio network up' writes (channel admins and contract
activation: a majority of the peer organisations' admins) and the copyright
(every peer organisation endorses) and release (a majority endorses)
contracts, version 1, as 'folio org init' installed them.

Writes block 0 to --out and to DIR/genesis.block, lists the other nodes as
bootstrap endpoints in DIR's node configs, and prints the block's hash: send
the block and its hash to the other organisations, and compare the hash with
them out of band ('folio org join --genesis FILE --genesis-hash HEX').`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" || out == "" || len(defs) == 0 {
				return usageErr("--dir, --out and at least one --definition are required")
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			own, err := consortium.Export(abs)
			if err != nil {
				return err
			}
			list := []*foliov1.OrgDefinition{}
			haveOwn := false
			for _, f := range defs {
				d, err := consortium.ReadDefinition(f)
				if err != nil {
					return &exitError{code: exitInvalid, err: err}
				}
				if d.Org.MspId == own.Org.MspId {
					if !proto.Equal(d, own) {
						return &exitError{code: exitInvalid, err: fmt.Errorf("definition %s is of %s but differs from %s's own (re-export it)", f, d.Org.MspId, abs)}
					}
					haveOwn = true
				}
				list = append(list, d)
			}
			if !haveOwn {
				list = append([]*foliov1.OrgDefinition{own}, list...)
			}
			id, err := wallet.Open(filepath.Join(abs, "wallet")).Load("admin@" + own.Org.Name)
			if err != nil {
				return err
			}
			signer, err := identity.FromCertificate(id.MSPID(), id.Certificate(), id.Key())
			if err != nil {
				return err
			}
			o := consortium.GenesisOptions{Channel: name}
			if o.CopyrightWasm, err = genesiscontracts.Copyright.Wasm(); err != nil {
				return err
			}
			if o.ReleaseWasm, err = genesiscontracts.Release.Wasm(); err != nil {
				return err
			}
			block, err := consortium.Genesis(list, signer, o)
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			raw, err := proto.Marshal(block)
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFile(out, raw, 0o644); err != nil {
				return err
			}
			cfg, err := channel.FromGenesis(block)
			if err != nil {
				return err
			}
			if err := consortium.Bootstrap(abs, block, cfg); err != nil {
				return err
			}
			hash, err := consortium.GenesisHash(block)
			if err != nil {
				return err
			}
			orgs := make([]string, len(cfg.Orgs))
			for i, o := range cfg.Orgs {
				orgs[i] = o.Name
			}
			return g.emit(map[string]any{"genesis": out, "channel": cfg.ChannelId, "genesis_hash": hash, "orgs": orgs,
				"orderers": len(cfg.Orderers), "peers": len(cfg.Peers)}, func(w io.Writer) {
				fmt.Fprintf(w, "channel %s formed: %s; %d orderers, %d peers\nblock 0 written to %s\ngenesis hash %s (compare it out of band)\n",
					cfg.ChannelId, strings.Join(orgs, ", "), len(cfg.Orderers), len(cfg.Peers), out, hash)
				fmt.Fprintf(w, "each organisation then runs: folio org join --dir DIR --genesis %s --genesis-hash %s\n", filepath.Base(out), hash)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "the signing organisation's directory (made by 'folio org init')")
	f.StringArrayVar(&defs, "definition", nil, "an organisation's definition file from 'folio org export' (repeat for each)")
	f.StringVar(&out, "out", "", "file to write block 0 to")
	f.StringVar(&name, "channel", "folio", "the channel's name")
	return cmd
}

// memberFlags are the flags every membership change shares.
type memberFlags struct {
	approvals string
	out       string
	expiry    uint64
	timeout   time.Duration
}

func (f *memberFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.approvals, "approvals", "", "comma-separated admins of this wallet who approve too (a single host holding several admins); --as approves always")
	fl.StringVar(&f.out, "out", "", "where to write the proposal when the approvals do not satisfy the channel's admin policy yet (default ./proposal-SEQ.json)")
	fl.Uint64Var(&f.expiry, "expiry", consortium.DefaultExpiry, "the proposal may commit until this many blocks after the current height, 1 to 1000000")
	fl.DurationVar(&f.timeout, "timeout", 2*time.Minute, "how long to wait until the change is in force, 1s to 1h")
}

func (f *memberFlags) check() error {
	if f.expiry < 1 || f.expiry > 1_000_000 {
		return usageErr("--expiry %d: must be 1 to 1000000", f.expiry)
	}
	return checkRanges(nil, []durFlag{timeoutFlag(f.timeout)})
}

// live is the configuration in force as a peer of the --as admin's
// organisation reports it, with what a change needs to reach the network.
type live struct {
	dir   string
	net   *localnet.Network
	admin *client.Identity
	hc    *http.Client
	info  *foliov1.ChannelConfigInfo
	cur   *channel.Config
	via   string
}

func (g *globals) liveConfig(ctx context.Context) (*live, error) {
	dir, n, err := g.loadNetwork()
	if err != nil {
		return nil, err
	}
	admin, err := g.signer(dir, "")
	if err != nil {
		return nil, err
	}
	if admin.Role() != string(identity.RoleAdmin) {
		return nil, usageErr("--as %s is a %s: membership changes are signed by an organisation's admin (--as admin@ORG)", g.as, admin.Role())
	}
	roots, err := localnet.RootPool(dir, n)
	if err != nil {
		return nil, err
	}
	hc := client.HTTPClient(admin, roots)
	peers, err := g.gatewayPeers(n, admin.Org())
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, p := range peers {
		info, err := client.ChannelConfig(ctx, hc, "https://"+p.API)
		if err != nil {
			lastErr = err
			continue
		}
		cur, err := channel.NewConfig(info.Config, info.FromBlock)
		if err != nil {
			return nil, fmt.Errorf("the configuration %s reports does not load: %w", p.Name, err)
		}
		return &live{dir: dir, net: n, admin: admin, hc: hc, info: info, cur: cur, via: p.Name}, nil
	}
	return nil, &exitError{code: exitUnavailable, err: fmt.Errorf("no peer of %s answered: %w", admin.Org(), lastErr)}
}

func signingIdentity(id *client.Identity) (*identity.SigningIdentity, error) {
	return identity.FromCertificate(id.MSPID(), id.Certificate(), id.Key())
}

// approvers are --as and the --approvals admins of the wallet.
func (g *globals) approvers(l *live, approvals string) ([]*identity.SigningIdentity, error) {
	ids := []*client.Identity{l.admin}
	if approvals != "" {
		for _, label := range strings.Split(approvals, ",") {
			id, err := g.signer(l.dir, strings.TrimSpace(label))
			if err != nil {
				return nil, fmt.Errorf("--approvals: %w", err)
			}
			ids = append(ids, id)
		}
	}
	out := make([]*identity.SigningIdentity, 0, len(ids))
	for _, id := range ids {
		si, err := signingIdentity(id)
		if err != nil {
			return nil, err
		}
		out = append(out, si)
	}
	return out, nil
}

// propose shows the change from the configuration in force to next, signs
// it with --as and --approvals, and submits it and waits when the
// approvals satisfy the channel's admin policy, or else writes the
// proposal file and says which approvals are missing.
func (g *globals) propose(cmd *cobra.Command, l *live, next *foliov1.ChannelConfig, summary string, f *memberFlags) error {
	lines := channel.Describe(l.cur.Proto(), next)
	fmt.Fprintf(g.progress(), "proposed change to channel %s, config sequence %d -> %d:\n", next.ChannelId, l.cur.Sequence(), l.cur.Sequence()+1)
	for _, line := range lines {
		fmt.Fprintf(g.progress(), "  %s\n", line)
	}
	p, err := consortium.NewProposal(l.cur.Proto(), l.info.Height, next, f.expiry, summary)
	if err != nil {
		return &exitError{code: exitRefused, err: err}
	}
	signers, err := g.approvers(l, f.approvals)
	if err != nil {
		return err
	}
	for _, s := range signers {
		if err := consortium.Sign(p, s); err != nil {
			return err
		}
	}
	st, err := consortium.Evaluate(l.cur, l.info.Height, p)
	if err != nil {
		return err
	}
	if st.Satisfied {
		return g.submitAndWait(cmd, l, p, st, f.timeout)
	}
	out := f.out
	if out == "" {
		out = fmt.Sprintf("proposal-%d.json", l.cur.Sequence()+1)
	}
	return g.writeProposal(out, p, st, lines)
}

// writeProposal saves a proposal that needs more approvals and says which.
func (g *globals) writeProposal(out string, p *foliov1.ConfigProposal, st *consortium.Status, lines []string) error {
	data, err := consortium.MarshalProposal(p)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(out, data, 0o644); err != nil {
		return err
	}
	return g.emit(map[string]any{"proposal": out, "status": st, "changes": lines}, func(w io.Writer) {
		fmt.Fprintf(w, "proposal written to %s: the channel's admin policy %s is not satisfied yet\n", out, st.Policy)
		fmt.Fprintf(w, "approved by: %s\nmissing: %s\n", listOrNone(st.Approved), strings.Join(st.Missing, "; "))
		for _, r := range st.Refused {
			fmt.Fprintf(w, "refused approval: %s\n", r)
		}
		fmt.Fprintf(w, "next: each missing organisation's admin runs 'folio channel sign %s' on its own host; then any admin runs 'folio channel submit %s'\n", out, out)
	})
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "nobody"
	}
	return strings.Join(s, ", ")
}

// submitAndWait submits a satisfied proposal through the --as admin's
// gateway and waits until the change is in force: every peer of the
// admin's organisation reports the new config sequence and, when the
// orderers change, an orderer reports the added one as a Raft voter or
// the removed one gone.
func (g *globals) submitAndWait(cmd *cobra.Command, l *live, p *foliov1.ConfigProposal, st *consortium.Status, timeout time.Duration) error {
	u, err := consortium.Update(p)
	if err != nil {
		return err
	}
	creator, err := signingIdentity(l.admin)
	if err != nil {
		return err
	}
	env, txID, err := consortium.Envelope(p, creator)
	if err != nil {
		return err
	}
	gw, _, err := g.gatewayClient(l.hc, l.net, l.admin)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	fmt.Fprintf(g.progress(), "approved by %s: submitting (tx %s)\n", strings.Join(st.Approved, ", "), txID)
	res, err := gw.SubmitEnvelope(ctx, env, txID)
	var inv *client.InvalidError
	if errors.As(err, &inv) {
		return &exitError{code: exitRefused, err: fmt.Errorf("the channel refused the change: %s", inv.Result.Reason)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(g.progress(), "committed in block %d; waiting until it is in force\n", res.Block)
	took := time.Now()
	if err := g.waitInForce(ctx, l, u.Config); err != nil {
		return err
	}
	return g.emit(map[string]any{"tx_id": txID, "block": res.Block, "config_sequence": u.Sequence, "in_force_from": res.Block + 1,
		"wait_ms": time.Since(took).Milliseconds()}, func(w io.Writer) {
		fmt.Fprintf(w, "config sequence %d in force from block %d (tx %s)\n", u.Sequence, res.Block+1, txID)
	})
}

// waitInForce polls until the peers of the admin's organisation report
// next's sequence and the orderers' Raft membership matches next's
// orderer change.
func (g *globals) waitInForce(ctx context.Context, l *live, next *foliov1.ChannelConfig) error {
	prev := channel.RaftIDs(l.cur.Proto())
	now := channel.RaftIDs(next)
	var added, removed []uint64
	for id, rid := range now {
		if _, ok := prev[id]; !ok {
			added = append(added, rid)
		}
	}
	for id, rid := range prev {
		if _, ok := now[id]; !ok {
			removed = append(removed, rid)
		}
	}
	ohc := client.HTTPClient(l.admin, configRoots(next, l.cur.Proto()))
	defer ohc.CloseIdleConnections()
	peers := l.net.PeersOf(l.admin.Org())
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		var behind []string
		for _, p := range peers {
			info, err := client.NodeInfo(ctx, l.hc, p.API)
			if err != nil || info.ConfigSequence < next.Sequence {
				behind = append(behind, p.Name)
			}
		}
		raftDone, raftState := len(added) == 0 && len(removed) == 0, ""
		if !raftDone {
			raftDone, raftState = raftApplied(ctx, ohc, next, added, removed)
		}
		state := fmt.Sprintf("peers behind: %s; %s", listOrNone(behind), raftState)
		if len(behind) == 0 && raftDone {
			return nil
		}
		if state != last {
			fmt.Fprintf(g.progress(), "waiting: %s\n", state)
			last = state
		}
		select {
		case <-ctx.Done():
			return &exitError{code: exitUnavailable, err: fmt.Errorf("the change committed but is not in force everywhere yet (%s): %w; check 'folio network status'", state, ctx.Err())}
		case <-tick.C:
		}
	}
}

// raftApplied reports whether an orderer of next reports every added Raft
// ID as a voter, no removed one, and a leader.
func raftApplied(ctx context.Context, hc *http.Client, next *foliov1.ChannelConfig, added, removed []uint64) (bool, string) {
	for _, o := range next.Orderers {
		info, err := client.NodeInfo(ctx, hc, o.ApiAddress)
		if err != nil || len(info.RaftVoters) == 0 {
			continue
		}
		ok := true
		for _, id := range added {
			ok = ok && slices.Contains(info.RaftVoters, id)
		}
		for _, id := range removed {
			ok = ok && !slices.Contains(info.RaftVoters, id) && !slices.Contains(info.RaftLearners, id)
		}
		// In force means ordering again: the new membership has a leader
		// (removing the leader costs an election).
		ok = ok && info.Ready && info.RaftLeader != ""
		return ok, fmt.Sprintf("%s reports Raft voters %v, learners %v, leader %q", o.Name, info.RaftVoters, info.RaftLearners, info.RaftLeader)
	}
	return false, "no orderer reports its Raft membership yet"
}

// configRoots is a pool of every organisation's root in the configs.
func configRoots(cfgs ...*foliov1.ChannelConfig) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range cfgs {
		for _, o := range c.Orgs {
			for _, pem := range o.RootCerts {
				if cert, err := fcrypto.ParseCertificatePEM(pem); err == nil {
					pool.AddCert(cert)
				}
			}
		}
	}
	return pool
}

func newChannelAddOrgCmd(g *globals) *cobra.Command {
	var defFile string
	var f memberFlags
	cmd := &cobra.Command{
		Use:   "add-org --definition FILE [--approvals admin@OrgN,...]",
		Short: "Add an organisation and its peers to the channel (a config update the channel's admins approve)",
		Long: `Reads an organisation's definition ('folio org export' on its host), checks it
(root certificate, each node certificate issued by that root for its role and
holding the key its node ID names), asks a peer of the --as admin's
organisation for the configuration in force, and prints what the change does.
The organisation and its peers are added; its orderers, if any, join later one
at a time with 'folio orderer add'.

The --as admin approves, and so do the --approvals admins of this wallet. When
the approvals satisfy the channel's admin policy, the update is submitted and
add-org waits until it is in force (every peer of this organisation reports
the new config sequence). Otherwise it writes the proposal (--out, default
./proposal-SEQ.json) and lists the approvals still missing: each of those
admins runs 'folio channel sign FILE' on its own host, and any admin then
runs 'folio channel submit FILE'. The new organisation then runs 'folio org
join'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if defFile == "" {
				return usageErr("--definition is required (the file 'folio org export' wrote)")
			}
			if err := f.check(); err != nil {
				return err
			}
			def, err := consortium.ReadDefinition(defFile)
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			l, err := g.liveConfig(ctx)
			if err != nil {
				return err
			}
			next, err := channel.AddOrg(l.cur.Proto(), def)
			if err != nil {
				return &exitError{code: exitRefused, err: err}
			}
			fmt.Fprintf(g.progress(), "%s root certificate SHA-256 %s: compare it with %s out of band\n", def.Org.Name, rootFingerprint(def.Org.RootCerts[0]), def.Org.Name)
			return g.propose(cmd, l, next, fmt.Sprintf("add organisation %s (%s) with peers %s", def.Org.Name, def.Org.MspId, nodeNames(def.Peers)), &f)
		},
	}
	cmd.Flags().StringVar(&defFile, "definition", "", "the organisation's definition file ('folio org export')")
	f.register(cmd)
	return cmd
}

func nodeNames(ns []*foliov1.NodeEndpoint) string {
	names := make([]string, len(ns))
	for i, n := range ns {
		names[i] = n.Name
	}
	return strings.Join(names, ", ")
}

func newChannelSetPolicyCmd(g *globals) *cobra.Command {
	var name, src string
	var remove bool
	var f memberFlags
	cmd := &cobra.Command{
		Use:   "set-policy --name NAME (--policy SRC | --remove) [--approvals admin@OrgN,...]",
		Short: "Set or remove a named channel policy (a config update the channel's admins approve)",
		Long: `Sets a named policy of the channel configuration, e.g. after adding an
organisation: --name channel/admins (who approves config updates; without
it, a majority of the peer organisations' admins), --name lifecycle/activation
(who approves contract activations; changeable from capability level 4), or
another named policy. --remove deletes it. The policy is checked before
anything is signed. Approvals, proposal files and waiting work as in
'folio channel add-org'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case name == "":
				return usageErr("--name is required")
			case remove == (src != ""):
				return usageErr("give exactly one of --policy and --remove")
			}
			if src != "" {
				if _, err := policy.Parse(src); err != nil {
					return usageErr("--policy %q: %v", src, err)
				}
			}
			if err := f.check(); err != nil {
				return err
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			l, err := g.liveConfig(ctx)
			if err != nil {
				return err
			}
			next := proto.Clone(l.cur.Proto()).(*foliov1.ChannelConfig)
			if next.Policies == nil {
				next.Policies = map[string]string{}
			}
			summary := "set policy " + name
			if remove {
				if _, ok := next.Policies[name]; !ok {
					return &exitError{code: exitNotFound, err: fmt.Errorf("channel %s has no policy %s", next.ChannelId, name)}
				}
				delete(next.Policies, name)
				summary = "remove policy " + name
			} else {
				if next.Policies[name] == src {
					return &exitError{code: exitRefused, err: fmt.Errorf("policy %s is already %s", name, src)}
				}
				next.Policies[name] = src
			}
			return g.propose(cmd, l, next, summary, &f)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the policy's name, e.g. channel/admins or lifecycle/activation")
	cmd.Flags().StringVar(&src, "policy", "", "the policy, e.g. \"OutOf(2, 'Org1MSP.admin', 'Org2MSP.admin', 'Org3MSP.admin')\"")
	cmd.Flags().BoolVar(&remove, "remove", false, "remove the policy")
	f.register(cmd)
	return cmd
}

func newChannelRemoveOrgCmd(g *globals) *cobra.Command {
	var org string
	var f memberFlags
	cmd := &cobra.Command{
		Use:   "remove-org --org NAME [--approvals admin@OrgN,...]",
		Short: "Remove an organisation and its peers from the channel (a config update the channel's admins approve)",
		Long: `Removes an organisation and its peers. Refused, naming what must change first,
while it runs orderers ('folio orderer remove' each first), while a channel
policy or a contract's endorsement policy names it, or while a timed release
that has not ended has key servers among its peers. Approvals, proposal files
and waiting work as in 'folio channel add-org'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" {
				return usageErr("--org is required")
			}
			if err := f.check(); err != nil {
				return err
			}
			ctx, cancel := rpcContext(cmd)
			defer cancel()
			l, err := g.liveConfig(ctx)
			if err != nil {
				return err
			}
			next, err := channel.RemoveOrg(l.cur.Proto(), org)
			if err != nil {
				return &exitError{code: exitRefused, err: err}
			}
			uses, err := g.keyServerUses(cmd, l.cur.Proto())
			if err != nil {
				return err
			}
			policies, err := contractPolicies(ctx, l)
			if err != nil {
				return err
			}
			if err := consortium.CheckRemoveOrg(l.cur.Proto(), next, org, policies, uses); err != nil {
				return &exitError{code: exitRefused, err: err}
			}
			return g.propose(cmd, l, next, "remove organisation "+org, &f)
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "name of the organisation to remove")
	f.register(cmd)
	return cmd
}

// keyServerUses lists the timed releases that have not ended, with their
// key servers' organisations (none when the channel has no release
// contract).
func (g *globals) keyServerUses(cmd *cobra.Command, cfg *foliov1.ChannelConfig) ([]consortium.KeyServerUse, error) {
	if !slices.ContainsFunc(cfg.Contracts, func(d *foliov1.ContractDefinition) bool { return d.Name == localnet.ReleaseContract }) {
		return nil, nil
	}
	args, _ := json.Marshal(releasecc.ListArgs{Limit: releasecc.MaxListLimit})
	raw, err := g.evaluateOn(cmd, localnet.ReleaseContract, releasecc.FnList, [][]byte{args})
	if err != nil {
		return nil, fmt.Errorf("list timed releases (their key servers must not leave): %w", err)
	}
	var lv releasecc.ListView
	if err := json.Unmarshal(raw, &lv); err != nil {
		return nil, fmt.Errorf("release list: %w", err)
	}
	if lv.More {
		return nil, &exitError{code: exitRefused, err: fmt.Errorf("more than %d timed releases exist: cannot check every key server; remove the organisation when fewer are open", releasecc.MaxListLimit)}
	}
	var out []consortium.KeyServerUse
	now := time.Now()
	for _, r := range lv.Releases {
		end, err := time.Parse(time.RFC3339Nano, r.EndAt)
		if err == nil && end.Before(now) {
			continue
		}
		u := consortium.KeyServerUse{Release: r.ID, EndAt: r.EndAt}
		for _, ks := range r.KeyServers {
			u.Orgs = append(u.Orgs, ks.Org)
		}
		out = append(out, u)
	}
	return out, nil
}

// readProposalArg reads the proposal file named by a command's argument.
func readProposalArg(path string) (*foliov1.ConfigProposal, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	p, err := consortium.ParseProposal(data)
	if err != nil {
		return nil, &exitError{code: exitInvalid, err: fmt.Errorf("%s: %w", path, err)}
	}
	return p, nil
}

// openProposal reads a proposal file and the configuration in force, and
// prints what the proposal changes against it (sign, submit, show).
func (g *globals) openProposal(cmd *cobra.Command, path string) (*foliov1.ConfigProposal, *live, []string, *consortium.Status, error) {
	p, err := readProposalArg(path)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ctx, cancel := rpcContext(cmd)
	defer cancel()
	l, err := g.liveConfig(ctx)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	lines, st, err := g.describeProposal(l, p)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return p, l, lines, st, nil
}

// approve adds the --as admin's approval to p and counts the approvals
// against the configuration in force again.
func approve(l *live, p *foliov1.ConfigProposal) (*consortium.Status, error) {
	si, err := signingIdentity(l.admin)
	if err != nil {
		return nil, err
	}
	if err := consortium.Sign(p, si); err != nil {
		return nil, err
	}
	return consortium.Evaluate(l.cur, l.info.Height, p)
}

// describeProposal prints what a proposal changes against the live
// configuration (never its summary alone: the summary is the proposer's
// word, the update is what commits).
func (g *globals) describeProposal(l *live, p *foliov1.ConfigProposal) ([]string, *consortium.Status, error) {
	u, err := consortium.Update(p)
	if err != nil {
		return nil, nil, err
	}
	st, err := consortium.Evaluate(l.cur, l.info.Height, p)
	if err != nil {
		return nil, nil, &exitError{code: exitRefused, err: err}
	}
	lines := channel.Describe(l.cur.Proto(), u.Config)
	fmt.Fprintf(g.progress(), "proposal for channel %s, config sequence %d (proposer's summary: %q), expires at block %d; against the configuration in force it:\n",
		u.ChannelId, u.Sequence, p.Summary, u.ExpiresAtBlock)
	for _, line := range lines {
		fmt.Fprintf(g.progress(), "  %s\n", line)
	}
	return lines, st, nil
}

func newChannelSignCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "sign FILE",
		Short: "Approve a proposal as the --as admin, after showing what it changes against the live configuration",
		Long: `Shows what the proposal in FILE changes against the configuration in force
(as a peer of the --as admin's organisation reports it), then adds the --as
admin's approval and writes the file back (or to --out). Refused when the
proposal was built on another configuration sequence or has expired: build
it again. Prints which approvals are still missing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, l, lines, _, err := g.openProposal(cmd, args[0])
			if err != nil {
				return err
			}
			st, err := approve(l, p)
			if err != nil {
				return err
			}
			if out == "" {
				out = args[0]
			}
			if st.Satisfied {
				data, err := consortium.MarshalProposal(p)
				if err != nil {
					return err
				}
				if err := atomicfile.WriteFile(out, data, 0o644); err != nil {
					return err
				}
				return g.emit(map[string]any{"proposal": out, "status": st, "changes": lines}, func(w io.Writer) {
					fmt.Fprintf(w, "signed as %s; the approvals satisfy %s: submit with 'folio channel submit %s'\n", l.admin.Label(), st.Policy, out)
				})
			}
			return g.writeProposal(out, p, st, lines)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the signed proposal here (default: back to FILE)")
	return cmd
}

func newChannelSubmitCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "submit FILE",
		Short: "Submit a proposal whose approvals satisfy the channel's admin policy, and wait until it is in force",
		Long: `Adds the --as admin's approval, checks the approvals against the configuration
in force as the peers will (refusing a stale or expired proposal, or one whose
approvals do not satisfy the channel's admin policy, listing what is
missing), submits it and waits until it is in force: every peer of the
admin's organisation reports the new config sequence and, for an orderer
change, the orderers report the Raft membership it sets.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRanges(nil, []durFlag{timeoutFlag(timeout)}); err != nil {
				return err
			}
			p, l, _, _, err := g.openProposal(cmd, args[0])
			if err != nil {
				return err
			}
			st, err := approve(l, p)
			if err != nil {
				return &exitError{code: exitRefused, err: err}
			}
			if !st.Satisfied {
				return &exitError{code: exitRefused, err: fmt.Errorf("the approvals (%s) do not satisfy the channel's admin policy %s: missing %s",
					listOrNone(st.Approved), st.Policy, strings.Join(st.Missing, "; ")), hint: "each missing admin runs 'folio channel sign " + args[0] + "' on its own host"}
			}
			return g.submitAndWait(cmd, l, p, st, timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait until the change is in force, 1s to 1h")
	return cmd
}

func newChannelShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show FILE",
		Short: "Show what a proposal changes against the live configuration, and its approvals",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, _, lines, st, err := g.openProposal(cmd, args[0])
			if err != nil {
				return err
			}
			return g.emit(map[string]any{"proposal": args[0], "summary": p.Summary, "changes": lines, "status": st}, func(w io.Writer) {
				fmt.Fprintf(w, "approved by: %s\n", listOrNone(st.Approved))
				for _, r := range st.Refused {
					fmt.Fprintf(w, "refused approval: %s\n", r)
				}
				if st.Satisfied {
					fmt.Fprintf(w, "the approvals satisfy %s: ready to submit\n", st.Policy)
				} else {
					fmt.Fprintf(w, "missing for %s: %s\n", st.Policy, strings.Join(st.Missing, "; "))
				}
			})
		},
	}
}

// contractPolicies asks the peer the configuration came from for every
// contract's endorsement policy in force and pending (an activation that
// has not started yet), keyed by contract (pending: "NAME (version V from
// block B)"), so remove-org refuses while any of them names the leaving
// organisation.
func contractPolicies(ctx context.Context, l *live) (map[string]string, error) {
	nd, err := l.net.Node(l.via)
	if err != nil {
		return nil, err
	}
	res, err := foliov1connect.NewLifecycleServiceClient(l.hc, "https://"+nd.API).Contracts(ctx, connect.NewRequest(&foliov1.ContractsRequest{}))
	if err != nil {
		return nil, fmt.Errorf("contract definitions from %s: %w", l.via, err)
	}
	out := map[string]string{}
	for _, c := range res.Msg.Contracts {
		if c.EffectivePolicy != "" {
			out[c.Name] = c.EffectivePolicy
		}
		if n := c.Next; n != nil && n.Policy != "" {
			out[fmt.Sprintf("%s (version %s from block %d)", c.Name, n.Version, n.StartBlock)] = n.Policy
		}
	}
	return out, nil
}
