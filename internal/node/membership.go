package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/ledger/blocks"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/validate"
)

// A node follows the channel's membership as the chain records it (DESIGN
// 6 and 7): the organisations it admits, the nodes it keeps sessions with,
// and what its role does with them (an orderer's Raft membership, a peer's
// block sources, endorsers and attestation partners) come from the
// configuration in force, which config updates change at an exact block.
// The node's config file gives only a starting point: its own organisation,
// and optionally endpoints to reach before the chain names them (a node of
// an organisation that is joining, or an address override).

// membership applies each configuration in force to the node's parts.
type membership struct {
	e *env
	// own is the node's organisation as its config file names it: always
	// admitted, even before a config update adds it to the channel.
	own identity.Org
	// bootstrap are the organisations the node admitted at start (its
	// config file's and the genesis block's): kept while the configuration
	// in force does not list this node yet, so a joining node can talk to
	// members that joined after genesis (`folio org join` writes their
	// roots into its config file).
	bootstrap []identity.Org
	// fromFile are the node IDs the config file declares, with their
	// addresses, which take precedence over the chain's (an operator's
	// override) and are never removed.
	fromFile map[string]bool

	mu       sync.Mutex
	declared map[string]p2p.PeerSpec // node ID -> spec declared from the chain
	hooks    []func(*channel.Config)
	seq      uint64
	applied  bool
}

func newMembership(e *env) (*membership, error) {
	m := &membership{e: e, fromFile: map[string]bool{}, declared: map[string]p2p.PeerSpec{}}
	m.bootstrap = e.verifier.Orgs()
	for _, o := range m.bootstrap {
		if o.MSPID == e.cfg.MSPID {
			m.own = o
		}
	}
	if m.own.Root == nil {
		return nil, fieldErr(e.file, "consortium", fmt.Errorf("the node's own organisation %s is not listed", e.cfg.MSPID), "list it with its root certificate")
	}
	for _, ep := range append(slices.Clone(e.cfg.Orderers), e.cfg.Peers...) {
		if ep.NodeID != "" {
			m.fromFile[ep.NodeID] = true
		}
	}
	return m, nil
}

// onChange registers a role's reaction to a new configuration; it runs
// after the node's admission and sessions follow it.
func (m *membership) onChange(f func(*channel.Config)) {
	m.mu.Lock()
	m.hooks = append(m.hooks, f)
	m.mu.Unlock()
}

// apply makes c's members the node's: admission (organisations), sessions
// (every node of the channel at its advertised address), then the roles'
// hooks. Configurations arrive in chain order; an older one is ignored.
func (m *membership) apply(c *channel.Config) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.applied && c.Sequence() < m.seq {
		return
	}
	m.seq, m.applied = c.Sequence(), true
	cfg := c.Proto()
	e := m.e
	orgs, err := channel.MSPOrgs(cfg)
	if err != nil {
		e.log.Error("channel configuration names an unusable organisation; admission unchanged", "err", err)
	} else {
		extra := []identity.Org{m.own}
		if !listsNode(cfg, e.self.ID()) {
			extra = m.bootstrap
		}
		for _, o := range extra {
			if !slices.ContainsFunc(orgs, func(x identity.Org) bool { return x.MSPID == o.MSPID }) {
				orgs = append(orgs, o)
			}
		}
		if err := e.verifier.SetOrgs(orgs); err != nil {
			e.log.Error("admission not updated to the channel's organisations", "err", err)
		} else {
			admitRevocations(e, c)
			// Sessions of a removed organisation's nodes end now, not at
			// the next periodic revalidation.
			if n := e.host.Revalidate(); n > 0 {
				e.log.Info("sessions closed: their nodes' organisations left the channel", "sessions", n)
			}
		}
	}
	want := map[string]p2p.PeerSpec{}
	for _, n := range append(append([]*foliov1.NodeEndpoint(nil), cfg.Orderers...), cfg.Peers...) {
		if n.NodeId == e.self.ID() || m.fromFile[n.NodeId] {
			continue
		}
		want[n.NodeId] = p2p.PeerSpec{NodeID: n.NodeId, Name: n.Name, Addr: n.P2PAddress}
	}
	for id, spec := range want {
		if old, ok := m.declared[id]; ok && old == spec {
			continue
		}
		if err := e.host.AddPeer(spec); err != nil {
			e.log.Warn("cannot keep a session with a node of the channel", "node", spec.Name, "addr", spec.Addr, "err", err)
			continue
		}
		m.declared[id] = spec
	}
	for id, spec := range m.declared {
		if _, ok := want[id]; ok {
			continue
		}
		if err := e.host.RemovePeer(id); err != nil {
			e.log.Warn("session with a node that left the channel not dropped", "node", spec.Name, "err", err)
		}
		delete(m.declared, id)
	}
	for _, h := range m.hooks {
		h(c)
	}
	e.log.Info("following the channel configuration", "sequence", c.Sequence(), "from_block", c.FromBlock(),
		"orgs", len(cfg.Orgs), "orderers", len(cfg.Orderers), "peers", len(cfg.Peers))
}

