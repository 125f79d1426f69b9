//go:build linux

package attack

import (
	"context"
	"os"
	"runtime/debug"
	"syscall"
	"testing"
	"time"
)

// TestRSS proves RSS reads a positive resident set for this process and
// fails for a process that does not exist.
func TestRSS(t *testing.T) {
	rss, err := RSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("RSS(self) = %d, %v; want > 0", rss, err)
	}
	t.Logf("RSS(self) = %d MiB", rss>>20)
	if _, err := RSS(-1); err == nil {
		t.Error("RSS(-1): no error")
	}
}

// TestPeakRSS proves PeakRSS sees 64 MiB touched outside the Go heap
// (an anonymous mapping the runtime cannot reuse or release) before stop.
func TestPeakRSS(t *testing.T) {
	debug.FreeOSMemory() // so the scavenger does not shrink RSS under us
	base, err := RSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	stop := PeakRSS(context.Background(), os.Getpid(), 10*time.Millisecond)
	const size = 64 << 20
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	for i := 0; i < size; i += 4096 {
		mem[i] = 1
	}
	peak := stop() // takes a last sample while mem is resident
	if err := syscall.Munmap(mem); err != nil {
		t.Fatal(err)
	}
	t.Logf("base %d MiB, peak %d MiB", base>>20, peak>>20)
	if peak < base+size*3/4 {
		t.Errorf("peak %d, want >= base %d + 48 MiB", peak, base)
	}
	if again := stop(); again != peak {
		t.Errorf("second stop = %d, want %d", again, peak)
	}
	checkNoAttackGoroutines(t)
}
