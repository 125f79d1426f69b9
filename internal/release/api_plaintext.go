package release

import (
	"context"
	"crypto/rand"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// GetPlaintext sends the plaintext to an edge-decrypt client of a trusted
// edge (trustedEdge.sendPlaintext): held until the client's start time,
// paced, the last bytes at the target. A client that has not subscribed
// for edge decryption gets nothing.
func (a *api) GetPlaintext(ctx context.Context, req *connect.Request[foliov1.GetPlaintextRequest], stream *connect.ServerStream[foliov1.GetPlaintextResponse]) error {
	label, r, err := a.open(ctx, req.Msg.GetReleaseId(), false)
	if err != nil {
		return err
	}
	client := req.Msg.GetClient()
	if !ownsClientName(label, client) {
		return errorf(connect.CodePermissionDenied, "%s may not fetch plaintext for %q", label, client)
	}
	if r.te == nil {
		return errorf(connect.CodePermissionDenied, "%s is not a trusted edge of release %s: it never holds plaintext", a.p.name(), r.rec.ID)
	}
	// The service's end stops the paced send too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(a.p.ctx, cancel)
	defer stop()
	return codeOf(r.te.sendPlaintext(ctx, client, func(p plainPiece) error {
		return stream.Send(&foliov1.GetPlaintextResponse{Data: p.data, TailOffset: p.tailOffset, TailKey: p.tailKey})
	}))
}

// Probe sends random bytes. Named for a subscription, it is timed by
// this edge: the first message carries the probe's ID, which the client
// acknowledges in ReportProgress once the whole probe arrived; the time
// from the first byte to the acknowledgement is the edge's own
// measurement of the client's connection (what a trusted edge paces
// plaintext by).
func (a *api) Probe(ctx context.Context, req *connect.Request[foliov1.ProbeRequest], stream *connect.ServerStream[foliov1.ProbeResponse]) error {
	label, err := a.caller(ctx)
	if err != nil {
		return err
	}
	if err := wire.ValidateProbeRequest(req.Msg); err != nil {
		return errorf(connect.CodeInvalidArgument, "%v", err)
	}
	n := req.Msg.GetBytes()
	var r *rel
	client := req.Msg.GetClient()
	if client != "" {
		if !ownsClientName(label, client) {
			return errorf(connect.CodePermissionDenied, "%s may not probe for %s", label, client)
		}
		if _, r, err = a.open(ctx, req.Msg.GetReleaseId(), false); err != nil {
			return err
		}
	}
	buf := make([]byte, min(n, wire.PieceBytes))
	_, _ = rand.Read(buf)
	first := &foliov1.ProbeResponse{}
	if r != nil {
		id, ok := r.edge.probe(client, n, a.p.now())
		if !ok {
			return errorf(connect.CodeFailedPrecondition, "%v: subscribe as %s before a timed probe", errNotSubscribed, client)
		}
		first.ProbeId = id
	}
	for msg := first; n > 0; msg = (&foliov1.ProbeResponse{}) {
		k := min(n, int64(len(buf)))
		msg.Data = buf[:k]
		if err := stream.Send(msg); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
