package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptrace"
	"strings"
	"syscall"
	"time"

	"connectrpc.com/connect"
)

// This file is the failover of the gateway client: trying the endpoints of
// an organisation in turn, classifying errors, and naming every endpoint
// tried when none answered.

// ErrNoGateway is wrapped by *UnavailableError: no endpoint answered.
var ErrNoGateway = errors.New("no gateway answered")

// errAttemptTimeout is the cause of an attempt's context when the attempt
// (not the caller's context) ran out of time; errConnectTimeout when it got
// no connection (TCP and TLS) in time.
var (
	errAttemptTimeout = errors.New("attempt timed out")
	errConnectTimeout = errors.New("connect timed out")
)

// AttemptError is one failed attempt of an operation at one endpoint.
type AttemptError struct {
	// Endpoint is the name of the endpoint tried (its address when it has
	// no name).
	Endpoint string
	Err      error
}

func (e *AttemptError) Error() string { return e.Endpoint + ": " + e.Err.Error() }
func (e *AttemptError) Unwrap() error { return e.Err }

// UnavailableError reports an operation that no endpoint answered: it
// lists every endpoint tried, in order, with the reason it failed. It wraps
// ErrNoGateway and each attempt's error (so connect.CodeOf still tells
// connect.CodeUnavailable).
type UnavailableError struct {
	// Op is the operation: "evaluate", "endorse", "submit" or "commit status".
	Op       string
	Attempts []*AttemptError
	// Cause is set when the caller's context ended the round early.
	Cause error
}

func (e *UnavailableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s (tried %d", e.Op, ErrNoGateway, len(e.Attempts))
	if len(e.Attempts) == 1 {
		b.WriteString(" endpoint)")
	} else {
		b.WriteString(" endpoints)")
	}
	for _, a := range e.Attempts {
		b.WriteString("; ")
		b.WriteString(a.Error())
	}
	if e.Cause != nil {
		b.WriteString("; then: ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

func (e *UnavailableError) Unwrap() []error {
	errs := []error{ErrNoGateway}
	for _, a := range e.Attempts {
		errs = append(errs, a)
	}
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	return errs
}

// UnknownOutcomeError reports a transaction whose signed envelope may have
// reached the ordering service, but no gateway confirmed the hand-over nor
// reported a commit status. The transaction may still commit: learn its
// outcome with Gateway.CommitStatus(TxID) (or `folio tx get TXID`), or
// resubmit the same envelope; never endorse the call again with a new
// proposal, which could apply it twice.
type UnknownOutcomeError struct {
	TxID string
	Err  error
}

func (e *UnknownOutcomeError) Error() string {
	return fmt.Sprintf("transaction %s may have been submitted, its outcome is unknown (ask its commit status; do not send it again as a new transaction): %v", e.TxID, e.Err)
}
func (e *UnknownOutcomeError) Unwrap() error { return e.Err }

// Unreachable reports whether err means the gateway could not be reached
// or did not answer in time, so that another gateway should be tried:
// connection refused or reset, a TLS failure, a network timeout, or
// connect.CodeUnavailable (which connect also uses for transport errors).
// A context error of the caller's own context is not "unreachable".
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errAttemptTimeout) || errors.Is(err, errConnectTimeout) || connect.CodeOf(err) == connect.CodeUnavailable {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if notSent(err) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// notSent reports whether err proves the request never reached the gateway
// (no connection, or no TLS session): then even a submit left no trace.
func notSent(err error) bool {
	if errors.Is(err, errConnectTimeout) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var (
		dns   *net.DNSError
		rec   tls.RecordHeaderError
		alert tls.AlertError
		ver   *tls.CertificateVerificationError
		unk   x509.UnknownAuthorityError
		host  x509.HostnameError
		inv   x509.CertificateInvalidError
	)
	return errors.As(err, &dns) || errors.As(err, &rec) || errors.As(err, &alert) || errors.As(err, &ver) ||
		errors.As(err, &unk) || errors.As(err, &host) || errors.As(err, &inv)
}

// round tries fn at the gateway's endpoints, starting with index start and
// wrapping around, until one succeeds. Each attempt is bounded by timeout
// (none when <= 0) and, until it has a connection, by ConnectTimeout.
// retry decides which errors move on to the next endpoint; any other error
// ends the round at once and is returned wrapped with the endpoint's name.
// It returns the index of the endpoint that succeeded, and the failed
// attempts (also when it succeeded). When every endpoint failed, or the
// caller's context ended, the error is an *UnavailableError.
func (g *Gateway) round(ctx context.Context, op string, start int, timeout time.Duration, retry func(error) bool,
	fn func(ctx context.Context, ep *endpoint) error) (int, []*AttemptError, error) {
	var attempts []*AttemptError
	for k := range g.eps {
		i := (start + k) % len(g.eps)
		ep := &g.eps[i]
		err := g.attempt(ctx, timeout, func(ctx context.Context) error { return fn(ctx, ep) })
		if err == nil {
			return i, attempts, nil
		}
		if ctx.Err() != nil {
			attempts = append(attempts, &AttemptError{Endpoint: ep.name(), Err: err})
			return i, attempts, &UnavailableError{Op: op, Attempts: attempts, Cause: context.Cause(ctx)}
		}
		if !retry(err) {
			return i, attempts, fmt.Errorf("%s via %s: %w", op, ep.name(), err)
		}
		attempts = append(attempts, &AttemptError{Endpoint: ep.name(), Err: err})
	}
	return start, attempts, &UnavailableError{Op: op, Attempts: attempts}
}

// attempt runs one call under the attempt's bounds. A call that was cut
// short by one of them returns an error wrapping errConnectTimeout or
// errAttemptTimeout.
//
// The connect bound is separate because a gateway may rightly take long to
// answer (it fails over between endorsers and orderers itself, within its
// own budgets), while a peer that is stopped or wedged typically accepts
// TCP and never completes TLS: that is caught within ConnectTimeout. The
// bound ends when the HTTP transport has a connection for the request (a
// new or a reused one; net/http/httptrace GotConn).
func (g *Gateway) attempt(ctx context.Context, timeout time.Duration, call func(ctx context.Context) error) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if timeout > 0 {
		var stop context.CancelFunc
		actx, stop = context.WithTimeoutCause(actx, timeout, errAttemptTimeout)
		defer stop()
	}
	if ct := g.o.ConnectTimeout; ct > 0 {
		t := time.AfterFunc(ct, func() { cancel(errConnectTimeout) })
		defer t.Stop()
		actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { t.Stop() }})
	}
	began := time.Now()
	err := call(actx)
	if err == nil || ctx.Err() != nil {
		return err
	}
	switch cause := context.Cause(actx); {
	case cause == errConnectTimeout:
		err = fmt.Errorf("%w: no connection within %s (%v)", errConnectTimeout, g.o.ConnectTimeout, err)
	case cause == errAttemptTimeout,
		// connect sends the attempt's deadline along: the server may
		// give up a moment before the client does.
		timeout > 0 && connect.CodeOf(err) == connect.CodeDeadlineExceeded && time.Since(began) >= timeout*9/10:
		err = fmt.Errorf("%w: no answer within %s (%v)", errAttemptTimeout, timeout, err)
	}
	return err
}

// ambiguous reports whether a failed submit attempt may have handed the
// envelope over: anything but a proof that the request was never sent.
func ambiguous(attempts []*AttemptError) bool {
	for _, a := range attempts {
		if !notSent(a.Err) {
			return true
		}
	}
	return false
}
