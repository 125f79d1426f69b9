package attack

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// RSS returns the resident set size of process pid in bytes, read from
// the VmRSS line of /proc/PID/status (Linux only; elsewhere, and for a
// process that has exited, it returns an error).
func RSS(pid int) (int64, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("attack: resident set of %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		// "VmRSS:	   12345 kB"
		num, unit, _ := bytes.Cut(bytes.TrimSpace(rest), []byte(" "))
		kb, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || string(bytes.TrimSpace(unit)) != "kB" {
			return 0, fmt.Errorf("attack: %s: malformed VmRSS line %q", path, sc.Text())
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("attack: %s: no VmRSS line (a kernel thread or a zombie?)", path)
}

// PeakRSS samples the resident set of process pid every interval (50 ms
// if every <= 0), starting at once, until ctx is done or the returned stop
// function is called. stop takes a last sample (unless ctx ended the
// sampling first), waits for the sampler goroutine to exit and returns
// the largest resident set observed, in bytes (0 if no sample
// succeeded). Samples that fail (the process
// exited) are skipped. stop may be called more than once and from any
// goroutine; it must be called at least once, or the sampler runs until
// ctx is done.
func PeakRSS(ctx context.Context, pid int, every time.Duration) (stop func() int64) {
	if every <= 0 {
		every = 50 * time.Millisecond
	}
	var peak int64 // owned by the sampler goroutine until exited is closed
	sample := func() {
		if v, err := RSS(pid); err == nil && v > peak {
			peak = v
		}
	}
	quit := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for {
			sample()
			select {
			case <-ticker.C:
			case <-ctx.Done():
				return
			case <-quit:
				sample()
				return
			}
		}
	}()
	var once sync.Once
	return func() int64 {
		once.Do(func() { close(quit) })
		<-exited
		return peak
	}
}
