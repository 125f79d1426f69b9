package node

import (
	"context"
	"errors"
	"fmt"
	"github.com/folio-ledger/folio/internal/clock"
	"path/filepath"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/commit"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/deliver"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/endorse"
	"github.com/folio-ledger/folio/internal/evidence"
	"github.com/folio-ledger/folio/internal/gateway"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/lifecycle/installer"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/release"
)

// startPeer runs the peer's transaction path: blocks from the orderers (or
// other peers) through the committer into the ledger; proposals through the
// gateway and endorser into the contract runtime.
func startPeer(ctx context.Context, e *env) error {
	ch := e.channel
	contracts, err := lifecycle.New(filepath.Join(e.cfg.DataDir, "contracts"), ch)
	if err != nil {
		return fieldErr(e.file, "genesis", err, "")
	}
	if err := loadLifecycle(contracts, e.ledger); err != nil {
		return fmt.Errorf("%s: contract lifecycle records: %w", e.cfg.Name, err)
	}
	chcfg, err := loadChannelConfig(ch, e.ledger)
	if err != nil {
		return fmt.Errorf("%s: channel configuration: %w", e.cfg.Name, err)
	}
	e.config = channel.NewTracker(chcfg)
	e.chain.ChannelConfig = func() (*foliov1.ChannelConfig, uint64) {
		c := e.config.Current()
		return c.Proto(), c.FromBlock()
	}
	// The enclave process reads the genesis block itself, as its trust
	// anchor: it runs only modules signed by an admin of one of its
	// organisations, or pinned by it (docs/enclave.md).
	enc, err := enclave.New(ctx, enclave.Options{
		State:              enclave.LedgerSource(e.ledger),
		StateKeyFile:       e.cfg.Enclave.StateKey,
		GenesisFile:        e.cfg.Genesis,
		InternalCacheBytes: e.cfg.Enclave.InternalCacheBytes,
		ExternalCacheBytes: e.cfg.Enclave.ExternalCacheBytes,
		EcallBatch:         e.cfg.Enclave.EcallBatch,
		VM:                 vm.Options{CacheDir: compileCache(e.cfg)},
		Logger:             e.log.With("component", "enclave"),
		Registerer:         e.metrics.registry,
	})
	if err != nil {
		return fmt.Errorf("%s: start the contract enclave: %w", e.cfg.Name, err)
	}
	running := false
	defer func() {
		if !running {
			enc.Close()
		}
	}()
	health, err := newPeerHealth(e) // divergence and equivocation: health.go
	if err != nil {
		return err
	}
	end, err := endorse.New(endorse.Options{ChannelID: ch.ChannelId, Self: e.self, MSP: e.verifier, Contracts: contracts,
		Exec:      enclave.Executor{Enclave: enc, Packages: contracts},
		Committed: e.blocks, Height: e.ledger.Height, Logger: e.log.With("component", "endorser"),
		Healthy: health.healthy})
	if err != nil {
		return err
	}
	// The enclave's tiers take each block's writes right after the ledger
	// commits it and before anyone is told, so no tier serves a value
	// older than the ledger's.
	var inst *installer.Installer
	afterCommit := func(ctx context.Context, c *commit.Committed) error {
		if err := enc.Commit(ctx, c.Block.Header.Number, enclave.Writes(c.Updates)); err != nil {
			return err
		}
		inst.CheckHalted(c.Block.Header.Number + 1)
		return nil
	}
	com, err := commit.New(commit.Options{ChannelID: ch.ChannelId, Ledger: e.ledger, Config: e.config, Contracts: contracts,
		OwnEndorsement: end.Endorsed, OnCommit: afterCommit, OnConfig: e.membership.apply,
		Logger: e.log.With("component", "committer")})
	if err != nil {
		return err
	}
	self := gateway.Node{Name: e.cfg.Name, MSPID: e.cfg.MSPID, NodeID: e.self.ID()}
	peers, orderers := gatewayNodes(chcfg.Proto())
	gw, err := gateway.New(gateway.Options{ChannelID: ch.ChannelId, Self: self, Caller: Caller, Endorser: end, Committer: com, Height: com.ReadHeight, Contracts: contracts,
		MSP: e.verifier, Host: e.host, Peers: peers, Orderers: orderers,
		CommitWaiters: e.cfg.Limits.CommitWaiters, CommitWaitersPerClient: e.cfg.Limits.CommitWaitersPerClient, MaxCommitWait: e.cfg.Limits.MaxCommitWait,
		Blocks: com, ReadWaiters: e.cfg.Limits.ReadWaiters, ReadWaitersPerClient: e.cfg.Limits.ReadWaitersPerClient, MaxReadWait: e.cfg.Limits.MaxReadWait,
		Refused: e.refused, Logger: e.log.With("component", "gateway")})
	if err != nil {
		return err
	}
	path, h := foliov1connect.NewGatewayServiceHandler(gw, e.intercept)
	e.mux.Handle(path, h)
	inst, err = installer.New(installer.Options{ChannelID: ch.ChannelId, Self: e.self, MSP: e.verifier, Contracts: contracts,
		Enclave: enc, Committer: com, Caller: Caller, Registerer: e.metrics.registry, Logger: e.log.With("component", "lifecycle"),
		Submit: func(ctx context.Context, env *foliov1.Envelope) error {
			_, err := gw.Submit(ctx, connect.NewRequest(&foliov1.SubmitRequest{Envelope: env}))
			return err
		}})
	if err != nil {
		return err
	}
	inst.CheckHalted(e.ledger.Height())
	path, h = foliov1connect.NewLifecycleServiceHandler(inst, e.intercept)
	e.mux.Handle(path, h)
	ev, err := evidence.New(evidence.Options{ChannelID: ch.ChannelId, Ledger: e.ledger, Self: e.self, Host: e.host, Peers: otherPeers(e, peers),
		MSP: e.verifier, Registerer: e.metrics.registry, Logger: e.log.With("component", "evidence"),
		Health: health.initial(), OnHealth: health.set, BlockSigner: blockSigner(e)})
	if err != nil {
		return err
	}
	e.attestations = ev.Checks
	path, h = foliov1connect.NewEvidenceServiceHandler(ev, e.intercept)
	e.mux.Handle(path, h)
	rs, err := release.StartPeer(ctx, &e.wg, release.PeerOptions{Self: e.self, MSP: e.verifier, Host: e.host, Caller: Caller,
		Channel: ch, Gateway: gw, DataDir: filepath.Join(e.cfg.DataDir, "release"), Logger: e.log.With("component", "release"),
		MaxSubscriptionsPerClient: e.cfg.Release.MaxSubscriptionsPerClient, MaxSubscriptions: e.cfg.Release.MaxSubscriptions,
		SubscriptionTTL: e.cfg.Release.SubscriptionTTL, MaxHistoryClients: e.cfg.Release.MaxHistoryClients, HistoryTTL: e.cfg.Release.HistoryTTL,
		Refused: e.refused,
		// The node's wall clock (internal/clock: its test hooks let a
		// chaos run jump it); the release decides when T has come by it.
		Now: clock.Now})
	if err != nil {
		return err
	}
	path, h = foliov1connect.NewReleaseServiceHandler(rs.API(), e.intercept)
	e.mux.Handle(path, h)

	// Blocks come from the orderers; other peers serve the same verified
	// blocks to a peer cut off from the ordering service.
	sources, fallback := blockSources(e, chcfg.Proto())
	client := &deliver.Client{Sources: sources, Fallback: fallback, Config: e.config.Current, Sink: health.gate(ctx, com), Logger: e.log.With("component", "deliver")}
	// The channel's nodes as the configuration in force lists them, from
	// the block after each config update on.
	e.membership.onChange(func(c *channel.Config) {
		peers, orderers := gatewayNodes(c.Proto())
		gw.SetNodes(peers, orderers)
		ev.SetPeers(otherPeers(e, peers))
		client.SetSources(blockSources(e, c.Proto()))
		contracts.SetPeers(c.Proto())
		rs.SetChannel(c.Proto())
	})
	e.membership.apply(chcfg)
	e.ready.set("delivery", errors.New("no session to an orderer yet"))
	e.ready.set("contracts", errors.New("loading the contracts in force into the enclave"))
	e.wg.Add(4)
	running = true
	go func() {
		defer e.wg.Done()
		preloadContracts(ctx, e, end)
	}()
	go func() {
		defer e.wg.Done()
		inst.Run(ctx)
	}()
	go func() {
		defer e.wg.Done()
		defer enc.Close()
		if err := client.Run(ctx); err != nil && ctx.Err() == nil {
			e.fail(fmt.Errorf("the committer failed, the ledger needs attention: %w", err))
		}
	}()
	go func() {
		defer e.wg.Done()
		watchOrdererSessions(ctx, e)
	}()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ev.Run(ctx) // state-root attestation exchange (docs/evidence.md)
	}()
	return nil
}

