package enclave

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/trusted"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// boundary carries ecalls to the enclave: a direct call in process
// (inProcess) or frames to a supervised process (supervisor).
type boundary interface {
	// ecall runs one ecall; oc answers the ocalls it makes (Simulate
	// only). It returns the enclave's counters as of the reply, and the
	// generation of the process that answered (1 for the first process,
	// incremented at every restart).
	ecall(ctx context.Context, op uint8, req, reply wire.Message, oc *ocalls) (wire.Counters, uint64, error)
	// pid is the enclave process's (0 while there is none).
	pid() int
	close() error
}

// host is the peer side of the boundary, shared by both implementations:
// the pinned state reader, the external cache, the installed modules to
// replay after a restart, and the counters.
type host struct {
	opts Options
	log  *slog.Logger
	src  StateSource
	ext  ExternalCache // nil when disabled
	b    boundary
	ctr  hostCounters

	// pins guards cur, the reader Simulate uses: replaced by Commit and
	// Invalidate (under commitMu) and never nil until Close.
	pins struct {
		sync.Mutex
		cur *pin
	}
	// extState orders external-cache writes: fills are stored only if
	// they were sealed at the cache's height, by the process generation
	// whose blobs it holds, in the same epoch. Commit moves the height, a
	// restart the generation (the cache is emptied), Invalidate the epoch
	// (the enclave draws a new key). Guarded by its mutex together with
	// the cache updates it orders.
	extState struct {
		sync.Mutex
		height, gen, epoch uint64
	}
	// commitMu serialises Commit and Invalidate.
	commitMu sync.Mutex
	// installs are the contract versions to install again in a new
	// enclave process, in installation order.
	installs struct {
		sync.Mutex
		list []*wire.Install
	}
	closed atomic.Bool
}

// pin is a state reader at one height, reference counted: the host holds
// one reference while it is current, each Simulate another.
type pin struct {
	height uint64
	r      StateReader
	refs   atomic.Int64
}

func newHost(opts Options) (*host, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	h := &host{opts: opts, log: opts.Logger, src: opts.State}
	if opts.externalEnabled() {
		h.ext = opts.ExternalCache
		if h.ext == nil {
			var err error
			if h.ext, err = NewExternalCache(opts.ExternalCacheBytes); err != nil {
				return nil, err
			}
		}
	}
	r, err := h.src.NewStateReader()
	if err != nil {
		return nil, fmt.Errorf("enclave: open state reader: %w", err)
	}
	p := &pin{height: r.Height(), r: r}
	p.refs.Store(1)
	h.pins.cur = p
	h.extState.height = p.height
	h.extState.gen = 1 // the first process (in process: the only one)
	return h, nil
}

func (h *host) acquire() *pin {
	h.pins.Lock()
	defer h.pins.Unlock()
	p := h.pins.cur
	p.refs.Add(1)
	return p
}

func (p *pin) release() {
	if p.refs.Add(-1) == 0 {
		_ = p.r.Close() // a reader's close error has no one to go to
	}
}

// publish makes p the current pin (with the host's reference).
func (h *host) publish(p *pin) {
	p.refs.Store(1)
	h.pins.Lock()
	old := h.pins.cur
	h.pins.cur = p
	h.pins.Unlock()
	if old != nil {
		old.release()
	}
}

func (h *host) height() uint64 {
	h.pins.Lock()
	defer h.pins.Unlock()
	return h.pins.cur.height
}

func (h *host) extEpoch() uint64 {
	h.extState.Lock()
	defer h.extState.Unlock()
	return h.extState.epoch
}

// invalidateExternal empties the external cache after Invalidate (the
// enclave drew a new key) and moves its height.
func (h *host) invalidateExternal(height uint64) {
	h.extState.Lock()
	defer h.extState.Unlock()
	if h.ext != nil {
		h.ext.Clear()
	}
	h.extState.epoch++
	h.extState.height = height
}

