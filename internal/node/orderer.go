package node

import (
	"context"
	"errors"
	"fmt"
	"github.com/folio-ledger/folio/internal/clock"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/deliver"
	"github.com/folio-ledger/folio/internal/gateway"
	"github.com/folio-ledger/folio/internal/order"
	"github.com/folio-ledger/folio/internal/types"
	"google.golang.org/protobuf/proto"
)

// startOrderer runs the Raft ordering node and serves OrdererService.
// The orderer follows the channel configuration on chain (ordererConfig):
// its Raft membership, the orderers it sends Raft messages to and fetches
// blocks from, and the organisations it admits.
func startOrderer(ctx context.Context, e *env) error {
	genesis := e.channel
	id, err := ordererRaftID(genesis, e)
	if err != nil {
		return err
	}
	oc, err := openOrdererConfig(genesis, e.blocks, e.db)
	if err != nil {
		return fmt.Errorf("%s: %w%s", e.cfg.Name, err, corruptionHint(err, e.cfg.DataDir))
	}
	if _, err := oc.catchUp(); err != nil {
		return fmt.Errorf("%s: channel configuration from the stored blocks: %w", e.cfg.Name, err)
	}
	transport, err := order.NewSessionTransport(e.host, raftPeers(oc.Current().Proto(), id), e.log.With("component", "raft-transport"))
	if err != nil {
		return err
	}
	b := genesis.Batch
	n, err := order.New(order.Options{
		ID: id, Voters: channel.Voters(genesis), Self: e.self, DB: e.db, Blocks: e.blocks, Genesis: e.genesis,
		Batch:     order.BatchConfig{MaxTxCount: int(b.MaxTxCount), MaxBytes: int(b.MaxBytes), Timeout: time.Duration(b.TimeoutMs) * time.Millisecond},
		Transport: transport, Fetcher: &fetcher{e: e, oc: oc, self: id},
		Logger: e.log.With("component", "order"),
		// Block timestamps come from the leader's wall clock
		// (internal/clock: its test hooks let a chaos run jump it).
		Now: clock.Now,
	})
	if err != nil {
		return fmt.Errorf("%s: %w%s", e.cfg.Name, err, corruptionHint(err, e.cfg.DataDir))
	}
	transport.SetNode(n)
	e.membership.onChange(func(c *channel.Config) {
		transport.SetPeers(raftPeers(c.Proto(), id))
		n.SetMembers(channel.Voters(c.Proto()))
	})
	e.membership.apply(oc.Current())
	e.raft = func() (string, uint64, string) {
		st := n.Status()
		return st.Role, st.Term, raftName(oc.Current().Proto(), st.Leader)
	}
	e.raftStatus = n.Status
	e.ready.set("raft", errors.New("no leader elected yet"))
	bc := &order.Broadcaster{Node: n, Verifier: e.verifier, Blocks: e.blocks, Channel: genesis.ChannelId}
	svc := &order.Service{Broadcaster: bc, Verifier: e.verifier}
	path, h := foliov1connect.NewOrdererServiceHandler(svc, e.intercept)
	e.mux.Handle(path, h)
	if err := e.host.HandleCall(gateway.BroadcastProtocol, svc.ServeSession); err != nil {
		return err
	}

	e.wg.Add(4)
	go func() {
		defer e.wg.Done()
		transport.Run(ctx)
	}()
	go func() {
		defer e.wg.Done()
		if err := n.Run(ctx); err != nil {
			e.fail(fmt.Errorf("ordering stopped: %w", err))
		}
	}()
	go func() {
		defer e.wg.Done()
		watchLeader(ctx, n, e)
	}()
	go func() {
		defer e.wg.Done()
		oc.run(ctx, e.membership.apply, e.fail)
	}()
	return nil
}

// ordererRaftID is this orderer's Raft ID: as the genesis configuration
// gives it, or, for an orderer added later, the ID its key derives
// (channel.RaftIDOf), which the config update adding it records.
func ordererRaftID(genesis *foliov1.ChannelConfig, e *env) (uint64, error) {
	if id, err := channel.RaftID(genesis, e.cfg.Name); err == nil {
		return id, nil
	}
	id, err := channel.RaftIDOf(e.self.ID())
	if err != nil {
		return 0, fieldErr(e.file, "identity", err, "")
	}
	e.log.Info("this orderer is not in the genesis configuration: it takes part once a config update adds it", "raft_id", id)
	return id, nil
}

