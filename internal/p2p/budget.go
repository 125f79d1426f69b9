package p2p

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// Receive buffers: what a session's remote can make this host hold.
//
// yamux v0.1.2 keeps every byte a stream receives in that stream's buffer
// until the stream is read, and lets the remote fill each stream up to
// its window (StreamWindowBytes), which it opens in full as soon as the
// stream is accepted, before anyone has decided to serve it. A stream
// this host refused or finished with stays in the multiplexer, window
// and buffer included, until the remote closes it or StreamCloseTimeout
// passes: yamux has no way to reset a stream or to drop what it buffered,
// and it reports neither how much it buffers nor how many such streams
// there are. Left alone, one session could make a host hold
// MaxStreamsPerSession x StreamWindowBytes for streams nobody reads (1 GiB
// with the defaults, twice that in heap) plus a window for every stream
// it keeps open after a refusal (no bound at all).
//
// So the multiplexer reads the connection through a filter
// (watchedConn.Read) that parses its frames (yamux spec: a 12-byte header
// of version, type, flags, stream ID and length, then length body bytes
// for a data frame), follows the lifetime of every stream from its SYN to
// its RST or second FIN, and hands on each data frame in pieces of at
// most rxPiece bytes, deciding for each piece:
//
//   - a stream this host has finished reading (refused, unknown protocol,
//     no header in time, handler returned: finish): the piece is
//     discarded; yamux gets an empty frame with the same flags, so it
//     still sees the stream close;
//   - any other stream: the piece is charged to the session's budget,
//     SessionBufferBytes. When the budget is spent, the filter first
//     releases the buffers of streams that have nothing left to read
//     (Stream.Shrink), then stops reading the connection until handlers
//     read (backpressure on the whole session, as TCP would give); a
//     session still over its budget after WriteTimeout is closed
//     (reason session_buffer).
//
// A stream's charge is the most it has held unread since its buffer was
// last released, not what it holds now: yamux's buffer (a bytes.Buffer)
// keeps its capacity when read, and takes up to about twice its
// high-water mark, so the receive buffers of a session take at most about
// 2 x SessionBufferBytes of heap.
//
// Streams this host has finished with but the remote keeps open
// ("lingering") cost no buffer any more, only their bookkeeping (about
// 1 KiB each, in yamux and here) until StreamCloseTimeout. A remote that
// keeps more than the linger limit (lingerPerStream x
// MaxStreamsPerSession) of them open for longer than HandshakeTimeout, or
// more than twice the limit at all, has its session closed (reason
// abusive_session). An honest node closes a refused stream as soon as it
// reads the refusal and a finished one once it has read the reply, so its
// streams linger only as long as its goroutines take to run: a burst of
// 1,000 calls on a session allowing 8 streams left at most about 100
// lingering at once (TestHonestBurst), all gone within milliseconds.
// Counting refusals per second instead would cut exactly such bursts
// (hundreds of refusals in a fraction of a second, rightly), and counting
// bytes written into refused streams would cut an honest caller that
// pipelines its request before it reads the verdict; neither costs this
// host memory any more, as that data is discarded.

// rxPiece is the most data the filter hands the multiplexer in one frame:
// the unit of each discard and budget decision.
const rxPiece = 64 << 10

// lingerPerStream sets the linger limit: lingerPerStream x
// MaxStreamsPerSession streams this host has finished with that a
// session may keep open beyond HandshakeTimeout (4,096 with the
// defaults); twice that, the most it can keep at all, is about 8 MiB of
// bookkeeping.
const lingerPerStream = 16

// errSessionBuffer ends a session that stayed over its receive budget.
var errSessionBuffer = errors.New("receive buffers stayed full")

// yamux frame header fields (yamux spec.md, "Framing").
const (
	yamuxHeaderLen        = 12
	yamuxTypeData         = 0
	yamuxTypeWindowUpdate = 1
	yamuxTypeGoAway       = 3
	yamuxFlagSYN          = 1
	yamuxFlagACK          = 2
	yamuxFlagFIN          = 4
	yamuxFlagRST          = 8
)

// recvBuffers accounts for one session's receive buffers and enforces
// its budget. Its methods are safe for concurrent use: admit and flags
// (remote) are called by the multiplexer's receive loop through the
// filter, flags (local) by its send loop, read by stream readers.
type recvBuffers struct {
	budget int64
	stall  time.Duration // how long the session may stay over budget
	linger int           // the linger limit
	grace  time.Duration // how long a stream may linger without counting
	closed chan struct{} // closed with the connection
	once   sync.Once
	// freed is signalled (without blocking) whenever a stream is read,
	// released or removed, so a stalled admit looks again.
	freed chan struct{}

	// mu guards the stream table. Lock order: mu, then a yamux stream's
	// receive lock (Shrink); never the reverse: the receive loop holds a
	// stream's lock only while it copies a piece's body, and the filter
	// takes mu only between pieces. A stream whose piece is being copied
	// has unread bytes, and only streams with none are shrunk, so Shrink
	// never waits for the network under mu.
	mu struct {
		sync.Mutex
		streams   map[uint32]*rxStream
		charged   int64 // sum of the streams' charges
		peak      int64 // highest charged
		lingering int   // streams marked done and not yet gone
		lingerTop int   // highest lingering
		scanned   time.Time
		discarded int64 // data bytes dropped for finished streams
	}
}