// newGeneration empties the external cache for enclave process gen (the
// blobs of the previous process were sealed under a key that died with
// it).
func (h *host) newGeneration(gen uint64) {
	h.extState.Lock()
	defer h.extState.Unlock()
	if h.ext != nil {
		h.ext.Clear()
	}
	h.extState.gen = gen
}

// initMessage configures a new enclave at height.
func (h *host) initMessage(height uint64) *wire.Init {
	o := &h.opts
	return &wire.Init{
		ProtocolVersion:    wire.Version,
		Height:             height,
		InternalCacheBytes: o.InternalCacheBytes,
		ExternalCache:      h.ext != nil,
		DirectoryEntries:   int64(o.DirectoryEntries),
		MaxConcurrentCalls: int64(o.MaxConcurrentCalls),
		VM: wire.VMOptions{
			CacheDir: o.VM.CacheDir, MemoryLimitPages: uint64(o.VM.MemoryLimitPages),
			CallTimeoutNanos: int64(o.VM.CallTimeout), MaxArgBytes: int64(o.VM.MaxArgBytes),
			MaxValueBytes: int64(o.VM.MaxValueBytes), PoolSize: int64(o.VM.PoolSize), Interpreter: o.VM.Interpreter,
		},
	}
}

// call runs an ecall, timing it (the boundary counts its crossing), and
// returns the generation of the process that answered.
func (h *host) call(ctx context.Context, op uint8, req, reply wire.Message, oc *ocalls) (uint64, error) {
	if h.closed.Load() {
		return 0, ErrClosed
	}
	start := time.Now()
	c, gen, err := h.b.ecall(ctx, op, req, reply, oc)
	if err != nil && (errors.Is(err, ErrUnavailable) || errors.Is(err, ErrClosed)) {
		return gen, err // nothing crossed
	}
	h.ctr.ecall(op, start)
	if c.Seq != 0 {
		h.ctr.note(gen, &c)
	}
	return gen, err
}

// Install implements Enclave. A version already installed with the same
// flag and module returns at once, without crossing (the endorser
// installs before every simulation); the host keeps the module's bytes
// (they must not be modified afterwards) to install it again in a
// restarted process.
func (h *host) Install(ctx context.Context, mod Module) error {
	m := &wire.Install{Name: mod.Name, Version: mod.Version, Confidential: mod.Confidential}
	if mod.Signed != nil {
		// The package carries the module: nothing else crosses beside it.
		m.Package, m.Signature = mod.Signed.GetPackage(), mod.Signed.GetSignature()
	} else {
		m.Wasm = mod.Wasm
	}
	h.installs.Lock()
	for _, in := range h.installs.list {
		if in.Name == m.Name && in.Version == m.Version && in.Confidential == m.Confidential &&
			sameBytes(in.Wasm, m.Wasm) && sameBytes(in.Package, m.Package) && sameBytes(in.Signature, m.Signature) {
			h.installs.Unlock()
			return nil
		}
	}
	h.installs.Unlock()
	if err := m.Validate(); err != nil {
		return fmt.Errorf("enclave: install: %w", err)
	}
	if _, err := h.call(ctx, wire.OpInstall, m, nil, nil); err != nil {
		return err
	}
	h.installs.Lock()
	defer h.installs.Unlock()
	for _, in := range h.installs.list {
		if in.Name == m.Name && in.Version == m.Version {
			return nil
		}
	}
	h.installs.list = append(h.installs.list, m)
	return nil
}

// sameBytes compares two modules, cheaply when they are the same slice.
func sameBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0] || bytes.Equal(a, b)
}

func (h *host) installed() []*wire.Install {
	h.installs.Lock()
	defer h.installs.Unlock()
	return append([]*wire.Install(nil), h.installs.list...)
}

