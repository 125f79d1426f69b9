package trusted

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/link"
	"github.com/folio-ledger/folio/internal/enclave/seal"
	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// This file is the enclave process: the serving loop that answers the
// host's ecalls with a Service and makes its ocalls, over the socket the
// host (package enclave) spawned it with.

// HostConn returns the enclave process's connection to its host: the
// socket inherited as link.ChildFD.
func HostConn() (net.Conn, error) {
	f := os.NewFile(link.ChildFD, "enclave-socket")
	if f == nil {
		return nil, fmt.Errorf("enclave: no socket on fd %d (is this process started by a peer?)", link.ChildFD)
	}
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("enclave: fd %d is not the host's socket: %w", link.ChildFD, err)
	}
	return c, nil
}

// DefaultMaxConcurrentCalls bounds the ecalls the process runs at once
// when Init does not say.
const DefaultMaxConcurrentCalls = 64

// ServeOptions configure the enclave process.
type ServeOptions struct {
	// StateKey is the provisioned state key (the contents of the file
	// given with --state-key, checked by seal.ParseStateKey). Default nil:
	// confidential contracts are refused.
	StateKey []byte
	// Genesis is the channel's genesis block (the contents of the file
	// given with --genesis): the enclave's trust anchor (ParseAnchor).
	// Required: without it every Init fails with ErrNoAnchor.
	Genesis []byte
	// Logger receives the enclave's logs (the host forwards the process's
	// stderr into its own log). Default: discard.
	Logger *slog.Logger
}

// Serve is the body of the enclave process (`folio enclave`, or a test
// binary re-executed as one): it serves ecalls from the host on conn
// until the host closes it (then it returns nil) or ctx ends. The first
// ecall must be Init. The sealing root key is drawn here (New) and never
// leaves this process.
func Serve(ctx context.Context, conn io.ReadWriteCloser, opts ServeOptions) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StateKey != nil {
		k, err := seal.ParseStateKey(opts.StateKey)
		if err != nil {
			return err
		}
		opts.StateKey = k
	}
	// The anchor is read here, from what the process was started with,
	// never from an ecall: the host's messages cannot change whom the
	// enclave trusts once it runs.
	var anchor *Anchor
	if opts.Genesis != nil {
		a, err := ParseAnchor(opts.Genesis)
		if err != nil {
			return err
		}
		anchor = a
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &server{opts: opts, anchor: anchor, log: opts.Logger, base: ctx, ep: link.NewEndpoint(conn, wire.KindOcall, nil), work: make(chan func())}
	c.mu.cancels = map[uint64]context.CancelFunc{}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	err := c.ep.Run(c.handle)
	cancel()
	c.wg.Wait()
	if c.svc != nil {
		c.svc.Close(context.Background())
	}
	conn.Close()
	if ctx.Err() != nil && err != nil {
		return nil // closed because ctx ended
	}
	return err
}

// server serves one host connection.
type server struct {
	opts   ServeOptions
	anchor *Anchor // nil: Init fails with ErrNoAnchor
	log    *slog.Logger
	base   context.Context
	ep     *link.Endpoint
	// svc is set by Init, on the reader goroutine, before any other ecall
	// is read; sem bounds concurrent ecalls.
	svc *Service
	sem chan struct{}
	wg  sync.WaitGroup
	// work hands an ecall to an idle worker (unbuffered: a send succeeds
	// only if one is waiting); workers counts the workers alive.
	work    chan func()
	workers atomic.Int64

	mu struct {
		sync.Mutex
		// cancels holds the cancel function of every ecall in flight.
		cancels map[uint64]context.CancelFunc
	}
}

// handle runs on the reader goroutine: Init inline, everything else in a
// goroutine of its own.
func (c *server) handle(f wire.Frame) {
	switch f.Kind {
	case wire.KindCancel:
		c.mu.Lock()
		if cancel := c.mu.cancels[f.ID]; cancel != nil {
			cancel()
		}
		c.mu.Unlock()
	case wire.KindEcall:
		if f.Op == wire.OpInit {
			c.replyFromReader(f, nil, c.init(f.Payload))
			return
		}
		if f.Op == wire.OpPing && c.svc != nil {
			c.replyFromReader(f, nil, nil) // nothing to do: answer at once
			return
		}
		c.start(f, func(m wire.Message, err error) { c.reply(f, m, err) })
	case wire.KindBatch:
		c.serveBatch(f)
	default:
		c.log.Warn("unexpected frame from the host", "kind", f.Kind, "op", f.Op)
	}
}

// start runs ecall f on a worker, cancelable by the host, and gives its
// result to done.
func (c *server) start(f wire.Frame, done func(wire.Message, error)) {
	ctx, cancel := context.WithCancel(c.base)
	c.mu.Lock()
	c.mu.cancels[f.ID] = cancel
	c.mu.Unlock()
	c.dispatch(func() {
		m, err := c.serve(ctx, f)
		c.mu.Lock()
		delete(c.mu.cancels, f.ID)
		c.mu.Unlock()
		cancel()
		done(m, err)
	})
}

