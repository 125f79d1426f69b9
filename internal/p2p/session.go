package p2p

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// errRetired: the session was retired while a stream was being opened on
// it; OpenStream retries on the session that replaced it.
var errRetired = errors.New("session retired")

// session drives one registered connection: its multiplexer, its stream
// accept loop and the confirm / retire / drain steps the table orders.
type session struct {
	h           *Host
	id          connID
	peer        PeerIdentity
	dialed      Side
	fingerprint string
	remote      string
	since       time.Time
	conn        net.Conn
	certs       []*x509.Certificate // TLS and node certificates of the peer
	mux         *yamux.Session
	// ctx is cancelled when the session ends or the host stops; stream
	// handlers run under it.
	ctx    context.Context
	cancel context.CancelFunc
	// draining is closed when this end retires the session.
	draining chan struct{}
	// inbound counts remote-opened streams being served.
	inbound atomic.Int32
	// rx accounts for the session's receive buffers (budget.go).
	rx *recvBuffers
	// msgs is the budget of messages being read by ReadMsg on the
	// session's streams (msgbudget.go).
	msgs *msgBudget
	// cut is set once the session is closed for abuse, so it is counted
	// once.
	cut atomic.Bool

	// open orders stream opening against the retire notice: streams are
	// opened under the read lock, the notice under the write lock, so every
	// stream this end opens on the session precedes its notice on the wire.
	open struct {
		sync.RWMutex
		retired bool
	}
}

// start runs the multiplexer on the connection (dialer is the yamux
// client) and the accept loop. Called under Host.mu, after registration:
// a ping is answered only once the answering end has registered the
// session, which is what makes confirmation meaningful.
func (s *session) start(base *yamux.Config) {
	o := &s.h.opts
	s.rx = newRecvBuffers(int64(o.SessionBufferBytes), o.WriteTimeout, lingerPerStream*o.MaxStreamsPerSession, o.HandshakeTimeout)
	s.msgs = newMsgBudget(int64(o.SessionMessageBytes), s.ctx.Done())
	wc := &watchedConn{Conn: s.conn, idle: o.IdleTimeout, write: o.WriteTimeout, rx: s.rx}
	s.conn = wc // closing it wakes a receive loop waiting for the budget
	conf := *base
	conf.Logger = yamuxLogger{log: s.h.log, backlogFull: s.backlogFull}
	if s.dialed == DialedBySelf {
		s.mux, _ = yamux.Client(wc, &conf) // conf was verified in New
	} else {
		s.mux, _ = yamux.Server(wc, &conf)
	}
	s.h.wg.Add(1)
	go s.acceptLoop()
}

// acceptLoop owns the session's inbound streams; when the multiplexer
// shuts down it reports the session closed.
func (s *session) acceptLoop() {
	defer s.h.wg.Done()
	for {
		ys, err := s.mux.AcceptStream()
		if err != nil {
			s.closedByLimit(err) // err is why the multiplexer shut down
			break
		}
		if int(s.inbound.Load()) >= s.h.opts.MaxStreamsPerSession {
			// Counted before the opener can learn of it.
			s.h.refused(refusedStreams, "p2p stream refused: too many streams open on the session", "peer", short(s.peer.NodeID),
				"limit", s.h.opts.MaxStreamsPerSession, "option", "MaxStreamsPerSession", "setting", nodeSettings["MaxStreamsPerSession"])
			_ = ys.SetWriteDeadline(time.Now().Add(s.h.opts.WriteTimeout))
			_, _ = ys.Write([]byte{statusRefused})
			s.finish(ys)
			continue
		}
		s.rx.attach(ys)
		s.inbound.Add(1)
		s.h.wg.Add(1)
		go s.serveStream(ys)
	}
	_ = s.mux.Close()
	s.cancel()
	s.h.log.Debug("p2p session closed", "peer", short(s.peer.NodeID), "name", s.peer.Name, "conn", s.fingerprint)
	s.h.sessionClosed(s)
}

