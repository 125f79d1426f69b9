package p2p

import (
	"errors"
	"fmt"
	"time"
)

// Node settings that set a host's limits (internal/config Limits). An
// error naming a limit names its setting too, so an operator who sees a
// refusal knows what to raise; the options without a node setting are
// named by their Options field only.
var nodeSettings = map[string]string{
	"MaxFrameBytes":        "limits.p2p_max_message_bytes",
	"MaxStreamsPerSession": "limits.p2p_max_streams_per_session",
	"SessionBufferBytes":   "limits.p2p_session_buffer_bytes",
	"SessionMessageBytes":  "limits.p2p_session_message_bytes",
}

// LimitError is a refusal because a limit was reached: this host's (a
// message over MaxFrameBytes, a session over MaxSessions, ...) or, with
// Remote set, the other node's (a stream it refused). It wraps the
// sentinel callers branch on: errors.Is(err, ErrFrameTooLarge) and the
// like keep working.
type LimitError struct {
	// Err is the sentinel: ErrFrameTooLarge, ErrStreamRefused,
	// ErrTooManySessions or ErrTooManyHandshakes.
	Err error
	// Detail says what exceeded what, e.g. "message of 20971520 bytes
	// exceeds the limit of 16777216".
	Detail string
	// Option is the Options field that sets the limit.
	Option string
	// Remote is set when the limit is the other node's.
	Remote bool
}

func (e *LimitError) Error() string {
	whose := "p2p"
	if e.Remote {
		whose = "the remote node's p2p"
	}
	if s := e.Setting(); s != "" {
		return fmt.Sprintf("%v: %s (%s %s; node setting %s)", e.Err, e.Detail, whose, e.Option, s)
	}
	return fmt.Sprintf("%v: %s (%s %s)", e.Err, e.Detail, whose, e.Option)
}

func (e *LimitError) Unwrap() error { return e.Err }

// Setting returns the node setting that sets the limit, or "" if the
// limit is not a node setting.
func (e *LimitError) Setting() string { return nodeSettings[e.Option] }

// Refusal reasons: the "reason" label of folio_p2p_refused_total. Each is
// something this host refused or cut because a limit was reached.
const (
	// A remote-opened stream over MaxStreamsPerSession (refused with the
	// status byte statusRefused).
	refusedStreams = "streams_per_session"
	// A remote-opened stream while acceptBacklog streams were waiting to
	// be accepted: the multiplexer resets it. Only a node that ignores the
	// multiplexer's own bound on unacknowledged streams gets here.
	refusedStreamBacklog = "stream_backlog"
	// A received message announced over MaxFrameBytes (ReadMsg).
	refusedFrameTooLarge = "frame_too_large"
	// A remote-opened stream that did not name its protocol within
	// HandshakeTimeout.
	refusedStreamHeaderTimeout = "stream_header_timeout"
	// An inbound connection over MaxPendingHandshakes.
	refusedPendingHandshakes = "pending_handshakes"
	// A connection over MaxSessions, or over MaxSessionsPerPeer.
	refusedSessions        = "sessions"
	refusedSessionsPerPeer = "sessions_per_peer"
	// A connection whose handshake did not complete within
	// HandshakeTimeout.
	refusedHandshakeTimeout = "handshake_timeout"
	// A handshake frame over its fixed bound (maxHandshakeFrame).
	refusedHandshakeFrame = "handshake_frame_too_large"
	// A session on which nothing arrived for IdleTimeout.
	refusedIdle = "idle_timeout"
	// A session whose socket accepted nothing for WriteTimeout, or whose
	// keepalive ping was not answered within it.
	refusedWriteTimeout     = "write_timeout"
	refusedKeepAliveTimeout = "keepalive_timeout"
	// A retired session that did not drain within DrainTimeout (or
	// LeaveTimeout when the host is stopping).
	refusedDrainTimeout = "drain_timeout"
	// A session whose receive buffers stayed at SessionBufferBytes, with
	// nothing read from them, for WriteTimeout: closed.
	refusedSessionBuffer = "session_buffer"
	// A session whose remote kept open more than lingerPerStream x
	// MaxStreamsPerSession streams this host had refused or finished
	// with: closed.
	refusedAbusive = "abusive_session"
)

// refusedReasons lists every reason, so each series exists (at zero) from
// the start.
var refusedReasons = []string{
	refusedStreams, refusedStreamBacklog, refusedFrameTooLarge, refusedStreamHeaderTimeout,
	refusedPendingHandshakes, refusedSessions, refusedSessionsPerPeer, refusedHandshakeTimeout, refusedHandshakeFrame,
	refusedIdle, refusedWriteTimeout, refusedKeepAliveTimeout, refusedDrainTimeout, refusedSessionBuffer, refusedAbusive,
}

// refused counts a refusal and logs it, at most logBurst lines a second
// across all refusals (the rest are counted as suppressed), so a flood of
// refusals cannot flood the log.
func (h *Host) refused(reason, msg string, args ...any) {
	h.metrics.refused.WithLabelValues(reason).Inc()
	if msg == "" {
		return
	}
	if ok, suppressed := h.logs.allow(time.Now()); ok {
		h.log.Warn(msg, append(args, "reason", reason, "suppressed", suppressed)...)
	}
}

// handshakeRefusal returns the refusal reason of a handshake failure
// caused by a limit, or "" for other failures.
func handshakeRefusal(err error, label string) string {
	switch label {
	case "too_many_handshakes":
		return refusedPendingHandshakes
	case "too_many_sessions":
		if le := asLimit(err); le != nil && le.Option == "MaxSessionsPerPeer" {
			return refusedSessionsPerPeer
		}
		return refusedSessions
	case "timeout":
		return refusedHandshakeTimeout
	case "frame_too_large":
		return refusedHandshakeFrame
	}
	return ""
}

func asLimit(err error) *LimitError {
	var le *LimitError
	if errors.As(err, &le) {
		return le
	}
	return nil
}
