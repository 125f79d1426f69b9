package node

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/quota"
)

// Setting names, as they appear in refusals, metrics and
// docs/configuration.md.
const (
	settingMessageBytes = "limits.max_message_bytes"
	settingBodyTimeout  = "limits.body_timeout"
	settingConnections  = "limits.max_connections"
	settingRequests     = "limits.max_requests"
	settingPerClient    = "limits.max_requests_per_client"
)

// envelopeBytes is the gRPC and Connect streaming envelope before each
// message: a flags byte and a 4-byte length. A request body of one
// message may exceed the message limit by this much.
const envelopeBytes = 5

// uploadGrantBytes: a body larger by design (LargeBody) gets another
// BodyTimeout for every this many bytes that arrive, so a slow but honest
// uploader finishes while a trickle of a few bytes does not hold a stream.
const uploadGrantBytes = 1 << 20

// guard applies a listener's Limits to the requests of one HTTPS server.
// Safe for concurrent use.
type guard struct {
	lim config.Limits
	m   *metrics
	log *slog.Logger
	// largeBody reports the routes whose bodies are larger by design and
	// the bound their handler enforces itself; nil means none.
	largeBody func(*http.Request) (int64, bool)
	// client names the client of a request for the per-client bound of
	// requests in flight (the MSP identity behind authenticate; the
	// remote IP address on a CA).
	client func(*http.Request) string
	// inflight counts the requests being served; built by newGuard.
	inflight *quota.Counter
	errw     *connect.ErrorWriter
}

func newGuard(lim config.Limits, m *metrics, log *slog.Logger, largeBody func(*http.Request) (int64, bool), client func(*http.Request) string) *guard {
	return &guard{lim: lim, m: m, log: log, largeBody: largeBody, client: client, inflight: quota.New(lim.MaxRequests, lim.MaxRequestsPerClient),
		errw: connect.NewErrorWriter()}
}

// remoteIP is the client of a request on a listener without identities.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// refuse writes a refusal: a Connect error on RPC paths, else plain text
// with the given HTTP status.
func (g *guard) refuse(w http.ResponseWriter, r *http.Request, err *connect.Error, status int) {
	if isRPC(r) && g.errw.IsSupported(r) {
		_ = g.errw.Write(w, r, err)
		return
	}
	http.Error(w, err.Error(), status)
}

// refused counts one refusal under the setting that caused it.
func (g *guard) refused(setting string) { g.m.limitRefusals.WithLabelValues(setting).Inc() }

// tooLarge is the refusal of a message or body over the limit.
func (g *guard) tooLarge(what string) *connect.Error {
	g.refused(settingMessageBytes)
	return connect.NewError(connect.CodeResourceExhausted,
		fmt.Errorf("%s is larger than %d bytes (limit %s): send large payloads through the streaming paths, or raise the setting", what, g.lim.MaxMessageBytes, settingMessageBytes))
}

// wrap bounds each request's body in size and time before next sees it.
// A body announced too large is refused before a byte of it is read.
//
// Each request also holds a slot of the listener's requests in flight
// while it is served, so no client can hold every handler goroutine of the
// node: one over limits.max_requests_per_client or limits.max_requests is
// refused at once.
func (g *guard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := g.client(r)
		release, reached, held := g.inflight.Acquire(client)
		switch reached {
		case quota.PerClient:
			g.refused(settingPerClient)
			g.refuse(w, r, connect.NewError(connect.CodeResourceExhausted,
				fmt.Errorf("%s already has %d requests in progress (limit %s): wait for some to finish", client, held, settingPerClient)), http.StatusTooManyRequests)
			return
		case quota.Total:
			g.refused(settingRequests)
			g.refuse(w, r, connect.NewError(connect.CodeResourceExhausted,
				fmt.Errorf("this node serves %d requests, its most (limit %s): retry later", held, settingRequests)), http.StatusServiceUnavailable)
			return
		}
		defer release()
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		limit, large := int64(g.lim.MaxMessageBytes)+envelopeBytes, false
		if g.largeBody != nil {
			if l, ok := g.largeBody(r); ok {
				limit, large = l, true
			}
		}
		if r.ContentLength > limit {
			err := g.tooLarge(fmt.Sprintf("request body of %d bytes", r.ContentLength))
			g.log.Warn("request refused", "remote", r.RemoteAddr, "path", r.URL.Path, "limit", settingMessageBytes, "content_length", r.ContentLength)
			g.refuse(w, r, err, http.StatusRequestEntityTooLarge)
			return
		}
		rc := http.NewResponseController(w)
		b := &boundedBody{body: r.Body, left: limit, g: g, rc: rc, large: large}
		b.extend()
		r.Body = b
		next.ServeHTTP(w, r)
	})
}

