package trusted

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/cache"
	"github.com/folio-ledger/folio/internal/enclave/latency"
	"github.com/folio-ledger/folio/internal/enclave/seal"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// Options configure a Service. EnsureDefaults fills unset fields with the
// defaults their comments state.
type Options struct {
	// Height is the committed height the enclave starts at (its tiers are
	// empty). Default 0.
	Height uint64
	// InternalCacheBytes bounds the internal cache (entry cost: namespace,
	// key and value bytes plus EntryOverhead). Default 64 MiB; negative
	// disables the internal cache.
	InternalCacheBytes int64
	// ExternalCache says the host keeps an external cache: reads missing
	// the internal cache ask it first, and replies carry fills for it.
	// Default false.
	ExternalCache bool
	// DirectoryEntries bounds the directory of known versions (about 70
	// bytes per entry). Default 1<<19; negative disables it, which is only
	// allowed without an external cache (no blob could be verified).
	DirectoryEntries int
	// VM configures the contract runtime (see vm.Options and its
	// defaults).
	VM vm.Options
	// Anchor is what the enclave trusts: the channel's genesis block
	// (ParseAnchor), whose organisations' admins may sign the modules it
	// runs. Required (New fails with ErrNoAnchor).
	Anchor *Anchor
	// StateKey is the provisioned 32-byte key of confidential contracts'
	// state; values are sealed under it bound to Anchor
	// (seal.BindStateKey). Default nil: confidential contracts are
	// refused.
	StateKey []byte
	// Logger receives the enclave's logs. Default: discard.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultInternalCacheBytes = 64 << 20
	DefaultDirectoryEntries   = 1 << 19
	// EntryOverhead is the bookkeeping cost of an internal-cache entry
	// added to its key and value bytes.
	EntryOverhead = 160
)

// EnsureDefaults fills unset fields and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.InternalCacheBytes == 0 {
		o.InternalCacheBytes = DefaultInternalCacheBytes
	}
	if o.DirectoryEntries == 0 {
		o.DirectoryEntries = DefaultDirectoryEntries
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.VM.EnsureDefaults()
	if o.VM.Logger == nil || o.VM.Logger.Handler() == slog.DiscardHandler {
		o.VM.Logger = o.Logger
	}
	return o
}

// Validate rejects unusable options.
func (o *Options) Validate() error {
	if o.Anchor == nil {
		return ErrNoAnchor
	}
	if o.ExternalCache && o.DirectoryEntries < 0 {
		return errors.New("trusted: an external cache needs the directory (DirectoryEntries >= 0)")
	}
	if o.StateKey != nil && len(o.StateKey) != seal.KeySize {
		return fmt.Errorf("trusted: state key of %d bytes, want %d", len(o.StateKey), seal.KeySize)
	}
	return o.VM.Validate()
}

// FromInit converts the Init ecall into Options (the logger and state key
// come from the enclave process itself).
func FromInit(m *wire.Init) Options {
	return Options{
		Height:             m.Height,
		InternalCacheBytes: m.InternalCacheBytes,
		ExternalCache:      m.ExternalCache,
		DirectoryEntries:   int(m.DirectoryEntries),
		VM: vm.Options{
			CacheDir:         m.VM.CacheDir,
			MemoryLimitPages: uint32(m.VM.MemoryLimitPages),
			CallTimeout:      time.Duration(m.VM.CallTimeoutNanos),
			MaxArgBytes:      int(m.VM.MaxArgBytes),
			MaxValueBytes:    int(m.VM.MaxValueBytes),
			PoolSize:         int(m.VM.PoolSize),
			Interpreter:      m.VM.Interpreter,
		},
	}
}

