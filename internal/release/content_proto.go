package release

import (
	"context"
	"errors"

	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/wire"
)

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
	r := p.known(q.RID)
	if r == nil {
		// Not seen yet: load it from the chain (announce, or a peer that
		// learnt of it first).
		var err error
		if r, err = p.release(ctx, q.RID); err != nil {
			if errors.Is(err, ErrUnknownRelease) {
				return wire.ReplyErr(wire.StatusNotReady, "%v", err)
			}
			return wire.ReplyErr(wire.StatusFailed, "%v", err)
		}
	}
	if reason := r.refusedReason(); reason != "" {
		return wire.ReplyErr(wire.StatusRefused, "%s", reason)
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
				r.notify()
				return wire.ReplyErr(wire.StatusNotReady, "chunk %d damaged here", q.Index)
			}
			return wire.ReplyErr(wire.StatusFailed, "%v", err)
		}
		return wire.Reply(wire.StatusOK, data)
	}
	return wire.ReplyErr(wire.StatusFailed, "unknown operation")
}
