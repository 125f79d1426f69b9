package link

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// Endpoint multiplexes one side's requests and the other side's requests
// over one stream: the host sends ecalls and answers ocalls, the enclave
// process the reverse. Requests of this side have kind reqKind, their
// replies reqKind+1; frames of other kinds go to the handler given to Run.
// Its methods are safe for concurrent use, except that only Run's
// goroutine (the reader) may call SendFromReader.
type Endpoint struct {
	conn    io.ReadWriteCloser
	reqKind uint8
	// raw is conn's file descriptor driven directly (rawstream_linux.go),
	// nil when conn has none; rw is raw or conn.
	raw *rawStream
	rw  io.ReadWriter

	// wmu serialises writes: a frame is built in wbuf and written whole.
	wmu  sync.Mutex
	wbuf []byte

	mu struct {
		sync.Mutex
		// pending holds the reply channel of every request in flight, by
		// id; next is the next id; err is why the endpoint stopped.
		pending map[uint64]chan wire.Frame
		next    uint64
		err     error
	}
	// done is closed when the reader stops (the stream ended or broke).
	done chan struct{}

	// ctr, if not nil, counts the crossings of this side's requests (one
	// per reply frame, a batch reply included) and its batches.
	ctr *Counters
	// batch groups requests sent with RequestBatched (host side only).
	batch batcher
}

// Counters count the round trips of one side's requests; the host keeps
// one for its whole life, across enclave processes.
type Counters struct {
	// Replies counts reply frames (a batch reply is one); Batches the
	// batches sent and Batched the requests they carried.
	Replies, Batches, Batched atomic.Uint64
}

// ErrStopped wraps the reason an endpoint stopped: every request waiting
// then, and every later one, fails with it.
var ErrStopped = errors.New("enclave stream closed")

// NewEndpoint returns the endpoint of one side on conn: reqKind is the
// kind of this side's requests (wire.KindEcall on the host,
// wire.KindOcall in the enclave process); ctr, if not nil, counts their
// crossings. Nothing is read until Run.
func NewEndpoint(conn io.ReadWriteCloser, reqKind uint8, ctr *Counters) *Endpoint {
	e := &Endpoint{conn: conn, reqKind: reqKind, done: make(chan struct{}), rw: conn, ctr: ctr}
	e.batch.e = e
	if e.raw = newRawStream(conn); e.raw != nil {
		e.rw = e.raw
	}
	e.mu.pending = map[uint64]chan wire.Frame{}
	e.mu.next = 1
	return e
}

// EnableBatching lets RequestBatched group up to max requests in one
// batch frame, a request waiting at most linger for others (see batcher).
// The host calls it once, before any request.
func (e *Endpoint) EnableBatching(max int, linger time.Duration) {
	e.batch.max, e.batch.linger = max, linger
}

// Batching reports whether RequestBatched groups requests (EnableBatching
// with max > 1); if not, the caller sends each request alone.
func (e *Endpoint) Batching() bool { return e.batch.max > 1 }

// Send writes one frame whose payload body appends.
func (e *Endpoint) Send(kind, op uint8, id uint64, body func([]byte) []byte) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	b := wire.Begin(e.wbuf, kind, op, id)
	if body != nil {
		b = body(b)
	}
	b, err := wire.Finish(b)
	if err != nil {
		return err
	}
	_, err = e.rw.Write(b)
	e.keep(b)
	if err != nil {
		return fmt.Errorf("%w: write: %w", ErrStopped, err)
	}
	return nil
}

// keep keeps the frame buffer b for the next frame. Called with wmu held.
func (e *Endpoint) keep(b []byte) {
	if cap(b) <= 1<<20 {
		e.wbuf = b[:0]
	} else {
		e.wbuf = nil // do not keep a module-sized buffer
	}
}

// SendFromReader sends a frame from the reader goroutine (a reply the
// reader computed itself), which must never wait for the other side: if
// both sides' readers waited in writes to each other, with both socket
// buffers full, neither would read again. With a raw socket it writes
// what the socket takes at once, with no goroutine switch, and leaves the
// rest of the frame, if any, to a goroutine that keeps the write lock;
// if the lock is taken, or without a raw socket, the whole send goes to a
// goroutine. Errors go to failed (the reader sees a broken stream anyway).
func (e *Endpoint) SendFromReader(kind, op uint8, id uint64, body func([]byte) []byte, failed func(error)) {
	if e.raw == nil || !e.wmu.TryLock() {
		go func() {
			if err := e.Send(kind, op, id, body); err != nil {
				failed(err)
			}
		}()
		return
	}
	b := wire.Begin(e.wbuf, kind, op, id)
	if body != nil {
		b = body(b)
	}
	b, err := wire.Finish(b)
	if err != nil {
		e.wmu.Unlock()
		failed(err)
		return
	}
	n, err := e.raw.writeNoWait(b)
	if err != nil || n == len(b) {
		e.keep(b)
		e.wmu.Unlock()
		if err != nil {
			failed(fmt.Errorf("%w: write: %w", ErrStopped, err))
		}
		return
	}
	go func() {
		defer e.wmu.Unlock()
		_, err := e.raw.Write(b[n:])
		e.keep(b)
		if err != nil {
			failed(fmt.Errorf("%w: write: %w", ErrStopped, err))
		}
	}()
}

