package enclave

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/folio-ledger/folio/internal/enclave/link"
	"github.com/folio-ledger/folio/internal/enclave/trusted"
	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// processEnclave runs the enclave as a child process, supervised: if the
// process dies, the calls in flight fail with ErrCrashed and a new process
// is started, initialised at the host's height, given every installed
// contract again, with cold caches (the external cache is emptied: its
// blobs were sealed under the dead process's key).
type processEnclave struct {
	*host
	sup *supervisor
}

var _ Enclave = (*processEnclave)(nil)

// New starts the enclave process (opts.Exe with opts.Args) and returns
// once it is initialised, or with the error that kept it from starting.
func New(ctx context.Context, opts Options) (Enclave, error) {
	if opts.StateKey != nil || opts.Genesis != nil {
		return nil, fmt.Errorf("%w: StateKey and Genesis are for the in-process mode; give the enclave process a StateKeyFile and a GenesisFile", ErrInvalidOptions)
	}
	h, err := newHost(opts)
	if err != nil {
		return nil, err
	}
	if h.opts.Exe == "" {
		h.closed.Store(true)
		h.pins.cur.release()
		return nil, fmt.Errorf("%w: no Exe, and os.Executable failed", ErrInvalidOptions)
	}
	s := newSupervisor(h)
	h.b = s
	if err := s.waitFirst(ctx); err != nil {
		h.closeHost()
		return nil, err
	}
	if err := registerMetrics(h); err != nil {
		h.closeHost()
		return nil, err
	}
	return &processEnclave{host: h, sup: s}, nil
}

// Close implements Enclave: the process is asked to exit (its socket
// closes) and killed if it has not within 5 seconds.
func (e *processEnclave) Close() error { return e.closeHost() }

// supervisor owns the enclave process: its goroutine (run) starts a
// process, waits for it to die, and starts another, until Close.
type supervisor struct {
	h      *host
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		// cur is the running process (nil while starting or after a
		// failed start); ready is closed when the current start attempt
		// ended, startErr says how it failed; gen numbers processes.
		cur      *childProcess
		ready    chan struct{}
		startErr error
		gen      uint64
		closed   bool
	}
}

func newSupervisor(h *host) *supervisor {
	s := &supervisor{h: h, log: h.log}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.ready = make(chan struct{})
	s.wg.Add(1)
	go s.run()
	return s
}

// waitFirst waits for the first start attempt.
func (s *supervisor) waitFirst(ctx context.Context) error {
	s.mu.Lock()
	ready := s.mu.ready
	s.mu.Unlock()
	select {
	case <-ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.startErr != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, s.mu.startErr)
	}
	return nil
}

// run is the supervisor's goroutine.
func (s *supervisor) run() {
	defer s.wg.Done()
	base := s.h.opts.RestartBackoff
	backoff := base
	for {
		s.mu.Lock()
		s.mu.gen++
		gen := s.mu.gen
		s.mu.Unlock()
		started := time.Now()
		c, err := s.start(gen)
		s.mu.Lock()
		if s.mu.closed {
			s.mu.Unlock()
			if c != nil {
				c.stop()
			}
			return
		}
		if err == nil {
			s.h.newGeneration(gen)
		}
		s.mu.cur, s.mu.startErr = c, err
		close(s.mu.ready)
		s.mu.Unlock()
		if err != nil {
			s.log.Error("enclave process failed to start", "err", err, "retry_in", backoff)
		} else {
			s.log.Info("enclave process started", "pid", c.pid, "generation", gen, "height", s.h.height())
			select {
			case <-c.ep.Done():
			case <-s.ctx.Done():
				c.stop()
				return
			}
			s.retire(c)
			exit := c.exitStatus(time.Second)
			s.log.Error("enclave process died; restarting it with cold caches", "pid", c.pid, "exit", exit)
			s.h.ctr.restarts.Add(1)
			c.stop()
			if time.Since(started) > 2*time.Second {
				backoff = base
			}
		}
		select {
		case <-time.After(backoff):
		case <-s.ctx.Done():
			return
		}
		backoff = min(2*backoff, 32*base)
		if err != nil {
			s.mu.Lock()
			s.mu.startErr, s.mu.ready = nil, make(chan struct{})
			s.mu.Unlock()
		}
	}
}

// retire stops handing out process c (dead): callers wait for the next
// one. The supervisor calls it when it sees c die, and so does current if
// it sees that first.
func (s *supervisor) retire(c *childProcess) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.cur == c {
		s.mu.cur, s.mu.ready = nil, make(chan struct{})
	}
}

