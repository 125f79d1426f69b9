package release

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/keys"
	"github.com/folio-ledger/folio/internal/release/schedule"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// errCipherIncomplete: this peer does not hold the whole ciphertext yet.
var errCipherIncomplete = errors.New("ciphertext not complete here")

// paceBytes is the size of each paced write of plaintext.
const paceBytes = 16 << 10

// paceMargin is the share of a client's expected transfer time a trusted
// edge starts early: a rate estimate a little above what the link really
// carries would otherwise make the paced send arrive late (0.1% of a
// 24-minute transfer is 1.4 s). The tail is encrypted and its key goes
// out at the target (tailBytes), so starting early cannot make the
// client finish early.
const paceMargin = 0.03

// The held-back tail (docs/release.md, "Early access"): the last
// tailShare of the work, at least tailMin bytes (the whole work when it
// is smaller), travels encrypted under a fresh per-send tail key that
// the edge sends only at the target, never before the release time.
const (
	tailShare = 0.25
	tailMin   = 1 << 20
)

// tailBytes is the size of the encrypted tail of a work of size bytes.
func tailBytes(size int64) int64 {
	return min(max(int64(float64(size)*tailShare), tailMin), size)
}

// plainPiece is one message of a plaintext send: data (plaintext before
// the tail, ciphertext in it), the tail's offset (first message) or the
// tail key (last message, alone).
type plainPiece struct {
	data       []byte
	tailOffset int64
	tailKey    []byte
}

// trustedEdge is this peer's trusted edge role for one release that names
// it: once it has edge-decrypt subscribers it asks the key servers for
// their shares early enough to decrypt before its first staggered send,
// decrypts the ciphertext to its disk and holds the plaintext (run); then
// it sends each edge-decrypt client the plaintext from the client's start
// time, paced so that the last bytes leave at the target, the agreed key
// send time (sendPlaintext).
//
// Lock rules: mu guards the decryption state and the clients' start
// times; it is never held while calling out (notify is a leaf).
type trustedEdge struct {
	env              *env
	rec              *release.Record
	releaseAt, endAt time.Time
	ksIndex          int
	encShare         []byte
	st               *store
	edge             *edge
	watch            *keyWatch
	shares           *shareBox
	changed          *signal

	// opening serialises decryptions (run's and late requests'): one
	// decryption of the ciphertext, not one per waiting client.
	opening sync.Mutex

	mu struct {
		sync.Mutex
		// ready: the plaintext is decrypted and checked (file "plain").
		ready bool
		// err says why it could not decrypt yet, "" when nothing is wrong.
		err string
		// starts is each edge-decrypt client's plaintext start time.
		starts map[string]time.Time
	}
}

func newTrustedEdge(e *env, r *rel, ksIndex int, encShare []byte) *trustedEdge {
	te := &trustedEdge{env: e, rec: &r.rec, releaseAt: r.releaseAt, endAt: r.endAt, ksIndex: ksIndex, encShare: encShare,
		st: r.st, edge: r.edge, watch: r.watch, shares: r.shares, changed: r.changed}
	te.mu.starts = map[string]time.Time{}
	return te
}

// decryptLead is the time a trusted edge reserves to decrypt before its
// first plaintext send: at least 2s, plus the ciphertext at 100 MB/s.
func (te *trustedEdge) decryptLead() time.Duration {
	return 2*time.Second + time.Duration(float64(te.rec.CipherSize)/100e6*float64(time.Second))
}

// target is when edge-decrypt clients should complete: the agreed key
// send time (the release time until one is agreed).
func (te *trustedEdge) target() time.Time { return latest(te.watch.sendAt(), te.releaseAt) }

// plaintextStart is when a trusted edge starts sending size bytes of
// plaintext to a client whose best observed rate is best (bits/s), and
// the rate it paces at: target minus the minimum expected transfer time
// and the margin; at the target itself for naive delivery or an unknown
// rate. The lead is at most maxLead (then paced to fit it).
func plaintextStart(target time.Time, size int64, best float64, naive bool, maxLead time.Duration) (time.Time, float64) {
	if naive {
		return target, 0
	}
	start := schedule.StartAt(target, size, best, 0)
	if best > 0 {
		start = start.Add(-time.Duration(paceMargin*float64(target.Sub(start))) - 100*time.Millisecond)
	}
	if lead := target.Sub(start); lead > maxLead {
		start = target.Add(-maxLead)
		best = float64(size*8) / maxLead.Seconds()
	}
	return start, best
}

