package release

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// edgeDecrypt receives the work from a trusted edge: once subscribed, it
// downloads probes the edge times itself (the edge paces the plaintext
// at the rate it measured, not at any rate this client states), then
// asks for the work; the edge holds the request until this client's
// staggered start, sends the plaintext up to the held-back tail and the
// tail encrypted, and the tail key at the key send time. The work is
// accessible when the tail key arrives.
func (f *fetch) edgeDecrypt(ctx context.Context) error {
	// The subscription must be registered before a timed probe or
	// progress is accepted (failed_precondition until the subscribe
	// stream is open).
	if err := f.awaitSubscribed(ctx); err != nil {
		return err
	}
	if err := f.probe(ctx); err != nil {
		return err
	}
	stream, err := f.api.GetPlaintext(ctx, connect.NewRequest(&foliov1.GetPlaintextRequest{ReleaseId: f.rec.ID, Client: f.client}))
	if err != nil {
		return peerErr(f.edge, "plaintext", err)
	}
	defer stream.Close()
	tmp := f.o.Out + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		out.Close()
		os.Remove(tmp)
		return err
	}
	h := sha256.New()
	lim := newLimiter(f.o.RateLimitBps)
	var n int64
	tailAt := int64(-1)
	var key []byte
	for key == nil && stream.Receive() {
		m := stream.Msg()
		if err := wire.ValidatePlaintextPiece(m, f.rec.Size); err != nil {
			return fail(fmt.Errorf("%w: %s: %v", content.ErrCorrupt, f.edge.Name, err))
		}
		if tailAt < 0 {
			tailAt = m.GetTailOffset()
		}
		if k := m.GetTailKey(); k != nil {
			key = k
			f.res.AccessAt = f.c.now()
			break
		}
		piece := m.GetData()
		if n+int64(len(piece)) > f.rec.Size {
			return fail(fmt.Errorf("%w: %s sends more than the work's %d bytes", content.ErrCorrupt, f.edge.Name, f.rec.Size))
		}
		if !lim.take(ctx, len(piece)) {
			return fail(ctx.Err())
		}
		if plain := min(max(tailAt-n, 0), int64(len(piece))); plain > 0 {
			h.Write(piece[:plain])
		}
		if _, err := out.Write(piece); err != nil {
			return fail(fmt.Errorf("write %s: %w", tmp, err))
		}
		n += int64(len(piece))
		if f.o.Progress != nil {
			f.o.Progress(n, f.rec.Size)
		}
	}
	if err := stream.Err(); err != nil {
		return fail(peerErr(f.edge, "plaintext", err))
	}
	if key == nil || n != f.rec.Size {
		f.res.AccessAt = time.Time{}
		return fail(fmt.Errorf("%w: %s ended the send after %d of %d bytes without the tail key", content.ErrCorrupt, f.edge.Name, n, f.rec.Size))
	}
	if err := openTail(out, tailAt, n, key, h); err != nil {
		return fail(fmt.Errorf("open the tail of %s: %w", tmp, err))
	}
	if err := out.Close(); err != nil {
		return fail(err)
	}
	sum := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if sum != f.rec.ContentHash {
		os.Remove(tmp)
		return fmt.Errorf("%w: %d bytes hashing to %s from %s, the work is %d bytes registered with %s", content.ErrCorrupt, n, sum, f.edge.Name, f.rec.Size, f.rec.ContentHash)
	}
	if err := os.Rename(tmp, f.o.Out); err != nil {
		return err
	}
	f.res.SHA256, f.res.DecryptedAt = sum, f.c.now()
	return nil
}

// openTail decrypts the tail of file (from tailAt to size) in place
// under key (AES-256-CTR, zero IV) and hashes it into h.
func openTail(file *os.File, tailAt, size int64, key []byte, h io.Writer) error {
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	ctr := cipher.NewCTR(block, make([]byte, aes.BlockSize))
	buf := make([]byte, 1<<20)
	for off := tailAt; off < size; {
		k := min(int64(len(buf)), size-off)
		if _, err := file.ReadAt(buf[:k], off); err != nil {
			return err
		}
		ctr.XORKeyStream(buf[:k], buf[:k])
		h.Write(buf[:k])
		if _, err := file.WriteAt(buf[:k], off); err != nil {
			return err
		}
		off += k
	}
	return nil
}

// awaitSubscribed waits until the edge knows this client's subscription
// (an empty progress report is accepted).
func (f *fetch) awaitSubscribed(ctx context.Context) error {
	progress := &foliov1.ReportProgressRequest{ReleaseId: f.rec.ID, Client: f.client}
	for {
		_, err := f.api.ReportProgress(ctx, connect.NewRequest(progress))
		if err == nil {
			return nil
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
}

// probe downloads timed probes of growing size from the edge, each
// acknowledged as soon as it is complete, until one takes a second
// (after at least two: the edge compares them, which cancels the round
// trip and a shaper's burst) or the largest size is reached: the edge
// measures this client's rate from them (first byte to
// acknowledgement); this client's own timing only decides when to stop.
func (f *fetch) probe(ctx context.Context) error {
	size := int64(16 << 10)
	for n := 1; ; n++ {
		start := time.Now()
		id, err := f.probeOnce(ctx, size)
		if err != nil {
			return peerErr(f.edge, "bandwidth probe", err)
		}
		if id > 0 {
			if _, err := f.api.ReportProgress(ctx, connect.NewRequest(&foliov1.ReportProgressRequest{ReleaseId: f.rec.ID, Client: f.client, ProbeAck: id})); err != nil {
				return peerErr(f.edge, "probe acknowledgement", err)
			}
		}
		if time.Since(start) >= time.Second && n >= 2 || size >= wire.MaxProbeBytes {
			return nil
		}
		size = min(size*4, wire.MaxProbeBytes)
	}
}

// probeOnce downloads one timed probe of size bytes, at this client's
// rate limit, and returns its ID.
func (f *fetch) probeOnce(ctx context.Context, size int64) (int64, error) {
	stream, err := f.api.Probe(ctx, connect.NewRequest(&foliov1.ProbeRequest{Bytes: size, ReleaseId: f.rec.ID, Client: f.client}))
	if err != nil {
		return 0, err
	}
	defer stream.Close()
	lim := newLimiter(f.o.RateLimitBps)
	var id, got int64
	for stream.Receive() {
		m := stream.Msg()
		if id == 0 {
			id = m.GetProbeId()
		}
		got += int64(len(m.GetData()))
		if !lim.take(ctx, len(m.GetData())) {
			return 0, ctx.Err()
		}
	}
	if err := stream.Err(); err != nil {
		return 0, err
	}
	if got != size || id < 0 {
		return 0, errors.New("the probe was cut short")
	}
	return id, nil
}
