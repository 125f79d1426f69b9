package p2p

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/prometheus/client_golang/prometheus"
)

// Handler serves the streams of one protocol. ctx is cancelled when the
// session carrying the stream closes or the host stops; the handler must
// then return. The stream is closed when the handler returns, and what the
// remote sends on it after that is discarded.
type Handler func(ctx context.Context, s *Stream)

// Stream is one logical stream of a session, carrying one protocol. Read
// and Write give the raw bytes (io.ReadWriteCloser); ReadMsg and WriteMsg
// carry length-prefixed messages of at most Options.MaxFrameBytes. One
// goroutine may read while another writes; concurrent reads (or writes)
// must be serialised by the caller.
//
// Writes block while the remote's receive window is full (backpressure).
type Stream struct {
	ys *yamux.Stream
	// rx is the session's receive budget, credited with every byte read
	// (nil: not accounted).
	rx *recvBuffers
	// msgs is the session's budget of message bytes being assembled by
	// ReadMsg (msgbudget.go; nil: not accounted).
	msgs     *msgBudget
	protocol string
	peer     PeerIdentity
	maxMsg   int
	in, out  prometheus.Counter
	// h counts and logs a received message over maxMsg.
	h        *Host
	draining <-chan struct{}

	// opener: this end opened the stream and must read the acceptor's
	// status byte before the first payload byte.
	opener     bool
	statusOnce sync.Once
	statusErr  error

	// dl tracks the read deadline, so that a ReadMsg waiting for the
	// message budget ends with it: changed is closed (and replaced) when
	// the deadline changes.
	dl struct {
		sync.Mutex
		read    time.Time
		changed chan struct{}
	}
}

// Protocol returns the stream's protocol name.
func (s *Stream) Protocol() string { return s.protocol }

// Peer returns the identity of the node at the other end.
func (s *Stream) Peer() PeerIdentity { return s.peer }

// Draining is closed when the session carrying the stream has been
// retired (a better session replaced it, or the host is leaving). The
// stream keeps working until it is closed or DrainTimeout passes; a
// long-lived stream should finish its current message, close, and reopen
// with Host.OpenStream, which uses the new session.
func (s *Stream) Draining() <-chan struct{} { return s.draining }

// Read reads payload bytes. For the opener, the first Read also receives
// the acceptor's verdict and fails with ErrUnknownProtocol or
// ErrStreamRefused if the stream was not accepted; the stream is then
// closed (nothing more is read from it; Close is still allowed).
func (s *Stream) Read(p []byte) (int, error) {
	if s.opener {
		s.statusOnce.Do(s.readStatus)
		if s.statusErr != nil {
			return 0, s.statusErr
		}
	}
	n, err := s.ys.Read(p)
	s.rx.read(s.ys, n)
	s.in.Add(float64(n))
	return n, err
}

func (s *Stream) readStatus() {
	defer func() {
		if s.statusErr != nil {
			// Refused or failed: nothing more will be read from it, and
			// closing it at once frees the acceptor's side.
			_ = s.rx.finish(s.ys)
			_ = s.ys.Close()
		}
	}()
	var st [1]byte
	if _, err := io.ReadFull(rxReader{s.ys, s.rx}, st[:]); err != nil {
		switch {
		case err == io.EOF:
			err = fmt.Errorf("%w: stream closed before the remote accepted it", ErrStreamRefused)
		case errors.Is(err, yamux.ErrConnectionReset):
			// The remote's multiplexer resets a stream it has no room to
			// queue (more than acceptBacklog waiting) or while going away.
			err = fmt.Errorf("%w: the remote reset the stream before accepting it (too many streams waiting to be accepted, or it is going away): %w", ErrStreamRefused, err)
		}
		s.statusErr = err
		return
	}
	switch st[0] {
	case statusOK:
	case statusUnknown:
		s.statusErr = fmt.Errorf("%w %q", ErrUnknownProtocol, s.protocol)
	case statusRefused:
		s.statusErr = &LimitError{Err: ErrStreamRefused, Detail: "too many streams open on this session", Option: "MaxStreamsPerSession", Remote: true}
	default:
		s.statusErr = fmt.Errorf("%w: stream status %d", ErrMalformed, st[0])
	}
}

// Write writes payload bytes.
func (s *Stream) Write(p []byte) (int, error) {
	n, err := s.ys.Write(p)
	s.out.Add(float64(n))
	return n, err
}

// Close closes this end's writing half: the remote reads io.EOF after the
// bytes written so far. Reading continues until the remote closes too.
func (s *Stream) Close() error { return s.ys.Close() }

// SetDeadline sets the read and write deadlines.
func (s *Stream) SetDeadline(t time.Time) error {
	s.setReadDeadline(t)
	return s.ys.SetDeadline(t)
}