// startFor computes (and records, for the client's schedule events) an
// edge-decrypt client's start and pacing rate for target, from the rate
// this edge measured itself (timed probes): never from what the client
// reports, nor from a history under a client name anyone may take. A
// client can make the measurement lower than its link (acknowledging
// slowly), which buys it a longer, slower send of the plaintext part,
// never the tail before the target; without a measurement it starts at
// the target.
func (te *trustedEdge) startFor(v decryptView, target time.Time) (time.Time, float64) {
	start, rate := plaintextStart(target, te.rec.Size, v.measured, v.naive, te.env.o.MaxEdgeLead)
	te.mu.Lock()
	changed := !te.mu.starts[v.client].Equal(start)
	te.mu.starts[v.client] = start
	te.mu.Unlock()
	if changed {
		te.changed.notify()
	}
	return start, rate
}

// startOf is an edge-decrypt client's start time (zero if not computed).
func (te *trustedEdge) startOf(client string) time.Time {
	te.mu.Lock()
	defer te.mu.Unlock()
	return te.mu.starts[client]
}

// state returns whether the plaintext is ready and why not.
func (te *trustedEdge) state() (ready bool, reason string) {
	te.mu.Lock()
	defer te.mu.Unlock()
	return te.mu.ready, te.mu.err
}

func (te *trustedEdge) setErr(msg string) {
	te.mu.Lock()
	changed := te.mu.err != msg
	te.mu.err = msg
	te.mu.Unlock()
	if changed {
		te.changed.notify()
	}
}