// raftPeers maps every other orderer's Raft ID to its node ID.
func raftPeers(c *foliov1.ChannelConfig, self uint64) map[uint64]string {
	out := map[uint64]string{}
	for nodeID, id := range channel.RaftIDs(c) {
		if id != self {
			out[id] = nodeID
		}
	}
	return out
}

// raftName names the orderer with a Raft ID in c ("" if none).
func raftName(c *foliov1.ChannelConfig, id uint64) string {
	ids := channel.RaftIDs(c)
	for _, o := range c.Orderers {
		if ids[o.NodeId] == id {
			return o.Name
		}
	}
	return ""
}

// watchLeader keeps the "raft" readiness check in step with leadership.
func watchLeader(ctx context.Context, n *order.Node, e *env) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if st := n.Status(); st.Removed {
			e.ready.set("raft", errors.New("a config update removed this orderer from the channel's ordering service: it orders nothing more and can be stopped"))
		} else if st.Leader == 0 {
			e.ready.set("raft", fmt.Errorf("no Raft leader (this orderer is %s in term %d)", st.Role, st.Term))
		} else {
			e.ready.set("raft", nil)
		}
	}
}

// fetcher gets blocks an orderer lacks after a snapshot from the other
// orderers, over the deliver protocol, verifying each one against the
// channel configuration in force at its height.
type fetcher struct {
	e    *env
	oc   *ordererConfig
	self uint64
}

func (f *fetcher) FetchBlocks(ctx context.Context, from, to uint64) ([]*foliov1.Block, error) {
	// The configuration in force at from: every stored block scanned.
	if _, err := f.oc.catchUp(); err != nil {
		return nil, err
	}
	cfg := f.oc.Current()
	var errs []error
	ids := channel.RaftIDs(cfg.Proto())
	for _, o := range cfg.Proto().Orderers {
		if ids[o.NodeId] == f.self {
			continue
		}
		got, err := f.fetchFrom(ctx, cfg, o.Name, o.NodeId, from, to)
		if err == nil {
			return got, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", o.Name, err))
	}
	if len(errs) == 0 {
		return nil, errors.New("the channel lists no other orderer to fetch blocks from")
	}
	return nil, errors.Join(errs...)
}

func (f *fetcher) fetchFrom(ctx context.Context, cfg *channel.Config, name, nodeID string, from, to uint64) ([]*foliov1.Block, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	src := &deliver.SessionSource{Host: f.e.host, NodeID: nodeID, NodeName: name, ChannelID: f.e.channel.ChannelId}
	st, err := src.Blocks(ctx, from)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	prev := f.e.blocks.LastHash()
	var prevTime int64
	if from > 0 {
		if last, err := f.e.blocks.Block(from - 1); err == nil {
			prevTime = last.Header.TimestampUnixNano
		}
	}
	var out []*foliov1.Block
	for n := from; n < to; n++ {
		b, err := st.Recv()
		if err != nil {
			return nil, err
		}
		if err := deliver.VerifyBlock(cfg, b, n, prev, prevTime); err != nil {
			return nil, err
		}
		// The next block is verified against the configuration this one
		// puts in force, decided as every peer decides it.
		next, err := nextConfig(f.e.channel.ChannelId, cfg, b, fetchedIndex{f.e.blocks, out})
		if err != nil {
			return nil, err
		}
		if next != nil {
			cfg = next
		}
		prev, _ = types.HeaderHash(b.Header)
		prevTime = b.Header.TimestampUnixNano
		out = append(out, b)
	}
	return out, nil
}

// fetchedIndex answers whether a transaction is in the block store or in
// the blocks fetched so far (not yet stored).
type fetchedIndex struct {
	blocks  interface{ HasTx(string) (bool, error) }
	fetched []*foliov1.Block
}

func (f fetchedIndex) HasTx(txID string) (bool, error) {
	if ok, err := f.blocks.HasTx(txID); ok || err != nil {
		return ok, err
	}
	for _, b := range f.fetched {
		for _, raw := range b.GetData().GetEnvelopes() {
			if id, ok := envelopeTxID(raw); ok && id == txID {
				return true, nil
			}
		}
	}
	return false, nil
}

// envelopeTxID reads an envelope's transaction ID ("", false if it does
// not decode).
func envelopeTxID(raw []byte) (string, bool) {
	var env foliov1.Envelope
	if proto.Unmarshal(raw, &env) != nil {
		return "", false
	}
	var p foliov1.Payload
	if proto.Unmarshal(env.Payload, &p) != nil || p.Header == nil {
		return "", false
	}
	return p.Header.TxId, true
}