// SetReadDeadline sets the deadline for blocked and future reads,
// ReadMsg's wait for the session's message budget included.
func (s *Stream) SetReadDeadline(t time.Time) error {
	s.setReadDeadline(t)
	return s.ys.SetReadDeadline(t)
}

func (s *Stream) setReadDeadline(t time.Time) {
	s.dl.Lock()
	defer s.dl.Unlock()
	s.dl.read = t
	if s.dl.changed != nil {
		close(s.dl.changed)
		s.dl.changed = nil
	}
}

// readDeadline returns the read deadline and a channel closed when it
// changes.
func (s *Stream) readDeadline() (time.Time, <-chan struct{}) {
	s.dl.Lock()
	defer s.dl.Unlock()
	if s.dl.changed == nil {
		s.dl.changed = make(chan struct{})
	}
	return s.dl.read, s.dl.changed
}

// SetWriteDeadline sets the deadline for blocked and future writes.
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.ys.SetWriteDeadline(t) }

// coalesceLimit: messages up to this size go out in one write with their
// length prefix.
const coalesceLimit = 64 << 10

// WriteMsg writes one message: a 4-byte big-endian length, then msg.
func (s *Stream) WriteMsg(msg []byte) error {
	if len(msg) > s.maxMsg {
		return tooLarge(int64(len(msg)), s.maxMsg)
	}
	if len(msg) <= coalesceLimit {
		buf := make([]byte, frameHeaderLen, frameHeaderLen+len(msg))
		binary.BigEndian.PutUint32(buf, uint32(len(msg)))
		_, err := s.Write(append(buf, msg...))
		return err
	}
	var hdr [frameHeaderLen]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(msg)))
	if _, err := s.Write(hdr[:]); err != nil {
		return err
	}
	_, err := s.Write(msg)
	return err
}

// ReadMsg reads one message written by WriteMsg. It returns io.EOF when
// the remote closed the stream between messages, and a *LimitError
// wrapping ErrFrameTooLarge (without reading the message) when the length
// exceeds MaxFrameBytes; the stream is then unusable and should be
// closed. The returned slice is the caller's.
//
// A message over 64 KiB first reserves its length from the session's
// SessionMessageBytes (msgbudget.go) and waits, while that is spent by
// messages being read on the session's other streams, until they are
// returned; the wait ends with the read deadline (an error that is a
// net.Error timeout) or the session's end.
func (s *Stream) ReadMsg() ([]byte, error) {
	n, err := readFrameLen(s)
	if err != nil {
		return nil, err
	}
	if uint64(n) > uint64(s.maxMsg) {
		err := tooLarge(int64(n), s.maxMsg)
		s.h.refused(refusedFrameTooLarge, "p2p message refused", "peer", short(s.peer.NodeID), "protocol", s.protocol, "err", err)
		return nil, err
	}
	if n > readChunk {
		if err := s.msgs.reserve(int64(n), s); err != nil {
			return nil, err
		}
		defer s.msgs.release(int64(n))
	}
	return readFrameBody(s, int(n))
}

// tooLarge is the refusal of a message of n bytes over limit.
func tooLarge(n int64, limit int) error {
	return &LimitError{Err: ErrFrameTooLarge, Detail: fmt.Sprintf("message of %d bytes exceeds the limit of %d", n, limit), Option: "MaxFrameBytes"}
}

// OpenStream opens a stream of the given protocol to a node on the one
// session to it, waiting (until ctx ends) for a session to come up. If
// the session in use is retired or fails while opening, it retries on
// the next one.
func (h *Host) OpenStream(ctx context.Context, nodeID, protocol string) (*Stream, error) {
	if !validProtocol(protocol) {
		return nil, fmt.Errorf("p2p: invalid protocol name %q", protocol)
	}
	for {
		h.mu.Lock()
		if h.mu.state >= stateStopping {
			h.mu.Unlock()
			return nil, ErrClosed
		}
		var s *session
		if id, ok := h.mu.table.active(nodeID); ok {
			s = h.mu.sessions[id]
		}
		wait := h.mu.waiters[nodeID]
		if wait == nil {
			wait = make(chan struct{})
			h.mu.waiters[nodeID] = wait
		}
		h.mu.Unlock()
		if s != nil {
			st, err := s.openStream(protocol)
			if err == nil {
				return st, nil
			}
			if !retryableOpen(err) {
				return nil, err
			}
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w %s: %w", ErrNoSession, short(nodeID), ctx.Err())
		}
	}
}

func retryableOpen(err error) bool {
	return errors.Is(err, errRetired) || errors.Is(err, yamux.ErrSessionShutdown) || errors.Is(err, yamux.ErrRemoteGoAway) ||
		errors.Is(err, yamux.ErrStreamsExhausted) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}
