package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/explorer"
)

// Peer is one peer whose chain a PeerSource can stream.
type Peer struct {
	Name  string // for Status and logs ("peer0.org1")
	Chain foliov1connect.ChainServiceClient
}

// PeerSource streams blocks from peers' ChainService.StreamBlocks with
// follow set, moving to the next peer when one fails: a peer down does not
// stop the explorer while another answers. Safe for concurrent use, but
// meant for one Run.
type PeerSource struct {
	peers []Peer
	log   *slog.Logger

	mu struct {
		sync.Mutex
		cur int // index of the peer streamed last (tried first next time)
		// state is each peer's as last seen, by index in peers.
		state []explorer.PeerStatus
	}
}

var (
	_ explorer.BlockSource = (*PeerSource)(nil)
	_ Named                = (*PeerSource)(nil)
	_ PeerReporter         = (*PeerSource)(nil)
)

// NewPeerSource returns a source over peers, tried in order from the one
// that last worked. logger may be nil.
func NewPeerSource(peers []Peer, logger *slog.Logger) (*PeerSource, error) {
	if len(peers) == 0 {
		return nil, errors.New("index: a peer source needs at least one peer")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &PeerSource{peers: peers, log: logger}
	s.mu.state = make([]explorer.PeerStatus, len(peers))
	for i, p := range peers {
		s.mu.state[i] = explorer.PeerStatus{Name: p.Name, State: "standby"}
	}
	return s, nil
}

// PeerStatus returns each peer's state as the source last saw it: the
// one streaming, those whose last stream failed (and why), the others on
// standby.
func (s *PeerSource) PeerStatus() []explorer.PeerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mu.state)
}

func (s *PeerSource) setState(i int, state string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &s.mu.state[i]
	p.State = state
	if err != nil {
		p.LastError, p.LastErrorAt = err.Error(), time.Now()
	}
}

// Name is the peer streamed now (or last).
func (s *PeerSource) Name() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers[s.mu.cur].Name
}

// Blocks streams blocks from start on to each, following new ones. When
// a peer's stream fails it goes on from the next block at the next peer;
// it returns once every peer in turn failed without giving a block, with
// their errors, or when ctx ends (ctx's error), or with each's error (and
// the next call starts at the next peer).
func (s *PeerSource) Blocks(ctx context.Context, start uint64, each func(*foliov1.Block) error) error {
	var errs []error
	s.mu.Lock()
	i := s.mu.cur
	s.mu.Unlock()
	for failed := 0; failed < len(s.peers); i = (i + 1) % len(s.peers) {
		s.mu.Lock()
		s.mu.cur = i
		s.mu.Unlock()
		p := s.peers[i]
		got, err := s.stream(ctx, p, &start, each, func() { s.setState(i, "streaming", nil) })
		if ctx.Err() != nil {
			s.setState(i, "standby", nil)
			return ctx.Err()
		}
		var cbErr *callbackError
		if errors.As(err, &cbErr) {
			// The consumer refused this peer's block (a bad or out of
			// order block, say): the next call starts at the next peer.
			s.mu.Lock()
			s.mu.cur = (i + 1) % len(s.peers)
			s.mu.Unlock()
			s.setState(i, "failed", cbErr.err)
			return cbErr.err
		}
		if got {
			failed, errs = 0, nil // progress: every peer deserves a new try
		}
		if err == nil {
			err = errors.New("stream ended")
		}
		s.setState(i, "failed", err)
		s.log.Warn("explorer: block stream failed", "peer", p.Name, "next_block", start, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
		failed++
	}
	return errors.Join(errs...)
}

// callbackError carries each's error out of stream, to tell it from the
// peer's.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

// stream streams from one peer; opened is called once the stream is open.
func (s *PeerSource) stream(ctx context.Context, p Peer, start *uint64, each func(*foliov1.Block) error, opened func()) (got bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := p.Chain.StreamBlocks(ctx, connect.NewRequest(&foliov1.StreamBlocksRequest{Start: *start, Follow: true}))
	if err != nil {
		return false, err
	}
	defer st.Close()
	// The peer counts as streaming once asked: a caught-up peer sends
	// nothing (not even its headers) until the next block, while one that
	// is down fails the first Receive at once and turns "failed".
	opened()
	for st.Receive() {
		b := st.Msg()
		if b.GetHeader() == nil {
			return got, errors.New("block without a header")
		}
		if b.Header.Number != *start {
			return got, fmt.Errorf("asked for block %d, got %d", *start, b.Header.Number)
		}
		if err := each(b); err != nil {
			return got, &callbackError{err}
		}
		got = true
		*start++
	}
	return got, st.Err()
}