// run is the trusted edge's decryption: from its first edge-decrypt
// subscriber it computes every such client's start, and when the
// earliest start minus the decryption time comes, obtains the shares and
// decrypts. It keeps the agreed key send time current (schedule queries,
// when this peer is not a key server) so that the starts follow it. It
// returns once the plaintext is held, at the end time, or when ctx ends.
func (te *trustedEdge) run(ctx context.Context) {
	for ctx.Err() == nil {
		ch := te.changed.C()
		if ready, _ := te.state(); ready || te.env.now().After(te.endAt) {
			return
		}
		target := te.target()
		var lead time.Duration
		n := 0
		for _, v := range te.edge.decryptClients() {
			n++
			start, _ := te.startFor(v, target)
			lead = max(lead, target.Sub(start))
		}
		now := te.env.now()
		next := now.Add(te.env.o.PollInterval)
		if n > 0 {
			open := target.Add(-lead - te.decryptLead())
			if !now.Before(open) {
				err := te.open(ctx, lead+te.decryptLead())
				if err == nil {
					continue
				}
				te.env.log.Info("trusted edge: no plaintext yet", "rid", te.rec.ID, "err", err)
				te.setErr(fmt.Sprintf("trusted edge %s cannot decrypt yet: %v", te.env.name(), err))
				ch = te.changed.C()
				next = te.env.now().Add(500 * time.Millisecond)
			} else {
				next = earliest(next, open)
			}
		}
		// A key server knows the agreed time itself; other peers ask the
		// key servers once they coordinate (CoordLead before T), at this
		// loop's pace: keyWatch.run asks every CoordInterval, but the
		// starts must follow a change as soon as this loop wakes.
		if te.ksIndex == 0 && !te.env.now().Before(te.releaseAt.Add(-te.env.o.CoordLead)) {
			te.watch.query(ctx)
		}
		t := time.NewTimer(max(next.Sub(te.env.now()), 10*time.Millisecond))
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

// open decrypts the ciphertext to the store's "plain" file unless it is
// already held: one decryption at a time (openEarly).
func (te *trustedEdge) open(ctx context.Context, lead time.Duration) error {
	te.opening.Lock()
	defer te.opening.Unlock()
	if ready, _ := te.state(); ready {
		return nil
	}
	return te.openEarly(ctx, lead)
}

// openEarly gets threshold shares (its own share first if it is a key
// server, then the released shares this peer holds once the release time
// has passed, which the key servers pushed to every peer, then early
// shares from the key servers), opens the key and decrypts the
// ciphertext to the store's "plain" file. Released shares were checked
// against the record on arrival (shareBox.accept); they are checked
// again here by OpenKey's commitment, as early ones are.
func (te *trustedEdge) openEarly(ctx context.Context, lead time.Duration) error {
	if !te.st.complete() {
		have, total := te.st.progress()
		return fmt.Errorf("%w (%d of %d chunks)", errCipherIncomplete, have, total)
	}
	shares := map[int][]byte{}
	var mu sync.Mutex
	var errs []string
	if te.ksIndex > 0 {
		if s, err := keys.DecryptShare(te.env.kex, te.rec.ID, te.ksIndex, te.encShare); err == nil {
			shares[te.ksIndex] = s
		}
	}
	if !te.env.now().Before(te.releaseAt) {
		for _, m := range te.shares.statements() {
			if s, err := hex.DecodeString(m.Share); err == nil && keys.CheckShare(te.rec, m.Index, s) == nil {
				shares[m.Index] = s
			}
		}
	}
	if len(shares) >= te.rec.Threshold {
		return te.openWith(shares, lead)
	}
	req := wire.Encode(wire.KeysRequest{Op: wire.OpEarly, RID: te.rec.ID, LeadMS: lead.Milliseconds() + 1})
	var wg sync.WaitGroup
	for _, ks := range te.rec.KeyServers {
		if ks.Index == te.ksIndex {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := te.earlyShareFrom(ctx, ks, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", ks.Name, err))
				return
			}
			shares[ks.Index] = s
		}()
	}
	wg.Wait()
	if len(shares) < te.rec.Threshold {
		return fmt.Errorf("%w: %d of %d from key servers (%v)", keys.ErrTooFewShares, len(shares), te.rec.Threshold, errs)
	}
	return te.openWith(shares, lead)
}

// openWith opens the key from threshold shares and decrypts.
func (te *trustedEdge) openWith(shares map[int][]byte, lead time.Duration) error {
	key, err := keys.OpenKey(te.rec, shares)
	if err != nil {
		return err
	}
	defer clear(key)
	if err := te.decrypt(key); err != nil {
		return fmt.Errorf("decrypt: %w", err)
	}
	te.mu.Lock()
	te.mu.ready, te.mu.err = true, ""
	te.mu.Unlock()
	te.changed.notify()
	te.env.log.Info("trusted edge decrypted the release early; holding the plaintext", "rid", te.rec.ID, "lead", lead)
	return nil
}

// earlyShareFrom asks key server ks for its share early and checks it
// against the commitment.
func (te *trustedEdge) earlyShareFrom(ctx context.Context, ks release.KeyServer, req []byte) ([]byte, error) {
	raw, err := te.env.call(ctx, ks.NodeID, wire.ProtoKeys, req)
	if err != nil {
		return nil, err
	}
	var es wire.EarlyShare
	if err := wire.Decode(raw, &es); err != nil {
		return nil, err
	}
	if es.Index != ks.Index {
		return nil, fmt.Errorf("answered share %d for key server %d", es.Index, ks.Index)
	}
	s, err := hex.DecodeString(es.Share)
	if err != nil {
		return nil, err
	}
	if err := keys.CheckShare(te.rec, es.Index, s); err != nil {
		return nil, err
	}
	return s, nil
}

// decrypt writes the plaintext to the store's "plain" file (through a
// temporary file) and checks its hash against the record.
func (te *trustedEdge) decrypt(key []byte) error {
	m := te.st.manifest()
	in, err := te.st.cipherReader()
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := te.st.path("plain.tmp")
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	sum, err := content.Decrypt(in, out, key, m)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && sum != te.rec.ContentHash {
		err = fmt.Errorf("%w: the plaintext hashes to %s, the release says %s", content.ErrCorrupt, sum, te.rec.ContentHash)
	}
	if err == nil {
		err = os.Rename(tmp, te.st.path("plain"))
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// sendPlaintext sends the work to client, an edge-decrypt subscriber: it
// waits until the plaintext is ready and the client's start time has
// come, then calls send with successive pieces paced at the rate the
// edge measured, the tail encrypted, and last the tail key at the
// target, which is never before the release time. A client without an
// edge-decrypt subscription gets errNotSubscribed.
func (te *trustedEdge) sendPlaintext(ctx context.Context, client string, send func(plainPiece) error) error {
	v, ok := te.edge.beginPlaintext(client)
	if !ok || !v.edgeDecrypt {
		if ok {
			te.edge.endPlaintext(client, te.env.now())
		}
		return fmt.Errorf("%w: %w: %s has no edge-decrypt subscription to release %s; subscribe with edge decryption first", errNotSubscribed, ErrTooEarly, client, te.rec.ID)
	}
	defer func() { te.edge.endPlaintext(client, te.env.now()) }()
	var start time.Time
	var rate float64
	for {
		ch := te.changed.C()
		v, ok := te.edge.decryptClient(client)
		if !ok || !v.edgeDecrypt {
			return fmt.Errorf("%w: %w: %s's subscription to release %s is no longer for edge decryption", errNotSubscribed, ErrTooEarly, client, te.rec.ID)
		}
		start, rate = te.startFor(v, te.target())
		ready, _ := te.state()
		now := te.env.now()
		if !ready && now.After(te.endAt) {
			// run has ended (it decrypts only until the end time): a client
			// that comes later has the plaintext opened for it now, from
			// the released shares; what fails is its error, not a wait
			// that never ends. Ciphertext still arriving (the fetcher never
			// stops) is waited for.
			err := te.open(ctx, 0)
			if err == nil {
				continue
			}
			if !errors.Is(err, errCipherIncomplete) {
				return fmt.Errorf("trusted edge %s cannot decrypt release %s: %w", te.env.name(), te.rec.ID, err)
			}
		}
		if ready && !now.Before(start) && !now.Before(te.releaseAt.Add(-te.env.o.MaxEdgeLead)) {
			break
		}
		wait := time.Second
		if ready {
			wait = min(wait, start.Sub(now))
		}
		if err := waitChange(ctx, ch, wait); err != nil {
			return err
		}
	}
	f, err := os.Open(te.st.path("plain"))
	if err != nil {
		return err
	}
	defer f.Close()
	return te.pace(ctx, f, start, rate, send)
}

// pace sends the work read from f piece by piece at rate from start:
// the plaintext up to the tail, then the tail encrypted under a fresh
// key (AES-256-CTR, zero IV: the key serves this one send), and the key
// alone once the target and the release time have passed by this edge's
// clock and the clock agrees with its peers'. However early the start
// and however fast the client reads, it holds no byte of the tail in
// clear before then.
func (te *trustedEdge) pace(ctx context.Context, f io.Reader, start time.Time, rate float64, send func(plainPiece) error) error {
	pacer := schedule.Pacer{Start: start, RateBps: rate}
	size := te.rec.Size
	tailAt := size - tailBytes(size)
	key := make([]byte, wire.TailKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("tail key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("tail key: %w", err)
	}
	ctr := cipher.NewCTR(block, make([]byte, aes.BlockSize))
	buf := make([]byte, paceBytes)
	var sent int64
	for sent < size {
		n, err := io.ReadFull(f, buf[:min(int64(len(buf)), size-sent)])
		if err != nil {
			return fmt.Errorf("read plaintext: %w", err)
		}
		if end := sent + int64(n); end > tailAt {
			lo := max(tailAt-sent, 0)
			ctr.XORKeyStream(buf[lo:n], buf[lo:n])
		}
		if !te.env.sleepUntil(ctx, pacer.NotBefore(sent+int64(n))) {
			return ctx.Err()
		}
		p := plainPiece{data: buf[:n]}
		if sent == 0 {
			p.tailOffset = tailAt
		}
		if err := send(p); err != nil {
			return err
		}
		sent += int64(n)
	}
	if size == 0 {
		if err := send(plainPiece{tailOffset: tailAt}); err != nil {
			return err
		}
	}
	if err := te.awaitKeyTime(ctx); err != nil {
		return err
	}
	return send(plainPiece{tailKey: key})
}

// awaitKeyTime waits until the target (which may move while waiting) and
// the release time have passed by this edge's clock, and the clock
// agrees with its peers' (a skewed edge holds the tail key as it holds
// shares back).
func (te *trustedEdge) awaitKeyTime(ctx context.Context) error {
	for {
		ch := te.changed.C()
		now := te.env.now()
		at := latest(te.target(), te.releaseAt)
		_, skewOK, _ := te.env.clock.skew()
		if !now.Before(at) && skewOK {
			return nil
		}
		wait := at.Sub(now)
		if !now.Before(at) {
			wait = 500 * time.Millisecond // the clock disagrees: look again
		}
		if err := waitChange(ctx, ch, wait); err != nil {
			return err
		}
	}
}

// waitChange waits until wait (at least 1 ms) has passed, ch is closed (a
// change of the release) or ctx ends (its error).
func waitChange(ctx context.Context, ch <-chan struct{}, wait time.Duration) error {
	t := time.NewTimer(max(wait, time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-ch:
	case <-t.C:
	}
	return nil
}
