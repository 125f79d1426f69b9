package attack

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// MaxFloodConns is the largest n ConnFlood accepts.
	MaxFloodConns = 1 << 16
	// connFloodDialers is how many connections ConnFlood dials at once.
	connFloodDialers = 64
	// connAttemptTimeout bounds one TCP connect plus TLS handshake.
	connAttemptTimeout = 5 * time.Second
	// connFloodDialPhase bounds the dialing phase as a whole; attempts
	// not started by then are skipped.
	connFloodDialPhase = 60 * time.Second
)

// ConnFloodResult is how the server dealt with a ConnFlood. Errors is
// never nil.
type ConnFloodResult struct {
	// Attempted counts dial attempts started; Skipped those never started
	// because the dialing phase ran out of time or ctx was cancelled.
	Attempted, Skipped int
	// Handshaked counts connections that completed the TLS handshake.
	Handshaked int
	// ClosedByServer counts handshaked connections the server closed (or
	// reset) before the hold ended; OpenAtEnd those still open then.
	ClosedByServer, OpenAtEnd int
	// PeakOpen is the most handshaked connections open at once.
	PeakOpen int
	// Errors counts failed attempts by ErrorKind.
	Errors map[string]int
	// Elapsed runs from the first dial to the last close.
	Elapsed time.Duration
}

// ConnFlood opens up to n TLS connections to addr, connFloodDialers (64)
// at a time, each attempt bounded by 5 s and the whole dialing phase by
// 60 s. Each connection offers tlsConf.NextProtos as given and, once
// handshaked, sends nothing while a goroutine per connection watches for
// the server closing it. When every attempt has finished, ConnFlood holds
// all the connections open for hold, then closes them all and returns.
//
// Before dialing it raises the process's soft file descriptor limit
// (RLIMIT_NOFILE, process-wide, it stays raised) towards 2n+256, room for
// the listener too when it lives in the same process as in tests, up to
// the hard limit; it fails with ErrFileLimit if the limit stays below
// n+64. n must be in [1, MaxFloodConns].
//
// The error is non-nil if the arguments are invalid, the limit cannot be
// raised, or ctx was cancelled (with the partial result).
func ConnFlood(ctx context.Context, addr string, tlsConf *tls.Config, n int, hold time.Duration) (ConnFloodResult, error) {
	if n < 1 || n > MaxFloodConns {
		return ConnFloodResult{}, fmt.Errorf("attack: flood of %d connections, want 1..%d", n, MaxFloodConns)
	}
	if hold < 0 {
		return ConnFloodResult{}, fmt.Errorf("attack: connection flood hold %v, want >= 0", hold)
	}
	if tlsConf == nil {
		return ConnFloodResult{}, ErrNoTLSConfig
	}
	if err := raiseFileLimit(uint64(n)+64, 2*uint64(n)+256); err != nil {
		return ConnFloodResult{}, err
	}
	f := &connFlood{
		dialer: &tls.Dialer{Config: tlsConfigFor(addr, tlsConf, nil)},
		addr:   addr,
		n:      int64(n),
	}
	f.mu.errors = map[string]int{}
	start := time.Now()

	dialCtx, cancel := context.WithTimeout(ctx, connFloodDialPhase)
	var dialers sync.WaitGroup
	for range min(n, connFloodDialers) {
		dialers.Go(func() { f.dialLoop(dialCtx) })
	}
	dialers.Wait()
	cancel()

	timer := time.NewTimer(hold)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	res := ConnFloodResult{
		Attempted:      int(min(f.next.Load(), f.n)),
		ClosedByServer: int(f.closedByServer.Load()),
		OpenAtEnd:      int(f.open.Load()),
		PeakOpen:       int(f.peak.Load()),
	}
	f.closeAll()
	res.Skipped = n - res.Attempted
	f.mu.Lock()
	res.Handshaked, res.Errors = f.mu.handshaked, f.mu.errors
	f.mu.Unlock()
	res.Elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("attack: connection flood: %w", err)
	}
	return res, nil
}

// connFlood is the state of one ConnFlood. The atomics are shared by the
// dialers and watchers; mu guards the rest.
type connFlood struct {
	dialer *tls.Dialer
	addr   string
	n      int64

	next           atomic.Int64 // attempts claimed
	open           atomic.Int64 // handshaked connections not yet closed
	peak           atomic.Int64 // maximum of open
	closedByServer atomic.Int64
	closing        atomic.Bool // set before closeAll closes the connections

	watchers sync.WaitGroup // one per handshaked connection

	mu struct {
		sync.Mutex
		conns      []net.Conn // handshaked connections, closed by closeAll
		handshaked int
		errors     map[string]int // failed attempts by ErrorKind
	}
}

// dialLoop claims and dials attempts until all n are claimed or ctx is
// done.
func (f *connFlood) dialLoop(ctx context.Context) {
	for ctx.Err() == nil && f.next.Add(1) <= f.n {
		actx, cancel := context.WithTimeout(ctx, connAttemptTimeout)
		conn, err := f.dialer.DialContext(actx, "tcp", f.addr)
		cancel()
		f.mu.Lock()
		if err != nil {
			f.mu.errors[ErrorKind(err)]++
			f.mu.Unlock()
			continue
		}
		f.mu.handshaked++
		f.mu.conns = append(f.mu.conns, conn)
		f.mu.Unlock()

		storeMax(&f.peak, f.open.Add(1))
		f.watchers.Go(func() { f.watch(conn) })
	}
}

// watch reads conn until it fails: closed by the server, or by closeAll.
func (f *connFlood) watch(conn net.Conn) {
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			break
		}
	}
	if !f.closing.Load() {
		f.closedByServer.Add(1)
	}
	f.open.Add(-1)
}

// closeAll closes every handshaked connection (the TCP connection, so no
// close_notify can block) and waits for the watchers.
func (f *connFlood) closeAll() {
	f.closing.Store(true)
	f.mu.Lock()
	for _, c := range f.mu.conns {
		_ = c.(*tls.Conn).NetConn().Close()
	}
	f.mu.conns = nil
	f.mu.Unlock()
	f.watchers.Wait()
}

// storeMax raises a to v if v is larger.
func storeMax(a *atomic.Int64, v int64) {
	for cur := a.Load(); v > cur; cur = a.Load() {
		if a.CompareAndSwap(cur, v) {
			return
		}
	}
}
