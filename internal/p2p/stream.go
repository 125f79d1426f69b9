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
// then return. The stream is closed when the handler returns.
type Handler func(ctx context.Context, s *Stream)

// Stream is one logical stream of a session, carrying one protocol. Read
// and Write give the raw bytes (io.ReadWriteCloser); ReadMsg and WriteMsg
// carry length-prefixed messages of at most Options.MaxFrameBytes. One
// goroutine may read while another writes; concurrent reads (or writes)
// must be serialised by the caller.
//
// Writes block while the remote's receive window is full (backpressure).
type Stream struct {
	ys       *yamux.Stream
	protocol string
	peer     PeerIdentity
	maxMsg   int
	in, out  prometheus.Counter
	draining <-chan struct{}

	// opener: this end opened the stream and must read the acceptor's
	// status byte before the first payload byte.
	opener     bool
	statusOnce sync.Once
	statusErr  error
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
// ErrStreamRefused if the stream was not accepted.
func (s *Stream) Read(p []byte) (int, error) {
	if s.opener {
		s.statusOnce.Do(s.readStatus)
		if s.statusErr != nil {
			return 0, s.statusErr
		}
	}
	n, err := s.ys.Read(p)
	s.in.Add(float64(n))
	return n, err
}

func (s *Stream) readStatus() {
	var st [1]byte
	if _, err := io.ReadFull(s.ys, st[:]); err != nil {
		if err == io.EOF {
			err = fmt.Errorf("%w: stream closed before the remote accepted it", ErrStreamRefused)
		}
		s.statusErr = err
		return
	}
	switch st[0] {
	case statusOK:
	case statusUnknown:
		s.statusErr = fmt.Errorf("%w %q", ErrUnknownProtocol, s.protocol)
	case statusRefused:
		s.statusErr = ErrStreamRefused
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
func (s *Stream) SetDeadline(t time.Time) error { return s.ys.SetDeadline(t) }

// SetReadDeadline sets the deadline for blocked and future reads.
func (s *Stream) SetReadDeadline(t time.Time) error { return s.ys.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for blocked and future writes.
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.ys.SetWriteDeadline(t) }

// coalesceLimit: messages up to this size go out in one write with their
// length prefix.
const coalesceLimit = 64 << 10

// WriteMsg writes one message: a 4-byte big-endian length, then msg.
func (s *Stream) WriteMsg(msg []byte) error {
	if len(msg) > s.maxMsg {
		return fmt.Errorf("%w: message of %d bytes, limit %d", ErrFrameTooLarge, len(msg), s.maxMsg)
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
// the remote closed the stream between messages, and ErrFrameTooLarge
// (without reading the message) when the length exceeds the limit; the
// stream is then unusable and should be closed. The returned slice is the
// caller's.
func (s *Stream) ReadMsg() ([]byte, error) {
	return readFrame(s, s.maxMsg)
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
