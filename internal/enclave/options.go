package enclave

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/folio-ledger/folio/internal/enclave/trusted"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// Options configure an Enclave (both implementations unless a field says
// otherwise). EnsureDefaults fills unset fields with the defaults their
// comments state; Validate rejects what cannot work.
type Options struct {
	// State is the committed world state the ocalls read (the peer's
	// ledger, see LedgerSource). Required.
	State StateSource

	// Exe is the folio binary to run as the enclave process. Default:
	// os.Executable(). Process mode only.
	Exe string
	// Args are the arguments that make Exe serve as an enclave. Default
	// ["enclave"] (the `folio enclave` command); tests that re-execute
	// their own binary pass what their TestMain looks for.
	Args []string
	// Env is added to the enclave process's environment (which otherwise
	// is the peer's). Default none.
	Env []string
	// StateKeyFile names the file holding the 32-byte state key of
	// confidential contracts; the enclave process reads it (passed as
	// --state-key). Default "": confidential contracts are refused.
	// Process mode only.
	StateKeyFile string
	// StateKey is the state key itself. In-process mode only (tests).
	StateKey []byte
	// GenesisFile names the channel's genesis block, the enclave's trust
	// anchor: the enclave process reads it (passed as --genesis) and runs
	// only modules signed by an admin of one of its organisations, or
	// pinned by it (docs/enclave.md). Required in process mode (the
	// process refuses to initialise without it, ErrNoAnchor).
	GenesisFile string
	// Genesis is the genesis block's bytes. In-process mode only (tests),
	// required there.
	Genesis []byte
	// StartTimeout bounds starting the process, its Init and the
	// re-installation of every contract. Default 2 minutes (compiling a
	// Go contract takes seconds, much longer under the race detector).
	StartTimeout time.Duration
	// RestartBackoff is the pause before restarting a process that died
	// within a second of starting, doubling up to 32 times it while that
	// repeats. Default 100ms.
	RestartBackoff time.Duration

	// InternalCacheBytes bounds the enclave's internal cache. Default
	// 64 MiB; negative disables it.
	InternalCacheBytes int64
	// ExternalCacheBytes bounds the host's external cache of sealed
	// values. Default 256 MiB; negative disables it.
	ExternalCacheBytes int64
	// ExternalCache replaces the default external cache (tests inject
	// faults with it). Default: NewExternalCache(ExternalCacheBytes).
	ExternalCache ExternalCache
	// DirectoryEntries bounds the enclave's directory of known versions.
	// Default 1<<19 (about 35 MiB).
	DirectoryEntries int
	// MaxConcurrentCalls bounds the ecalls the enclave process runs at
	// once; more wait. Default 64.
	MaxConcurrentCalls int
	// EcallBatch is the most simulate ecalls that cross to the enclave
	// process in one batch frame (concurrent calls share a crossing; a
	// lone call still leaves at once: see docs/enclave.md). Default 64;
	// 1 sends every ecall alone.
	EcallBatch int
	// VM configures the contract runtime inside the enclave (vm.Options;
	// its Logger is ignored in process mode).
	VM vm.Options

	// Logger receives the host's logs and, in process mode, the enclave
	// process's stderr. Default: discard.
	Logger *slog.Logger
	// Registerer, if set, gets the enclave's metrics (see docs/enclave.md).
	// Default nil: no metrics.
	Registerer prometheus.Registerer
}

// Defaults.
const (
	DefaultExternalCacheBytes = 256 << 20
	DefaultMaxConcurrentCalls = trusted.DefaultMaxConcurrentCalls
	DefaultEcallBatch         = 64
	DefaultStartTimeout       = 2 * time.Minute
	DefaultRestartBackoff     = 100 * time.Millisecond
)

// ecallBatchLinger is the longest a simulate ecall waits for others to
// share its crossing (see link.Endpoint.EnableBatching).
const ecallBatchLinger = time.Millisecond

// ErrInvalidOptions is wrapped by Validate's errors.
var ErrInvalidOptions = errors.New("enclave: invalid options")

// EnsureDefaults fills unset fields and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.Exe == "" {
		if exe, err := os.Executable(); err == nil {
			o.Exe = exe
		}
	}
	if o.Args == nil {
		o.Args = []string{"enclave"}
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.RestartBackoff == 0 {
		o.RestartBackoff = DefaultRestartBackoff
	}
	if o.InternalCacheBytes == 0 {
		o.InternalCacheBytes = trusted.DefaultInternalCacheBytes
	}
	if o.ExternalCacheBytes == 0 {
		o.ExternalCacheBytes = DefaultExternalCacheBytes
	}
	if o.DirectoryEntries == 0 {
		o.DirectoryEntries = trusted.DefaultDirectoryEntries
	}
	if o.MaxConcurrentCalls == 0 {
		o.MaxConcurrentCalls = DefaultMaxConcurrentCalls
	}
	if o.EcallBatch == 0 {
		o.EcallBatch = DefaultEcallBatch
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.VM.EnsureDefaults()
	return o
}

// Validate rejects unusable options.
func (o *Options) Validate() error {
	var errs []error
	if o.State == nil {
		errs = append(errs, errors.New("no State"))
	}
	if o.StartTimeout < 0 || o.RestartBackoff < 0 {
		errs = append(errs, errors.New("negative StartTimeout or RestartBackoff"))
	}
	if o.MaxConcurrentCalls < 0 {
		errs = append(errs, fmt.Errorf("MaxConcurrentCalls %d is negative", o.MaxConcurrentCalls))
	}
	if o.EcallBatch < 0 || o.EcallBatch > wire.MaxBatchFrames {
		errs = append(errs, fmt.Errorf("EcallBatch %d: want 1 to %d", o.EcallBatch, wire.MaxBatchFrames))
	}
	if o.DirectoryEntries < 0 && o.ExternalCacheBytes >= 0 {
		errs = append(errs, errors.New("an external cache needs the directory (DirectoryEntries >= 0)"))
	}
	if err := o.VM.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return nil
}

func (o *Options) externalEnabled() bool { return o.ExternalCacheBytes >= 0 }
