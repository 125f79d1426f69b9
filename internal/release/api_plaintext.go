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
	return codeOf(r.te.sendPlaintext(ctx, client, func(b []byte) error {
		return stream.Send(&foliov1.GetPlaintextResponse{Data: b})
	}))
}

// Probe sends random bytes for a client to measure its download rate.
func (a *api) Probe(ctx context.Context, req *connect.Request[foliov1.ProbeRequest], stream *connect.ServerStream[foliov1.ProbeResponse]) error {
	if _, err := a.caller(ctx); err != nil {
		return err
	}
	n := req.Msg.GetBytes()
	if err := wire.ValidateProbe(n); err != nil {
		return errorf(connect.CodeInvalidArgument, "%v", err)
	}
	buf := make([]byte, min(n, wire.PieceBytes))
	_, _ = rand.Read(buf)
	for n > 0 {
		k := min(n, int64(len(buf)))
		if err := stream.Send(&foliov1.ProbeResponse{Data: buf[:k]}); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
