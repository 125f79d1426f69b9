package index

import (
	"context"
	"errors"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/explorer"
)

// Status is how the index's feed is doing, for the web page's banner.
type Status = explorer.SourceStatus

// Status returns the feed's state (SourceStatus).
func (ix *Index) Status() Status { return ix.SourceStatus() }

// SourceStatus returns the feed's state, with the state of each peer when
// the source Run follows reports them (PeerReporter).
func (ix *Index) SourceStatus() explorer.SourceStatus {
	ix.mu.Lock()
	st, src := ix.mu.status, ix.mu.src
	ix.mu.Unlock()
	if pr, ok := src.(PeerReporter); ok {
		st.Peers = pr.PeerStatus()
	}
	return st
}

var _ explorer.SourceReporter = (*Index)(nil)

// PeerReporter is implemented by sources that read from several peers and
// can say how each did (PeerSource).
type PeerReporter interface{ PeerStatus() []explorer.PeerStatus }

// Named is implemented by sources that can say where they read from.
type Named interface{ Name() string }

// Backoff bounds of Run's retries.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// Run catches up from the index's height and follows the source until ctx
// ends, then returns ctx's error. Source errors never stop it: it logs
// them, shows them in Status and retries with exponential backoff (reset
// whenever a block arrives). An error of the index itself (a full disk, a
// corrupted store) stops it.
func (ix *Index) Run(ctx context.Context, src explorer.BlockSource) error {
	backoff := minBackoff
	ix.mu.Lock()
	ix.mu.src = src
	ix.mu.Unlock()
	for {
		ix.setStatus(func(s *Status) {
			s.Following = true
			if n, ok := src.(Named); ok {
				s.Source = n.Name()
			}
		})
		var fatal error
		err := src.Blocks(ctx, ix.Height(), func(b *foliov1.Block) error {
			err := ix.Apply(b)
			switch {
			case err == nil:
				backoff = minBackoff
				ix.setStatus(func(s *Status) {
					s.LastError, s.Retries, s.Following = "", 0, true
					if n, ok := src.(Named); ok {
						s.Source = n.Name()
					}
				})
				return nil
			case errors.Is(err, ErrGap) || errors.Is(err, ErrBadBlock):
				return err // the source's fault: try again, maybe elsewhere
			default:
				fatal = err
				return err
			}
		})
		if ctx.Err() != nil {
			ix.setStatus(func(s *Status) { s.Following = false })
			return ctx.Err()
		}
		if fatal != nil {
			ix.setStatus(func(s *Status) { s.Following, s.LastError, s.LastErrorAt = false, fatal.Error(), ix.opts.Now() })
			return fatal
		}
		if err == nil {
			err = errors.New("block stream ended")
		}
		ix.opts.Logger.Warn("explorer index: block source failed; retrying", "err", err, "height", ix.Height(), "retry_in", backoff)
		ix.setStatus(func(s *Status) {
			s.Following, s.LastError, s.LastErrorAt = false, err.Error(), ix.opts.Now()
			s.Retries++
		})
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (ix *Index) setStatus(f func(*Status)) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	f(&ix.mu.status)
}
