package link

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// socketPair returns both ends of a Unix socketpair as net.Conns, as the
// host and the enclave process have them.
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns[0], conns[1]
}

// TestSendFromReaderNeverWaits fills the socket with frames sent as the
// reader goroutine sends them, while nobody reads the other end: every
// call must return (the reader would otherwise wait for the other side,
// which may be waiting for it), and the frames must then arrive whole,
// not interleaved with each other or with frames of blocking sends. (Their
// order is free: replies are matched by id.)
func TestSendFromReaderNeverWaits(t *testing.T) {
	a, b := socketPair(t)
	ep := NewEndpoint(a, wire.KindEcall, nil)
	if !ep.InlineReplies() {
		t.Skip("no raw socket on this platform")
	}
	// 64 frames of 64 KiB: far more than a socket buffer holds.
	const n, size = 64, 64 << 10
	payload := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, size) }
	var failed sync.Map
	for i := 0; i < n; i++ {
		p := payload(i)
		ep.SendFromReader(wire.KindOcallReply, wire.OcLookup, uint64(i), func(buf []byte) []byte { return append(buf, p...) },
			func(err error) { failed.Store(i, err) })
	}
	// A blocking send queues behind them on the write lock.
	done := make(chan error, 1)
	go func() {
		done <- ep.Send(wire.KindOcallReply, wire.OcLookup, n, func(buf []byte) []byte { return append(buf, payload(n)...) })
	}()
	r := bufio.NewReader(b)
	seen := map[uint64]bool{}
	for i := 0; i <= n; i++ {
		f, err := wire.ReadFrame(r)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.ID > n || seen[f.ID] || !bytes.Equal(f.Payload, payload(int(f.ID))) {
			t.Fatalf("frame %d: id %d (seen before: %v), %d bytes", i, f.ID, seen[f.ID], len(f.Payload))
		}
		seen[f.ID] = true
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	failed.Range(func(k, v any) bool {
		t.Errorf("frame %v: %v", k, v)
		return true
	})
}

// TestBatchQueueAndCancel drives the host's batcher against a hand-played
// enclave: two batches in flight at most, a call canceled while queued
// never crosses (no batch, no cancel frame), and a batch reply answers
// its calls and lets the queue leave.
func TestBatchQueueAndCancel(t *testing.T) {
	a, b := socketPair(t)
	var ctr Counters
	ep := NewEndpoint(a, wire.KindEcall, &ctr)
	ep.EnableBatching(8, time.Hour)
	go ep.Run(func(wire.Frame) {})
	r := bufio.NewReader(b)

	type result struct {
		f   wire.Frame
		err error
	}
	start := func(ctx context.Context, payload string) chan result {
		ch := make(chan result, 1)
		go func() {
			f, err := ep.RequestBatched(ctx, wire.OpSimulate, func(buf []byte) []byte { return append(buf, payload...) }, nil, nil)
			ch <- result{f, err}
		}()
		return ch
	}
	// readBatch reads the next frame, which must be a batch, and returns
	// its ecalls.
	readBatch := func() (wire.Frame, []wire.Frame) {
		t.Helper()
		f, err := wire.ReadFrame(r)
		if err != nil {
			t.Fatal(err)
		}
		if f.Kind != wire.KindBatch {
			t.Fatalf("frame of kind %d, want a batch", f.Kind)
		}
		subs, err := wire.SplitBatch(f.Payload, wire.KindEcall)
		if err != nil {
			t.Fatal(err)
		}
		return f, subs
	}

	r1 := start(context.Background(), "one")
	b1, subs1 := readBatch()
	r2 := start(context.Background(), "two")
	_, subs2 := readBatch()
	if len(subs1) != 1 || len(subs2) != 1 || string(subs1[0].Payload) != "one" || string(subs2[0].Payload) != "two" {
		t.Fatalf("first batches: %+v %+v", subs1, subs2)
	}

	// Two batches in flight: the next call waits in the queue; canceled
	// there, it returns at once and never crosses.
	ctx, cancel := context.WithCancel(context.Background())
	r3 := start(ctx, "three")
	waitQueued(t, ep, 1)
	cancel()
	if res := <-r3; !errors.Is(res.err, context.Canceled) {
		t.Fatalf("canceled queued call: %v", res.err)
	}
	r4 := start(context.Background(), "four")
	waitQueued(t, ep, 1)

	// The reply of the first batch answers call one and sends four.
	reply, err := wire.Finish(append(wire.Begin(nil, wire.KindEcallReply, wire.OpSimulate, subs1[0].ID), "ONE"...))
	if err != nil {
		t.Fatal(err)
	}
	br, err := wire.Finish(append(wire.Begin(nil, wire.KindBatchReply, 0, b1.ID), reply...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(br); err != nil {
		t.Fatal(err)
	}
	if res := <-r1; res.err != nil || string(res.f.Payload) != "ONE" {
		t.Fatalf("call one: %q, %v", res.f.Payload, res.err)
	}
	_, subs3 := readBatch() // a cancel frame for three would come first
	if len(subs3) != 1 || string(subs3[0].Payload) != "four" {
		t.Fatalf("third batch: %+v", subs3)
	}
	if got := [3]uint64{ctr.Replies.Load(), ctr.Batches.Load(), ctr.Batched.Load()}; got != [3]uint64{1, 3, 3} {
		t.Fatalf("replies, batches, batched calls: %v, want [1 3 3]", got)
	}
	select {
	case res := <-r2:
		t.Fatalf("call two answered without a reply: %+v", res)
	case res := <-r4:
		t.Fatalf("call four answered without a reply: %+v", res)
	default:
	}
	// A malformed batch reply stops the endpoint: the calls waiting fail.
	if _, err := b.Write([]byte{0, 0, 0, 11, wire.KindBatchReply, 0, 0, 0, 0, 0, 0, 0, 0, 9, 1}); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan result{r2, r4} {
		if res := <-ch; !errors.Is(res.err, ErrStopped) {
			t.Fatalf("call after a malformed batch reply: %v", res.err)
		}
	}
}

// waitQueued waits until the batcher's queue holds n calls.
func waitQueued(t *testing.T, ep *Endpoint, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		ep.batch.mu.Lock()
		got := len(ep.batch.queue)
		ep.batch.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", got, n)
		}
	}
}
