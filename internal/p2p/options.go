package p2p

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/folio-ledger/folio/internal/identity"
)

// Options configures a Host. Zero values take the documented defaults
// (EnsureDefaults); Validate reports what is still wrong.
type Options struct {
	// Self is the node's signing identity (the node key). Its key ID is the
	// node ID. Required; its role must be peer or orderer.
	Self *identity.SigningIdentity
	// TLS is the node's transport certificate and key, issued by the same
	// organisation to the same name and role as Self. Required.
	TLS tls.Certificate
	// TLSSource, when set, gives the certificate each new connection
	// presents, in both directions, so a renewed certificate takes effect
	// without a restart (sessions already up keep theirs). It must return
	// a non-nil certificate for the same name, organisation and role as
	// TLS; the node's certificate reloader checks that before it swaps.
	// Default: TLS, always.
	TLSSource func() *tls.Certificate
	// Verifier is the consortium MSP. It decides who may connect: members
	// with role peer or orderer. Required.
	Verifier *identity.Verifier

	// ListenAddr is the host:port to accept sessions on. Empty makes the
	// node dial-only: it opens no listener and so refuses every inbound
	// connection; it still reaches every peer by dialing. Default "".
	ListenAddr string
	// AdvertiseAddr is the address other nodes should dial to reach this
	// node; it is sent in the handshake and shown in session listings.
	// Default: the bound listen address when ListenAddr names a specific
	// host, else "".
	AdvertiseAddr string

	// Logger receives structured logs. Default: discard.
	Logger *slog.Logger
	// Registerer receives the host's metrics. Default: none (metrics are
	// kept but not exported). Never the global registry unless passed in.
	Registerer prometheus.Registerer

	// MaxSessions bounds the connections registered at once, duplicates
	// included. Default 256.
	MaxSessions int
	// MaxSessionsPerPeer bounds the connections to one node at once (a
	// duplicate being resolved, a replacement for a dead one). Default 4.
	MaxSessionsPerPeer int
	// MaxPendingHandshakes bounds inbound connections that have not yet
	// completed the handshake; more are closed at once. Default 128.
	MaxPendingHandshakes int
	// MaxDialing bounds outbound connections being dialed and handshaken
	// at once; further dials wait their turn, so a node that comes up
	// wanting many peers does not starve its own handshakes. Default 16.
	MaxDialing int
	// HandshakeTimeout bounds TCP accept to registered session (TLS and the
	// Folio handshake), and the time a new stream has to name its
	// protocol. Default 10s.
	HandshakeTimeout time.Duration
	// DialTimeout bounds the TCP connect of a dial. Default 5s.
	DialTimeout time.Duration
	// MaxFrameBytes bounds one message read or written with
	// Stream.ReadMsg/WriteMsg; a larger one is refused with a *LimitError
	// (ErrFrameTooLarge) before its body is read, and counted in
	// folio_p2p_refused_total{reason="frame_too_large"} where it is
	// received. Node setting limits.p2p_max_message_bytes. Default
	// 16 MiB; at most 1 GiB.
	MaxFrameBytes int
	// MaxStreamsPerSession bounds streams the remote may have open on one
	// session at once; more are refused (the opener reads a *LimitError,
	// ErrStreamRefused) and counted in
	// folio_p2p_refused_total{reason="streams_per_session"}. Node setting
	// limits.p2p_max_streams_per_session. Default 256.
	MaxStreamsPerSession int
	// StreamWindowBytes is the most a stream's receive window grows to:
	// how much a sender may have in flight on one stream before it blocks
	// (backpressure). The multiplexer (yamux v0.1.2) opens a stream's
	// window to this size as soon as it accepts the stream, before the
	// handler reads anything; what all streams of a session together may
	// hold is bounded by SessionBufferBytes. At least 256 KiB. Default
	// 4 MiB (best throughput measured, docs/sessions.md section 10).
	StreamWindowBytes uint32
	// SessionBufferBytes bounds what the remote can make this host hold,
	// received and not yet read, in the streams of one session, refused
	// and finished ones included (whose data is discarded). Counted at
	// its high-water mark per stream, as the multiplexer's buffers keep
	// their size; they take up to about twice this in heap. When it is
	// reached the host stops reading the session until handlers read
	// (backpressure on the whole session); a session that stays there
	// for WriteTimeout is closed and counted in
	// folio_p2p_refused_total{reason="session_buffer"}. Node setting
	// limits.p2p_session_buffer_bytes. Default 16 MiB (four full
	// windows; about 32 MiB of heap, so that even the MaxSessionsPerPeer
	// sessions one node may hold stay well under 256 MB); at least
	// StreamWindowBytes.
	SessionBufferBytes int
	// SessionMessageBytes bounds the bytes of messages being assembled by
	// Stream.ReadMsg on the streams of one session, all together (those
	// the remote opened and those this host opened): a message over
	// 64 KiB reserves its length before its body is read, and releases it
	// when ReadMsg returns it (it is then the caller's) or fails. While it
	// is spent, ReadMsg waits its turn (first come, first served) until
	// the read deadline or the session's end; the message's bytes wait in
	// the multiplexer meanwhile, within SessionBufferBytes, so a remote
	// that pushes more than both budgets is closed for session_buffer.
	// Nothing is refused for this limit alone. Node setting
	// limits.p2p_session_message_bytes. Default 4 x MaxFrameBytes
	// (64 MiB): four maximal messages at once, as content transfer's four
	// parallel chunk fetches from one peer need, while block delivery
	// (about 5 MiB at a time) and raft (up to about 1 MiB) fit beside
	// smaller ones. At least MaxFrameBytes, so that every message fits.
	SessionMessageBytes int
	// KeepAliveInterval is how often each side pings an idle or busy
	// session. Default 15s.
	KeepAliveInterval time.Duration
	// IdleTimeout closes a session on which nothing at all (not even a
	// keepalive) arrived for this long. Must exceed KeepAliveInterval.
	// Default 3 x KeepAliveInterval.
	IdleTimeout time.Duration
	// WriteTimeout closes a session whose socket accepts no bytes for this
	// long, and bounds a ping's wait for its answer. Default 10s.
	WriteTimeout time.Duration
	// RevalidateEvery is how often the peers' certificates of live
	// sessions are checked again (Host.Revalidate), so that a revocation
	// closes sessions established before it. Default 10s.
	RevalidateEvery time.Duration
	// DrainTimeout bounds how long a retired session waits for its streams
	// to finish (and the remote's retire notice) before it is closed
	// anyway; it also bounds a graceful shutdown. Default 30s.
	DrainTimeout time.Duration
	// LeaveTimeout bounds the drain of sessions this host retires because
	// it is shutting down: long-lived streams (block delivery, content
	// transfer) would otherwise hold a stop for DrainTimeout. Default 3s.
	LeaveTimeout time.Duration
	// BackoffMin and BackoffMax bound the delay between failed dials to a
	// peer: exponential from BackoffMin, capped at BackoffMax, with equal
	// jitter (half fixed, half random). Defaults 100ms and 30s.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// EventBuffer is each subscriber's channel capacity. A subscriber that
	// falls this far behind is unsubscribed (its channel closed). Default
	// 1024.
	EventBuffer int
}

