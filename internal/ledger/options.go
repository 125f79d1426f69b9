package ledger

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/folio-ledger/folio/internal/kv/pebblekv"
	"github.com/folio-ledger/folio/internal/ledger/trie"
)

// Options configures a Ledger. The zero value is valid: every field
// documents its default, applied by EnsureDefaults.
type Options struct {
	// Store configures the Pebble store that Open creates (OpenStore
	// ignores it). Default: pebblekv's defaults; its Logger defaults to
	// Logger below.
	Store pebblekv.Options

	// KeepRoots is how many of the latest state roots stay provable: the
	// trie nodes of the last KeepRoots blocks are kept, older ones pruned
	// (Prove and trie reads at an older root fail with trie.ErrMissingNode;
	// the roots themselves stay recorded for every block). KeepAllRoots
	// (-1) never prunes. Default: 128 blocks.
	KeepRoots int

	// PruneEvery is how often Commit prunes: before committing block n it
	// prunes when n is a multiple of PruneEvery. Pruning deletes what
	// PruneEvery blocks made obsolete in one go, so larger values mean fewer,
	// larger prunes. Default: 16 blocks.
	PruneEvery int

	// TrieCacheBytes bounds the trie node cache (see trie.Options). A
	// negative value disables it. Default: 64 MiB.
	TrieCacheBytes int

	// VerifyOnOpen makes Open check everything, not only the tip: it reads
	// every record of the store (so the backend checks every checksum),
	// checks every block's metadata against its recorded state root, and
	// recomputes the state root from the state entries (VerifyState). It
	// costs a full read of the store and a rebuild of every trie in memory.
	// Default: false (Open checks the chain and the block bodies, the state
	// height and the last state root, which is what a crash can break).
	VerifyOnOpen bool

	// Logger receives the ledger's logs (prune results, open checks).
	// Default: a logger that discards everything.
	Logger *slog.Logger
}

// KeepAllRoots as Options.KeepRoots disables pruning.
const KeepAllRoots = -1

// Defaults applied by EnsureDefaults.
const (
	DefaultKeepRoots      = 128
	DefaultPruneEvery     = 16
	DefaultTrieCacheBytes = trie.DefaultCacheBytes
)

// ErrInvalidOptions is wrapped by Validate's errors.
var ErrInvalidOptions = errors.New("ledger: invalid options")

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.KeepRoots == 0 {
		o.KeepRoots = DefaultKeepRoots
	}
	if o.PruneEvery == 0 {
		o.PruneEvery = DefaultPruneEvery
	}
	if o.TrieCacheBytes == 0 {
		o.TrieCacheBytes = DefaultTrieCacheBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Store.Logger == nil {
		o.Store.Logger = o.Logger
	}
}

// Validate rejects unusable settings.
func (o *Options) Validate() error {
	switch {
	case o.KeepRoots < 1 && o.KeepRoots != KeepAllRoots:
		return fmt.Errorf("%w: KeepRoots %d: want >= 1, or KeepAllRoots (-1)", ErrInvalidOptions, o.KeepRoots)
	case o.PruneEvery < 1:
		return fmt.Errorf("%w: PruneEvery %d < 1", ErrInvalidOptions, o.PruneEvery)
	}
	return nil
}
