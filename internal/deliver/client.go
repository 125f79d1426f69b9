package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
)

// Source is one orderer that can stream blocks.
type Source interface {
	Name() string
	// Blocks streams blocks from start on, following new ones, until ctx is
	// done or the stream fails.
	Blocks(ctx context.Context, start uint64) (Stream, error)
}

// Stream yields blocks in order.
type Stream interface {
	Recv() (*foliov1.Block, error)
	Close() error
}

// Sink is where accepted blocks go (the block store, or the committer).
type Sink interface {
	Height() uint64
	LastHash() []byte
	// LastTimestamp is the last block's header timestamp (Unix ns).
	LastTimestamp() int64
	Accept(b *foliov1.Block) error
}

// Client keeps a Sink in step with the ordering service.
type Client struct {
	// Sources are the orderers, tried in turn.
	Sources []Source
	// Fallback sources (other peers, which serve the same verified blocks)
	// are tried only after a full round of Sources failed to deliver, each
	// for at most FallbackWindow, so a peer cut off from the orderers
	// catches up but returns to them. Peers must not be primary sources:
	// peers following peers can wait on each other with none following an
	// orderer.
	Fallback []Source
	// FallbackWindow bounds one stream from a fallback source. Default 30s.
	FallbackWindow time.Duration
	// Config returns the channel configuration in force for the next block
	// (the one blocks are verified against).
	Config func() *channel.Config
	Sink   Sink
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between failed attempts
	// (exponential with jitter). Defaults 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration

	// mu guards the source lists SetSources replaced (nil: the fields
	// above) and the pull under way, which SetSources stops when its
	// source left the lists (an orderer removed from the channel cuts no
	// more blocks: its stream would idle forever).
	mu       sync.Mutex
	replaced bool
	sources  []Source
	fallback []Source
	pulling  Source
	stopPull context.CancelFunc
}

// SetSources replaces the orderers and fallback peers, when a config
// update changes the channel's nodes. Safe to call while Run runs.
func (c *Client) SetSources(sources, fallback []Source) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replaced, c.sources, c.fallback = true, sources, fallback
	if c.pulling == nil || c.stopPull == nil {
		return
	}
	for _, s := range append(append([]Source(nil), sources...), fallback...) {
		if s.Name() == c.pulling.Name() {
			return
		}
	}
	c.stopPull()
}

func (c *Client) lists() ([]Source, []Source) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.replaced {
		return c.sources, c.fallback
	}
	return c.Sources, c.Fallback
}

// pullFrom is pull, stopped early when SetSources drops src.
func (c *Client) pullFrom(ctx context.Context, src Source) (int, error) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	c.pulling, c.stopPull = src, cancel
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.pulling, c.stopPull = nil, nil
		c.mu.Unlock()
	}()
	got, err := c.pull(pctx, src)
	if err != nil && pctx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("%s is no longer a node of the channel", src.Name())
	}
	return got, err
}

// Run pulls blocks until ctx is done. It only returns ctx's error or an
// error of the Sink (which the caller must treat as fatal).
func (c *Client) Run(ctx context.Context) error {
	if srcs, _ := c.lists(); len(srcs) == 0 {
		return errors.New("deliver: no orderers to deliver from")
	}
	minB, maxB := c.MinBackoff, c.MaxBackoff
	if minB == 0 {
		minB = 100 * time.Millisecond
	}
	if maxB == 0 {
		maxB = 5 * time.Second
	}
	window := c.FallbackWindow
	if window == 0 {
		window = 30 * time.Second
	}
	backoff := minB
	next := rand.IntN(1 << 16)
	failedInRound := 0
	for {
		sources, fallback := c.lists()
		if len(sources) == 0 {
			// A config update cannot remove the last orderer (channel
			// rules); until one is back in the lists, ask the peers.
			sources = fallback
		}
		if len(sources) == 0 {
			return errors.New("deliver: the channel lists no orderer or other peer to deliver from")
		}
		src := sources[next%len(sources)]
		next++
		got, err := c.pullFrom(ctx, src)
		if got > 0 {
			failedInRound = 0
		} else if failedInRound++; failedInRound >= len(sources) && len(fallback) > 0 {
			failedInRound = 0
			if err := c.tryFallbacks(ctx, window); err != nil {
				return err
			}
		}
		var sinkErr *sinkError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &sinkErr):
			return sinkErr.err
		case errors.Is(err, ErrSessionRetired):
			c.Logger.Debug("deliver stream moved off a retired session", "orderer", src.Name())
			next-- // same orderer, new session
			continue
		case err != nil:
			c.Logger.Warn("block delivery interrupted; trying another orderer", "orderer", src.Name(), "height", c.Sink.Height(), "err", err)
		}
		if got > 0 {
			backoff = minB
			continue
		}
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		if backoff *= 2; backoff > maxB {
			backoff = maxB
		}
	}
}

// tryFallbacks pulls from each fallback source for at most window.
func (c *Client) tryFallbacks(ctx context.Context, window time.Duration) error {
	_, fallback := c.lists()
	for _, src := range fallback {
		fctx, cancel := context.WithTimeout(ctx, window)
		got, err := c.pullFrom(fctx, src)
		cancel()
		var sinkErr *sinkError
		if errors.As(err, &sinkErr) {
			return sinkErr.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if got > 0 {
			c.Logger.Info("caught up from a peer while the orderers were unreachable", "peer", src.Name(), "blocks", got, "height", c.Sink.Height())
		}
	}
	return nil
}

type sinkError struct{ err error }

func (e *sinkError) Error() string { return e.err.Error() }

// pull streams from one source from the sink's height, verifying and
// accepting blocks, and returns how many it accepted.
func (c *Client) pull(ctx context.Context, src Source) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := src.Blocks(ctx, c.Sink.Height())
	if err != nil {
		return 0, err
	}
	defer stream.Close()
	n := 0
	for {
		b, err := stream.Recv()
		if err != nil {
			return n, err
		}
		height := c.Sink.Height()
		if b.GetHeader().GetNumber() < height {
			continue // already have it (a resumed stream may overlap)
		}
		if err := VerifyBlock(c.Config(), b, height, c.Sink.LastHash(), c.Sink.LastTimestamp()); err != nil {
			return n, fmt.Errorf("from %s: %w", src.Name(), err)
		}
		if err := c.Sink.Accept(b); err != nil {
			return n, &sinkError{fmt.Errorf("deliver: accept block %d: %w", b.Header.Number, err)}
		}
		n++
	}
}
