package release

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/keys"
	"github.com/folio-ledger/folio/internal/release/schedule"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// paceBytes is the size of each paced write of plaintext.
const paceBytes = 16 << 10

// decryptLead is the time a trusted edge reserves to decrypt before its
// first plaintext send: at least 2s, plus the ciphertext at 100 MB/s.
func (r *rel) decryptLead() time.Duration {
	return 2*time.Second + time.Duration(float64(r.rec.CipherSize)/100e6*float64(time.Second))
}

// runTrustedEdge is a trusted edge's work for one release: once it has
// edge-decrypt subscribers, it asks the key servers for their shares early
// enough to decrypt before the first of its staggered sends (the largest
// minimum expected transfer time among its clients, plus the decryption
// time), checks the key against the commitment, decrypts the ciphertext
// to its disk and holds the plaintext. It keeps the agreed key send time
// current (schedule queries) so that the staggered starts follow it.
func (r *rel) runTrustedEdge(ctx context.Context) {
	for ctx.Err() == nil {
		r.mu.Lock()
		ready := r.mu.plainReady
		var lead time.Duration
		n := 0
		target := r.targetLocked()
		for _, sb := range r.mu.subs {
			if !sb.edgeDecrypt {
				continue
			}
			n++
			start, _ := r.startForLocked(sb)
			sb.startAt = start
			lead = max(lead, target.Sub(start))
		}
		ch := r.mu.changed
		r.mu.Unlock()
		if ready || r.p.now().After(r.endAt) {
			return
		}
		next := r.p.now().Add(r.p.o.PollInterval)
		if n > 0 {
			open := target.Add(-lead - r.decryptLead())
			if !r.p.now().Before(open) {
				if err := r.openEarly(ctx, lead+r.decryptLead()); err != nil {
					msg := fmt.Sprintf("trusted edge %s cannot decrypt yet: %v", r.p.name(), err)
					r.mu.Lock()
					if r.mu.plainErr != msg {
						r.p.log.Info("trusted edge: no plaintext yet", "rid", r.rec.ID, "err", err)
						r.mu.plainErr = msg
						r.notifyLocked()
					}
					ch = r.mu.changed
					r.mu.Unlock()
					next = r.p.now().Add(500 * time.Millisecond)
				} else {
					continue
				}
			} else {
				next = earliest(next, open)
			}
		}
		if r.ksIndex > 0 || !r.p.now().Before(r.releaseAt.Add(-r.p.o.CoordLead)) {
			// Non key servers learn the agreed time from the key servers
			// (runScheduleWatch does too; the trusted edge needs it early).
			if r.ksIndex == 0 {
				r.querySchedules(ctx)
			}
		}
		t := time.NewTimer(max(next.Sub(r.p.now()), 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-ch:
			t.Stop()
		case <-t.C:
		}
	}
}

// openEarly gets threshold shares from the key servers (its own share
// first if it is one), opens the key and decrypts the ciphertext.
func (r *rel) openEarly(ctx context.Context, lead time.Duration) error {
	if !r.st.complete() {
		have, total := r.st.progress()
		return fmt.Errorf("ciphertext not complete here (%d of %d chunks)", have, total)
	}
	shares := map[int][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []string
	if r.ksIndex > 0 {
		s, err := keys.DecryptShare(r.p.kex, r.rec.ID, r.ksIndex, r.encShare)
		if err == nil {
			shares[r.ksIndex] = s
		}
	}
	for _, ks := range r.rec.KeyServers {
		if ks.Index == r.ksIndex {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := r.p.call(ctx, ks.NodeID, wire.ProtoKeys, wire.Encode(wire.KeysRequest{Op: wire.OpEarly, RID: r.rec.ID, LeadMS: lead.Milliseconds() + 1}))
			var es wire.EarlyShare
			if err == nil {
				err = wire.Decode(raw, &es)
			}
			var s []byte
			if err == nil {
				s, err = hex.DecodeString(es.Share)
			}
			if err == nil && es.Index != ks.Index {
				err = fmt.Errorf("answered share %d for key server %d", es.Index, ks.Index)
			}
			if err == nil {
				err = keys.CheckShare(&r.rec, es.Index, s)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", ks.Name, err))
				return
			}
			shares[es.Index] = s
		}()
	}
	wg.Wait()
	if len(shares) < r.rec.Threshold {
		return fmt.Errorf("%w: %d of %d from key servers (%v)", keys.ErrTooFewShares, len(shares), r.rec.Threshold, errs)
	}
	key, err := keys.OpenKey(&r.rec, shares)
	if err != nil {
		return err
	}
	m := r.st.manifest()
	in, err := r.st.cipherReader()
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := r.st.path("plain.tmp")
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	sum, err := content.Decrypt(in, out, key, m)
	clear(key)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && sum != r.rec.ContentHash {
		err = fmt.Errorf("%w: the plaintext hashes to %s, the release says %s", content.ErrCorrupt, sum, r.rec.ContentHash)
	}
	if err == nil {
		err = os.Rename(tmp, r.st.path("plain"))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("decrypt: %w", err)
	}
	r.mu.Lock()
	r.mu.plainReady, r.mu.plainErr = true, ""
	r.notifyLocked()
	r.mu.Unlock()
	r.p.log.Info("trusted edge decrypted the release early; holding the plaintext", "rid", r.rec.ID, "lead", lead)
	return nil
}

// tailBytes is how much of the plaintext a trusted edge holds back until
// the target: about 50 ms at the client's rate, 256 bytes to 16 KiB.
func tailBytes(rateBps float64, size int64) int64 {
	t := int64(rateBps / 8 * 0.05)
	return min(max(t, 256), paceBytes, size)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// handlePlaintext sends the plaintext to an edge-decrypt client of a
// trusted edge: it holds the request until the client's start time
// (target minus its minimum expected transfer time and a margin), then
// sends paced at that client's best rate, holding the last bytes until the
// target, which is never before the release time. A client that has
// not subscribed for edge decryption gets nothing.
func (p *Peer) handlePlaintext(w http.ResponseWriter, req *http.Request) {
	label, ok := p.caller(w, req)
	if !ok {
		return
	}
	r, ok := p.relOf(w, req, false)
	if !ok {
		return
	}
	client := req.URL.Query().Get("client")
	if !ownsClientName(label, client) {
		httpError(w, http.StatusForbidden, "%s may not fetch plaintext for %q", label, client)
		return
	}
	if !r.trusted {
		httpError(w, http.StatusForbidden, "%s is not a trusted edge of release %s: it never holds plaintext", p.name(), r.rec.ID)
		return
	}
	r.mu.Lock()
	sb := r.mu.subs[client]
	if sb == nil || !sb.edgeDecrypt {
		r.mu.Unlock()
		httpError(w, http.StatusConflict, "%v: %s has no edge-decrypt subscription to release %s; subscribe with edge decryption first", ErrTooEarly, client, r.rec.ID)
		return
	}
	// An open plaintext request keeps the subscription from expiring.
	sb.plain++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		sb.plain--
		r.leaveLocked(sb, p.now())
		r.mu.Unlock()
	}()
	var start time.Time
	var rate float64
	for {
		r.mu.Lock()
		if !sb.edgeDecrypt {
			r.mu.Unlock()
			httpError(w, http.StatusConflict, "%v: %s's subscription to release %s is no longer for edge decryption", ErrTooEarly, client, r.rec.ID)
			return
		}
		start, rate = r.startForLocked(sb)
		sb.startAt = start
		ready := r.mu.plainReady
		ch := r.mu.changed
		r.mu.Unlock()
		now := p.now()
		if ready && !now.Before(start) && !now.Before(r.releaseAt.Add(-p.o.MaxEdgeLead)) {
			break
		}
		wait := time.Second
		if ready {
			wait = min(wait, start.Sub(now))
		}
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-req.Context().Done():
			t.Stop()
			return
		case <-ch:
			t.Stop()
		case <-t.C:
		}
	}
	f, err := os.Open(r.st.path("plain"))
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(r.rec.Size, 10))
	w.Header().Set("X-Folio-Start", p.now().UTC().Format(time.RFC3339Nano))
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	pacer := schedule.Pacer{Start: start, RateBps: rate}
	// The last tail bytes leave at the target, never before: whatever the
	// start and the client's real rate, it cannot finish early.
	r.mu.Lock()
	target := r.targetLocked()
	r.mu.Unlock()
	tail := tailBytes(rate, r.rec.Size)
	buf := make([]byte, paceBytes)
	var sent int64
	for sent < r.rec.Size {
		want := int64(len(buf))
		if left := r.rec.Size - tail - sent; left > 0 {
			want = min(want, left)
		}
		n, err := f.Read(buf[:want])
		if n == 0 && err != nil {
			return
		}
		at := pacer.NotBefore(sent + int64(n))
		if sent+int64(n) > r.rec.Size-tail {
			at = maxTime(at, target)
		}
		if !r.sleepUntil(req.Context(), at) {
			return
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		sent += int64(n)
	}
}
