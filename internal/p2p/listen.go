package p2p

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// acceptLoop owns the listener's accepts. Each connection gets a bounded
// handshake; over MaxPendingHandshakes they are closed at once.
func (h *Host) acceptLoop(ctx context.Context, ln net.Listener) {
	defer h.wg.Done()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or similar: back off as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			h.log.Warn("p2p accept failed", "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		h.mu.Lock()
		if pending := h.mu.pending; pending >= h.opts.MaxPendingHandshakes {
			h.mu.Unlock()
			h.handshakeFailed(&HandshakeError{Remote: c.RemoteAddr().String(), Err: &LimitError{Err: ErrTooManyHandshakes,
				Detail: fmt.Sprintf("%d inbound connections already in the handshake, limit %d", pending, h.opts.MaxPendingHandshakes), Option: "MaxPendingHandshakes"}})
			_ = c.Close()
			continue
		}
		h.mu.pending++
		h.wg.Add(1)
		h.mu.Unlock()
		go h.serveInbound(ctx, c)
	}
}

func (h *Host) serveInbound(ctx context.Context, c net.Conn) {
	defer h.wg.Done()
	tc, res, err := h.hs.run(ctx, c, DialedByRemote, 0, expectation{})
	h.mu.Lock()
	h.mu.pending--
	h.attemptEndedLocked()
	h.mu.Unlock()
	if err != nil {
		_ = c.Close() // the failure was reported by the handshake
		return
	}
	_ = h.establish(tc, res, nil) // a refusal is counted and logged inside
}

// handshakeFailed counts and logs (rate-limited) a refused connection.
func (h *Host) handshakeFailed(err error) {
	reason := reasonOf(err)
	h.metrics.handshakeFailures.WithLabelValues(reason).Inc()
	if r := handshakeRefusal(err, reason); r != "" {
		h.metrics.refused.WithLabelValues(r).Inc() // logged below with the failure
	}
	if reason == "shutdown" {
		h.log.Debug("p2p handshake abandoned", "err", err)
		return
	}
	if ok, suppressed := h.logs.allow(time.Now()); ok {
		h.log.Warn("p2p connection refused", "reason", reason, "err", err, "suppressed", suppressed)
	}
}
