package p2p

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// Message budget: what a session's remote can make this host hold in
// messages being assembled by Stream.ReadMsg.
//
// Bytes a handler has read are no longer the multiplexer's (budget.go):
// ReadMsg copies them into the message it is assembling, up to
// MaxFrameBytes, and up to MaxStreamsPerSession handlers (plus the
// streams this host opened) may be reading at once: 256 x 16 MiB = 4 GiB
// on one session with the defaults. So every message over readChunk
// bytes reserves its announced length from the session's budget,
// SessionMessageBytes, before ReadMsg reads its body, and releases it when
// ReadMsg returns (the message is then the caller's) or fails.
//
// The whole length is reserved up front, not step by step as the buffer
// grows: a message that holds its reservation can always complete once
// its bytes arrive, whereas partial reservations can deadlock (every
// message in progress holding part of the budget and waiting for more).
// The buffer itself still grows with the bytes received (readFrameBody),
// so a length announced and never sent costs budget, not heap. Waiters
// are served in order (FIFO), so a large message is not starved by small
// ones; the budget is at least MaxFrameBytes (Options.Validate), so every
// message fits once the others are released.
//
// Messages of at most readChunk bytes reserve nothing: they are allocated
// whole in one step, at most readChunk per stream being read (16 MiB for
// the MaxStreamsPerSession streams a remote may open), and control
// messages (raft heartbeats, acknowledgements) never queue behind bulk
// transfers.
//
// While ReadMsg waits, the message's bytes stay in the multiplexer and
// count against SessionBufferBytes: a session whose remote pushes more
// than both budgets fills the multiplexer's, which stops reading the
// session and closes it after WriteTimeout (reason session_buffer). A wait
// ends with the stream's read deadline or the session's end; it never
// refuses a message by itself.

// msgBudget is one session's budget of message bytes being assembled.
// Safe for concurrent use. A nil *msgBudget accounts nothing.
type msgBudget struct {
	limit int64
	// done is closed when the session ends or the host stops.
	done <-chan struct{}

	// mu guards the reservations and the queue of waiters.
	mu struct {
		sync.Mutex
		used    int64 // bytes reserved
		peak    int64 // highest used
		waits   int64 // reservations that had to wait
		waiters []*msgWaiter
	}
}

// msgWaiter is a reservation waiting its turn; ready is closed once it is
// granted (and used already includes n).
type msgWaiter struct {
	n       int64
	ready   chan struct{}
	granted bool
}

func newMsgBudget(limit int64, done <-chan struct{}) *msgBudget {
	return &msgBudget{limit: limit, done: done}
}

// reserve reserves n bytes (n <= limit), waiting behind earlier waiters
// while the budget is spent. The wait ends with s's read deadline (read
// again whenever it changes) or the session's end.
func (b *msgBudget) reserve(n int64, s *Stream) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	if len(b.mu.waiters) == 0 && b.mu.used+n <= b.limit {
		b.takeLocked(n)
		b.mu.Unlock()
		return nil
	}
	w := &msgWaiter{n: n, ready: make(chan struct{})}
	b.mu.waiters = append(b.mu.waiters, w)
	b.mu.waits++
	b.mu.Unlock()
	for {
		dl, changed := s.readDeadline()
		var expired <-chan time.Time
		var t *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				b.cancel(w)
				return fmt.Errorf("%w: waiting for the session's message budget (%d bytes)", yamux.ErrTimeout, n)
			}
			t = time.NewTimer(d)
			expired = t.C
		}
		var err error
		select {
		case <-w.ready:
		case <-b.done:
			err = fmt.Errorf("%w: session ended while waiting for its message budget", net.ErrClosed)
		case <-expired:
			err = fmt.Errorf("%w: waiting for the session's message budget (%d bytes)", yamux.ErrTimeout, n)
		case <-changed: // look at the new deadline
			if t != nil {
				t.Stop()
			}
			continue
		}
		if t != nil {
			t.Stop()
		}
		if err != nil {
			b.cancel(w)
		}
		return err
	}
}

func (b *msgBudget) takeLocked(n int64) {
	b.mu.used += n
	b.mu.peak = max(b.mu.peak, b.mu.used)
}

// cancel withdraws a waiter; if it was granted meanwhile, its bytes are
// released.
func (b *msgBudget) cancel(w *msgWaiter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.granted {
		b.mu.used -= w.n
	} else {
		for i, x := range b.mu.waiters {
			if x == w {
				b.mu.waiters = append(b.mu.waiters[:i], b.mu.waiters[i+1:]...)
				break
			}
		}
	}
	b.grantLocked() // the head may have changed, or bytes were freed
}

// release returns n reserved bytes and wakes the waiters they let in.
func (b *msgBudget) release(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.used -= n
	b.grantLocked()
}

// grantLocked grants waiters in order while the head fits.
func (b *msgBudget) grantLocked() {
	for len(b.mu.waiters) > 0 {
		w := b.mu.waiters[0]
		if b.mu.used+w.n > b.limit {
			return
		}
		b.takeLocked(w.n)
		w.granted = true
		close(w.ready)
		b.mu.waiters[0] = nil
		b.mu.waiters = b.mu.waiters[1:]
	}
}

// msgStats is a snapshot for tests and logs.
type msgStats struct {
	used, peak, waits int64
	waiting           int
}

func (b *msgBudget) stats() msgStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return msgStats{used: b.mu.used, peak: b.mu.peak, waits: b.mu.waits, waiting: len(b.mu.waiters)}
}
