package vm

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Options configure a Runtime. The zero value is usable: EnsureDefaults
// fills every unset field with the default its comment states.
type Options struct {
	// CacheDir is a directory where wazero keeps compiled machine code, so
	// a restarted node does not compile its contracts again. Default ""
	// keeps compiled code in memory only (still shared by every Load of the
	// same bytes in this Runtime).
	CacheDir string
	// MemoryLimitPages caps the linear memory of every instance, in 64 KiB
	// pages. Default 1024 (64 MiB); at most 65536 (4 GiB).
	MemoryLimitPages uint32
	// CallTimeout bounds one call, and one instance initialisation.
	// Default 5s.
	CallTimeout time.Duration
	// MaxArgBytes bounds the function name plus all args of one call.
	// Default 1 MiB.
	MaxArgBytes int
	// MaxValueBytes bounds each value a call writes, each event payload,
	// and its response (message plus payload; responses of up to
	// abi.MinResponseLimit bytes are always accepted). Default 4 MiB.
	MaxValueBytes int
	// PoolSize is how many instances of each Module exist at most, idle
	// or running: a call waits for a free one rather than instantiating
	// more. Default 4; a negative value disables pooling (every call gets
	// a fresh instance, which costs a Go runtime initialisation per call,
	// and calls are not bounded).
	PoolSize int
	// Interpreter selects wazero's interpreter instead of its compiler.
	// Default false: the compiler where the platform supports it.
	Interpreter bool
	// ChannelOrgs are the names of the genesis configuration's member
	// organisations, which the channel_orgs host function answers
	// (sorted, duplicates removed, by EnsureDefaults) until a config
	// update is recorded in state; then it answers that update's (see
	// simulator.channelOrgs). Default nil: channel_orgs fails with
	// ErrnoUnavailable before any config update.
	ChannelOrgs []string
	// Logger receives debug lines (contract logs, discarded instances).
	// Default: a logger that discards everything.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultMemoryLimitPages = 1024
	DefaultCallTimeout      = 5 * time.Second
	DefaultMaxArgBytes      = 1 << 20
	DefaultMaxValueBytes    = 4 << 20
	DefaultPoolSize         = 4
)

// EnsureDefaults fills unset fields with their defaults and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.MemoryLimitPages == 0 {
		o.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.MaxArgBytes == 0 {
		o.MaxArgBytes = DefaultMaxArgBytes
	}
	if o.MaxValueBytes == 0 {
		o.MaxValueBytes = DefaultMaxValueBytes
	}
	if o.PoolSize == 0 {
		o.PoolSize = DefaultPoolSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ChannelOrgs != nil {
		orgs := slices.Clone(o.ChannelOrgs)
		slices.Sort(orgs)
		o.ChannelOrgs = slices.Compact(orgs)
	}
	return o
}

// Validate reports options that cannot work.
func (o *Options) Validate() error {
	var errs []error
	if o.MemoryLimitPages > 65536 {
		errs = append(errs, fmt.Errorf("MemoryLimitPages %d exceeds 65536 (4 GiB)", o.MemoryLimitPages))
	}
	if o.CallTimeout < 0 {
		errs = append(errs, fmt.Errorf("CallTimeout %v is negative", o.CallTimeout))
	}
	if o.MaxArgBytes < 0 || o.MaxArgBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("MaxArgBytes %d outside [0, 1 GiB]", o.MaxArgBytes))
	}
	if o.MaxValueBytes < 0 || o.MaxValueBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("MaxValueBytes %d outside [0, 1 GiB]", o.MaxValueBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("vm options: %w", err)
	}
	return nil
}
