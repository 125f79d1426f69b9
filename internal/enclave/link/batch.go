package link

import (
	"fmt"
	"sync"
	"time"

	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// batcher sends the simulate ecalls of many callers in few crossings.
// At most maxBatchesInFlight batches are in flight: a call that arrives
// meanwhile waits in the queue, and the queue leaves as one batch frame
// when a batch in flight comes back. So under load a crossing carries
// about as many calls as there are callers over maxBatchesInFlight, and a
// lone call still leaves at once. Two batches in flight rather than one
// keep both sides busy: the host prepares and sends the next batch while
// the enclave runs the current one, and a batch waiting in ocalls (state
// reads) does not stop the calls behind it.
//
// Closed-loop callers return to the queue one by one after their batch
// replied: sending the queue as soon as the first one is back would send
// it nearly empty and make the others wait for it. The queue therefore
// leaves when it holds three quarters of the last batch (the size the
// load had), or after linger, whichever is first.
//
// The enclave replies to a batch in one frame when all its calls are done
// (or, past a deadline, with those done: see trusted's serveBatch); a
// call that finishes later replies in a frame of its own.
type batcher struct {
	e *Endpoint
	// max bounds the calls in one batch (1 or less: batching is off, the
	// host sends every request alone); linger is the longest a call waits
	// for others. Set once by EnableBatching.
	max    int
	linger time.Duration

	mu       sync.Mutex
	queue    []queuedCall
	inFlight int
	// last is the size of the last batch sent; armed says a linger timer
	// will flush the queue.
	last  int
	armed bool
}

// queuedCall is one encoded ecall frame waiting for its batch.
type queuedCall struct {
	id    uint64
	frame []byte
}

// maxBatchesInFlight bounds the batches crossing at once (see batcher).
const maxBatchesInFlight = 2

// enqueue queues the frame of request id and sends the queue if it is
// time to.
func (b *batcher) enqueue(id uint64, frame []byte) {
	b.mu.Lock()
	b.queue = append(b.queue, queuedCall{id: id, frame: frame})
	if calls := b.takeLocked(false); calls != nil {
		b.send(calls)
	}
}

// drop removes request id from the queue and reports whether it was
// still there (it then never crosses).
func (b *batcher) drop(id uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, q := range b.queue {
		if q.id == id {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return true
		}
	}
	return false
}

// replied is called by the reader when the batch in flight came back.
// The next batch leaves on a goroutine of its own: the reader must never
// wait in a write (see Endpoint.SendFromReader).
func (b *batcher) replied() {
	b.mu.Lock()
	b.inFlight--
	if calls := b.takeLocked(false); calls != nil {
		go b.send(calls)
	}
}

// takeLocked takes the next batch if none is in flight and the queue is
// full enough (or force: the linger passed), else arms the linger timer
// and returns nil. It unlocks b.mu; the caller sends the batch.
func (b *batcher) takeLocked(force bool) []queuedCall {
	if b.inFlight >= maxBatchesInFlight || len(b.queue) == 0 {
		b.mu.Unlock()
		return nil
	}
	target := max(1, b.last*3/4)
	if !force && len(b.queue) < target {
		if !b.armed {
			b.armed = true
			time.AfterFunc(b.linger, b.lingered)
		}
		b.mu.Unlock()
		return nil
	}
	n := min(len(b.queue), b.max)
	calls := make([]queuedCall, n)
	copy(calls, b.queue)
	b.queue = append(b.queue[:0], b.queue[n:]...)
	b.inFlight++
	b.last = n
	b.mu.Unlock()
	return calls
}

func (b *batcher) lingered() {
	b.mu.Lock()
	b.armed = false
	if calls := b.takeLocked(true); calls != nil {
		b.send(calls)
	}
}

// send writes one batch frame. If the write fails the stream is broken:
// closing it stops the reader, which fails every request waiting.
func (b *batcher) send(calls []queuedCall) {
	e := b.e
	e.mu.Lock()
	id := e.mu.next
	e.mu.next++
	e.mu.Unlock()
	// Counted before the write: the enclave may answer (and a caller read
	// the counters) before Send returns here. A failed write breaks the
	// stream, so a batch counted and not sent is the last one.
	if e.ctr != nil {
		e.ctr.Batches.Add(1)
		e.ctr.Batched.Add(uint64(len(calls)))
	}
	err := e.Send(wire.KindBatch, 0, id, func(buf []byte) []byte {
		for _, c := range calls {
			buf = append(buf, c.frame...)
		}
		return buf
	})
	if err != nil {
		e.stop(fmt.Errorf("send a batch of %d ecalls: %w", len(calls), err))
		e.Close()
	}
}
