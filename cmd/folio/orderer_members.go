package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/consortium"
)

// Orderer membership changes (`folio orderer add|remove`): one orderer at
// a time, as Raft changes its voters (docs/ordering.md).

func newOrdererAddCmd(g *globals) *cobra.Command {
	var defFile, name string
	var f memberFlags
	cmd := &cobra.Command{
		Use:   "add --definition FILE [--name NODE] [--approvals admin@OrgN,...]",
		Short: "Add one orderer of a member organisation to the Raft cluster (a config update the channel's admins approve)",
		Long: `Adds one orderer from an organisation's definition ('folio org export'; the
organisation must already be a member: 'folio channel add-org' first), with
the Raft ID its key derives. --name picks the orderer when the definition has
several not yet in the channel (default: the first). Refused while any
orderer reports a Raft learner (the last orderer added has not caught up: one
change at a time) or when the node's Raft ID belonged to a removed orderer
(a new key is needed). The new orderer joins as a learner, catches up, then
votes: once the update commits, start it ('folio org join' on its host) and
add waits until an orderer reports it among the Raft voters. Approvals,
proposal files and waiting work as in 'folio channel add-org'.`,
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
			cur := l.cur.Proto()
			node, err := pickOrderer(cur, def, name)
			if err != nil {
				return err
			}
			infos := ordererInfos(ctx, client.HTTPClient(l.admin, configRoots(cur)), cur)
			if err := consortium.CheckOrdererAdd(cur, node, infos); err != nil {
				return &exitError{code: exitRefused, err: err}
			}
			next, err := channel.AddOrderer(cur, node)
			if err != nil {
				return &exitError{code: exitRefused, err: err}
			}
			return g.propose(cmd, l, next, fmt.Sprintf("add orderer %s of %s (Raft ID %d)", node.Name, node.Org, node.RaftId), &f)
		},
	}
	cmd.Flags().StringVar(&defFile, "definition", "", "the orderer's organisation definition ('folio org export')")
	cmd.Flags().StringVar(&name, "name", "", "the orderer to add, when the definition lists several")
	f.register(cmd)
	return cmd
}

// pickOrderer chooses the orderer of def to add: --name, or the first
// one not in the channel yet.
func pickOrderer(cur *foliov1.ChannelConfig, def *foliov1.OrgDefinition, name string) (*foliov1.NodeEndpoint, error) {
	member := false
	for _, o := range cur.Orgs {
		member = member || (o.Name == def.Org.Name && o.MspId == def.Org.MspId)
	}
	if !member {
		return nil, &exitError{code: exitRefused, err: fmt.Errorf("%s is not an organisation of channel %s: add it first with 'folio channel add-org --definition'", def.Org.Name, cur.ChannelId)}
	}
	in := map[string]bool{}
	for _, o := range cur.Orderers {
		in[o.Name] = true
	}
	for _, o := range def.Orderers {
		if (name == "" && !in[o.Name]) || o.Name == name {
			return o, nil
		}
	}
	if name != "" {
		return nil, usageErr("--name %s: the definition of %s lists orderers %s", name, def.Org.Name, nodeNames(def.Orderers))
	}
	return nil, usageErr("every orderer of %s's definition (%s) is in the channel already", def.Org.Name, nodeNames(def.Orderers))
}

// ordererInfos asks every orderer of cfg who it is; nil for those that
// do not answer.
func ordererInfos(ctx context.Context, hc *http.Client, cfg *foliov1.ChannelConfig) map[string]*foliov1.NodeInfo {
	defer hc.CloseIdleConnections()
	out := map[string]*foliov1.NodeInfo{}
	for _, o := range cfg.Orderers {
		info, err := client.NodeInfo(ctx, hc, o.ApiAddress)
		if err != nil {
			info = nil
		}
		out[o.Name] = info
	}
	return out
}

func newOrdererRemoveCmd(g *globals) *cobra.Command {
	var name string
	var f memberFlags
	cmd := &cobra.Command{
		Use:   "remove --name NODE [--approvals admin@OrgN,...]",
		Short: "Remove one orderer from the Raft cluster (a config update the channel's admins approve)",
		Long: `Removes one orderer and retires its Raft ID (it can never return with that
key). Refused when the orderers that answer ready, following a common leader,
without the removed one are not a majority of the orderers that remain ("would
lose quorum"), and for the channel's only orderer. Waits until the orderers no
longer report it in the Raft membership; stop its process afterwards.
Approvals, proposal files and waiting work as in 'folio channel add-org'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usageErr("--name is required")
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
			cur := l.cur.Proto()
			infos := ordererInfos(ctx, client.HTTPClient(l.admin, configRoots(cur)), cur)
			if err := consortium.CheckOrdererRemove(cur, name, infos); err != nil {
				return &exitError{code: exitRefused, err: err}
			}
			next, err := channel.RemoveOrderer(cur, name)
			if err != nil {
				return &exitError{code: exitRefused, err: err}
			}
			return g.propose(cmd, l, next, "remove orderer "+name, &f)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the orderer to remove")
	f.register(cmd)
	return cmd
}