// rxStream is what the multiplexer holds for one stream.
type rxStream struct {
	ys *yamux.Stream // nil until attached (accepted or opened)
	// unread: data handed to the multiplexer and not yet read from it.
	unread int64
	// charge: the most unread since the buffer was last released.
	charge              int64
	localFIN, remoteFIN bool
	// done: this host reads the stream no more; its data is discarded.
	done   bool
	doneAt time.Time
}

func newRecvBuffers(budget int64, stall time.Duration, linger int, grace time.Duration) *recvBuffers {
	g := &recvBuffers{budget: budget, stall: stall, linger: linger, grace: grace, closed: make(chan struct{}), freed: make(chan struct{}, 1)}
	g.mu.streams = map[uint32]*rxStream{}
	return g
}

// close wakes a stalled admit: the connection is closing.
func (g *recvBuffers) close() { g.once.Do(func() { close(g.closed) }) }

func (g *recvBuffers) signal() {
	select {
	case g.freed <- struct{}{}:
	default:
	}
}

// flags follows a stream's lifetime from the SYN, FIN and RST flags of a
// frame received (remote) or sent. A stream leaves the multiplexer, and
// its charge is released, on a RST either way or once both ends sent a
// FIN (yamux closeStream). A stream yamux refuses at once (accept backlog
// full, going away) is answered with a RST, which removes it here too.
func (g *recvBuffers) flags(id uint32, f uint16, remote bool) {
	if f&(yamuxFlagSYN|yamuxFlagFIN|yamuxFlagRST) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.mu.streams[id]
	if e == nil && f&yamuxFlagSYN != 0 {
		e = &rxStream{}
		g.mu.streams[id] = e
	}
	if e == nil {
		return
	}
	if f&yamuxFlagFIN != 0 {
		if remote {
			e.remoteFIN = true
		} else {
			e.localFIN = true
		}
	}
	if f&yamuxFlagRST != 0 || (e.localFIN && e.remoteFIN) {
		g.removeLocked(id, e)
	}
}

func (g *recvBuffers) removeLocked(id uint32, e *rxStream) {
	g.mu.charged -= e.charge
	if e.done {
		g.mu.lingering--
	}
	delete(g.mu.streams, id)
	g.signal()
}

// attach records the multiplexer's stream once accepted or opened, so its
// buffer can be released under pressure.
func (g *recvBuffers) attach(ys *yamux.Stream) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.mu.streams[ys.StreamID()]; e != nil {
		e.ys = ys
	}
}

// admit decides about a piece of k data bytes for stream id (syn: the
// piece opens the stream): pass hands it to the multiplexer, !pass
// discards it. While the piece would take the session over its budget it
// waits, and fails with errSessionBuffer after g.stall.
func (g *recvBuffers) admit(id uint32, k int, syn bool) (pass bool, err error) {
	var timeout <-chan time.Time
	for {
		g.mu.Lock()
		e := g.mu.streams[id]
		if e == nil && syn {
			e = &rxStream{}
			g.mu.streams[id] = e
		}
		switch {
		case e == nil:
			// Not a stream of the multiplexer (gone, or never opened):
			// it drops the data itself without buffering it.
			g.mu.Unlock()
			return true, nil
		case e.done:
			g.mu.discarded += int64(k)
			g.mu.Unlock()
			return false, nil
		}
		need := max(0, e.unread+int64(k)-e.charge)
		if g.mu.charged+need > g.budget {
			g.reclaimLocked()
		}
		if g.mu.charged+need <= g.budget {
			e.unread += int64(k)
			e.charge += need
			g.mu.charged += need
			g.mu.peak = max(g.mu.peak, g.mu.charged)
			g.mu.Unlock()
			return true, nil
		}
		charged, unread := g.mu.charged, e.unread
		g.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(g.stall)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-g.freed:
		case <-g.closed:
			return false, net.ErrClosed
		case <-timeout:
			return false, fmt.Errorf("%w: %d bytes held in receive buffers (this stream: %d unread), budget %d, none freed within %s",
				errSessionBuffer, charged, unread, g.budget, g.stall)
		}
	}
}