// Service is the enclave: see the package comment. Safe for concurrent
// use.
type Service struct {
	opts  Options
	log   *slog.Logger
	rt    *vm.Runtime
	ext   atomic.Pointer[seal.External] // replaced on Invalidate
	state *seal.State                   // nil without a state key
	hash  hasher

	mods struct {
		sync.RWMutex
		// byRef holds the installed versions by name and version; conf the
		// confidentiality flag of each contract name installed.
		byRef map[modRef]*installed
		conf  map[string]bool
	}

	// tiers groups what moves together at a commit. The lock is held only
	// for map and list operations, never across an ocall or a seal.
	tiers struct {
		sync.Mutex
		height   uint64
		internal *cache.Cache[*entry] // nil when disabled
		dir      *directory
	}

	ctr   counters
	ocall latency.Histogram
	seq   atomic.Uint64
}

type modRef struct{ name, version string }

type installed struct {
	m            *vm.Module
	confidential bool
	hash         [32]byte
}

// entry is an internal-cache value; immutable once stored.
type entry struct {
	value     []byte // plaintext; nil when absent
	ver       abi.KeyVersion
	validFrom uint64
	absent    bool
}

type counters struct {
	internalHits, internalMisses atomic.Uint64
	externalHits, externalMisses atomic.Uint64
	tampered, stale, rollbacks   atomic.Uint64
	sealed, unsealed             atomic.Uint64
	ocalls                       atomic.Uint64
}

// New starts a Service: a VM runtime, a fresh root key, and the state
// sealer if a state key is given.
func New(ctx context.Context, opts Options) (*Service, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Service{opts: opts, log: opts.Logger, hash: newHasher()}
	if err := s.newRoot(); err != nil {
		return nil, err
	}
	if opts.StateKey != nil {
		// Bound to the anchor: an enclave started with another genesis
		// block (other roots, so other signers of modules) cannot open
		// the channel's confidential state.
		k, err := seal.BindStateKey(opts.StateKey, opts.Anchor.Hash())
		if err != nil {
			return nil, err
		}
		st, err := seal.NewState(k)
		clear(k)
		if err != nil {
			return nil, err
		}
		s.state = st
	}
	s.mods.byRef = map[modRef]*installed{}
	s.mods.conf = map[string]bool{}
	s.tiers.height = opts.Height
	s.tiers.dir = newDirectory(opts.DirectoryEntries)
	if opts.InternalCacheBytes > 0 {
		seed := s.hash.key("", "cache seed")
		c, err := cache.New[*entry](cache.Options{MaxBytes: opts.InternalCacheBytes, Seed: seed[0]})
		if err != nil {
			return nil, err
		}
		s.tiers.internal = c
	}
	if opts.Anchor != nil {
		// channel_orgs answers the genesis block's organisations until a
		// config update is recorded in state, then that update's (read
		// like any contract state, at the call's height).
		opts.VM.ChannelOrgs = opts.Anchor.OrgNames()
	}
	rt, err := vm.NewRuntime(ctx, opts.VM)
	if err != nil {
		return nil, err
	}
	s.rt = rt
	return s, nil
}

// newRoot draws a fresh root key and derives the external-cache key from
// it: every blob sealed before no longer opens.
func (s *Service) newRoot() error {
	root, err := seal.NewRoot()
	if err != nil {
		return err
	}
	x, err := seal.NewExternal(root)
	clear(root)
	if err != nil {
		return err
	}
	s.ext.Store(x)
	return nil
}

// HasStateKey reports whether confidential contracts can run.
func (s *Service) HasStateKey() bool { return s.state != nil }

// Close closes the runtime and every module.
func (s *Service) Close(ctx context.Context) error { return s.rt.Close(ctx) }

