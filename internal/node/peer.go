package node

import (
	"context"
	"errors"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/deliver"
	"github.com/folio-ledger/folio/internal/identity"
)

// startPeer keeps the peer's chain in step with the ordering service. (The
// committer, state and gateway arrive with the ledger and endorsement
// work; until then the peer stores the blocks it receives.)
func startPeer(ctx context.Context, e *env) error {
	var sources []deliver.Source
	for _, o := range e.channel.Orderers {
		sources = append(sources, &deliver.SessionSource{Host: e.host, NodeID: o.NodeId, NodeName: o.Name, ChannelID: e.channel.ChannelId})
	}
	client := &deliver.Client{Sources: sources, MSP: e.verifier, Sink: blockSink{e}, Logger: e.log.With("component", "deliver")}
	e.ready.set("delivery", errors.New("no session to an orderer yet"))
	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		if err := client.Run(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("block delivery stopped", "err", err)
			e.ready.set("delivery", err)
		}
	}()
	go func() {
		defer e.wg.Done()
		watchOrdererSessions(ctx, e)
	}()
	return nil
}

type blockSink struct{ e *env }

func (s blockSink) Height() uint64   { return s.e.blocks.Height() }
func (s blockSink) LastHash() []byte { return s.e.blocks.LastHash() }
func (s blockSink) Accept(b *foliov1.Block) error {
	return s.e.blocks.Append(b, true)
}

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
