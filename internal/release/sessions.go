package release

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// The node-to-node protocols ride the p2p sessions (docs/wire-protocol.md
// says why they are not connect services): one request, one reply with a
// status byte, peers only.

// sessionRelease resolves the release a session request names, loading it
// from the chain the first time (an announcement, or a peer that learnt
// of it first); a refused release answers "refused" with the reason.
func (p *Peer) sessionRelease(ctx context.Context, rid string) (*rel, []byte) {
	r, err := p.release(ctx, rid)
	if err != nil {
		if errors.Is(err, ErrUnknownRelease) {
			return nil, wire.ReplyErr(wire.StatusNotReady, "%v", err)
		}
		return nil, wire.ReplyErr(wire.StatusFailed, "%v", err)
	}
	if r.refused != "" {
		return nil, wire.ReplyErr(wire.StatusRefused, "%s", r.refused)
	}
	return r, nil
}

// serveContent answers protocol "content" (peers only): the manifest, a
// chunk, the bitmap of chunks held, or an announcement of a release.
// Ciphertext is not secret, but only consortium peers take part in its
// distribution; clients fetch it over the client API.
func (p *Peer) serveContent(ctx context.Context, from p2p.PeerIdentity, req []byte) []byte {
	if from.Role != identity.RolePeer {
		return wire.ReplyErr(wire.StatusRefused, "content is exchanged between peers only")
	}
	var q wire.ContentRequest
	if err := wire.Decode(req, &q); err != nil {
		return wire.ReplyErr(wire.StatusFailed, "%v", err)
	}
	r, reply := p.sessionRelease(ctx, q.RID)
	if r == nil {
		return reply
	}
	switch q.Op {
	case wire.OpAnnounce:
		return wire.Reply(wire.StatusOK, nil)
	case wire.OpManifest:
		m := r.st.manifest()
		if m == nil {
			return wire.ReplyErr(wire.StatusNotReady, "manifest not held yet")
		}
		raw, err := m.MarshalBinary()
		if err != nil {
			return wire.ReplyErr(wire.StatusFailed, "%v", err)
		}
		return wire.Reply(wire.StatusOK, raw)
	case wire.OpHave:
		return wire.Reply(wire.StatusOK, r.st.bitmap())
	case wire.OpChunk:
		if !r.st.has(q.Index) {
			return wire.ReplyErr(wire.StatusNotReady, "chunk %d not held", q.Index)
		}
		data, err := r.st.chunk(q.Index)
		if err != nil {
			if errors.Is(err, content.ErrCorrupt) {
				p.log.Warn("chunk damaged on disk: dropped, it will be fetched again", "rid", q.RID, "chunk", q.Index)
				r.changed.notify()
				return wire.ReplyErr(wire.StatusNotReady, "chunk %d damaged here", q.Index)
			}
			return wire.ReplyErr(wire.StatusFailed, "%v", err)
		}
		return wire.Reply(wire.StatusOK, data)
	}
	return wire.ReplyErr(wire.StatusFailed, "unknown operation")
}

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
	r, reply := p.sessionRelease(ctx, q.RID)
	if r == nil {
		return reply
	}
	switch q.Op {
	case wire.OpShare:
		fresh, err := r.acceptShare(*q.Share, from.Name)
		if err != nil {
			return wire.ReplyErr(wire.StatusRefused, "%v", err)
		}
		if fresh && !q.Share.Relayed {
			m := *q.Share
			p.spawn(func(ctx context.Context) { p.relay(ctx, r, m, from.NodeID) })
		}
		return wire.Reply(wire.StatusOK, nil)
	case wire.OpEarly:
		if r.ks == nil {
			return wire.ReplyErr(wire.StatusRefused, "%s is not a key server of this release", p.name())
		}
		es, err := r.ks.earlyShare(from, time.Duration(q.LeadMS)*time.Millisecond)
		if err != nil {
			return wire.ReplyErr(wire.StatusRefused, "%v", err)
		}
		return wire.Reply(wire.StatusOK, wire.Encode(es))
	case wire.OpReport:
		return wire.Reply(wire.StatusOK, wire.Encode(wire.Report{Edge: p.name(), Clients: r.edge.predictions(p.now())}))
	case wire.OpCoord:
		if r.ks == nil {
			return wire.ReplyErr(wire.StatusRefused, "%s is not a key server of this release", p.name())
		}
		if !r.ks.isKeyServer(from) || q.Proposal.From != from.Name {
			return wire.ReplyErr(wire.StatusRefused, "%s is not a key server of this release", from.Name)
		}
		return wire.Reply(wire.StatusOK, wire.Encode(r.ks.receive(*q.Proposal)))
	case wire.OpSchedule:
		rep := wire.ScheduleReply{}
		if t := r.watch.sendAt(); !t.IsZero() {
			rep.SendAt = t.UnixNano()
		}
		if r.ks != nil {
			rep.Released, rep.Reason = r.ks.status()
		}
		return wire.Reply(wire.StatusOK, wire.Encode(rep))
	}
	return wire.ReplyErr(wire.StatusFailed, "unknown operation")
}

// relay forwards a share this peer received from its key server to every
// other peer once (the second path: a peer whose session to the key
// server is down still gets it).
func (p *Peer) relay(ctx context.Context, r *rel, m wire.ShareMsg, except string) {
	if !r.shares.markRelayed(m.Index) {
		return
	}
	m.Relayed = true
	req := wire.Encode(wire.KeysRequest{Op: wire.OpShare, RID: r.rec.ID, Share: &m})
	var wg sync.WaitGroup
	for _, x := range p.peers() {
		if x.NodeID == except {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = p.call(ctx, x.NodeID, wire.ProtoKeys, req)
		}()
	}
	wg.Wait()
}
