package p2p

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/identity"
)

// TestMsgBudgetWaits drives the budget by hand: reservations beyond it
// wait in order, a release wakes them, and a wait ends with the read
// deadline (also one set while waiting) or the session's end.
func TestMsgBudgetWaits(t *testing.T) {
	done := make(chan struct{})
	b := newMsgBudget(10, done)
	var s Stream // deadline bookkeeping only
	must(t, b.reserve(6, &s))
	must(t, b.reserve(4, &s))
	order := make(chan int64, 2)
	var wg sync.WaitGroup
	for i, n := range []int64{5, 1} { // 5 queues first; 1 must not overtake it
		wg.Add(1)
		go func() {
			defer wg.Done()
			var own Stream
			if err := b.reserve(n, &own); err != nil {
				t.Errorf("reserve %d: %v", n, err)
				return
			}
			order <- n
		}()
		eventually(t, "waiter queued", 5*time.Second, func() bool { return b.stats().waiting == i+1 })
	}
	b.release(4) // 6 used: 5 does not fit yet, and 1 (which would) waits behind it
	if st := b.stats(); st.waiting != 2 || st.used != 6 {
		t.Fatalf("after a partial release: %+v", st)
	}
	b.release(6)
	wg.Wait()
	if a, c := <-order, <-order; a+c != 6 {
		t.Fatalf("granted %d and %d; want 5 and 1", a, c)
	}
	if st := b.stats(); st.used != 6 || st.peak != 10 || st.waits != 2 {
		t.Fatalf("stats %+v", st)
	}

	// A read deadline ends a wait, including one set while waiting.
	must(t, b.reserve(4, &s))
	var late Stream
	late.setReadDeadline(time.Now().Add(20 * time.Millisecond))
	if err := b.reserve(1, &late); !isTimeout(err) {
		t.Fatalf("reserve past the deadline: %v", err)
	}
	var w Stream
	errc := make(chan error, 1)
	go func() { errc <- b.reserve(1, &w) }()
	eventually(t, "waiter queued", 5*time.Second, func() bool { return b.stats().waiting == 1 })
	w.setReadDeadline(time.Now())
	if err := <-errc; !isTimeout(err) {
		t.Fatalf("reserve after SetReadDeadline(now): %v", err)
	}
	w.setReadDeadline(time.Time{}) // no deadline: waits until the session ends
	go func() { errc <- b.reserve(1, &w) }()
	eventually(t, "waiter queued", 5*time.Second, func() bool { return b.stats().waiting == 1 })
	close(done)
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("reserve when the session ends: %v", err)
	}
	if st := b.stats(); st.used != 10 || st.waiting != 0 {
		t.Fatalf("withdrawn waiters left %+v", st)
	}
}

// TestHonestMessagesWaitTheirTurn: concurrent messages on one session
// whose total is six times the session's message budget all arrive
// intact; the budget is never exceeded.
func TestHonestMessagesWaitTheirTurn(t *testing.T) {
	const streams, size = 12, 1 << 20
	c := newConsortium(t, 1)
	mod := func(o *Options) {
		o.MaxFrameBytes = size
		o.SessionMessageBytes = 2 * size
	}
	a := startHost(t, c, issue(t, c, 0, "peer0.org1", identity.RolePeer), nil, mod)
	b := startHost(t, c, issue(t, c, 0, "peer1.org1", identity.RolePeer), map[string]Handler{"echo": echo}, mod)
	must(t, a.AddPeer(b.spec()))
	a.waitUp(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := make([]byte, size)
			for j := range msg {
				msg[j] = byte(i + j)
			}
			got, err := a.Call(ctx, b.ID(), "echo", msg)
			if err != nil {
				t.Errorf("call %d: %v", i, err)
				return
			}
			if len(got) != size || got[0] != byte(i) || got[size-1] != byte(i+size-1) {
				t.Errorf("call %d: echo of %d bytes does not match", i, len(got))
			}
		}()
	}
	wg.Wait()
	for _, h := range []*testHost{a, b} {
		peer := b
		if h == b {
			peer = a
		}
		st := h.sessionWith(t, peer.ID()).msgs.stats()
		t.Logf("%s: message budget peak %d of %d, %d reservations waited", h.creds.Self.Name, st.peak, 2*size, st.waits)
		if st.peak > 2*size || st.used != 0 {
			t.Errorf("%s: message budget %+v, limit %d", h.creds.Self.Name, st, 2*size)
		}
	}
}

