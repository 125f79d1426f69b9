package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// edgeDecrypt receives the plaintext from a trusted edge: it measures its
// download rate with probes (the edge's estimate of its transfer time),
// then asks for the plaintext; the edge holds the request until this
// client's staggered start and paces the send so that it completes at the
// key send time.
func (f *fetch) edgeDecrypt(ctx context.Context) error {
	rate, err := f.probe(ctx)
	if err != nil {
		return err
	}
	// The subscription must be registered before progress is accepted
	// (failed_precondition until the subscribe stream is open).
	progress := &foliov1.ReportProgressRequest{ReleaseId: f.rec.ID, Client: f.client, RateBps: rate}
	for {
		_, err := f.api.ReportProgress(ctx, connect.NewRequest(progress))
		if err == nil {
			break
		}
		if connect.CodeOf(err) != connect.CodeFailedPrecondition {
			return peerErr(f.edge, "progress", err)
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	stream, err := f.api.GetPlaintext(ctx, connect.NewRequest(&foliov1.GetPlaintextRequest{ReleaseId: f.rec.ID, Client: f.client}))
	if err != nil {
		return peerErr(f.edge, "plaintext", err)
	}
	defer stream.Close()
	tmp := f.o.Out + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	h := sha256.New()
	lim := newLimiter(f.o.RateLimitBps)
	var n int64
	for stream.Receive() {
		piece := stream.Msg().GetData()
		if n+int64(len(piece)) > f.rec.Size {
			out.Close()
			os.Remove(tmp)
			return fmt.Errorf("%w: %s sends more than the work's %d bytes", content.ErrCorrupt, f.edge.Name, f.rec.Size)
		}
		if !lim.take(ctx, len(piece)) {
			out.Close()
			return ctx.Err()
		}
		h.Write(piece)
		if _, err := out.Write(piece); err != nil {
			out.Close()
			return fmt.Errorf("write %s: %w", tmp, err)
		}
		n += int64(len(piece))
		if f.o.Progress != nil {
			f.o.Progress(n, f.rec.Size)
		}
	}
	if err := stream.Err(); err != nil {
		out.Close()
		return peerErr(f.edge, "plaintext", err)
	}
	f.res.AccessAt = f.c.now()
	if err := out.Close(); err != nil {
		return err
	}
	sum := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if n != f.rec.Size || sum != f.rec.ContentHash {
		os.Remove(tmp)
		return fmt.Errorf("%w: %d bytes hashing to %s from %s, the work is %d bytes registered with %s", content.ErrCorrupt, n, sum, f.edge.Name, f.rec.Size, f.rec.ContentHash)
	}
	if err := os.Rename(tmp, f.o.Out); err != nil {
		return err
	}
	f.res.SHA256, f.res.DecryptedAt = sum, f.res.AccessAt
	return nil
}

// probe measures the download rate from the edge: probes of growing size
// until one takes a second or reaches the largest size.
func (f *fetch) probe(ctx context.Context) (float64, error) {
	size := int64(16 << 10)
	for {
		start := time.Now()
		if err := f.probeOnce(ctx, size); err != nil {
			return 0, peerErr(f.edge, "bandwidth probe", err)
		}
		d := time.Since(start)
		rate := float64(size*8) / d.Seconds()
		if d >= time.Second || size >= wire.MaxProbeBytes {
			return rate, nil
		}
		size = min(size*4, wire.MaxProbeBytes)
	}
}

// probeOnce downloads one probe of size bytes, at this client's rate limit.
func (f *fetch) probeOnce(ctx context.Context, size int64) error {
	stream, err := f.api.Probe(ctx, connect.NewRequest(&foliov1.ProbeRequest{Bytes: size}))
	if err != nil {
		return err
	}
	defer stream.Close()
	lim := newLimiter(f.o.RateLimitBps)
	for stream.Receive() {
		if !lim.take(ctx, len(stream.Msg().GetData())) {
			return ctx.Err()
		}
	}
	return stream.Err()
}