// EnsureDefaults fills unset fields with their documented defaults.
func (o *Options) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.TLSSource == nil {
		o.TLSSource = staticTLS(o.TLS)
	}
	setDefault(&o.MaxSessions, 256)
	setDefault(&o.MaxSessionsPerPeer, 4)
	setDefault(&o.MaxPendingHandshakes, 128)
	setDefault(&o.MaxDialing, 16)
	setDefault(&o.HandshakeTimeout, 10*time.Second)
	setDefault(&o.DialTimeout, 5*time.Second)
	setDefault(&o.MaxFrameBytes, 16<<20)
	setDefault(&o.MaxStreamsPerSession, 256)
	setDefault(&o.StreamWindowBytes, 4<<20)
	setDefault(&o.SessionBufferBytes, 16<<20)
	setDefault(&o.SessionMessageBytes, int(min(4*int64(o.MaxFrameBytes), math.MaxInt)))
	setDefault(&o.KeepAliveInterval, 15*time.Second)
	setDefault(&o.IdleTimeout, 3*o.KeepAliveInterval)
	setDefault(&o.WriteTimeout, 10*time.Second)
	setDefault(&o.DrainTimeout, 30*time.Second)
	setDefault(&o.RevalidateEvery, 10*time.Second)
	setDefault(&o.LeaveTimeout, 3*time.Second)
	setDefault(&o.BackoffMin, 100*time.Millisecond)
	setDefault(&o.BackoffMax, 30*time.Second)
	setDefault(&o.EventBuffer, 1024)
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// minStreamWindow is yamux's initial stream window; a smaller maximum is
// not allowed.
const minStreamWindow = 256 << 10