// Simulate implements Enclave.
func (h *host) Simulate(ctx context.Context, version string, call abi.Call) (*vm.Result, error) {
	name := call.Namespace
	if name == "" {
		return nil, &vm.CallError{Version: version, Function: call.Function, TxID: call.TxID,
			Err: fmt.Errorf("%w: no namespace: call.Namespace names the contract", vm.ErrBadCall)}
	}
	n := len(call.Function)
	for _, a := range call.Args {
		n += len(a)
	}
	if n > h.opts.VM.MaxArgBytes {
		// Refused before anything crosses, as the VM would.
		return nil, &vm.CallError{Contract: name, Version: version, Function: call.Function, TxID: call.TxID,
			Err: fmt.Errorf("%w: %d bytes of function name and args, limit %d", vm.ErrArgsTooLarge, n, h.opts.VM.MaxArgBytes)}
	}
	epoch := h.extEpoch() // before the ecall: see storeFills
	p := h.acquire()
	defer p.release()
	req := &wire.Simulate{Height: p.height, Name: name, Version: version, Call: call}
	var reply wire.SimulateReply
	gen, err := h.call(ctx, wire.OpSimulate, req, &reply, &ocalls{h: h, p: p})
	if err != nil {
		return nil, err
	}
	h.storeFills(reply.Fills, gen, epoch)
	var action foliov1.ContractAction
	if err := proto.Unmarshal(reply.Action, &action); err != nil {
		return nil, fmt.Errorf("enclave: decode the result of %s %s: %w", name, version, err)
	}
	return &vm.Result{Contract: action.Contract, Response: action.Response, RWSet: action.Rwset, Events: action.Events,
		Duration: time.Duration(reply.DurationNanos)}, nil
}

// ExternalKey is the external cache's key of (ns, key): the namespace's
// length as a uvarint, the namespace, the key.
func ExternalKey(ns, key string) string { return extKey(ns, key) }