// TestMessagesBeingReadBudget: an enrolled node opens
// MaxStreamsPerSession streams to a handler that reads messages, announces
// a message of MaxFrameBytes on each and pushes its body, 1 MiB per
// stream in turn, from a small reused buffer. Without a bound the handlers
// would assemble 256 x 16 MiB = 4 GiB. The host reads at most
// SessionMessageBytes of messages at once; the other streams wait with
// their bytes in the multiplexer, whose budget fills, and the session is
// closed after WriteTimeout (session_buffer). Heap stays under twice
// SessionBufferBytes plus SessionMessageBytes plus a margin; another
// node is served meanwhile and afterwards.
func TestMessagesBeingReadBudget(t *testing.T) {
	top, base, msgs := attackMessages(t, 0, 0)
	if msgs.peak > int64(16*mib*4) {
		t.Errorf("message budget peaked at %d", msgs.peak)
	}
	// Messages are reserved whole but grow by doubling, so the live heap
	// of those in progress is at most about 1.5 x the budget.
	if limit := base + 2*16*mib + 64*mib*3/2 + 48*mib; top > limit {
		t.Errorf("heap in use peaked at %d MB, want under %d MB", top/1e6, limit/1e6)
	}
}

// attackMessages runs the attack of TestMessagesBeingReadBudget with the
// given SessionMessageBytes (0: default), pushing at most pushLimit bytes
// (0: until the session is closed), and returns the heap peak and base
// and the victim's message budget stats.
func attackMessages(t *testing.T, msgBytes int, pushLimit int64) (top, base uint64, msgs msgStats) {
	const workers = 16
	const stall = 2 * time.Second
	c := newConsortium(t, 1)
	sink := func(ctx context.Context, s *Stream) {
		for {
			if _, err := s.ReadMsg(); err != nil {
				return
			}
		}
	}
	victim := startHost(t, c, issue(t, c, 0, "peer0.org1", identity.RolePeer), map[string]Handler{"sink": sink, "echo": echo}, func(o *Options) {
		o.WriteTimeout = stall
		o.KeepAliveInterval = time.Minute
		o.IdleTimeout = 3 * time.Minute // so that only the budget cuts the session
		o.SessionMessageBytes = msgBytes
	})
	friend := startHost(t, c, issue(t, c, 0, "peer2.org1", identity.RolePeer), nil, nil)
	must(t, friend.AddPeer(victim.spec()))
	friend.waitUp(t, victim)
	atk := dialHostile(t, c, victim, "peer1.org1")
	vs := victim.sessionWith(t, atk.ID())
	maxFrame, flood := victim.opts.MaxFrameBytes, victim.opts.MaxStreamsPerSession
	base = heapInuse()

	hdr := append(marshalStreamHeader("sink"), binary.BigEndian.AppendUint32(nil, uint32(maxFrame))...)
	streams := make([]*Stream, flood)
	for i := range streams {
		st, err := atk.open("sink", hdr)
		must(t, err)
		streams[i] = st
	}
	stop := make(chan struct{})
	peak := heapPeak(100*time.Millisecond, stop)
	start := time.Now()
	var pushed atomic.Int64
	var wg sync.WaitGroup
	// giveUp stops the workers once the test no longer waits for the cut.
	giveUp := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			chunk := make([]byte, 32<<10)
			sent := make([]int, flood)
			for {
				unsent := false
				for j := w; j < flood; j += workers {
					if atk.mux.IsClosed() || isClosed(giveUp) || (pushLimit > 0 && pushed.Load() >= pushLimit) {
						return
					}
					if sent[j] >= maxFrame {
						continue
					}
					unsent = true
					// A stalled stream holds the loop up to the deadline,
					// which paces the retries.
					_ = streams[j].SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
					n, err := push(streams[j], chunk, min(mib, maxFrame-sent[j]))
					sent[j] += n
					pushed.Add(int64(n))
					if ne := net.Error(nil); err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
						sent[j] = maxFrame // the stream is gone: nothing more to push on it
					}
				}
				if !unsent {
					return // everything pushed; the test waits for the cut
				}
			}
		}()
	}
	// Meanwhile another node is served.
	roundTrip(t, friend, victim, "during the attack")
	closed := true
	if pushLimit > 0 {
		wg.Wait()
		closed = atk.mux.IsClosed()
	} else {
		select {
		case <-atk.mux.CloseChan():
		case <-time.After(30 * time.Second):
			closed = false
		}
	}
	cut := time.Since(start)
	msgs = vs.msgs.stats()
	held := vs.rx.stats()
	close(giveUp)
	wg.Wait()
	close(stop)
	top = <-peak
	t.Logf("%d streams, %d MB pushed; closed=%v after %s; message budget peak %d MB of %d MB, %d waits; receive buffers peak %d MB",
		flood, pushed.Load()/1e6, closed, cut.Round(time.Millisecond), msgs.peak/1e6, victim.opts.SessionMessageBytes/1e6, msgs.waits, held.peak/1e6)
	t.Logf("heap in use: %d MB before, peak %d MB during the attack", base/1e6, top/1e6)
	if pushLimit == 0 {
		if !closed {
			t.Fatalf("the session was not closed; messages %+v, buffers %+v", msgs, held)
		}
		if got := victim.refusals(refusedSessionBuffer); got != 1 {
			t.Errorf("refused{%s} = %v, want 1", refusedSessionBuffer, got)
		}
	}
	roundTrip(t, friend, victim, "after the attack")
	return top, base, msgs
}