// batchHold is how long a batch's reply waits for its slowest ecall:
// then the replies ready leave, and each later one leaves in a frame of
// its own, so one stuck call (a contract looping until its timeout, a
// slow state read) does not hold the others or the host's next batch.
const batchHold = 10 * time.Millisecond

// serveBatch runs the ecalls of batch f concurrently and replies to them
// in one KindBatchReply frame when they are all done, or after batchHold
// with those done then. A batch that does not split gets an empty reply
// (its ecalls are lost, and the host's own calls time out: only a broken
// host sends one); so does an init in a batch, which is refused.
func (c *server) serveBatch(f wire.Frame) {
	fs, err := wire.SplitBatch(f.Payload, wire.KindEcall)
	if err != nil {
		c.log.Warn("malformed batch from the host", "err", err)
		fs = nil
	}
	b := &batchReply{c: c, id: f.ID, pending: len(fs)}
	if len(fs) == 0 {
		go b.flush() // this is the reader: it must not wait in a write
		return
	}
	b.timer = time.AfterFunc(batchHold, b.flush)
	for _, sub := range fs {
		if sub.Op == wire.OpInit {
			go b.add(sub, nil, errors.New("init cannot be batched"))
			continue
		}
		c.start(sub, func(m wire.Message, err error) { b.add(sub, m, err) })
	}
}

// batchReply collects the replies of one batch.
type batchReply struct {
	c     *server
	id    uint64
	timer *time.Timer

	mu      sync.Mutex
	pending int    // replies not yet added
	frames  []byte // the reply frames added, back to back
	sent    bool   // the batch reply left: later replies go alone
}

// add adds the reply of ecall f; the last one sends the batch reply.
func (b *batchReply) add(f wire.Frame, m wire.Message, err error) {
	if err != nil {
		m = nil
	}
	b.mu.Lock()
	if b.sent {
		b.mu.Unlock()
		b.c.reply(f, m, err)
		return
	}
	frame, ferr := wire.Finish(b.c.replyBody(f, m, err)(wire.Begin(nil, wire.KindEcallReply, f.Op, f.ID)))
	if ferr != nil {
		// Too large for a frame: reply alone, which fails the same way
		// and tells the host.
		b.mu.Unlock()
		b.c.reply(f, m, err)
		b.mu.Lock()
	} else {
		b.frames = append(b.frames, frame...)
	}
	b.pending--
	last := b.pending == 0
	b.mu.Unlock()
	if last {
		b.flush()
	}
}

// flush sends the batch reply with the replies added so far, once.
func (b *batchReply) flush() {
	b.mu.Lock()
	if b.sent {
		b.mu.Unlock()
		return
	}
	b.sent = true
	frames := b.frames
	b.frames = nil
	b.mu.Unlock()
	if b.timer != nil {
		b.timer.Stop()
	}
	if err := b.c.ep.Send(wire.KindBatchReply, 0, b.id, func(buf []byte) []byte { return append(buf, frames...) }); err != nil {
		b.c.log.Debug("batch reply not sent", "err", err)
	}
}

// dispatch runs an ecall on an idle worker goroutine, or on a new one.
// Workers outlive their ecall (up to maxIdleWorkers of them): a contract
// call runs deep in wazero and grows its goroutine's stack several times,
// and a fresh goroutine per ecall paid for that growth (stack copies) on
// every call — about 6% of the enclave's CPU in the benchmark.
func (c *server) dispatch(w func()) {
	select {
	case c.work <- w:
		return
	default:
	}
	c.wg.Add(1)
	c.workers.Add(1)
	go c.worker(w)
}

// maxIdleWorkers bounds the workers kept waiting for ecalls; more run
// while more ecalls are in flight.
const maxIdleWorkers = 16

func (c *server) worker(w func()) {
	defer c.wg.Done()
	for {
		w()
		if c.workers.Load() > maxIdleWorkers {
			c.workers.Add(-1)
			return
		}
		select {
		case w = <-c.work:
		case <-c.base.Done():
			c.workers.Add(-1)
			return
		}
	}
}

func (c *server) init(payload []byte) error {
	if c.svc != nil {
		return errors.New("enclave already initialised")
	}
	var m wire.Init
	if err := wire.Unmarshal(payload, &m); err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return err
	}
	o := FromInit(&m)
	o.StateKey, o.Anchor, o.Logger = c.opts.StateKey, c.anchor, c.log
	svc, err := New(c.base, o)
	if err != nil {
		return err
	}
	n := int(m.MaxConcurrentCalls)
	if n <= 0 {
		n = DefaultMaxConcurrentCalls
	}
	c.sem = make(chan struct{}, n)
	c.svc = svc
	c.log.Info("enclave ready", "pid", os.Getpid(), "height", m.Height, "state_key", svc.HasStateKey(), "anchor", fmt.Sprintf("%x", c.anchor.Hash()))
	return nil
}

// reply sends the reply of ecall f: m on success, else err; with the
// counters once the service exists.
func (c *server) reply(f wire.Frame, m wire.Message, err error) {
	if serr := c.ep.Send(wire.KindEcallReply, f.Op, f.ID, c.replyBody(f, m, err)); serr != nil {
		c.log.Debug("reply not sent", "op", wire.OpName(f.Op), "err", serr)
	}
}

