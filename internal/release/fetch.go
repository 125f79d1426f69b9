package release

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// fetcher brings one release's ciphertext to this peer's store: the
// manifest (checked against the chunk root on chain), then every missing
// chunk, FetchWorkers at a time, from the origin and the other peers that
// hold it, each checked against the manifest before it is stored. A
// chunk that fails the check is refused, counted and fetched from another
// peer. Progress is on disk, so a restarted peer resumes where it
// stopped. On the origin it announces the release once the ciphertext is
// complete.
//
// Lock rules: mu guards the error and the count of refused chunks (read
// by status); the store guards itself.
type fetcher struct {
	env      *env
	rec      *release.Record
	st       *store
	changed  *signal
	isOrigin bool

	mu struct {
		sync.Mutex
		err      string
		rejected int64
	}
}

func newFetcher(e *env, r *rel) *fetcher {
	return &fetcher{env: e, rec: &r.rec, st: r.st, changed: r.changed, isOrigin: r.isOrigin}
}

// status returns why fetching does not progress ("" when nothing is
// wrong) and how many chunks were refused.
func (f *fetcher) status() (err string, rejected int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.err, f.mu.rejected
}

func (f *fetcher) setErr(s string) {
	f.mu.Lock()
	f.mu.err = s
	f.mu.Unlock()
}

// run fetches until ctx ends; once the ciphertext is complete it stays,
// waiting for changes, to heal chunks found damaged on disk.
func (f *fetcher) run(ctx context.Context) {
	backoff := 200 * time.Millisecond
	announced := false
	for ctx.Err() == nil {
		ch := f.changed.C()
		if f.st.complete() {
			f.setErr("")
			if f.isOrigin && !announced {
				announced = true
				f.announce(ctx)
			}
			select {
			case <-ctx.Done():
				return
			case <-ch:
			}
			continue
		}
		err := f.pass(ctx)
		if err == nil {
			backoff = 200 * time.Millisecond
			continue
		}
		if ctx.Err() != nil {
			return
		}
		f.setErr(err.Error())
		f.env.log.Debug("fetch pass", "rid", f.rec.ID, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-ch: // an upload or announcement may have changed things
			t.Stop()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// announce tells every peer the release exists (they also find it by
// polling the chain).
func (f *fetcher) announce(ctx context.Context) {
	req := wire.Encode(wire.ContentRequest{Op: wire.OpAnnounce, RID: f.rec.ID})
	var wg sync.WaitGroup
	for _, x := range f.env.peers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = f.env.call(ctx, x.NodeID, wire.ProtoContent, req)
		}()
	}
	wg.Wait()
}

var (
	errNoSource = errors.New("no peer holds the missing chunks yet")
	// errTransient: a chunk could not be had from one peer now; another
	// may have it.
	errTransient = errors.New("transient")
)

// source is a peer with the bitmap of the chunks it holds.
type source struct {
	peer peerInfo
	have []byte
}

func (s source) holds(i int64) bool { return i/8 < int64(len(s.have)) && s.have[i/8]&(1<<(i%8)) != 0 }

// pass gets the manifest if needed and one round of the missing chunks.
func (f *fetcher) pass(ctx context.Context) error {
	if f.st.manifest() == nil {
		if err := f.fetchManifest(ctx); err != nil {
			return err
		}
	}
	missing := f.st.missing()
	if len(missing) == 0 {
		return nil
	}
	srcs := f.holders(ctx)
	work := make(chan int64)
	var mu sync.Mutex
	var firstErr error
	got := 0
	var wg sync.WaitGroup
	for range min(f.env.o.FetchWorkers, len(missing)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				ok, err := f.fetchFromAny(ctx, srcs, i)
				mu.Lock()
				if ok {
					got++
				}
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, i := range missing {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
		select {
		case work <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	f.changed.notify()
	if firstErr != nil {
		return firstErr
	}
	if got == 0 {
		return errNoSource
	}
	return nil
}

// holders asks every peer which chunks it holds.
func (f *fetcher) holders(ctx context.Context) []source {
	req := wire.Encode(wire.ContentRequest{Op: wire.OpHave, RID: f.rec.ID})
	var mu sync.Mutex
	var srcs []source
	var wg sync.WaitGroup
	for _, x := range f.env.sourcesFor(f.rec.Origin) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bm, err := f.env.call(ctx, x.NodeID, wire.ProtoContent, req)
			if err == nil && len(bm) > 0 {
				mu.Lock()
				srcs = append(srcs, source{x, bm})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return srcs
}

// fetchFromAny fetches chunk i from the sources that hold it, starting
// at a random one: ok when stored; a non-nil error stops the pass (the
// chunk could not be stored here, e.g. the disk is full).
func (f *fetcher) fetchFromAny(ctx context.Context, srcs []source, i int64) (bool, error) {
	var cands []source
	for _, s := range srcs {
		if s.holds(i) {
			cands = append(cands, s)
		}
	}
	if len(cands) == 0 {
		return false, nil
	}
	off := rand.IntN(len(cands))
	for k := range cands {
		err := f.fetchChunk(ctx, cands[(off+k)%len(cands)].peer, i)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, content.ErrCorrupt), errors.Is(err, errTransient):
			continue // refused or unavailable there; try another peer
		default:
			return false, err
		}
	}
	return false, nil
}

// fetchChunk gets chunk i from a peer and stores it; a chunk that does not
// match the manifest is refused (content.ErrCorrupt), a chunk that cannot
// be written (disk full) is a plain error.
func (f *fetcher) fetchChunk(ctx context.Context, from peerInfo, i int64) error {
	data, err := f.env.call(ctx, from.NodeID, wire.ProtoContent, wire.Encode(wire.ContentRequest{Op: wire.OpChunk, RID: f.rec.ID, Index: i}))
	if err != nil {
		return fmt.Errorf("%w: chunk %d from %s: %v", errTransient, i, from.Name, err)
	}
	if err := f.st.putChunk(i, data); err != nil {
		if errors.Is(err, content.ErrCorrupt) {
			f.env.log.Warn("refused a tampered chunk; fetching it again elsewhere", "rid", f.rec.ID, "chunk", i, "from", from.Name, "err", err)
			f.mu.Lock()
			f.mu.rejected++
			f.mu.Unlock()
			return err
		}
		return fmt.Errorf("cannot store chunk %d: %w", i, err)
	}
	return nil
}

// fetchManifest gets the manifest from any peer and checks it against the
// record on chain.
func (f *fetcher) fetchManifest(ctx context.Context) error {
	req := wire.Encode(wire.ContentRequest{Op: wire.OpManifest, RID: f.rec.ID})
	for _, x := range f.env.sourcesFor(f.rec.Origin) {
		raw, err := f.env.call(ctx, x.NodeID, wire.ProtoContent, req)
		if err != nil {
			continue
		}
		var m content.Manifest
		if err := m.UnmarshalBinary(raw); err != nil {
			f.env.log.Warn("refused a malformed manifest", "rid", f.rec.ID, "from", x.Name, "err", err)
			continue
		}
		if err := m.CheckRecord(f.rec); err != nil {
			f.env.log.Warn("refused a manifest that does not match the chain", "rid", f.rec.ID, "from", x.Name, "err", err)
			continue
		}
		if err := f.st.setManifest(&m, true); err != nil {
			return fmt.Errorf("store manifest: %w", err)
		}
		f.changed.notify()
		return nil
	}
	return errors.New("no peer has the manifest yet")
}