// current returns the running process, waiting for a start in progress.
func (s *supervisor) current(ctx context.Context) (*childProcess, error) {
	for {
		s.mu.Lock()
		cur, ready, startErr, closed := s.mu.cur, s.mu.ready, s.mu.startErr, s.mu.closed
		s.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case cur != nil:
			select {
			case <-cur.ep.Done(): // dead, and the supervisor may not know yet
				s.retire(cur)
				continue
			default:
				return cur, nil
			}
		case startErr != nil:
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, startErr)
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for the enclave process to restart: %w", ErrUnavailable, ctx.Err())
		}
	}
}

func (s *supervisor) ecall(ctx context.Context, op uint8, req, reply wire.Message, oc *ocalls) (wire.Counters, uint64, error) {
	c, err := s.current(ctx)
	if err != nil {
		return wire.Counters{}, 0, err
	}
	ctr, err := c.ecall(ctx, op, req, reply, oc)
	if errors.Is(err, ErrCrashed) {
		s.mu.Lock()
		closed := s.mu.closed
		s.mu.Unlock()
		if closed {
			err = fmt.Errorf("%w (during %s)", ErrClosed, wire.OpName(op))
		}
	}
	return ctr, c.gen, err
}

func (s *supervisor) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.cur == nil {
		return 0
	}
	return s.mu.cur.pid
}

func (s *supervisor) close() error {
	s.mu.Lock()
	s.mu.closed = true
	cur := s.mu.cur
	s.mu.Unlock()
	s.cancel()
	if cur != nil {
		cur.stop()
	}
	s.wg.Wait()
	return nil
}

// start spawns a process, initialises it at the host's height and
// installs every contract the host installed.
func (s *supervisor) start(gen uint64) (*childProcess, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.h.opts.StartTimeout)
	defer cancel()
	c, err := spawn(&s.h.opts, s.log, gen, s.h)
	if err != nil {
		return nil, err
	}
	fail := func(what string, err error) (*childProcess, error) {
		c.stop()
		if st := c.exitStatus(100 * time.Millisecond); st != "" {
			err = fmt.Errorf("%w (process %s)", err, st)
		}
		return nil, fmt.Errorf("enclave process %d: %s: %w", c.pid, what, err)
	}
	var ir wire.InitReply
	if err := s.startCall(ctx, c, wire.OpInit, s.h.initMessage(s.h.height()), &ir); err != nil {
		return fail("init", err)
	}
	if s.h.opts.StateKeyFile != "" && !ir.HasStateKey {
		return fail("init", errors.New("the process reports no state key although one was given"))
	}
	if gen == 1 {
		s.log.Info("enclave trust anchor", "genesis_header_hash", fmt.Sprintf("%x", ir.Anchor))
	}
	for _, in := range s.h.installed() {
		if err := s.startCall(ctx, c, wire.OpInstall, in, nil); err != nil {
			return fail(fmt.Sprintf("install %s %s again", in.Name, in.Version), err)
		}
	}
	return c, nil
}

// startCall runs an ecall of the start sequence, counted like any.
func (s *supervisor) startCall(ctx context.Context, c *childProcess, op uint8, req, reply wire.Message) error {
	start := time.Now()
	ctr, err := c.ecall(ctx, op, req, reply, nil)
	s.h.ctr.ecall(op, start)
	if ctr.Seq != 0 {
		s.h.ctr.note(c.gen, &ctr)
	}
	return err
}

// childProcess is the host's handle on one enclave process: the
// process, its connection, and the ocall handlers of the ecalls in flight.
// What runs inside the process is package trusted (Serve).
type childProcess struct {
	h      *host
	gen    uint64
	pid    int
	cmd    *exec.Cmd
	ep     *link.Endpoint
	log    *slog.Logger
	stderr *lineLogger

	// active maps the ids of ecalls in flight to their ocall handlers.
	active struct {
		sync.Mutex
		m map[uint64]*ocalls
	}
	// exited is closed when the process was reaped; exitErr is its status.
	exited  chan struct{}
	exitErr error
	reader  chan struct{} // closed when the reader goroutine returned
}