// serveStream reads a remote-opened stream's header and hands it to its
// protocol's handler (or records a retire notice).
func (s *session) serveStream(ys *yamux.Stream) {
	defer s.h.wg.Done()
	defer s.inbound.Add(-1)
	defer s.finish(ys)
	r := rxReader{ys, s.rx}
	_ = ys.SetReadDeadline(time.Now().Add(s.h.opts.HandshakeTimeout))
	protocol, err := readStreamHeader(r)
	if err != nil {
		if isTimeout(err) {
			s.h.refused(refusedStreamHeaderTimeout, "p2p stream cut: no protocol header in time", "peer", short(s.peer.NodeID),
				"limit", s.h.opts.HandshakeTimeout, "option", "HandshakeTimeout")
			return
		}
		s.h.log.Debug("p2p stream dropped", "peer", short(s.peer.NodeID), "err", err)
		return
	}
	if protocol == retireProtocol {
		var n [1]byte
		if _, err := io.ReadFull(r, n[:]); err != nil || (n[0] != byte(reasonSuperseded) && n[0] != byte(reasonLeaving)) {
			s.h.log.Warn("p2p malformed retire notice; closing session", "peer", short(s.peer.NodeID), "err", err)
			_ = s.mux.Close()
			return
		}
		s.h.remoteNotice(s, retireReason(n[0]))
		return
	}
	_ = ys.SetReadDeadline(time.Time{})
	handler := s.h.served[protocol]
	if handler == nil {
		_ = ys.SetWriteDeadline(time.Now().Add(s.h.opts.WriteTimeout))
		_, _ = ys.Write([]byte{statusUnknown})
		s.h.log.Debug("p2p stream for unknown protocol", "peer", short(s.peer.NodeID), "protocol", protocol)
		return
	}
	if _, err := ys.Write([]byte{statusOK}); err != nil {
		return
	}
	s.h.metrics.streams.WithLabelValues(protocol, "in").Inc()
	handler(s.ctx, s.newStream(ys, protocol, false))
}

func (s *session) newStream(ys *yamux.Stream, protocol string, opener bool) *Stream {
	return &Stream{
		ys: ys, rx: s.rx, msgs: s.msgs, protocol: protocol, peer: s.peer, maxMsg: s.h.opts.MaxFrameBytes, opener: opener, draining: s.draining, h: s.h,
		in:  s.h.metrics.bytes.WithLabelValues(protocol, "in"),
		out: s.h.metrics.bytes.WithLabelValues(protocol, "out"),
	}
}

// openStream opens a stream unless the session has been retired.
func (s *session) openStream(protocol string) (*Stream, error) {
	s.open.RLock()
	if s.open.retired {
		s.open.RUnlock()
		return nil, errRetired
	}
	ys, err := s.mux.OpenStream() // returns once the SYN is written
	s.open.RUnlock()
	if err != nil {
		return nil, err
	}
	s.rx.attach(ys)
	if _, err := ys.Write(marshalStreamHeader(protocol)); err != nil {
		_ = ys.Close()
		return nil, err
	}
	s.h.metrics.streams.WithLabelValues(protocol, "out").Inc()
	return s.newStream(ys, protocol, true), nil
}

// confirm pings the session. The answer proves the remote registered it.
func (s *session) confirm() {
	defer s.h.wg.Done()
	if _, err := s.mux.Ping(); err != nil {
		s.h.log.Debug("p2p session not confirmed; closing", "peer", short(s.peer.NodeID), "conn", s.fingerprint, "err", err)
		_ = s.mux.Close()
		return
	}
	s.h.confirmed(s)
}

// retire stops opening streams on the session and sends the retire
// notice; then it guards the drain: whatever the remote does, a retired
// session is closed within DrainTimeout.
func (s *session) retire(reason retireReason) {
	defer s.h.wg.Done()
	s.open.Lock()
	if !s.open.retired {
		s.open.retired = true
		close(s.draining)
	}
	ys, err := s.mux.OpenStream()
	s.open.Unlock()
	if err == nil {
		_ = ys.SetWriteDeadline(time.Now().Add(s.h.opts.WriteTimeout))
		_, err = ys.Write(append(marshalStreamHeader(retireProtocol), byte(reason)))
		_ = ys.Close()
	}
	if err != nil {
		_ = s.mux.Close() // the connection is failing; acceptLoop reports the close
		return
	}
	s.h.noticeSent(s)
	wait := s.h.opts.DrainTimeout
	if reason == reasonLeaving {
		wait = min(wait, s.h.opts.LeaveTimeout)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-s.mux.CloseChan():
	case <-t.C:
		s.h.refused(refusedDrainTimeout, "p2p retired session did not drain in time; closing it", "peer", short(s.peer.NodeID), "conn", s.fingerprint,
			"streams", s.mux.NumStreams(), "limit", wait)
		_ = s.mux.Close()
	}
}