func extKey(ns, key string) string {
	var b strings.Builder
	var lp [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(lp[:], uint64(len(ns)))
	b.Grow(n + len(ns) + len(key))
	b.Write(lp[:n])
	b.WriteString(ns)
	b.WriteString(key)
	return b.String()
}

// storeFills stores the external-cache entries a Simulate returned, if
// they were sealed at the cache's current height, by the process
// generation whose blobs the cache holds, in the epoch read before the
// ecall was sent (an Invalidate meanwhile only loses the fills; it never
// lets a blob of the old key in).
func (h *host) storeFills(fills []wire.Fill, gen, epoch uint64) {
	if h.ext == nil || len(fills) == 0 {
		return
	}
	h.extState.Lock()
	defer h.extState.Unlock()
	if gen != h.extState.gen || epoch != h.extState.epoch {
		return
	}
	for _, f := range fills {
		if f.Height == h.extState.height {
			h.ext.Put(extKey(f.Namespace, f.Key), f.Blob)
		}
	}
}

// Commit implements Enclave.
func (h *host) Commit(ctx context.Context, block uint64, writes []Write) error {
	h.commitMu.Lock()
	defer h.commitMu.Unlock()
	if h.closed.Load() {
		return ErrClosed
	}
	cur := h.height()
	switch {
	case block+1 <= cur:
		return fmt.Errorf("enclave: commit block %d: %w: already at height %d", block, ErrHeight, cur)
	case block > cur:
		h.log.Warn("commit skips blocks: invalidating the tiers", "height", cur, "block", block)
		return h.invalidateLocked(ctx)
	}
	r, err := h.src.NewStateReader()
	if err != nil {
		return fmt.Errorf("enclave: commit block %d: open state reader: %w", block, err)
	}
	if got := r.Height(); got != block+1 {
		r.Close()
		return fmt.Errorf("enclave: commit block %d: %w: the state is at height %d, want %d (push a block right after the ledger committed it)",
			block, ErrHeight, got, block+1)
	}
	m := &wire.Commit{Block: block, Writes: make([]wire.Write, len(writes))}
	for i, w := range writes {
		m.Writes[i] = wire.Write{Namespace: w.Namespace, Key: w.Key, Value: w.Value, Delete: w.Delete, Tx: w.Tx}
		if w.Delete {
			m.Writes[i].Value = nil
		}
		if h.ext != nil {
			m.Writes[i].ExtPresent = h.ext.Contains(extKey(w.Namespace, w.Key))
		}
	}
	if err := m.Validate(); err != nil {
		r.Close()
		return fmt.Errorf("enclave: commit block %d: %w", block, err)
	}
	var reply wire.CommitReply
	for attempt := 0; ; attempt++ {
		_, err = h.call(ctx, wire.OpCommit, m, &reply, nil)
		if !errors.Is(err, ErrCrashed) || attempt == 2 {
			break
		}
		// The restarted enclave is at the old height with cold tiers:
		// push again.
		h.log.Warn("enclave died during a commit; pushing the block again", "block", block, "err", err)
	}
	if err != nil {
		r.Close()
		// The enclave may or may not have applied the block: start over
		// from the state's height rather than guess.
		if ierr := h.invalidateLocked(ctx); ierr != nil {
			return fmt.Errorf("enclave: commit block %d: %w (and invalidating the tiers failed: %v)", block, err, ierr)
		}
		h.log.Warn("commit ecall failed; tiers invalidated", "block", block, "err", err)
		return nil
	}
	// Replace or remove the external entries of written keys, and move
	// the cache's height, atomically with respect to fills.
	h.extState.Lock()
	if h.ext != nil {
		repl := make(map[string][]byte, len(reply.Fills))
		for _, f := range reply.Fills {
			repl[extKey(f.Namespace, f.Key)] = f.Blob
		}
		for _, w := range writes {
			k := extKey(w.Namespace, w.Key)
			if b, ok := repl[k]; ok {
				h.ext.Put(k, b)
			} else {
				h.ext.Delete(k)
			}
		}
	}
	h.extState.height = block + 1
	h.extState.Unlock()
	h.publish(&pin{height: block + 1, r: r})
	return nil
}

// Invalidate implements Enclave.
func (h *host) Invalidate(ctx context.Context) error {
	h.commitMu.Lock()
	defer h.commitMu.Unlock()
	if h.closed.Load() {
		return ErrClosed
	}
	return h.invalidateLocked(ctx)
}

func (h *host) invalidateLocked(ctx context.Context) error {
	r, err := h.src.NewStateReader()
	if err != nil {
		return fmt.Errorf("enclave: invalidate: open state reader: %w", err)
	}
	height := r.Height()
	if _, err := h.call(ctx, wire.OpInvalidate, &wire.Invalidate{Height: height}, nil, nil); err != nil && !errors.Is(err, ErrCrashed) {
		r.Close()
		return fmt.Errorf("enclave: invalidate: %w", err)
	}
	// If the process died meanwhile, its successor starts cold, at the
	// height of the pin when it started; below the new pin it serves
	// Simulate from the state database alone until the next Commit.
	h.invalidateExternal(height)
	h.publish(&pin{height: height, r: r})
	return nil
}

// Stats implements Enclave.
func (h *host) Stats() Stats {
	return h.ctr.stats(h.b.pid(), h.height(), h.ext)
}

func (h *host) closeHost() error {
	if h.closed.Swap(true) {
		return nil
	}
	err := h.b.close()
	h.pins.Lock()
	p := h.pins.cur
	h.pins.Unlock()
	p.release()
	return err
}

// ocalls answers the ocalls of one Simulate from its pinned reader and
// the external cache. It implements trusted.Host.
type ocalls struct {
	h *host
	p *pin
}

var _ trusted.Host = (*ocalls)(nil)

func (o *ocalls) Lookup(ns, key string) (trusted.Lookup, error) { return o.lookup(ns, key, true) }

// lookup is Lookup; probe false skips the external cache, which the
// caller probed already (external) and found without the key.
func (o *ocalls) lookup(ns, key string, probe bool) (trusted.Lookup, error) {
	o.h.ctr.ocalls.Add(1)
	if o.h.ext != nil && probe {
		if b, ok := o.h.ext.Get(extKey(ns, key)); ok {
			return trusted.Lookup{ExtFound: true, Blob: b}, nil
		}
	}
	v, ver, found, err := o.stateGet(ns, key)
	return trusted.Lookup{Found: found, Stored: v, Ver: ver}, err
}

// external is the first half of Lookup, for the host's reader goroutine:
// the external cache's blob of (ns, key), if it holds one; then the
// Lookup ocall is counted and answered. If not, nothing is counted and
// lookup(ns, key, false) must follow.
func (o *ocalls) external(ns, key string) ([]byte, bool) {
	if o.h.ext == nil {
		return nil, false
	}
	b, ok := o.h.ext.Get(extKey(ns, key))
	if ok {
		o.h.ctr.ocalls.Add(1)
	}
	return b, ok
}

func (o *ocalls) StateGet(ns, key string) ([]byte, abi.KeyVersion, bool, error) {
	o.h.ctr.ocalls.Add(1)
	return o.stateGet(ns, key)
}

func (o *ocalls) stateGet(ns, key string) ([]byte, abi.KeyVersion, bool, error) {
	o.h.ctr.stateReads.Add(1)
	v, ver, err := o.p.r.Get(ns, key)
	if err != nil || ver == nil {
		return nil, abi.KeyVersion{}, false, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, abiVersion(ver), true, nil
}

func (o *ocalls) StateRange(ns, start, end string, limit int) ([]abi.KV, bool, error) {
	o.h.ctr.ocalls.Add(1)
	o.h.ctr.stateReads.Add(1)
	kvs, more, err := o.p.r.Range(ns, start, end, limit)
	if err != nil {
		return nil, false, err
	}
	out := make([]abi.KV, len(kvs))
	for i, kv := range kvs {
		v := kv.Value
		if v == nil {
			v = []byte{}
		}
		out[i] = abi.KV{Key: kv.Key, Value: v, Version: abiVersion(kv.Version)}
	}
	return out, more, nil
}

func (o *ocalls) StateHistory(ns, key string) ([]abi.HistoryEntry, error) {
	o.h.ctr.ocalls.Add(1)
	o.h.ctr.stateReads.Add(1)
	hs, err := o.p.r.History(ns, key)
	if err != nil {
		return nil, err
	}
	out := make([]abi.HistoryEntry, len(hs))
	for i, e := range hs {
		out[i] = abi.HistoryEntry{TxID: e.TxID, Version: abiVersion(e.Version), Timestamp: e.Timestamp, IsDelete: e.IsDelete, Value: e.Value}
		if !e.IsDelete && out[i].Value == nil {
			out[i].Value = []byte{}
		}
	}
	return out, nil
}

// abiVersion is the ledger's version of a key as the enclave protocol
// carries it (nil, which a reader returns only for an absent key, is 0.0).
func abiVersion(v *foliov1.Version) abi.KeyVersion {
	return abi.KeyVersion{Block: v.GetBlockNum(), Tx: v.GetTxNum()}
}

// RoundTrip measures the boundary itself: it makes n empty ecalls (ping:
// no contract, no ocall) and returns their mean round trip. For an
// in-process enclave that is a function call.
func RoundTrip(ctx context.Context, e Enclave, n int) (time.Duration, error) {
	var h *host
	switch x := e.(type) {
	case *processEnclave:
		h = x.host
	case *inProcessEnclave:
		h = x.host
	default:
		return 0, fmt.Errorf("enclave: RoundTrip needs an Enclave of this package, not %T", e)
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := h.call(ctx, wire.OpPing, &wire.Empty{}, nil, nil); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(max(n, 1)), nil
}
