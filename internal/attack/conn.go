package attack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// dialTimeout bounds one TCP connect plus TLS handshake.
const dialTimeout = 10 * time.Second

// Sentinel errors callers can branch on with errors.Is.
var (
	// ErrNoTLSConfig is returned when the tls.Config argument is nil.
	ErrNoTLSConfig = errors.New("attack: nil tls.Config")
	// ErrNoH2 is returned when the server did not negotiate h2 by ALPN.
	ErrNoH2 = errors.New("attack: server did not negotiate h2")
	// ErrFileLimit is returned when the file descriptor limit cannot be
	// raised high enough for the connections asked for.
	ErrFileLimit = errors.New("attack: file descriptor limit too low")
)

// dialTCP connects to addr and returns the connection and the time the
// TCP connection was established.
func dialTCP(ctx context.Context, addr string) (net.Conn, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("attack: dial %s: %w", addr, err)
	}
	return raw, time.Now(), nil
}

// dialTLS connects to addr and completes a TLS handshake with a clone of
// conf offering protos by ALPN (conf.NextProtos if protos is nil). It
// returns the connection and the time the TCP connection was established,
// which is when the attacks start their clocks.
func dialTLS(ctx context.Context, addr string, conf *tls.Config, protos []string) (*tls.Conn, time.Time, error) {
	if conf == nil {
		return nil, time.Time{}, ErrNoTLSConfig
	}
	conf = tlsConfigFor(addr, conf, protos)
	raw, connected, err := dialTCP(ctx, addr)
	if err != nil {
		return nil, time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn := tls.Client(raw, conf)
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, time.Time{}, fmt.Errorf("attack: TLS handshake with %s: %w", addr, err)
	}
	return conn, connected, nil
}

// tlsConfigFor clones conf, sets NextProtos to protos unless protos is
// nil, and defaults ServerName to the host of addr as tls.Dial does.
func tlsConfigFor(addr string, conf *tls.Config, protos []string) *tls.Config {
	conf = conf.Clone()
	if protos != nil {
		conf.NextProtos = protos
	}
	if conf.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			conf.ServerName = host
		}
	}
	return conf
}

// authority is the :authority (Host) the attacks send: conf.ServerName
// when set, else addr.
func authority(addr string, conf *tls.Config) string {
	if conf != nil && conf.ServerName != "" {
		if _, port, err := net.SplitHostPort(addr); err == nil {
			return net.JoinHostPort(conf.ServerName, port)
		}
	}
	return addr
}

// isNoALPN reports whether err is a TLS handshake the server refused for
// want of a common ALPN protocol (alert 120, no_application_protocol). Go
// reports a received alert as a *net.OpError "remote error" wrapping an
// unexported type, so its text is all there is to match.
func isNoALPN(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error" && op.Err != nil &&
		op.Err.Error() == "tls: no application protocol"
}

// afterDone runs f once if ctx is done before stop is called. stop is
// idempotent and returns only once the watching goroutine has exited (and
// f has returned, if it ran), so no goroutine outlives the caller.
func afterDone(ctx context.Context, f func()) (stop func()) {
	quit := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-ctx.Done():
			f()
		case <-quit:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-exited
	}
}

// countWriter counts the bytes written through it. Not safe for
// concurrent use; the attack's sending goroutine owns it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Error kinds reported by ConnFlood, from ErrorKind.
const (
	KindRefused  = "refused"  // ECONNREFUSED: nothing listening, or the backlog is full
	KindReset    = "reset"    // ECONNRESET or EPIPE: the server reset the connection
	KindEOF      = "eof"      // the server closed the connection mid-handshake
	KindTimeout  = "timeout"  // a deadline passed (dial, handshake)
	KindTLS      = "tls"      // a TLS alert, a non-TLS reply or a certificate error
	KindFDLimit  = "fd-limit" // EMFILE/ENFILE: out of file descriptors
	KindNoPorts  = "no-ports" // EADDRNOTAVAIL: out of ephemeral ports
	KindCanceled = "canceled" // the caller's context was cancelled
	KindOther    = "other"    // anything else
)

// ErrorKind classifies a dial or handshake error into one of the Kind
// constants.
func ErrorKind(err error) string {
	var (
		alert  tls.AlertError
		record tls.RecordHeaderError
		verify *tls.CertificateVerificationError
		op     *net.OpError
		netErr net.Error
	)
	switch {
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindReset
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return KindFDLimit
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return KindNoPorts
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindEOF
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return KindTimeout
	case errors.As(err, &alert), errors.As(err, &record), errors.As(err, &verify),
		errors.As(err, &op) && op.Op == "remote error": // an alert from the server
		return KindTLS
	default:
		return KindOther
	}
}