// isRPC reports whether a request is for an RPC handler: its path starts
// with a protobuf service name, like /folio.v1.GatewayService/Endorse.
// Every client service is one; other paths get plain-text refusals.
func isRPC(r *http.Request) bool {
	svc, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return strings.Contains(svc, ".")
}

// boundedBody is a request body that fails with a resource_exhausted
// error past its limit, and with deadline_exceeded when it does not arrive
// within the body timeout. Read by one goroutine (the handler's).
type boundedBody struct {
	body  io.ReadCloser
	left  int64
	read  int64
	g     *guard
	rc    *http.ResponseController
	large bool
	// granted is how many bytes the current read deadline was set for.
	granted int64
	done    bool
}

// extend sets the read deadline for the next part of the body.
func (b *boundedBody) extend() {
	b.granted = b.read + uploadGrantBytes
	_ = b.rc.SetReadDeadline(time.Now().Add(b.g.lim.BodyTimeout))
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more than allowed tells an over-limit body apart from
		// one that ends exactly at the limit.
		var one [1]byte
		n, err := b.body.Read(one[:])
		if n > 0 {
			return 0, b.g.tooLarge("request body")
		}
		return 0, b.finish(err)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.body.Read(p)
	b.left -= int64(n)
	b.read += int64(n)
	if b.large && b.read >= b.granted {
		b.extend()
	}
	if err != nil {
		return n, b.finish(err)
	}
	return n, nil
}

// finish clears the read deadline at the end of the body (so a long
// response is not cut) and names the limit when the deadline expired.
func (b *boundedBody) finish(err error) error {
	if !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		b.g.refused(settingBodyTimeout)
		return connect.NewError(connect.CodeDeadlineExceeded,
			fmt.Errorf("request body not received within %s (limit %s): %w", b.g.lim.BodyTimeout, settingBodyTimeout, err))
	}
	return err
}

func (b *boundedBody) Close() error { return b.body.Close() }

// gzipOptions replace connect's gzip with one that stops inflating at the
// message limit: connect bounds the inflated size too, but only after
// inflating everything to report it, so a small bomb still costs seconds
// of CPU; this one stops at the first byte past the limit.
func (g *guard) gzipOptions() connect.HandlerOption {
	return connect.WithCompression("gzip",
		func() connect.Decompressor { return &boundedGzip{g: g, max: int64(g.lim.MaxMessageBytes)} },
		func() connect.Compressor { return gzip.NewWriter(io.Discard) })
}

// boundedGzip inflates at most max bytes per message.
type boundedGzip struct {
	zr  gzip.Reader
	g   *guard
	max int64
	n   int64
}

func (d *boundedGzip) Reset(r io.Reader) error {
	d.n = 0
	return d.zr.Reset(r)
}

func (d *boundedGzip) Read(p []byte) (int, error) {
	n, err := d.zr.Read(p)
	d.n += int64(n)
	if d.n > d.max {
		return n, d.g.tooLarge("request message (inflated)")
	}
	return n, err
}

func (d *boundedGzip) Close() error { return d.zr.Close() }

// connLimit closes connections accepted beyond max open ones at once.
type connLimit struct {
	net.Listener
	open    atomic.Int64
	max     int64
	refused func()
}

func limitConns(ln net.Listener, max int, refused func()) net.Listener {
	return &connLimit{Listener: ln, max: int64(max), refused: refused}
}

func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.refused()
			_ = c.Close()
			continue
		}
		return &countedConn{Conn: c, l: l}, nil
	}
}

// countedConn gives its slot back once, when closed.
type countedConn struct {
	net.Conn
	l    *connLimit
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}
