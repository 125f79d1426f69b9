package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// edgeDecrypt receives the plaintext from a trusted edge: it measures its
// download rate with probes (the edge's estimate of its transfer time),
// then asks for the plaintext; the edge holds the request until this
// client's staggered start and paces the send so that it completes at the
// key send time.
func (f *fetch) edgeDecrypt(ctx context.Context, kick chan<- struct{}) error {
	rate, err := f.probe(ctx)
	if err != nil {
		return err
	}
	// The subscription must be registered before progress is accepted.
	for {
		err := f.c.do(ctx, f.edge, "POST", "/release/v1/releases/"+f.rec.ID+"/progress",
			mustJSON(wire.Progress{Client: f.client, RateBps: rate}), nil)
		if err == nil {
			break
		}
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != 409 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	resp, err := f.c.send(ctx, f.edge, "GET", "/release/v1/releases/"+f.rec.ID+"/plaintext?client="+f.client, nil)
	if err != nil {
		return fmt.Errorf("plaintext from %s: %w", f.edge.Name, err)
	}
	defer resp.Body.Close()
	tmp := f.o.Out + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	h := sha256.New()
	lim := newLimiter(f.o.RateLimitBps)
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, rerr := resp.Body.Read(buf)
		if k > 0 {
			if !lim.take(ctx, k) {
				out.Close()
				return ctx.Err()
			}
			h.Write(buf[:k])
			if _, err := out.Write(buf[:k]); err != nil {
				out.Close()
				return fmt.Errorf("write %s: %w", tmp, err)
			}
			n += int64(k)
			if f.o.Progress != nil {
				f.o.Progress(n, f.rec.Size)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			out.Close()
			return fmt.Errorf("plaintext from %s: %w", f.edge.Name, rerr)
		}
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
	size := 16 << 10
	var rate float64
	for {
		start := time.Now()
		resp, err := f.c.send(ctx, f.edge, "GET", "/release/v1/probe?bytes="+strconv.Itoa(size), nil)
		if err != nil {
			return 0, fmt.Errorf("bandwidth probe: %w", err)
		}
		lim := newLimiter(f.o.RateLimitBps)
		buf := make([]byte, 32<<10)
		for err == nil {
			var k int
			k, err = resp.Body.Read(buf)
			if k > 0 && !lim.take(ctx, k) {
				err = ctx.Err()
			}
		}
		if err == io.EOF {
			err = nil
		}
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("bandwidth probe: %w", err)
		}
		d := time.Since(start)
		rate = float64(size*8) / d.Seconds()
		if d >= time.Second || size >= 4<<20 {
			return rate, nil
		}
		size *= 4
		if size > 4<<20 {
			size = 4 << 20
		}
	}
}