// Validate reports every problem with the options (after EnsureDefaults).
func (o *Options) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("p2p options: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if o.Self == nil {
		bad("Self", "the node's signing identity is required")
	} else if !o.Self.Role.IsNode() {
		bad("Self", "role is %s; sessions are for peers and orderers", o.Self.Role)
	}
	if o.Verifier == nil {
		bad("Verifier", "the consortium MSP is required")
	}
	if len(o.TLS.Certificate) == 0 || o.TLS.PrivateKey == nil {
		bad("TLS", "the node's TLS certificate and key are required")
	} else if leaf, err := tlsLeaf(o.TLS); err != nil {
		bad("TLS", "%v", err)
	} else if o.Self != nil {
		if leaf.Subject.CommonName != o.Self.Name {
			bad("TLS", "certificate is for %q but the node key is %q", leaf.Subject.CommonName, o.Self.Name)
		}
	}
	if o.ListenAddr != "" {
		if _, _, err := net.SplitHostPort(o.ListenAddr); err != nil {
			bad("ListenAddr", "%v", err)
		}
	}
	if o.AdvertiseAddr != "" {
		if _, _, err := net.SplitHostPort(o.AdvertiseAddr); err != nil || len(o.AdvertiseAddr) > maxAddrLen {
			bad("AdvertiseAddr", "want host:port of at most %d bytes, got %q", maxAddrLen, o.AdvertiseAddr)
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"MaxSessions", o.MaxSessions}, {"MaxSessionsPerPeer", o.MaxSessionsPerPeer}, {"MaxPendingHandshakes", o.MaxPendingHandshakes}, {"MaxDialing", o.MaxDialing},
		{"MaxFrameBytes", o.MaxFrameBytes}, {"MaxStreamsPerSession", o.MaxStreamsPerSession}, {"SessionBufferBytes", o.SessionBufferBytes}, {"SessionMessageBytes", o.SessionMessageBytes}, {"EventBuffer", o.EventBuffer}} {
		if f.v < 1 {
			bad(f.name, "must be positive, got %d", f.v)
		}
	}
	if o.MaxSessionsPerPeer < 2 {
		bad("MaxSessionsPerPeer", "must be at least 2 so a duplicate can be resolved, got %d", o.MaxSessionsPerPeer)
	}
	if o.MaxFrameBytes > 1<<30 {
		bad("MaxFrameBytes", "at most 1 GiB, got %d", o.MaxFrameBytes)
	}
	if o.StreamWindowBytes < minStreamWindow {
		bad("StreamWindowBytes", "at least %d, got %d", minStreamWindow, o.StreamWindowBytes)
	}
	if o.SessionBufferBytes < int(o.StreamWindowBytes) {
		bad("SessionBufferBytes", "at least StreamWindowBytes (%d), so that one stream can use its whole window, got %d", o.StreamWindowBytes, o.SessionBufferBytes)
	}
	if o.SessionMessageBytes < o.MaxFrameBytes {
		bad("SessionMessageBytes", "at least MaxFrameBytes (%d), so that every message can be read, got %d", o.MaxFrameBytes, o.SessionMessageBytes)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"HandshakeTimeout", o.HandshakeTimeout}, {"DialTimeout", o.DialTimeout}, {"KeepAliveInterval", o.KeepAliveInterval},
		{"IdleTimeout", o.IdleTimeout}, {"WriteTimeout", o.WriteTimeout}, {"DrainTimeout", o.DrainTimeout}, {"RevalidateEvery", o.RevalidateEvery}, {"LeaveTimeout", o.LeaveTimeout},
		{"BackoffMin", o.BackoffMin}, {"BackoffMax", o.BackoffMax}} {
		if f.v <= 0 {
			bad(f.name, "must be positive, got %s", f.v)
		}
	}
	if o.IdleTimeout <= o.KeepAliveInterval {
		bad("IdleTimeout", "must exceed KeepAliveInterval (%s), got %s", o.KeepAliveInterval, o.IdleTimeout)
	}
	if o.BackoffMax < o.BackoffMin {
		bad("BackoffMax", "must be at least BackoffMin (%s), got %s", o.BackoffMin, o.BackoffMax)
	}
	return errors.Join(errs...)
}

// tlsLeaf returns the parsed leaf of a TLS certificate.
func tlsLeaf(c tls.Certificate) (*x509.Certificate, error) {
	if c.Leaf != nil {
		return c.Leaf, nil
	}
	if len(c.Certificate) == 0 {
		return nil, errors.New("no certificate")
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parse TLS certificate: %w", err)
	}
	return leaf, nil
}