// reclaimLocked releases the buffers of the streams that have nothing
// left to read: yamux keeps a drained buffer's capacity until Shrink.
func (g *recvBuffers) reclaimLocked() {
	for _, e := range g.mu.streams {
		if e.unread == 0 && e.ys != nil {
			g.releaseLocked(e, e.ys)
		}
	}
}

// releaseLocked frees the buffer of a stream with nothing unread (yamux
// drops it if it is empty) and its charge. Only for e.unread == 0 (see
// the lock order).
func (g *recvBuffers) releaseLocked(e *rxStream, ys *yamux.Stream) {
	if e.charge == 0 {
		return
	}
	ys.Shrink()
	g.mu.charged -= e.charge
	e.charge = 0
}

// read credits n bytes read from a stream. g may be nil (no accounting).
func (g *recvBuffers) read(ys *yamux.Stream, n int) {
	if g == nil || n <= 0 {
		return
	}
	g.mu.Lock()
	if e := g.mu.streams[ys.StreamID()]; e != nil {
		e.unread = max(0, e.unread-int64(n))
		if e.done && e.unread == 0 {
			g.releaseLocked(e, ys)
		}
	}
	g.mu.Unlock()
	g.signal()
}

// settled is called by the filter once the multiplexer has copied a
// piece for stream id into its buffer. If the stream was finished while
// the piece was on its way, finish could not read it out: a goroutine
// does now (not the receive loop itself, as a read may have to send a
// window update). It returns at once: reads do not wait (finish set a
// past deadline) and a window update waits at most WriteTimeout.
func (g *recvBuffers) settled(id uint32) {
	g.mu.Lock()
	e := g.mu.streams[id]
	late := e != nil && e.done && e.unread > 0 && e.ys != nil
	g.mu.Unlock()
	if late {
		go g.empty(e.ys)
	}
}

// finish marks a stream this host reads no more: what it buffered is read
// out and released, and what arrives for it from now on is discarded.
// It reports whether the remote now keeps more finished streams open
// than allowed. g may be nil.
func (g *recvBuffers) finish(ys *yamux.Stream) (tooMany bool) {
	if g == nil {
		return false
	}
	g.mu.Lock()
	e := g.mu.streams[ys.StreamID()]
	if e != nil && !e.done {
		e.done, e.doneAt = true, time.Now()
		g.mu.lingering++
		g.mu.lingerTop = max(g.mu.lingerTop, g.mu.lingering)
	}
	tooMany = g.tooManyLocked()
	g.mu.Unlock()
	if e == nil {
		return tooMany // already gone: its buffer goes with it
	}
	// Nobody reads it any more: empty it now (reads never wait past the
	// deadline) rather than hold it until the remote closes.
	_ = ys.SetReadDeadline(time.Now())
	g.empty(ys)
	return tooMany
}

// empty reads out what a finished stream buffered and releases it.
func (g *recvBuffers) empty(ys *yamux.Stream) {
	buf := drainBufs.Get().(*[]byte)
	for {
		n, err := ys.Read(*buf)
		g.read(ys, n)
		if err != nil {
			break
		}
	}
	drainBufs.Put(buf)
	g.mu.Lock()
	if e := g.mu.streams[ys.StreamID()]; e != nil && e.unread == 0 {
		g.releaseLocked(e, ys)
	}
	g.mu.Unlock()
	g.signal()
}

// tooManyLocked reports whether the remote keeps too many lingering
// streams: more than twice the limit, or more than the limit lingering
// for longer than the grace period. The count by age is taken at most
// once every grace/10, so a remote at the limit costs no scan per stream.
func (g *recvBuffers) tooManyLocked() bool {
	if g.mu.lingering > 2*g.linger {
		return true
	}
	now := time.Now()
	if g.mu.lingering <= g.linger || now.Sub(g.mu.scanned) < g.grace/10 {
		return false
	}
	g.mu.scanned = now
	old := 0
	for _, e := range g.mu.streams {
		if e.done && now.Sub(e.doneAt) > g.grace {
			old++
		}
	}
	return old > g.linger
}

var drainBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// rxStats is a snapshot for tests and logs.
type rxStats struct {
	streams, lingering, lingerTop int
	charged, peak, discarded      int64
}

func (g *recvBuffers) stats() rxStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return rxStats{streams: len(g.mu.streams), lingering: g.mu.lingering, lingerTop: g.mu.lingerTop, charged: g.mu.charged, peak: g.mu.peak, discarded: g.mu.discarded}
}

// rxReader reads a stream's received bytes, crediting them to the
// session's receive budget. Every read of a session's stream goes
// through one, so that the budget sees what was read.
type rxReader struct {
	ys *yamux.Stream
	rx *recvBuffers
}

func (r rxReader) Read(p []byte) (int, error) {
	n, err := r.ys.Read(p)
	r.rx.read(r.ys, n)
	return n, err
}