// Install loads a contract version, if the anchor admits its module: a
// package signed by an admin under the genesis block's roots, or a module
// the genesis block pins (Anchor.admit; ErrUntrustedModule otherwise).
// Installing the same module and flag again is a no-op.
func (s *Service) Install(ctx context.Context, m *wire.Install) error {
	if err := m.Validate(); err != nil {
		return err
	}
	wasm, err := s.opts.Anchor.admit(m)
	if err != nil {
		s.log.Warn("module refused", "contract", m.Name, "version", m.Version, "err", err)
		return err
	}
	if m.Confidential && s.state == nil {
		return fmt.Errorf("install %s %s: %w", m.Name, m.Version, ErrNoStateKey)
	}
	ref := modRef{m.Name, m.Version}
	hash := sha256.Sum256(wasm)
	check := func() (done bool, err error) {
		if conf, ok := s.mods.conf[m.Name]; ok && conf != m.Confidential {
			return false, fmt.Errorf("install %s %s (confidential %v): %w: other versions are installed with confidential %v",
				m.Name, m.Version, m.Confidential, ErrConfidentiality, conf)
		}
		if in := s.mods.byRef[ref]; in != nil {
			if in.hash != hash {
				return false, fmt.Errorf("install %s %s: %w with other bytes", m.Name, m.Version, ErrInstalled)
			}
			return true, nil
		}
		return false, nil
	}
	s.mods.RLock()
	done, err := check()
	s.mods.RUnlock()
	if done || err != nil {
		return err
	}
	mod, err := s.rt.Load(ctx, m.Name, m.Version, wasm)
	if err != nil {
		return err
	}
	s.mods.Lock()
	defer s.mods.Unlock()
	if done, err := check(); done || err != nil { // installed concurrently
		mod.Close(ctx)
		return err
	}
	s.mods.byRef[ref] = &installed{m: mod, confidential: m.Confidential, hash: hash}
	s.mods.conf[m.Name] = m.Confidential
	s.log.Info("contract installed", "contract", m.Name, "version", m.Version, "confidential", m.Confidential)
	return nil
}

func (s *Service) module(name, version string) (*installed, bool) {
	s.mods.RLock()
	defer s.mods.RUnlock()
	in, ok := s.mods.byRef[modRef{name, version}]
	return in, ok
}

// confidential reports whether namespace ns belongs to a confidential
// contract installed here.
func (s *Service) confidential(ns string) bool {
	s.mods.RLock()
	defer s.mods.RUnlock()
	return s.mods.conf[ns]
}

// Height returns the enclave's committed height.
func (s *Service) Height() uint64 {
	s.tiers.Lock()
	defer s.tiers.Unlock()
	return s.tiers.height
}

// Counters returns a snapshot of the statistics, with a fresh sequence
// number.
func (s *Service) Counters() wire.Counters {
	c := &s.ctr
	out := wire.Counters{
		Seq:            s.seq.Add(1),
		InternalHits:   c.internalHits.Load(),
		InternalMisses: c.internalMisses.Load(),
		ExternalHits:   c.externalHits.Load(),
		ExternalMisses: c.externalMisses.Load(),
		Tampered:       c.tampered.Load(),
		Stale:          c.stale.Load(),
		Rollbacks:      c.rollbacks.Load(),
		BytesSealed:    c.sealed.Load(),
		BytesUnsealed:  c.unsealed.Load(),
		Ocalls:         c.ocalls.Load(),
		OcallLatency:   s.ocall.Snapshot(),
	}
	vs := s.rt.Stats()
	out.VMCalls, out.VMErrors = vs.Calls, vs.CallErrors
	s.tiers.Lock()
	out.Height = s.tiers.height
	if s.tiers.internal != nil {
		out.InternalEntries = uint64(s.tiers.internal.Len())
		out.InternalBytes = uint64(s.tiers.internal.Bytes())
	}
	out.DirectoryEntries = uint64(s.tiers.dir.len())
	s.tiers.Unlock()
	return out
}

// cacheKey is the internal cache's key of (ns, key).
func cacheKey(ns, key string) string {
	var lp [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(lp[:], uint64(len(ns)))
	var b bytes.Buffer
	b.Grow(n + len(ns) + len(key))
	b.Write(lp[:n])
	b.WriteString(ns)
	b.WriteString(key)
	return b.String()
}

func entryCost(ck string, e *entry) int64 {
	return int64(len(ck) + len(e.value) + EntryOverhead)
}
