package p2p

import (
	"context"
	"math/rand/v2"
	"net"
	"time"
)

// startDialLoopLocked starts the goroutine that keeps a session to w, if
// w can be dialed. Called under Host.mu while running.
func (h *Host) startDialLoopLocked(w *want) {
	if w.spec.Addr == "" {
		return // dial-only peer: it dials us
	}
	ctx, cancel := context.WithCancel(h.mu.runCtx)
	w.cancel = cancel
	h.wg.Add(1)
	go h.dialLoop(ctx, w)
}

// dialLoop dials w whenever no session to it exists or is being
// confirmed (looked up by node ID before every dial), backing off
// exponentially with jitter after failures. It ends with ctx (RemovePeer,
// a new spec for the peer, or the host stopping).
func (h *Host) dialLoop(ctx context.Context, w *want) {
	defer h.wg.Done()
	failures := 0
	for {
		var peer string
		for {
			h.mu.Lock()
			peer = w.nodeID()
			need := peer == "" || h.mu.table.needDial(peer)
			h.mu.Unlock()
			if need {
				break
			}
			select {
			case <-w.wake:
			case <-ctx.Done():
				return
			}
		}
		err := h.dialTurn(ctx, w)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			failures = 0
			continue
		}
		failures++
		delay := backoffDelay(failures, h.opts.BackoffMin, h.opts.BackoffMax, rand.Float64())
		h.log.Debug("p2p dial failed", "addr", w.spec.Addr, "peer", short(peer), "failures", failures, "retry_in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// dialTurn waits for a dialing slot (MaxDialing) and dials w unless a
// session to it came up meanwhile.
func (h *Host) dialTurn(ctx context.Context, w *want) error {
	select {
	case h.dialing <- struct{}{}:
		defer func() { <-h.dialing }()
	case <-ctx.Done():
		return ctx.Err()
	}
	h.mu.Lock()
	peer := w.nodeID()
	need := peer == "" || h.mu.table.needDial(peer)
	if need {
		h.mu.dialing++ // in the same step as the check, so no attempt goes unseen
	}
	h.mu.Unlock()
	if !need {
		return nil
	}
	defer func() {
		h.mu.Lock()
		h.mu.dialing--
		h.attemptEndedLocked()
		h.mu.Unlock()
	}()
	return h.dialOnce(ctx, w)
}

// dialOnce connects to w, runs the handshake and registers the session.
func (h *Host) dialOnce(ctx context.Context, w *want) error {
	d := net.Dialer{Timeout: h.opts.DialTimeout}
	raw, err := d.DialContext(ctx, "tcp", w.spec.Addr)
	if err != nil {
		h.metrics.dials.WithLabelValues("failed").Inc()
		return err
	}
	h.metrics.dials.WithLabelValues("ok").Inc()
	tc, res, err := h.hs.run(ctx, raw, DialedBySelf, h.gen.Add(1), expectation{nodeID: w.spec.NodeID, name: w.spec.Name})
	if err != nil {
		_ = raw.Close() // the failure was reported by the handshake
		return err
	}
	return h.establish(tc, res, w) // a refusal is counted and logged inside
}
