package release

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// call sends one request of a protocol to a peer and parses the status.
func (p *Peer) call(ctx context.Context, nodeID, proto string, req []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.o.CallTimeout)
	defer cancel()
	reply, err := p.o.Host.Call(ctx, nodeID, proto, req)
	if err != nil {
		return nil, err
	}
	return wire.ParseReply(reply)
}

// sources orders the peers to fetch from: the origin first, then the
// others in random order.
func (r *rel) sources() []peerInfo {
	var out []peerInfo
	var rest []peerInfo
	for _, x := range r.p.peers {
		if x.Name == r.rec.Origin {
			out = append(out, x)
		} else {
			rest = append(rest, x)
		}
	}
	rand.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	return append(out, rest...)
}

// runFetcher brings the release's ciphertext to this peer: the manifest
// (checked against the chunk root on chain), then every missing chunk,
// FetchWorkers at a time, from the origin and the other peers that hold
// it, each checked against the manifest before it is stored. A chunk that
// fails the check is refused and fetched from another peer. Progress is
// on disk, so a restarted peer resumes where it stopped.
func (r *rel) runFetcher(ctx context.Context) {
	backoff := 200 * time.Millisecond
	announced := false
	for ctx.Err() == nil {
		if r.st.complete() {
			r.setFetchErr("")
			r.notify()
			if r.isOrigin && !announced {
				announced = true
				r.announce(ctx)
			}
			// Stay alive to heal chunks damaged on disk.
			select {
			case <-ctx.Done():
				return
			case <-r.waitCh():
			}
			continue
		}
		err := r.fetchPass(ctx)
		if err == nil {
			backoff = 200 * time.Millisecond
			continue
		}
		if ctx.Err() != nil {
			return
		}
		r.setFetchErr(err.Error())
		r.p.log.Debug("fetch pass", "rid", r.rec.ID, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		case <-r.waitCh(): // an upload or announcement may have changed things
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (r *rel) setFetchErr(s string) {
	r.mu.Lock()
	r.mu.fetchErr = s
	r.mu.Unlock()
}

// announce tells every peer the release exists (they also find it by
// polling the chain).
func (r *rel) announce(ctx context.Context) {
	var wg sync.WaitGroup
	for _, x := range r.p.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = r.p.call(ctx, x.NodeID, wire.ProtoContent, wire.Encode(wire.ContentRequest{Op: wire.OpAnnounce, RID: r.rec.ID}))
		}()
	}
	wg.Wait()
}

var errNoSource = errors.New("no peer holds the missing chunks yet")

// fetchPass gets the manifest if needed and one round of missing chunks.
func (r *rel) fetchPass(ctx context.Context) error {
	if r.st.manifest() == nil {
		if err := r.fetchManifest(ctx); err != nil {
			return err
		}
	}
	missing := r.st.missing()
	if len(missing) == 0 {
		return nil
	}
	// Who holds what.
	type src struct {
		peer peerInfo
		have []byte
	}
	var mu sync.Mutex
	var srcs []src
	var wg sync.WaitGroup
	for _, x := range r.sources() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bm, err := r.p.call(ctx, x.NodeID, wire.ProtoContent, wire.Encode(wire.ContentRequest{Op: wire.OpHave, RID: r.rec.ID}))
			if err == nil && len(bm) > 0 {
				mu.Lock()
				srcs = append(srcs, src{x, bm})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	holds := func(s src, i int64) bool { return i/8 < int64(len(s.have)) && s.have[i/8]&(1<<(i%8)) != 0 }
	work := make(chan int64)
	var firstErr error
	var got int
	workers := min(r.p.o.FetchWorkers, len(missing))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				var cands []src
				for _, s := range srcs {
					if holds(s, i) {
						cands = append(cands, s)
					}
				}
				if len(cands) == 0 {
					continue
				}
				off := rand.IntN(len(cands))
				for k := range cands {
					s := cands[(off+k)%len(cands)]
					err := r.fetchChunk(ctx, s.peer, i)
					if err == nil {
						mu.Lock()
						got++
						mu.Unlock()
						break
					}
					if errors.Is(err, content.ErrCorrupt) {
						continue // refused; try another peer
					}
					if !errors.Is(err, errTransient) {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						break
					}
				}
			}
		}()
	}
	for _, i := range missing {
		select {
		case work <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
	}
	close(work)
	wg.Wait()
	r.notify()
	if firstErr != nil {
		return firstErr
	}
	if got == 0 {
		return errNoSource
	}
	return nil
}

var errTransient = errors.New("transient")

// fetchChunk gets chunk i from a peer and stores it; a chunk that does not
// match the manifest is refused (content.ErrCorrupt), a chunk that cannot
// be written (disk full) is a plain error.
func (r *rel) fetchChunk(ctx context.Context, from peerInfo, i int64) error {
	data, err := r.p.call(ctx, from.NodeID, wire.ProtoContent, wire.Encode(wire.ContentRequest{Op: wire.OpChunk, RID: r.rec.ID, Index: i}))
	if err != nil {
		return fmt.Errorf("%w: chunk %d from %s: %v", errTransient, i, from.Name, err)
	}
	if err := r.st.putChunk(i, data); err != nil {
		if errors.Is(err, content.ErrCorrupt) {
			r.p.log.Warn("refused a tampered chunk; fetching it again elsewhere", "rid", r.rec.ID, "chunk", i, "from", from.Name, "err", err)
			r.mu.Lock()
			r.mu.rejected++
			r.mu.Unlock()
			return err
		}
		return fmt.Errorf("cannot store chunk %d: %w", i, err)
	}
	return nil
}

// fetchManifest gets the manifest from any peer and checks it against the
// record on chain.
func (r *rel) fetchManifest(ctx context.Context) error {
	for _, x := range r.sources() {
		raw, err := r.p.call(ctx, x.NodeID, wire.ProtoContent, wire.Encode(wire.ContentRequest{Op: wire.OpManifest, RID: r.rec.ID}))
		if err != nil {
			continue
		}
		var m content.Manifest
		if err := m.UnmarshalBinary(raw); err != nil {
			r.p.log.Warn("refused a malformed manifest", "rid", r.rec.ID, "from", x.Name, "err", err)
			continue
		}
		if err := m.CheckRecord(&r.rec); err != nil {
			r.p.log.Warn("refused a manifest that does not match the chain", "rid", r.rec.ID, "from", x.Name, "err", err)
			continue
		}
		if err := r.st.setManifest(&m, true); err != nil {
			return fmt.Errorf("store manifest: %w", err)
		}
		r.notify()
		return nil
	}
	return errors.New("no peer has the manifest yet")
}
