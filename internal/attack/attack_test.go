package attack

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// Timing in these tests: servers cut attacks with 500 ms timeouts.
// Lower bounds (an attack was cut no earlier than ~the timeout) cannot
// flake under load, since load only delays; they allow 20% because our
// clock starts when our TCP connect returns, which may be just after the
// server accepted. Upper bounds are 10x the timeout, so only a machine
// stalled for seconds can break them.
const (
	serverTimeout = 500 * time.Millisecond
	cutFloor      = serverTimeout * 8 / 10
	cutCeiling    = 10 * serverTimeout
)

// limits are the bounds a test server enforces; zero means unbounded.
type limits struct {
	maxStreams        uint32        // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (Go's default: 250)
	readHeaderTimeout time.Duration // http.Server.ReadHeaderTimeout (and TLS handshake timeout)
	idleTimeout       time.Duration // http.Server.IdleTimeout
	bodyDeadline      time.Duration // per-request body read deadline set by the handler
	noHTTP2           bool
}

// startServer starts an HTTPS server on 127.0.0.1 speaking HTTP/2 and
// HTTP/1.1 with lim, serving h (bodyHandler(lim.bodyDeadline) if nil),
// and returns its address and a client TLS config trusting it.
func startServer(t *testing.T, lim limits, h http.Handler) (string, *tls.Config) {
	t.Helper()
	if h == nil {
		h = bodyHandler(lim.bodyDeadline)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = !lim.noHTTP2
	srv.Config.ReadHeaderTimeout = lim.readHeaderTimeout
	srv.Config.IdleTimeout = lim.idleTimeout
	if lim.maxStreams > 0 {
		srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: int(lim.maxStreams)}
	}
	// Handshake errors from the attacks are expected; keep them out of
	// the test log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv.Listener.Addr().String(), &tls.Config{RootCAs: pool}
}

// bodyHandler reads the request body under a read deadline of d (none if
// zero) and answers 204, or, if reading fails, 408 with a Connect-style
// JSON error body.
func bodyHandler(d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d > 0 {
			if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(d)); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, 2<<20)); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestTimeout)
			fmt.Fprintf(w, `{"code":"deadline_exceeded","message":%q}`, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// grpcHandler answers like a gRPC server refusing the call:
// 200 OK, then trailers with grpc-status 8 (RESOURCE_EXHAUSTED).
func grpcHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.WriteHeader(http.StatusOK)
		w.Header().Set(http.TrailerPrefix+"Grpc-Status", "8")
	})
}

// checkNoAttackGoroutines fails if a goroutine started by this package is
// still running; every attack must stop its goroutines before returning.
// Call it only when no attack runs concurrently. A goroutine that has
// signalled its exit (closed its done channel in a defer) may still be
// listed for a moment while it returns, so, like goleak, it looks again
// for up to 5 s before failing.
func checkNoAttackGoroutines(t *testing.T) {
	t.Helper()
	var leaked []string
	poll(5*time.Second, func() bool {
		leaked = attackGoroutines()
		return len(leaked) == 0
	})
	for _, g := range leaked {
		t.Errorf("goroutine outlived its attack:\n%s", g)
	}
}

// poll calls cond every 10 ms until it holds or within has passed, and
// reports whether it held. within is a guard against a hang, not a way to
// let time pass; poll is for states with no event to wait on (the
// goroutine list, a fake's records).
func poll(within time.Duration, cond func() bool) bool {
	guard := time.NewTimer(within)
	defer guard.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-guard.C:
			return cond()
		}
	}
	return true
}

// attackGoroutines returns the stacks of running goroutines started by
// this package's attacks.
func attackGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, fn := range []string{
			"attack.(*h2Conn).readLoop", "attack.(*headReader).run", "attack.afterDone",
			"attack.(*connFlood).", "attack.PeakRSS",
		} {
			if strings.Contains(g, fn) {
				found = append(found, g)
				break
			}
		}
	}
	return found
}

// zeroCounter counts the bytes written to it and fails on a non-zero one.
type zeroCounter struct{ n int64 }

func (z *zeroCounter) Write(p []byte) (int, error) {
	for i, b := range p {
		if b != 0 {
			return i, fmt.Errorf("non-zero byte at offset %d", z.n+int64(i))
		}
	}
	z.n += int64(len(p))
	return len(p), nil
}

// inflate decompresses a gzip stream into a zeroCounter, never holding
// the inflated bytes.
func inflate(t *testing.T, bomb []byte) int64 {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(string(bomb)))
	if err != nil {
		t.Fatal(err)
	}
	var z zeroCounter
	if _, err := io.Copy(&z, zr); err != nil {
		t.Fatal(err)
	}
	return z.n
}

