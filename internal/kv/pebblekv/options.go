package pebblekv

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Options configures a Store. The zero value is valid: every field documents
// its default, applied by EnsureDefaults.
type Options struct {
	// FS is the file system holding the store. Default: vfs.Default, the
	// operating system's. Tests pass vfs.NewMem() or an errorfs wrapper.
	FS vfs.FS

	// CacheBytes is the size of Pebble's block cache of uncompressed
	// sstable blocks. Default: 64 MiB.
	CacheBytes int64

	// MemTableBytes is the size of one memtable: writes are buffered in
	// memory up to this size before being flushed to an sstable. Pebble
	// keeps at most two in memory before stalling writes. Default: 32 MiB.
	MemTableBytes uint64

	// MaxOpenFiles bounds open sstable files. Default: 1000.
	MaxOpenFiles int

	// MaxCompactions is the most compactions run at once. Default: 2
	// (Folio's reference machines have two cores).
	MaxCompactions int

	// Logger receives Pebble's informational and error logs. Default: a
	// logger that discards everything.
	Logger *slog.Logger
}

// Defaults applied by EnsureDefaults.
const (
	DefaultCacheBytes     = 64 << 20
	DefaultMemTableBytes  = 32 << 20
	DefaultMaxOpenFiles   = 1000
	DefaultMaxCompactions = 2
)

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = DefaultMemTableBytes
	}
	if o.MaxOpenFiles == 0 {
		o.MaxOpenFiles = DefaultMaxOpenFiles
	}
	if o.MaxCompactions == 0 {
		o.MaxCompactions = DefaultMaxCompactions
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// ErrInvalidOptions is wrapped by Validate's errors.
var ErrInvalidOptions = errors.New("pebblekv: invalid options")

// Validate rejects nonsensical settings.
func (o *Options) Validate() error {
	switch {
	case o.CacheBytes < 0:
		return fmt.Errorf("%w: CacheBytes %d < 0", ErrInvalidOptions, o.CacheBytes)
	case o.MemTableBytes < 1<<20 || o.MemTableBytes > 4<<30:
		return fmt.Errorf("%w: MemTableBytes %d outside [1 MiB, 4 GiB]", ErrInvalidOptions, o.MemTableBytes)
	case o.MaxOpenFiles < 16:
		return fmt.Errorf("%w: MaxOpenFiles %d < 16", ErrInvalidOptions, o.MaxOpenFiles)
	case o.MaxCompactions < 1:
		return fmt.Errorf("%w: MaxCompactions %d < 1", ErrInvalidOptions, o.MaxCompactions)
	}
	return nil
}

// pebbleLogger adapts *slog.Logger to Pebble's Logger interface.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Info(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// fatalError is the panic value of pebbleLogger.Fatalf.
type fatalError struct{ err error }

func (f fatalError) Error() string { return "pebblekv: fatal storage failure: " + f.err.Error() }
func (f fatalError) Unwrap() error { return f.err }

// Fatalf is called by Pebble when it cannot continue safely: a failed commit
// (write-ahead log write or fsync) or a failed MANIFEST sync. It logs, then
// panics with a fatalError, where Pebble's default logger would exit the
// process. Store.Commit and Store.Close recover that panic when it happens
// on their own goroutine and turn it into kv.ErrWriteFailed; on Pebble's
// background goroutines it stops the process, as Pebble intends: going on
// could lose acknowledged writes.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble", "fatal", true)
	var cause error
	for _, a := range args {
		if e, ok := a.(error); ok {
			cause = e
			break
		}
	}
	panic(fatalError{&causedError{msg: msg, cause: cause}})
}

// causedError keeps Pebble's formatted message and the error argument it
// formatted (Pebble formats with %v, losing the chain).
type causedError struct {
	msg   string
	cause error
}

func (e *causedError) Error() string { return e.msg }
func (e *causedError) Unwrap() error { return e.cause }

// eventListener logs Pebble's error events. Pebble's default for
// DataCorruption is Logger.Fatalf; Folio reports corruption to the reader
// instead (as *kv.CorruptionError) and only logs here.
func eventListener(l *slog.Logger) *pebble.EventListener {
	return &pebble.EventListener{
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			l.Error("on-disk corruption detected", "component", "pebble", "path", info.Path, "err", info.Details)
		},
		BackgroundError: func(err error) {
			l.Error("background error", "component", "pebble", "err", err)
		},
	}
}

// recoverFatal turns a fatalError panic on the calling goroutine into *err;
// any other panic continues.
func recoverFatal(err *error) {
	r := recover()
	if r == nil {
		return
	}
	f, ok := r.(fatalError)
	if !ok {
		panic(r)
	}
	*err = f
}
