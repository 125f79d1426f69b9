package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/ledger/blocks"
	"github.com/folio-ledger/folio/internal/p2p"
)

// Protocol is the session protocol that streams blocks between nodes.
const Protocol = "deliver"

// ErrSessionRetired ends a stream whose session is being replaced; the
// client reconnects at once.
var ErrSessionRetired = errors.New("session retired; reopening the stream")

// HandleSessions serves blocks of store to other nodes over the "deliver"
// protocol. The session layer has already authenticated the node (a
// consortium peer or orderer); the stream's first message is a
// DeliverRequest naming the channel and the start.
func HandleSessions(host *p2p.Host, store *blocks.Store, channelID string, log *slog.Logger) error {
	return host.Handle(Protocol, func(ctx context.Context, s *p2p.Stream) {
		defer s.Close()
		data, err := s.ReadMsg()
		if err != nil {
			return
		}
		var req foliov1.DeliverRequest
		if err := proto.Unmarshal(data, &req); err != nil || req.ChannelId != channelID {
			log.Warn("bad deliver request", "from", s.Peer().Name, "channel", req.ChannelId, "err", err)
			return
		}
		stop := uint64(0)
		if req.Stop != 0 {
			stop = req.Stop + 1
		}
		err = Serve(ctx, store, req.Start, stop, req.Follow, func(b *foliov1.Block) error {
			out, err := proto.Marshal(b)
			if err != nil {
				return err
			}
			return s.WriteMsg(out)
		})
		if err != nil && ctx.Err() == nil {
			log.Debug("deliver stream ended", "to", s.Peer().Name, "err", err)
		}
	})
}

// SessionSource streams blocks from one orderer over the node sessions.
type SessionSource struct {
	Host      *p2p.Host
	NodeID    string
	NodeName  string
	ChannelID string
}

var _ Source = (*SessionSource)(nil)

// Name is the orderer's name.
func (s *SessionSource) Name() string { return s.NodeName }

// Blocks opens a deliver stream from start on, following new blocks.
func (s *SessionSource) Blocks(ctx context.Context, start uint64) (Stream, error) {
	st, err := s.Host.OpenStream(ctx, s.NodeID, Protocol)
	if err != nil {
		return nil, fmt.Errorf("open deliver stream to %s: %w", s.NodeName, err)
	}
	req, _ := proto.Marshal(&foliov1.DeliverRequest{ChannelId: s.ChannelID, Start: start, Follow: true})
	if err := st.WriteMsg(req); err != nil {
		st.Close()
		return nil, fmt.Errorf("deliver request to %s: %w", s.NodeName, err)
	}
	ss := &sessionStream{s: st, done: make(chan struct{})}
	// A blocked read must end when the caller gives up, and when the session
	// is retired (a duplicate being closed): the client then reopens the
	// stream at once on the surviving session, instead of holding the
	// retiring one open until its drain timeout.
	go func() {
		select {
		case <-ctx.Done():
		case <-st.Draining():
			ss.retired.Store(true)
		case <-ss.done:
			return
		}
		_ = st.SetDeadline(time.Now())
	}()
	return ss, nil
}

type sessionStream struct {
	s       *p2p.Stream
	done    chan struct{}
	retired atomic.Bool
}

func (ss *sessionStream) Recv() (*foliov1.Block, error) {
	data, err := ss.s.ReadMsg()
	if err != nil {
		if ss.retired.Load() {
			return nil, ErrSessionRetired
		}
		return nil, err
	}
	var b foliov1.Block
	if err := proto.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("undecodable block: %w", err)
	}
	return &b, nil
}

func (ss *sessionStream) Close() error {
	close(ss.done)
	return ss.s.Close()
}