// TestGzipBomb proves GzipBomb inflates to exactly the requested number of
// zeros, chunk and member boundaries included, at a ratio above 1000:1
// once large.
func TestGzipBomb(t *testing.T) {
	for _, size := range []int64{0, 1, bombChunk - 1, bombChunk, bombChunk + 1, 16<<20 + 12345, bombMember + 12345} {
		bomb := GzipBomb(size)
		if got := inflate(t, bomb); got != size {
			t.Errorf("GzipBomb(%d) inflates to %d bytes", size, got)
		}
		ratio := float64(size) / float64(len(bomb))
		t.Logf("GzipBomb(%d): %d bytes, ratio %.1f:1", size, len(bomb), ratio)
		if size >= 16<<20 && ratio < 1000 {
			t.Errorf("GzipBomb(%d): ratio %.1f:1, want > 1000:1", size, ratio)
		}
	}
}

// TestGzipBombOfSize proves GzipBombOfSize lands within 5% of the
// compressed size asked for and inflates to bombRatio times it.
func TestGzipBombOfSize(t *testing.T) {
	const target = 8 << 10
	bomb := GzipBombOfSize(target)
	if d := float64(len(bomb))/target - 1; d < -0.05 || d > 0.05 {
		t.Errorf("GzipBombOfSize(%d) = %d bytes, want within 5%%", target, len(bomb))
	}
	if got, want := inflate(t, bomb), int64(target*bombRatio); got != want {
		t.Errorf("GzipBombOfSize(%d) inflates to %d bytes, want %d", target, got, want)
	}
}

// TestStreamFlood proves StreamFlood pushes 2,000 streams through one
// connection past an advertised limit of 100: the server advertises 100,
// refuses ~1,900 with RST_STREAM, and answers the 100 it accepted with
// 408 once its per-request body deadline passes; nothing stays unresolved.
func TestStreamFlood(t *testing.T) {
	addr, conf := startServer(t, limits{maxStreams: 100, bodyDeadline: time.Second}, nil)
	req := FloodRequest{
		Path:   "/folio.gateway.v1.Gateway/Submit",
		Header: http.Header{"Connect-Protocol-Version": {"1"}},
		Settle: 20 * time.Second, // ends as soon as all streams are resolved (~1 s)
	}
	res, err := StreamFlood(context.Background(), addr, conf, req, 2000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if !res.MaxStreamsAdvertised || res.MaxConcurrentStreams != 100 {
		t.Errorf("server advertised MAX_CONCURRENT_STREAMS %d (advertised %v), want 100", res.MaxConcurrentStreams, res.MaxStreamsAdvertised)
	}
	if res.Sent != 2000 {
		t.Errorf("sent %d streams, want 2000 (SendErr %v)", res.Sent, res.SendErr)
	}
	// Exactly 1,900 unless a handler's 1 s body deadline passed before the
	// server read the last HEADERS, freeing a slot: only on a machine
	// stalled for a second.
	if res.Refused < 1800 || res.Refused > 1900 {
		t.Errorf("refused %d streams, want ~1900", res.Refused)
	}
	if got := res.Resets[http2.ErrCodeRefusedStream] + res.Resets[http2.ErrCodeProtocol]; got < res.Refused {
		t.Errorf("Resets %v do not account for %d refusals", res.Resets, res.Refused)
	}
	if res.Responses != res.Sent-res.Refused || res.Statuses[http.StatusRequestTimeout] != res.Responses {
		t.Errorf("responses %d with statuses %v, want %d times 408", res.Responses, res.Statuses, res.Sent-res.Refused)
	}
	if res.ConnectCodes["deadline_exceeded"] != res.Responses {
		t.Errorf("Connect codes %v, want %d deadline_exceeded", res.ConnectCodes, res.Responses)
	}
	if res.Unresolved != 0 || res.AfterGoAway != 0 || res.GoAway != nil || res.ServerClosed {
		t.Errorf("unresolved %d, after GOAWAY %d, GOAWAY %+v, server closed %v (%v): want none",
			res.Unresolved, res.AfterGoAway, res.GoAway, res.ServerClosed, res.ReadErr)
	}
	checkNoAttackGoroutines(t)
}

// TestStreamFloodGRPCStatus proves StreamFlood reads grpc-status from
// response trailers, and that a header block over 16 KiB is split into
// CONTINUATION frames the server accepts.
func TestStreamFloodGRPCStatus(t *testing.T) {
	addr, conf := startServer(t, limits{}, grpcHandler())
	req := FloodRequest{
		ContentType: "application/grpc",
		Header:      http.Header{"TE": {"trailers"}, "X-Pad": {strings.Repeat("p", 40<<10)}},
		Settle:      10 * time.Second, // ends as soon as all streams are resolved
	}
	res, err := StreamFlood(context.Background(), addr, conf, req, 10)
	if err != nil {
		t.Fatal(err)
	}
	if res.Responses != 10 || res.Statuses[200] != 10 || res.GRPCStatuses["8"] != 10 || res.Refused != 0 || res.Unresolved != 0 {
		t.Errorf("got %+v, want 10 responses 200 with grpc-status 8", res)
	}
	checkNoAttackGoroutines(t)
}

// TestStreamFloodNoH2 proves StreamFlood fails with ErrNoH2 when the
// server only speaks HTTP/1.1.
func TestStreamFloodNoH2(t *testing.T) {
	addr, conf := startServer(t, limits{noHTTP2: true}, nil)
	if _, err := StreamFlood(context.Background(), addr, conf, FloodRequest{}, 1); !errors.Is(err, ErrNoH2) {
		t.Errorf("StreamFlood against HTTP/1.1 only: err %v, want ErrNoH2", err)
	}
}

// startDeafServer starts a TLS listener on 127.0.0.1 that negotiates h2,
// completes handshakes and then never reads, and returns its address and
// a client TLS config trusting it.
func startDeafServer(t *testing.T) (string, *tls.Config) {
	t.Helper()
	// Borrow httptest's certificate.
	cert := httptest.NewUnstartedServer(http.NotFoundHandler())
	cert.StartTLS()
	srvConf := &tls.Config{Certificates: cert.TLS.Certificates, NextProtos: []string{"h2"}}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Certificate())
	cert.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn // owned by the accept goroutine until done is closed
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second)) // so Cleanup never waits long
			_ = tls.Server(c, srvConf).Handshake()
			_ = c.SetDeadline(time.Time{})
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), &tls.Config{RootCAs: pool}
}