// spawn starts the process with its end of a socketpair on link.ChildFD.
func spawn(o *Options, log *slog.Logger, gen uint64, h *host) (*childProcess, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("enclave: socketpair: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "enclave-host")
	theirs := os.NewFile(uintptr(fds[1]), "enclave-child")
	defer theirs.Close()
	args := append([]string(nil), o.Args...)
	if o.StateKeyFile != "" {
		args = append(args, "--state-key", o.StateKeyFile)
	}
	if o.GenesisFile != "" {
		args = append(args, "--genesis", o.GenesisFile)
	}
	cmd := exec.Command(o.Exe, args...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.ExtraFiles = []*os.File{theirs} // descriptor 3 in the child: link.ChildFD
	ll := &lineLogger{log: log.With("enclave_gen", gen)}
	cmd.Stderr = ll
	cmd.Stdout = ll
	// Its own process group: a terminal's Ctrl-C reaches the peer, which
	// then closes the enclave, rather than killing both at once (and the
	// supervisor restarting the enclave during the peer's shutdown).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		mine.Close()
		return nil, fmt.Errorf("enclave: start %s: %w", o.Exe, err)
	}
	conn, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("enclave: socket: %w", err)
	}
	c := &childProcess{h: h, gen: gen, pid: cmd.Process.Pid, cmd: cmd, ep: link.NewEndpoint(conn, wire.KindEcall, &h.ctr.crossings), log: log,
		stderr: ll, exited: make(chan struct{}), reader: make(chan struct{})}
	c.active.m = map[uint64]*ocalls{}
	c.ep.EnableBatching(o.EcallBatch, ecallBatchLinger)
	go func() {
		c.exitErr = cmd.Wait()
		close(c.exited)
	}()
	go func() {
		defer close(c.reader)
		if err := c.ep.Run(c.handle); err != nil {
			log.Debug("enclave stream ended", "pid", c.pid, "err", err)
		}
	}()
	return c, nil
}

// exitStatus waits up to d for the process to be reaped and describes how
// it ended ("" if it has not).
func (c *childProcess) exitStatus(d time.Duration) string {
	select {
	case <-c.exited:
		if c.exitErr == nil {
			return "exit status 0"
		}
		return c.exitErr.Error()
	case <-time.After(d):
		return ""
	}
}

// stop closes the socket (the process exits when it reads EOF) and kills
// the process if it is still there after 5 seconds.
func (c *childProcess) stop() {
	c.ep.Close()
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
	<-c.reader
}

// ecall sends one ecall and decodes its reply into reply (nil: none).
func (c *childProcess) ecall(ctx context.Context, op uint8, req, reply wire.Message, oc *ocalls) (wire.Counters, error) {
	register := func(id uint64) {
		if oc != nil {
			c.active.Lock()
			c.active.m[id] = oc
			c.active.Unlock()
		}
	}
	var id uint64
	request := c.ep.Request
	if op == wire.OpSimulate && c.ep.Batching() {
		request = c.ep.RequestBatched
	}
	f, err := request(ctx, op, func(b []byte) []byte { return wire.Marshal(b, req) },
		func(i uint64) { id = i; register(i) },
		func(i uint64) { _ = c.ep.Send(wire.KindCancel, op, i, nil) })
	if oc != nil {
		c.active.Lock()
		delete(c.active.m, id)
		c.active.Unlock()
	}
	if err != nil {
		if errors.Is(err, link.ErrStopped) {
			exit := c.exitStatus(time.Second)
			if exit == "" {
				exit = err.Error()
			}
			return wire.Counters{}, &CrashError{PID: c.pid, Op: wire.OpName(op), Exit: exit}
		}
		return wire.Counters{}, err
	}
	var ctr wire.Counters
	remote, err := wire.DecodeReply(f.Payload, reply, &ctr)
	if err != nil {
		// The enclave speaks garbage: it cannot be trusted to go on.
		c.log.Error("malformed reply from the enclave process; killing it", "pid", c.pid, "op", wire.OpName(op), "err", err)
		c.cmd.Process.Kill()
		return wire.Counters{}, fmt.Errorf("enclave: %s reply: %w", wire.OpName(op), err)
	}
	if remote != nil {
		return ctr, trusted.ErrorFromWire(remote)
	}
	return ctr, nil
}

