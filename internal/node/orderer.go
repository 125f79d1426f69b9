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
)

// startOrderer runs the Raft ordering node and serves OrdererService.
func startOrderer(ctx context.Context, e *env) error {
	ch := e.channel
	id, err := channel.RaftID(ch, e.cfg.Name)
	if err != nil {
		return fieldErr(e.file, "genesis", err, "")
	}
	peers := map[uint64]string{}
	names := map[uint64]string{}
	for i, o := range ch.Orderers {
		names[uint64(i+1)] = o.Name
		if uint64(i+1) != id {
			peers[uint64(i+1)] = o.NodeId
		}
	}
	transport, err := order.NewSessionTransport(e.host, peers, e.log.With("component", "raft-transport"))
	if err != nil {
		return err
	}
	genesisCfg, err := channel.NewConfig(ch, 1)
	if err != nil {
		return fieldErr(e.file, "genesis", err, "")
	}
	b := ch.Batch
	n, err := order.New(order.Options{
		ID: id, Voters: channel.Voters(ch), Self: e.self, DB: e.db, Blocks: e.blocks, Genesis: e.genesis,
		Batch:     order.BatchConfig{MaxTxCount: int(b.MaxTxCount), MaxBytes: int(b.MaxBytes), Timeout: time.Duration(b.TimeoutMs) * time.Millisecond},
		Transport: transport, Fetcher: &fetcher{e: e, cfg: genesisCfg, names: names, self: id},
		Logger: e.log.With("component", "order"),
		// Block timestamps come from the leader's wall clock
		// (internal/clock: its test hooks let a chaos run jump it).
		Now: clock.Now,
	})
	if err != nil {
		return fmt.Errorf("%s: %w%s", e.cfg.Name, err, corruptionHint(err, e.cfg.DataDir))
	}
	transport.SetNode(n)
	e.raft = func() (string, uint64, string) {
		st := n.Status()
		return st.Role, st.Term, names[st.Leader]
	}
	e.ready.set("raft", errors.New("no leader elected yet"))
	bc := &order.Broadcaster{Node: n, Verifier: e.verifier, Blocks: e.blocks, Channel: ch.ChannelId}
	svc := &order.Service{Broadcaster: bc, Verifier: e.verifier}
	path, h := foliov1connect.NewOrdererServiceHandler(svc, e.intercept)
	e.mux.Handle(path, h)
	if err := e.host.HandleCall(gateway.BroadcastProtocol, svc.ServeSession); err != nil {
		return err
	}

	e.wg.Add(3)
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
	return nil
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
		if st := n.Status(); st.Leader == 0 {
			e.ready.set("raft", fmt.Errorf("no Raft leader (this orderer is %s in term %d)", st.Role, st.Term))
		} else {
			e.ready.set("raft", nil)
		}
	}
}

// fetcher gets blocks an orderer lacks after a snapshot from the other
// orderers, over the deliver protocol, verifying each one.
type fetcher struct {
	e *env
	// cfg verifies blocks fetched from other orderers. Orderers do not
	// follow config updates (peers do): they count the orderers of the
	// genesis configuration, who are the Raft cluster.
	cfg   *channel.Config
	names map[uint64]string
	self  uint64
}

func (f *fetcher) FetchBlocks(ctx context.Context, from, to uint64) ([]*foliov1.Block, error) {
	var errs []error
	for i, o := range f.e.channel.Orderers {
		if uint64(i+1) == f.self {
			continue
		}
		got, err := f.fetchFrom(ctx, o.Name, o.NodeId, from, to)
		if err == nil {
			return got, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", o.Name, err))
	}
	return nil, errors.Join(errs...)
}

func (f *fetcher) fetchFrom(ctx context.Context, name, nodeID string, from, to uint64) ([]*foliov1.Block, error) {
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
		if err := deliver.VerifyBlock(f.cfg, b, n, prev, prevTime); err != nil {
			return nil, err
		}
		prev, _ = types.HeaderHash(b.Header)
		prevTime = b.Header.TimestampUnixNano
		out = append(out, b)
	}
	return out, nil
}