// TestStreamFloodServerStopsReading proves StreamFlood cannot be blocked
// by a server that stops reading: with 8 KiB of headers per stream the
// socket buffers fill, and the write deadline ends the flood.
func TestStreamFloodServerStopsReading(t *testing.T) {
	addr, conf := startDeafServer(t)
	req := FloodRequest{
		Header:       http.Header{"X-Pad": {strings.Repeat("p", 8<<10)}}, // too big for the hpack table: sent every time
		WriteTimeout: 300 * time.Millisecond,
		Settle:       100 * time.Millisecond,
	}
	start := time.Now()
	res, err := StreamFlood(context.Background(), addr, conf, req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d streams, %d bytes, in %v: %v", res.Sent, res.BytesSent, time.Since(start), res.SendErr)
	if !errors.Is(res.SendErr, os.ErrDeadlineExceeded) || res.Sent == 10000 {
		t.Errorf("sent %d of 10000, SendErr %v; want a write deadline to stop the flood", res.Sent, res.SendErr)
	}
	// 300 ms of write deadline and 100 ms of settle; 30x that is ample.
	if d := time.Since(start); d > 12*time.Second {
		t.Errorf("took %v", d)
	}
	checkNoAttackGoroutines(t)
}

// TestSlowLorisBounded proves each slow mode is cut by the server limit
// meant for it, after about that limit: ReadHeaderTimeout for headers, the
// TLS handshake and an idle TLS connection; the handler's body read
// deadline (answered 408) for bodies, over HTTP/1.1 and HTTP/2.
func TestSlowLorisBounded(t *testing.T) {
	addr, conf := startServer(t, limits{
		readHeaderTimeout: serverTimeout,
		idleTimeout:       serverTimeout,
		bodyDeadline:      serverTimeout,
	}, nil)
	cases := []struct {
		mode       SlowMode
		wantStatus int // 0: the server closes without answering
	}{
		{SlowHeaders, 0},
		{SlowBody, http.StatusRequestTimeout},
		{SlowBodyH2, http.StatusRequestTimeout},
		{IdleTLS, 0},
		{SlowTLSHandshake, 0},
	}
	t.Run("modes", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.mode.String(), func(t *testing.T) {
				t.Parallel()
				res, err := SlowLoris(context.Background(), addr, conf, tc.mode, 50*time.Millisecond, 2*cutCeiling)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%+v", res)
				if res.StillOpen {
					t.Fatalf("still open after %v", res.Elapsed)
				}
				if res.Elapsed < cutFloor || res.Elapsed > cutCeiling {
					t.Errorf("cut after %v, want [%v, %v]", res.Elapsed, cutFloor, cutCeiling)
				}
				if res.Status != tc.wantStatus {
					t.Errorf("status %d (%q), want %d", res.Status, res.StatusLine, tc.wantStatus)
				}
				if tc.mode != IdleTLS && tc.mode != SlowTLSHandshake && res.BytesSent == 0 {
					t.Errorf("sent nothing")
				}
			})
		}
	})
	checkNoAttackGoroutines(t)
}

