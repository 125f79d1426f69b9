package p2p

import (
	"context"
	"fmt"
	"time"
)

// CallHandler answers one request of a request/reply protocol. It returns
// the reply bytes; errors belong in the reply's own encoding.
type CallHandler func(ctx context.Context, from PeerIdentity, req []byte) []byte

// HandleCall registers a request/reply protocol: each stream carries one
// request message and one reply message. Register before Run.
func (h *Host) HandleCall(protocol string, handler CallHandler) error {
	return h.Handle(protocol, func(ctx context.Context, s *Stream) {
		defer s.Close()
		_ = s.SetReadDeadline(time.Now().Add(h.opts.HandshakeTimeout))
		req, err := s.ReadMsg()
		if err != nil {
			return
		}
		_ = s.SetReadDeadline(time.Time{})
		reply := handler(ctx, s.Peer(), req)
		_ = s.WriteMsg(reply)
	})
}

// Call sends one request on a new stream of protocol to a node and waits for
// its reply, until ctx is done.
func (h *Host) Call(ctx context.Context, nodeID, protocol string, req []byte) ([]byte, error) {
	s, err := h.OpenStream(ctx, nodeID, protocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.SetDeadline(time.Now()) })
	defer stop()
	if err := s.WriteMsg(req); err != nil {
		return nil, fmt.Errorf("%s request to %s: %w", protocol, short(nodeID), err)
	}
	reply, err := s.ReadMsg()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s reply from %s: %w", protocol, short(nodeID), err)
	}
	return reply, nil
}