// The components startPeer wires satisfy the interfaces their consumers
// declare (STYLE 4); checked here, where both sides are known.
var (
	_ gateway.Endorser            = (*endorse.Endorser)(nil)
	_ gateway.CommitFinder        = (*commit.Committer)(nil)
	_ gateway.BlockFeed           = (*commit.Committer)(nil)
	_ gateway.EndorsementRules    = (*lifecycle.Registry)(nil)
	_ gateway.MSP                 = (*identity.Verifier)(nil)
	_ gateway.Host                = (*p2p.Host)(nil)
	_ installer.Committer         = (*commit.Committer)(nil)
	_ installer.Enclave           = enclave.Enclave(nil)
	_ endorse.Executor            = enclave.Executor{}
	_ enclave.PackageSource       = (*lifecycle.Registry)(nil)
	_ lifecycle.IdentityValidator = (*identity.Verifier)(nil)
)

// watchOrdererSessions marks the peer ready while it has a session to at
// least one orderer, the source of its blocks.
func watchOrdererSessions(ctx context.Context, e *env) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		connected := false
		for _, s := range e.host.Sessions() {
			if s.Role == identity.RoleOrderer && s.State == "active" {
				connected = true
				break
			}
		}
		if connected {
			e.ready.set("delivery", nil)
		} else {
			e.ready.set("delivery", errors.New("no session to any orderer"))
		}
	}
}