// TestSlowLorisUnbounded is the control: against a server without
// timeouts every mode is still open when maxDuration passes, so a cut
// seen in TestSlowLorisBounded comes from the server's limits.
func TestSlowLorisUnbounded(t *testing.T) {
	addr, conf := startServer(t, limits{}, nil)
	const maxDuration = 700 * time.Millisecond
	t.Run("modes", func(t *testing.T) {
		for _, mode := range []SlowMode{SlowHeaders, SlowBody, SlowBodyH2, IdleTLS, SlowTLSHandshake} {
			t.Run(mode.String(), func(t *testing.T) {
				t.Parallel()
				res, err := SlowLoris(context.Background(), addr, conf, mode, 50*time.Millisecond, maxDuration)
				if err != nil {
					t.Fatal(err)
				}
				if !res.StillOpen || res.Elapsed < maxDuration {
					t.Errorf("got %+v, want still open after %v", res, maxDuration)
				}
			})
		}
	})
	checkNoAttackGoroutines(t)
}

// TestSlowBodyH2AnswersPing proves the HTTP/2 reader answers the
// server's PINGs: a server that pings after 100 ms without frames and
// closes the connection if the answer takes over 1 s keeps a SlowBodyH2
// stream (one frame per 300 ms) open for the whole 2 s.
func TestSlowBodyH2AnswersPing(t *testing.T) {
	h := bodyHandler(0)
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.Config.HTTP2 = &http.HTTP2Config{SendPingTimeout: 100 * time.Millisecond, PingTimeout: time.Second}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	res, err := SlowLoris(context.Background(), srv.Listener.Addr().String(), &tls.Config{RootCAs: pool},
		SlowBodyH2, 300*time.Millisecond, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !res.StillOpen {
		t.Errorf("got %+v, want still open: PINGs unanswered?", res)
	}
	checkNoAttackGoroutines(t)
}

// TestSlowLorisCancel proves cancelling the context stops an attack at
// once, well before maxDuration.
func TestSlowLorisCancel(t *testing.T) {
	addr, conf := startServer(t, limits{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := SlowLoris(ctx, addr, conf, SlowBody, 50*time.Millisecond, time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("returned after %v, want soon after the 200 ms context deadline", d)
	}
	checkNoAttackGoroutines(t)
}

// TestConnFlood proves ConnFlood holds n handshaked connections at once
// and sees a server with a header timeout close every one of them within
// the hold, while a server without one leaves them all open.
func TestConnFlood(t *testing.T) {
	const n = 200
	t.Run("bounded", func(t *testing.T) {
		addr, conf := startServer(t, limits{readHeaderTimeout: serverTimeout}, nil)
		// A connection is cut 500 ms after its handshake; the hold starts
		// after the last handshake, so 4x the timeout is ample.
		res, err := ConnFlood(context.Background(), addr, conf, n, 4*serverTimeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", res)
		// Go's server applies ReadHeaderTimeout to the TLS handshake too,
		// so on a loaded machine (64 handshakes at once, -race) a few
		// handshakes are cut before they finish. Either way the server
		// bounded every connection: none is open at the end.
		failed := 0
		for kind, count := range res.Errors {
			if kind != KindReset && kind != KindEOF {
				t.Errorf("%d attempts failed with %s, want only server cuts", count, kind)
			}
			failed += count
		}
		if res.Handshaked == 0 || res.Handshaked+failed != n || res.ClosedByServer != res.Handshaked || res.OpenAtEnd != 0 {
			t.Errorf("got %+v, want %d handshaked or cut, all closed by the server", res, n)
		}
	})
	t.Run("unbounded", func(t *testing.T) {
		addr, conf := startServer(t, limits{}, nil)
		res, err := ConnFlood(context.Background(), addr, conf, n, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if res.Handshaked != n || res.ClosedByServer != 0 || res.OpenAtEnd != n || res.PeakOpen != n {
			t.Errorf("got %+v, want %d handshaked and open at once", res, n)
		}
	})
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		res, err := ConnFlood(context.Background(), addr, &tls.Config{}, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors[KindRefused] != 10 || res.Handshaked != 0 {
			t.Errorf("got %+v, want 10 refused", res)
		}
	})
	checkNoAttackGoroutines(t)
}