// replyFromReader is reply on the reader goroutine (see
// link.Endpoint.SendFromReader).
func (c *server) replyFromReader(f wire.Frame, m wire.Message, err error) {
	c.ep.SendFromReader(wire.KindEcallReply, f.Op, f.ID, c.replyBody(f, m, err), func(serr error) {
		c.log.Debug("reply not sent", "op", wire.OpName(f.Op), "err", serr)
	})
}

// replyBody encodes the reply of ecall f.
func (c *server) replyBody(f wire.Frame, m wire.Message, err error) func([]byte) []byte {
	var ctr *wire.Counters
	if c.svc != nil {
		x := c.svc.Counters()
		ctr = &x
	} else {
		ctr = &wire.Counters{}
	}
	if f.Op == wire.OpInit && err == nil {
		m = &wire.InitReply{PID: uint64(os.Getpid()), HasStateKey: c.svc.HasStateKey(), Anchor: c.anchor.Hash()}
	}
	var werr *wire.Error
	if err != nil {
		werr = ErrorToWire(err)
	}
	return func(b []byte) []byte { return wire.EncodeReply(b, m, werr, ctr) }
}

// serve runs one ecall and returns its reply.
func (c *server) serve(ctx context.Context, f wire.Frame) (wire.Message, error) {
	if c.svc == nil {
		return nil, errors.New("enclave not initialised: the first ecall must be init")
	}
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var reply wire.Message
	var err error
	switch f.Op {
	case wire.OpInstall:
		var m wire.Install
		if err = wire.Unmarshal(f.Payload, &m); err == nil {
			err = c.svc.Install(ctx, &m)
		}
	case wire.OpSimulate:
		var m wire.Simulate
		if err = wire.Unmarshal(f.Payload, &m); err == nil {
			reply, err = c.svc.Simulate(ctx, &m, &processHost{c: c, ctx: ctx, ecall: f.ID})
		}
	case wire.OpCommit:
		var m wire.Commit
		if err = wire.Unmarshal(f.Payload, &m); err == nil {
			reply, err = c.svc.Commit(ctx, &m)
		}
	case wire.OpInvalidate:
		var m wire.Invalidate
		if err = wire.Unmarshal(f.Payload, &m); err == nil {
			err = c.svc.Invalidate(m.Height)
		}
	case wire.OpPing, wire.OpStats:
	default:
		err = fmt.Errorf("%w: unknown ecall %d", wire.ErrMalformed, f.Op)
	}
	if err != nil {
		reply = nil
	}
	return reply, err
}

// processHost is the Host of one Simulate in the enclave process: it
// makes the ocalls, tagged with the ecall they serve.
type processHost struct {
	c     *server
	ctx   context.Context
	ecall uint64
}

var _ Host = (*processHost)(nil)

func (h *processHost) ocall(op uint8, req, reply wire.Message) error {
	f, err := h.c.ep.Request(h.ctx, op, func(b []byte) []byte { return wire.Marshal(b, req) }, nil, nil)
	if err != nil {
		return err
	}
	remote, err := wire.DecodeReply(f.Payload, reply, nil)
	if err != nil {
		return err
	}
	if remote != nil {
		return ErrorFromWire(remote)
	}
	return nil
}

func (h *processHost) Lookup(ns, key string) (Lookup, error) {
	var r wire.LookupReply
	if err := h.ocall(wire.OcLookup, &wire.KeyRequest{Ecall: h.ecall, Namespace: ns, Key: key}, &r); err != nil {
		return Lookup{}, err
	}
	if r.ExtFound {
		return Lookup{ExtFound: true, Blob: r.Blob}, nil
	}
	if !r.Found {
		return Lookup{}, nil
	}
	if r.Value == nil {
		r.Value = []byte{}
	}
	return Lookup{Found: true, Stored: r.Value, Ver: r.Version}, nil
}

func (h *processHost) StateGet(ns, key string) ([]byte, abi.KeyVersion, bool, error) {
	var r wire.StateGetReply
	err := h.ocall(wire.OcStateGet, &wire.KeyRequest{Ecall: h.ecall, Namespace: ns, Key: key}, &r)
	if err != nil || !r.Found {
		return nil, abi.KeyVersion{}, false, err
	}
	if r.Value == nil {
		r.Value = []byte{}
	}
	return r.Value, r.Version, true, nil
}

func (h *processHost) StateRange(ns, start, end string, limit int) ([]abi.KV, bool, error) {
	var r wire.RangeReply
	err := h.ocall(wire.OcStateRange, &wire.RangeRequest{Ecall: h.ecall, Namespace: ns, Start: start, End: end, Limit: int64(limit)}, &r)
	return r.KVs, r.More, err
}

func (h *processHost) StateHistory(ns, key string) ([]abi.HistoryEntry, error) {
	var r wire.HistoryReply
	err := h.ocall(wire.OcStateHistory, &wire.KeyRequest{Ecall: h.ecall, Namespace: ns, Key: key}, &r)
	return r.Entries, err
}