// ordererConfig follows the channel configuration on an orderer, which
// holds no world state: it scans each block the orderer stores for config
// updates and decides them as the peers do (validate.ConfigUpdates), so
// the orderer's Raft membership follows the same configuration the peers
// validate blocks against. Its position is persisted with the
// configuration so a restart scans only blocks it has not seen.
type ordererConfig struct {
	channelID string
	genesis   *foliov1.ChannelConfig
	blocks    *blocks.Store
	db        kv.Store

	mu      sync.Mutex
	cur     *channel.Config
	scanned uint64 // blocks [0, scanned) are reflected in cur
}

var keyOrdererConfig = []byte("ord/chcfg")

func openOrdererConfig(genesis *foliov1.ChannelConfig, bs *blocks.Store, db kv.Store) (*ordererConfig, error) {
	oc := &ordererConfig{channelID: genesis.ChannelId, genesis: genesis, blocks: bs, db: db, scanned: 1}
	raw, err := db.Get(keyOrdererConfig)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		if oc.cur, err = channel.Restore(genesis, nil, 0); err != nil {
			return nil, err
		}
		return oc, nil
	case err != nil:
		return nil, fmt.Errorf("orderer channel configuration: %w", err)
	}
	if len(raw) < 16 {
		return nil, &kv.CorruptionError{Op: "orderer channel configuration", Err: fmt.Errorf("record of %d bytes", len(raw))}
	}
	oc.scanned = binary.BigEndian.Uint64(raw[:8])
	committedIn := binary.BigEndian.Uint64(raw[8:16])
	var update []byte
	if len(raw) > 16 {
		update = raw[16:]
	}
	if oc.cur, err = channel.Restore(genesis, update, committedIn); err != nil {
		return nil, fmt.Errorf("orderer channel configuration: %w", err)
	}
	if oc.scanned > bs.Height() {
		// The record is written after the blocks it covers, so this means
		// the block store was replaced: scan it again from the start.
		oc.scanned = 1
		if oc.cur, err = channel.Restore(genesis, nil, 0); err != nil {
			return nil, err
		}
	}
	return oc, nil
}

// Current returns the configuration in force after the scanned blocks.
func (oc *ordererConfig) Current() *channel.Config {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	return oc.cur
}

// catchUp scans the stored blocks not scanned yet and returns the new
// configuration if one changed it (nil otherwise).
func (oc *ordererConfig) catchUp() (*channel.Config, error) {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	var changed *channel.Config
	for oc.scanned < oc.blocks.Height() {
		b, err := oc.blocks.Block(oc.scanned)
		if err != nil {
			return changed, err
		}
		next, err := nextConfig(oc.channelID, oc.cur, b, committedBefore{oc.blocks, b.Header.Number})
		if err != nil {
			return changed, err
		}
		oc.scanned++
		if next != nil {
			oc.cur, changed = next, next
		}
		if next != nil || oc.scanned%256 == 0 || oc.scanned == oc.blocks.Height() {
			if err := oc.save(); err != nil {
				return changed, err
			}
		}
	}
	return changed, nil
}

func (oc *ordererConfig) save() error {
	raw := binary.BigEndian.AppendUint64(nil, oc.scanned)
	committedIn := uint64(0)
	if oc.cur.FromBlock() > 0 && oc.cur.Update() != nil {
		committedIn = oc.cur.FromBlock() - 1
	}
	raw = binary.BigEndian.AppendUint64(raw, committedIn)
	raw = append(raw, oc.cur.Update()...)
	b := oc.db.NewBatch()
	defer b.Close()
	if err := b.Set(keyOrdererConfig, raw); err != nil {
		return err
	}
	return b.Commit(kv.WriteOptions{Sync: false})
}

// run scans new blocks as they are stored, calling changed with each new
// configuration, until ctx is done.
func (oc *ordererConfig) run(ctx context.Context, changed func(*channel.Config), fail func(error)) {
	for {
		wake := oc.blocks.Changed()
		c, err := oc.catchUp()
		if c != nil {
			changed(c)
		}
		if err != nil {
			var unsupported *channel.UnsupportedCapabilityError
			if errors.As(err, &unsupported) {
				fail(err)
				return
			}
			if ctx.Err() == nil {
				fail(fmt.Errorf("follow the channel configuration: %w", err))
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
	}
}

// nextConfig returns the configuration block b puts in force after cur (nil:
// unchanged), as every peer decides it.
func nextConfig(channelID string, cur *channel.Config, b *foliov1.Block, committed validate.TxIndex) (*channel.Config, error) {
	return validate.ConfigUpdates(b, validate.Options{ChannelID: channelID, Config: cur, Committed: committed})
}

// committedBefore answers whether a transaction is in a block before
// block, for a block store that already holds block itself.
type committedBefore struct {
	blocks *blocks.Store
	block  uint64
}

func (c committedBefore) HasTx(txID string) (bool, error) {
	loc, err := c.blocks.Tx(txID)
	if errors.Is(err, blocks.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return loc.Block < c.block, nil
}

// listsNode reports whether cfg lists a node ID among its orderers or peers.
func listsNode(cfg *foliov1.ChannelConfig, nodeID string) bool {
	for _, n := range append(append([]*foliov1.NodeEndpoint(nil), cfg.Orderers...), cfg.Peers...) {
		if n.NodeId == nodeID {
			return true
		}
	}
	return false
}