// handle runs on the reader goroutine. A Lookup that the external cache
// answers (a map probe) is answered right here, its reply written without
// waiting (link.Endpoint.SendFromReader): a goroutine per ocall costs a
// goroutine switch and a scheduler wake-up on every crossing, more than
// the probe itself. Every ocall that reads the state gets a goroutine of
// its own: a state read can be slow (disk) or stuck, and the reader must
// go on delivering other replies and noticing the death of the process.
func (c *childProcess) handle(f wire.Frame) {
	if f.Kind != wire.KindOcall {
		c.log.Warn("unexpected frame from the enclave process", "kind", f.Kind, "op", f.Op)
		return
	}
	probed := false
	if f.Op == wire.OcLookup && c.ep.InlineReplies() {
		var done bool
		if done, probed = c.lookupInline(f); done {
			return
		}
	}
	go c.serveOcall(f, probed)
}

// lookupInline answers Lookup f from the external cache if it holds the
// key, and reports whether it did, and whether it probed the cache (a
// miss, which then needs the state: serveOcall answers). If f is
// malformed or for an ecall not in flight, serveOcall answers too.
func (c *childProcess) lookupInline(f wire.Frame) (done, probed bool) {
	var kr wire.KeyRequest
	if wire.Unmarshal(f.Payload, &kr) != nil || kr.Validate() != nil {
		return false, false
	}
	c.active.Lock()
	oc := c.active.m[kr.Ecall]
	c.active.Unlock()
	if oc == nil {
		return false, false
	}
	blob, ok := oc.external(kr.Namespace, kr.Key)
	if !ok {
		return false, true
	}
	reply := &wire.LookupReply{ExtFound: true, Blob: blob}
	c.ep.SendFromReader(wire.KindOcallReply, f.Op, f.ID, func(b []byte) []byte {
		return wire.EncodeReply(b, reply, nil, nil)
	}, func(serr error) { c.log.Debug("ocall reply not sent", "op", wire.OcName(f.Op), "err", serr) })
	return true, true
}

// serveOcall answers ocall f, on a goroutine of its own; extMissed: f is
// a Lookup whose external-cache probe missed already (lookupInline), so
// the answer is the state's.
func (c *childProcess) serveOcall(f wire.Frame, extMissed bool) {
	var reply wire.Message
	err := func() error {
		var ecall uint64
		var kr wire.KeyRequest
		var rr wire.RangeRequest
		var err error
		if f.Op == wire.OcStateRange {
			if err = wire.Unmarshal(f.Payload, &rr); err == nil {
				err = rr.Validate()
			}
			ecall = rr.Ecall
		} else {
			if err = wire.Unmarshal(f.Payload, &kr); err == nil {
				err = kr.Validate()
			}
			ecall = kr.Ecall
		}
		if err != nil {
			return err
		}
		c.active.Lock()
		oc := c.active.m[ecall]
		c.active.Unlock()
		if oc == nil {
			return fmt.Errorf("ocall for ecall %d, which is not in flight", ecall)
		}
		switch f.Op {
		case wire.OcLookup:
			lk, err := oc.lookup(kr.Namespace, kr.Key, !extMissed)
			reply = &wire.LookupReply{ExtFound: lk.ExtFound, Blob: lk.Blob, Found: lk.Found, Value: lk.Stored, Version: lk.Ver}
			return err
		case wire.OcStateGet:
			v, ver, found, err := oc.StateGet(kr.Namespace, kr.Key)
			reply = &wire.StateGetReply{Found: found, Value: v, Version: ver}
			return err
		case wire.OcStateRange:
			kvs, more, err := oc.StateRange(rr.Namespace, rr.Start, rr.End, int(rr.Limit))
			reply = &wire.RangeReply{KVs: kvs, More: more}
			return err
		case wire.OcStateHistory:
			hs, err := oc.StateHistory(kr.Namespace, kr.Key)
			reply = &wire.HistoryReply{Entries: hs}
			return err
		}
		return fmt.Errorf("%w: unknown ocall %d", wire.ErrMalformed, f.Op)
	}()
	var werr *wire.Error
	if err != nil {
		reply, werr = nil, trusted.ErrorToWire(err)
	}
	if serr := c.ep.Send(wire.KindOcallReply, f.Op, f.ID, func(b []byte) []byte {
		return wire.EncodeReply(b, reply, werr, nil)
	}); serr != nil {
		c.log.Debug("ocall reply not sent", "op", wire.OcName(f.Op), "err", serr)
	}
}

// lineLogger forwards the enclave process's output to the host's log, a
// line at a time.
type lineLogger struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.log.Info("enclave: " + string(bytes.TrimSpace(l.buf[:i])))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 {
		l.log.Info("enclave: " + string(l.buf))
		l.buf = nil
	}
	return len(p), nil
}
