package release

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/release/keys"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// serveKeys answers protocol "keys" (peers only): clock probes, released
// shares (from key servers, or relayed by peers), trusted edges' early
// requests, coordination proposals, edge reports and schedule queries.
func (p *Peer) serveKeys(ctx context.Context, from p2p.PeerIdentity, req []byte) []byte {
	if from.Role != identity.RolePeer {
		return wire.ReplyErr(wire.StatusRefused, "keys are exchanged between peers only")
	}
	var q wire.KeysRequest
	if err := wire.Decode(req, &q); err != nil {
		return wire.ReplyErr(wire.StatusFailed, "%v", err)
	}
	if q.Op == wire.OpClock {
		return wire.Reply(wire.StatusOK, wire.Encode(wire.ClockReply{T1: p.now().UnixNano()}))
	}
	r, err := p.release(ctx, q.RID)
	if err != nil {
		if errors.Is(err, ErrUnknownRelease) {
			return wire.ReplyErr(wire.StatusNotReady, "%v", err)
		}
		return wire.ReplyErr(wire.StatusFailed, "%v", err)
	}
	if reason := r.refusedReason(); reason != "" {
		return wire.ReplyErr(wire.StatusRefused, "%s", reason)
	}
	switch q.Op {
	case wire.OpShare:
		fresh, err := r.acceptShare(*q.Share, from.Name)
		if err != nil {
			return wire.ReplyErr(wire.StatusRefused, "%v", err)
		}
		if fresh && !q.Share.Relayed {
			p.spawn(func(ctx context.Context) { r.relay(ctx, *q.Share, from.NodeID) })
		}
		return wire.Reply(wire.StatusOK, nil)
	case wire.OpEarly:
		es, err := r.earlyShare(from, time.Duration(q.LeadMS)*time.Millisecond)
		if err != nil {
			return wire.ReplyErr(wire.StatusRefused, "%v", err)
		}
		return wire.Reply(wire.StatusOK, wire.Encode(es))
	case wire.OpReport:
		return wire.Reply(wire.StatusOK, wire.Encode(wire.Report{Edge: p.name(), Clients: r.predictions()}))
	case wire.OpCoord:
		if r.ksIndex == 0 {
			return wire.ReplyErr(wire.StatusRefused, "%s is not a key server of this release", p.name())
		}
		if !r.isKeyServer(from) || q.Proposal.From != from.Name {
			return wire.ReplyErr(wire.StatusRefused, "%s is not a key server of this release", from.Name)
		}
		return wire.Reply(wire.StatusOK, wire.Encode(r.exchange(*q.Proposal)))
	case wire.OpSchedule:
		r.mu.Lock()
		rep := wire.ScheduleReply{Released: r.mu.released, Reason: r.mu.ksReason}
		if !r.mu.sendAt.IsZero() {
			rep.SendAt = r.mu.sendAt.UnixNano()
		}
		r.mu.Unlock()
		return wire.Reply(wire.StatusOK, wire.Encode(rep))
	}
	return wire.ReplyErr(wire.StatusFailed, "unknown operation")
}

// isKeyServer reports whether the session's node is a key server of the
// release under the name and node ID the record gives.
func (r *rel) isKeyServer(from p2p.PeerIdentity) bool {
	for _, ks := range r.rec.KeyServers {
		if ks.Name == from.Name && ks.NodeID == from.NodeID {
			return true
		}
	}
	return false
}

// relay forwards a share this peer received from its key server to every
// other peer (the second path: a peer whose session to the key server is
// down still gets it).
func (r *rel) relay(ctx context.Context, m wire.ShareMsg, except string) {
	r.mu.Lock()
	if r.mu.relayed[m.Index] {
		r.mu.Unlock()
		return
	}
	r.mu.relayed[m.Index] = true
	r.mu.Unlock()
	m.Relayed = true
	req := wire.Encode(wire.KeysRequest{Op: wire.OpShare, RID: r.rec.ID, Share: &m})
	var wg sync.WaitGroup
	for _, x := range r.p.peers {
		if x.NodeID == except {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = r.p.call(ctx, x.NodeID, wire.ProtoKeys, req)
		}()
	}
	wg.Wait()
}

// earlyShare answers a trusted edge that needs the key lead before the
// agreed send time to decrypt and stagger its plaintext sends. Only a
// trusted edge named in the record gets it, over its authenticated
// session, no earlier than the send time minus min(lead, MaxEdgeLead),
// and only while this key server's clock agrees with its peers'.
func (r *rel) earlyShare(from p2p.PeerIdentity, lead time.Duration) (*wire.EarlyShare, error) {
	if r.ksIndex == 0 {
		return nil, fmt.Errorf("%s is not a key server of this release", r.p.name())
	}
	x, ok := r.p.peerByName(from.Name)
	if !ok || x.NodeID != from.NodeID || !r.rec.IsTrustedEdge(from.Name) {
		return nil, fmt.Errorf("%s is not a trusted edge of release %s: no early key", from.Name, r.rec.ID)
	}
	if med, ok, known := r.p.clock.skew(); !ok || !known {
		return nil, fmt.Errorf("%w: this key server's clock is %s off its peers' (or could not be compared)", ErrClockSkew, (-med).Round(time.Millisecond))
	}
	lead = min(lead, r.p.o.MaxEdgeLead)
	r.mu.Lock()
	sendAt := r.mu.sendAt
	r.mu.Unlock()
	if sendAt.Before(r.releaseAt) {
		sendAt = r.releaseAt
	}
	now := r.p.now()
	if open := sendAt.Add(-lead); now.Before(open) {
		return nil, fmt.Errorf("%w: early key for %s from %s (lead %s), it is %s", ErrTooEarly, from.Name,
			open.UTC().Format(time.RFC3339Nano), lead, now.UTC().Format(time.RFC3339Nano))
	}
	share, err := keys.DecryptShare(r.p.kex, r.rec.ID, r.ksIndex, r.encShare)
	if err != nil {
		return nil, err
	}
	r.p.log.Info("gave the key share early to a trusted edge", "rid", r.rec.ID, "edge", from.Name, "lead", lead, "send_at", sendAt)
	return &wire.EarlyShare{Index: r.ksIndex, Share: hex.EncodeToString(share)}, nil
}