// gatewayNodes lists the channel's peers and orderers as the gateway
// calls them.
func gatewayNodes(c *foliov1.ChannelConfig) (peers, orderers []gateway.Node) {
	mspOf := map[string]string{}
	for _, o := range c.Orgs {
		mspOf[o.Name] = o.MspId
	}
	for _, p := range c.Peers {
		peers = append(peers, gateway.Node{Name: p.Name, MSPID: mspOf[p.Org], NodeID: p.NodeId})
	}
	for _, o := range c.Orderers {
		orderers = append(orderers, gateway.Node{Name: o.Name, MSPID: mspOf[o.Org], NodeID: o.NodeId})
	}
	return peers, orderers
}

// otherPeers lists the channel's peers but this one, for the attestation
// exchange.
func otherPeers(e *env, peers []gateway.Node) []evidence.Peer {
	var out []evidence.Peer
	for _, p := range peers {
		if p.NodeID != e.self.ID() {
			out = append(out, evidence.Peer{Name: p.Name, MSPID: p.MSPID, NodeID: p.NodeID})
		}
	}
	return out
}

// blockSources lists the orderers to pull blocks from, and the other
// peers to fall back on.
func blockSources(e *env, c *foliov1.ChannelConfig) (sources, fallback []deliver.Source) {
	for _, o := range c.Orderers {
		sources = append(sources, &deliver.SessionSource{Host: e.host, NodeID: o.NodeId, NodeName: o.Name, ChannelID: c.ChannelId})
	}
	for _, p := range c.Peers {
		if p.NodeId != e.self.ID() {
			fallback = append(fallback, &deliver.SessionSource{Host: e.host, NodeID: p.NodeId, NodeName: p.Name, ChannelID: c.ChannelId})
		}
	}
	return sources, fallback
}

// loadLifecycle reads the contract versions and install records committed
// so far, so a restarted peer validates the next block as the others do.
func loadLifecycle(r *lifecycle.Registry, l *ledger.Ledger) error {
	rd, err := l.NewReader()
	if err != nil {
		return err
	}
	defer rd.Close()
	return r.Load(rd)
}

// loadChannelConfig returns the channel configuration in force after the
// blocks committed so far: the genesis one, or the last config update
// recorded in state.
func loadChannelConfig(genesis *foliov1.ChannelConfig, l *ledger.Ledger) (*channel.Config, error) {
	rd, err := l.NewReader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	update, ver, err := rd.Get(channel.Namespace, channel.UpdateKey)
	if err != nil {
		return nil, err
	}
	if update == nil {
		return channel.Restore(genesis, nil, 0)
	}
	return channel.Restore(genesis, update, ver.GetBlockNum())
}

// admitRevocations gives the node's admission verifier the revocation
// lists of a configuration committed on chain, so the endorser and gateway
// refuse a revoked identity from the moment its revocation is committed,
// not only once the CA is polled again (an older list is ignored).
func admitRevocations(e *env, c *channel.Config) {
	for _, o := range c.Proto().GetOrgs() {
		if len(o.Crl) == 0 {
			continue
		}
		if err := e.verifier.UpdateCRL(o.MspId, o.Crl); err != nil {
			e.log.Warn("on-chain revocation list not installed for admission", "org", o.MspId, "err", err)
		}
	}
}

// compileCache is where the enclave keeps compiled contracts.
func compileCache(cfg *config.Node) string {
	if cfg.Enclave.CompileCache != "" {
		return cfg.Enclave.CompileCache
	}
	return filepath.Join(cfg.DataDir, "wasm-cache")
}

// preloadContracts compiles the contracts in force into the enclave before
// the peer reports ready, retrying while the enclave restarts.
func preloadContracts(ctx context.Context, e *env, end *endorse.Endorser) {
	start := time.Now()
	for {
		err := end.Preload(ctx)
		if err == nil {
			e.ready.set("contracts", nil)
			e.log.Info("contracts in force loaded into the enclave", "took", time.Since(start).Round(time.Millisecond))
			return
		}
		e.ready.set("contracts", err)
		e.log.Warn("loading contracts into the enclave", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}