// finish ends this host's part in a stream: what the remote sent on it
// and nobody read is dropped, what it sends from now on is discarded
// (budget.go), and the stream is closed. If the remote keeps too many
// such streams open, the session is closed.
func (s *session) finish(ys *yamux.Stream) {
	tooMany := s.rx.finish(ys)
	_ = ys.Close()
	if tooMany && s.cut.CompareAndSwap(false, true) {
		st := s.rx.stats()
		s.h.refused(refusedAbusive, "p2p session closed: the peer keeps open too many streams this node has finished with", "peer", short(s.peer.NodeID),
			"conn", s.fingerprint, "lingering", st.lingering, "limit", s.rx.linger, "discarded_bytes", st.discarded)
		_ = s.mux.Close()
	}
}

// backlogFull counts a remote-opened stream the multiplexer reset because
// acceptBacklog streams were already waiting to be accepted.
func (s *session) backlogFull() {
	s.h.refused(refusedStreamBacklog, "p2p stream refused: too many streams waiting to be accepted", "peer", short(s.peer.NodeID),
		"limit", acceptBacklog)
}

// closedByLimit counts the session's end if a limit caused it: nothing
// arrived within IdleTimeout, the socket accepted nothing within
// WriteTimeout, a keepalive ping went unanswered, or the receive buffers
// stayed full (SessionBufferBytes) for WriteTimeout. Called once the
// multiplexer has shut down with err.
func (s *session) closedByLimit(err error) {
	var reason, option string
	switch {
	case errors.Is(err, errIdle):
		reason, option = refusedIdle, "IdleTimeout"
	case errors.Is(err, errWriteStalled):
		reason, option = refusedWriteTimeout, "WriteTimeout"
	case errors.Is(err, yamux.ErrKeepAliveTimeout):
		reason, option = refusedKeepAliveTimeout, "WriteTimeout"
	case errors.Is(err, errSessionBuffer):
		reason, option = refusedSessionBuffer, "SessionBufferBytes"
	default:
		return
	}
	args := []any{"peer", short(s.peer.NodeID), "conn", s.fingerprint, "option", option, "err", err}
	if setting := nodeSettings[option]; setting != "" {
		args = append(args, "setting", setting)
	}
	s.h.refused(reason, "p2p session cut", args...)
}

// drain waits (bounded by DrainTimeout) until no stream is open on the
// session, then closes it. Both ends have retired it, so no new stream
// can appear. The multiplexer has no "last stream closed" signal, so this
// polls with a growing interval, as net/http's Server.Shutdown does.
func (s *session) drain() {
	defer s.h.wg.Done()
	deadline := time.Now().Add(s.h.opts.DrainTimeout)
	interval := time.Millisecond
	for s.mux.NumStreams() > 0 && time.Now().Before(deadline) {
		t := time.NewTimer(interval)
		select {
		case <-t.C:
		case <-s.mux.CloseChan():
			t.Stop()
			return
		}
		interval = min(2*interval, 100*time.Millisecond)
	}
	// The answer to a ping proves the remote has received everything
	// queued before it, the final stream closes included.
	_, _ = s.mux.Ping()
	_ = s.mux.Close()
}

func (h *Host) confirmed(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.applyLocked(h.mu.table.confirmed(s.id))
}

func (h *Host) noticeSent(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.applyLocked(h.mu.table.noticeSent(s.id))
}

func (h *Host) remoteNotice(s *session, reason retireReason) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.applyLocked(h.mu.table.remoteNotice(s.id, reason))
}