// InlineReplies says whether SendFromReader can reply without a
// goroutine switch (the socket is raw).
func (e *Endpoint) InlineReplies() bool { return e.raw != nil }

// Request sends a request and waits for its reply. register, if not nil,
// is called with the request's id before it is sent (the host maps ecall
// ids to their ocall handlers); cancel, if not nil, is called with the id
// when ctx ends first.
func (e *Endpoint) Request(ctx context.Context, op uint8, body func([]byte) []byte, register, cancel func(uint64)) (wire.Frame, error) {
	id, ch, err := e.open(register)
	if err != nil {
		return wire.Frame{}, err
	}
	if err := e.Send(e.reqKind, op, id, body); err != nil {
		e.forget(id)
		return wire.Frame{}, err
	}
	return e.await(ctx, id, ch, cancel)
}

// RequestBatched is Request, but the request crosses in a batch with
// the others waiting (see batcher); a request canceled before its batch
// left is dropped without crossing.
func (e *Endpoint) RequestBatched(ctx context.Context, op uint8, body func([]byte) []byte, register, cancel func(uint64)) (wire.Frame, error) {
	id, ch, err := e.open(register)
	if err != nil {
		return wire.Frame{}, err
	}
	frame, err := wire.Finish(body(wire.Begin(nil, e.reqKind, op, id)))
	if err != nil {
		e.forget(id)
		return wire.Frame{}, err
	}
	e.batch.enqueue(id, frame)
	return e.await(ctx, id, ch, func(id uint64) {
		if !e.batch.drop(id) && cancel != nil {
			cancel(id)
		}
	})
}

// open allocates a request id and its reply channel.
func (e *Endpoint) open(register func(uint64)) (uint64, chan wire.Frame, error) {
	ch := make(chan wire.Frame, 1)
	e.mu.Lock()
	if err := e.mu.err; err != nil {
		e.mu.Unlock()
		return 0, nil, err
	}
	id := e.mu.next
	e.mu.next++
	e.mu.pending[id] = ch
	e.mu.Unlock()
	if register != nil {
		register(id)
	}
	return id, ch, nil
}

// await waits for the reply of request id.
func (e *Endpoint) await(ctx context.Context, id uint64, ch chan wire.Frame, cancel func(uint64)) (wire.Frame, error) {
	select {
	case f := <-ch:
		return f, nil
	case <-e.done:
		select {
		case f := <-ch:
			return f, nil
		default:
		}
		return wire.Frame{}, e.stopErr()
	case <-ctx.Done():
		e.forget(id)
		if cancel != nil {
			cancel(id)
		}
		return wire.Frame{}, ctx.Err()
	}
}

func (e *Endpoint) forget(id uint64) {
	e.mu.Lock()
	delete(e.mu.pending, id)
	e.mu.Unlock()
}

func (e *Endpoint) stopErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mu.err
}

// Run reads frames until the stream ends: replies go to their requests,
// everything else to handle, which must not block (it starts goroutines
// for work). It returns why the stream ended (nil for a clean end); Done
// is closed then.
func (e *Endpoint) Run(handle func(wire.Frame)) error {
	r := bufio.NewReaderSize(e.rw, 64<<10)
	for {
		f, err := wire.ReadFrame(r)
		if err != nil {
			e.stop(err)
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if f.Kind == e.reqKind+1 {
			e.countReply()
			e.deliver(f)
			continue
		}
		if f.Kind == wire.KindBatchReply && e.reqKind == wire.KindEcall {
			fs, err := wire.SplitBatch(f.Payload, wire.KindEcallReply)
			if err != nil {
				err = fmt.Errorf("enclave: batch reply: %w", err)
				e.stop(err)
				return err
			}
			e.countReply()
			for _, sub := range fs {
				e.deliver(sub)
			}
			e.batch.replied()
			continue
		}
		handle(f)
	}
}

func (e *Endpoint) countReply() {
	if e.ctr != nil {
		e.ctr.Replies.Add(1)
	}
}

// deliver hands reply f to its request, if it still waits.
func (e *Endpoint) deliver(f wire.Frame) {
	e.mu.Lock()
	ch := e.mu.pending[f.ID]
	delete(e.mu.pending, f.ID)
	e.mu.Unlock()
	if ch != nil {
		ch <- f
	}
}

// stop records why the endpoint stopped and wakes every request.
func (e *Endpoint) stop(cause error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.err != nil {
		return
	}
	e.mu.err = fmt.Errorf("%w: %w", ErrStopped, cause)
	close(e.done)
}

// Close closes the stream; the reader then stops.
func (e *Endpoint) Close() error { return e.conn.Close() }

// Done is closed when the reader stopped: the stream ended or broke.
func (e *Endpoint) Done() <-chan struct{} { return e.done }
