package p2p

import (
	"errors"
	"fmt"
)

// Conditions callers branch on. Handshake failures are reported as a
// *HandshakeError wrapping one of the Err* handshake sentinels below.
var (
	// ErrClosed means the host has stopped (or never ran and its Run
	// returned).
	ErrClosed = errors.New("p2p host is closed")
	// ErrAlreadyRunning means Run was called twice.
	ErrAlreadyRunning = errors.New("p2p host is already running")
	// ErrNoSession means no session to the node came up before the context
	// ended.
	ErrNoSession = errors.New("no session to node")
	// ErrUnknownProtocol means the remote node has no handler for the
	// stream's protocol.
	ErrUnknownProtocol = errors.New("remote node does not serve protocol")
	// ErrStreamRefused means the remote node did not accept the stream.
	// When it refused because the opener has MaxStreamsPerSession streams
	// open there, the error is a *LimitError naming that limit.
	ErrStreamRefused = errors.New("remote node refused the stream")
	// ErrFrameTooLarge means a length prefix announced more bytes than the
	// limit allows. The frame is not read. From Stream.ReadMsg and
	// WriteMsg the error is a *LimitError naming MaxFrameBytes.
	ErrFrameTooLarge = errors.New("frame exceeds size limit")
	// ErrMalformed means bytes on the wire do not follow the format.
	ErrMalformed = errors.New("malformed message")
)

// Handshake failure reasons. Each is also the "reason" label of the
// folio_p2p_handshake_failures_total metric (see reasonOf).
var (
	ErrTLS                = errors.New("TLS handshake failed")
	ErrHandshakeTimeout   = errors.New("handshake did not complete in time")
	ErrUnsupportedVersion = errors.New("unsupported handshake version")
	ErrNotMember          = errors.New("certificate is not a valid consortium identity")
	ErrNotNode            = errors.New("identity is not a peer or orderer")
	ErrIdentityMismatch   = errors.New("TLS certificate and node certificate name different nodes")
	ErrNodeIDMismatch     = errors.New("claimed node ID is not the node certificate's key ID")
	ErrBadSignature       = errors.New("handshake signature does not verify")
	ErrSelf               = errors.New("connected to self")
	ErrUnexpectedPeer     = errors.New("reached a different node than the one dialed")
	ErrTooManyHandshakes  = errors.New("too many handshakes in progress")
	ErrTooManySessions    = errors.New("too many sessions")
	ErrHandshakeIO        = errors.New("connection failed during handshake")
	ErrHandshakeShutdown  = errors.New("host is shutting down")
)

// reasons maps handshake sentinels to their metric label, in matching order.
var reasons = []struct {
	err   error
	label string
}{
	{ErrHandshakeTimeout, "timeout"},
	{ErrFrameTooLarge, "frame_too_large"},
	{ErrMalformed, "malformed"},
	{ErrUnsupportedVersion, "version"},
	{ErrNotMember, "not_member"},
	{ErrNotNode, "not_node"},
	{ErrIdentityMismatch, "identity_mismatch"},
	{ErrNodeIDMismatch, "node_id_mismatch"},
	{ErrBadSignature, "bad_signature"},
	{ErrSelf, "self"},
	{ErrUnexpectedPeer, "unexpected_peer"},
	{ErrTooManyHandshakes, "too_many_handshakes"},
	{ErrTooManySessions, "too_many_sessions"},
	{ErrHandshakeShutdown, "shutdown"},
	{ErrTLS, "tls"},
	{ErrHandshakeIO, "io"},
}

// reasonOf returns the metric label for a handshake error.
func reasonOf(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "other"
}

// HandshakeError says why a connection was refused during the handshake.
type HandshakeError struct {
	// Remote is the remote socket address.
	Remote string
	// Peer is the node ID the remote claimed, when it got that far.
	Peer string
	// Err is one of the handshake sentinels, possibly wrapping a cause.
	Err error
}

func (e *HandshakeError) Error() string {
	if e.Peer != "" {
		return fmt.Sprintf("p2p handshake with %s (node %s): %v", e.Remote, short(e.Peer), e.Err)
	}
	return fmt.Sprintf("p2p handshake with %s: %v", e.Remote, e.Err)
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// Reason is the short label used in logs and metrics.
func (e *HandshakeError) Reason() string { return reasonOf(e.Err) }

// short abbreviates a node ID for logs.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
