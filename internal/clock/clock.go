// Package clock is the process's wall clock for the checks that may read
// one: admission (a node's API, endorser, gateway, orderer broadcast) and
// measurements. Block validation never reads it (DESIGN 6; the guard test
// internal/replay/purity_test.go enforces that).
//
// Test hook: FOLIO_TEST_CLOCK_OFFSET moves this clock, and only this clock,
// by a Go duration (time.ParseDuration: "43830h" is five years of 365.25
// days, "-1h" one hour back; Go has no day or year unit, so "5y" is refused).
// It is read once, at the first call, and a warning is printed on stderr when
// it is set. Go binaries do not see libfaketime, so this is how a test runs a
// node or `folio ledger replay` "years later". Never set it in production.
package clock

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// EnvOffset is the environment variable holding the test offset.
const EnvOffset = "FOLIO_TEST_CLOCK_OFFSET"

var (
	loadOnce sync.Once
	offset   atomic.Int64 // nanoseconds
	loadErr  atomic.Pointer[error]
)

// Now returns the current time moved by the test offset (zero unless
// FOLIO_TEST_CLOCK_OFFSET is set).
func Now() time.Time {
	return time.Now().Add(Offset())
}

// Offset returns the test offset in force.
func Offset() time.Duration {
	loadOnce.Do(load)
	return time.Duration(offset.Load())
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
