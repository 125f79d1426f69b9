// Package clock is the process's wall clock for the checks that may read
// one: admission (a node's API, endorser, gateway, orderer broadcast) and
// measurements. Block validation never reads it (DESIGN 6; the guard test
// internal/replay/purity_test.go enforces that).
//
// Test hooks (never set them in production):
//
//   - FOLIO_TEST_CLOCK_OFFSET moves this clock, and only this clock, by a Go
//     duration (time.ParseDuration: "43830h" is five years of 365.25 days,
//     "-1h" one hour back; Go has no day or year unit, so "5y" is refused).
//     It is read once, at the first call, and a warning is printed on stderr
//     when it is set. Go binaries do not see libfaketime, so this is how a
//     test runs a node or `folio ledger replay` "years later".
//   - FOLIO_TEST_CLOCK_FILE=PATH moves the clock of a RUNNING process: PATH
//     holds a Go duration ("-30s", "2h"; an empty or missing file means 0)
//     that is re-read at most every 100 ms and added to
//     FOLIO_TEST_CLOCK_OFFSET. A chaos run jumps one node's clock by
//     rewriting its file. A warning is printed on stderr when the hook is
//     enabled, and one line each time the offset changes; content that is
//     not a duration keeps the last good offset and is reported once per
//     distinct content. A package-owned goroutine, started at the first
//     call and living as long as the process, does the re-reading, so Now
//     stays two atomic loads.
package clock

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// EnvOffset is the environment variable holding the test offset.
const EnvOffset = "FOLIO_TEST_CLOCK_OFFSET"

// EnvFile is the environment variable naming the file whose content is a
// further test offset, re-read while the process runs.
const EnvFile = "FOLIO_TEST_CLOCK_FILE"

// FilePollInterval is how often the FOLIO_TEST_CLOCK_FILE file is re-read.
const FilePollInterval = 100 * time.Millisecond

var (
	loadOnce   sync.Once
	offset     atomic.Int64 // nanoseconds, from FOLIO_TEST_CLOCK_OFFSET or SetOffsetForTest
	fileOffset atomic.Int64 // nanoseconds, from FOLIO_TEST_CLOCK_FILE; written only by the hook's goroutine (and load)
	loadErr    atomic.Pointer[error]
)

// Now returns the current time moved by the test offsets (zero unless a
// test hook is set).
func Now() time.Time {
	return time.Now().Add(Offset())
}

// Offset returns the test offset in force: FOLIO_TEST_CLOCK_OFFSET plus the
// current content of the FOLIO_TEST_CLOCK_FILE file.
func Offset() time.Duration {
	loadOnce.Do(load)
	return time.Duration(offset.Load() + fileOffset.Load())
}

// Err returns why FOLIO_TEST_CLOCK_OFFSET was refused (nil when it is unset
// or valid). A refused value leaves the clock unshifted; commands whose
// result depends on the hook (`folio ledger replay`) refuse to run.
func Err() error {
	loadOnce.Do(load)
	if p := loadErr.Load(); p != nil {
		return *p
	}
	return nil
}

func load() {
	loadEnvOffset()
	if path, ok := os.LookupEnv(EnvFile); ok && path != "" {
		h := newFileHook(path, os.Stderr, &fileOffset)
		h.poll()
		// Lives as long as the process, as the hook does: nothing in the
		// process can end it, and a test process that sets the variable
		// wants it until exit.
		go h.run(time.NewTicker(FilePollInterval).C)
	}
}

func loadEnvOffset() {
	raw, ok := os.LookupEnv(EnvOffset)
	if !ok || raw == "" {
		return
	}
	d, err := parse(raw)
	if err != nil {
		err = fmt.Errorf("%s=%q: %w", EnvOffset, raw, err)
		loadErr.Store(&err)
		fmt.Fprintf(os.Stderr, "folio: WARNING: %v; the clock is NOT shifted\n", err)
		return
	}
	offset.Store(int64(d))
	if d != 0 {
		fmt.Fprintf(os.Stderr, "folio: WARNING: test hook %s=%s: this process's clock reads %s (shifted by %s); never set it in production\n",
			EnvOffset, raw, time.Now().Add(d).UTC().Format(time.RFC3339), d)
	}
}

// fileHook re-reads the FOLIO_TEST_CLOCK_FILE file. Its fields are owned by
// the one goroutine calling poll (load, then run); it publishes the offset
// through out.
type fileHook struct {
	path    string
	log     io.Writer
	out     *atomic.Int64
	polled  bool                // poll ran once (the enabling warning is printed)
	cur     time.Duration       // the offset in force (last good content)
	badSeen map[string]struct{} // bad contents already reported
}

func newFileHook(path string, log io.Writer, out *atomic.Int64) *fileHook {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs // the process may change directory; the file does not move
	}
	return &fileHook{path: path, log: log, out: out, badSeen: map[string]struct{}{}}
}

func (h *fileHook) run(tick <-chan time.Time) {
	for range tick {
		h.poll()
	}
}

// poll reads the file once and publishes its offset if it changed.
func (h *fileHook) poll() {
	if !h.polled {
		h.polled = true
		fmt.Fprintf(h.log, "folio: WARNING: test hook %s=%s: this process's clock follows the offset in that file (re-read every %s); never set it in production\n",
			EnvFile, h.path, FilePollInterval)
	}
	d, err := readOffsetFile(h.path)
	if err != nil {
		msg := err.Error()
		if _, seen := h.badSeen[msg]; !seen {
			h.badSeen[msg] = struct{}{}
			fmt.Fprintf(h.log, "folio: WARNING: %s: %v; the clock keeps its offset %s\n", EnvFile, err, h.cur)
		}
		return
	}
	if d == h.cur {
		return
	}
	fmt.Fprintf(h.log, "folio: WARNING: test hook %s: clock offset %s -> %s (this process's clock reads %s)\n",
		EnvFile, h.cur, d, time.Now().Add(time.Duration(offset.Load())+d).UTC().Format(time.RFC3339))
	h.cur = d
	h.out.Store(int64(d))
}

// readOffsetFile returns the duration in path: 0 when it is missing or
// blank, an error naming the content when it is not a Go duration.
func readOffsetFile(path string) (time.Duration, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	// A duration is a few bytes; a bigger file is a mistake, not an offset.
	raw, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return 0, nil
	}
	d, err := parse(s)
	if err != nil {
		return 0, fmt.Errorf("%s holds %q: %w", path, s, err)
	}
	return d, nil
}

// parse reads a Go duration. Units larger than an hour are refused with a
// hint, so "5y" or "1825d" cannot silently mean no shift.
func parse(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a Go duration (use hours: 43830h is 5 years, 8766h one year): %v", err)
	}
	return d, nil
}

// SetOffsetForTest moves the clock by d for the rest of the process (or
// until restore is called), as FOLIO_TEST_CLOCK_OFFSET would, without the
// warning. For tests only.
func SetOffsetForTest(d time.Duration) (restore func()) {
	loadOnce.Do(load)
	prev := offset.Swap(int64(d))
	return func() { offset.Store(prev) }
}
