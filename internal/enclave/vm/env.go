package vm

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// env is the deterministic environment of one instance: the clocks and the
// random source WASI reads, and the buffer guest output goes to. The Invoke
// driver resets it before every call; it is used by one call at a time.
type env struct {
	wallSec  int64
	wallNsec int32
	// mono is the virtual monotonic clock in nanoseconds. Every reading
	// advances it by monoStep and a sleep advances it by the time slept, so
	// elapsed time depends only on what the guest did, never on the host.
	mono int64
	rand randStream
	out  headBuffer
}

const (
	// monoStep is how far the virtual monotonic clock moves per reading.
	monoStep = int64(time.Microsecond)
	// outputKeep is how much guest stdout/stderr a call keeps for errors.
	outputKeep = 4 << 10
)

// initSeed seeds the random stream while an instance initialises, so every
// fresh instance of a module starts in the same state.
var initSeed = sha256.Sum256([]byte("folio/vm/rand/v1/init"))

func newEnv() *env {
	e := &env{}
	e.rand.reset(initSeed)
	return e
}

// beginCall fixes the clock at the transaction timestamp and seeds the
// random stream from the transaction ID.
func (e *env) beginCall(txID string, ts time.Time) {
	e.wallSec, e.wallNsec = ts.Unix(), int32(ts.Nanosecond())
	e.rand.reset(sha256.Sum256(append([]byte("folio/vm/rand/v1/tx/"), txID...)))
	e.out.reset()
}

func (e *env) walltime() (int64, int32) { return e.wallSec, e.wallNsec }

func (e *env) nanotime() int64 {
	e.mono += monoStep
	return e.mono
}

func (e *env) nanosleep(ns int64) {
	if ns > 0 {
		e.mono += ns
	}
}

// randStream is SHA-256 in counter mode: block i is SHA-256(seed || i).
type randStream struct {
	seed  [32]byte
	ctr   uint64
	block [32]byte
	off   int
}

func (r *randStream) reset(seed [32]byte) {
	r.seed, r.ctr, r.off = seed, 0, len(r.block)
}

// Read fills p; it never fails.
func (r *randStream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.off == len(r.block) {
			var in [40]byte
			copy(in[:], r.seed[:])
			binary.BigEndian.PutUint64(in[32:], r.ctr)
			r.block = sha256.Sum256(in[:])
			r.ctr++
			r.off = 0
		}
		c := copy(p[n:], r.block[r.off:])
		r.off += c
		n += c
	}
	return n, nil
}

// headBuffer keeps the first outputKeep bytes written to it and counts the
// rest: a Go panic or fatal error prints its message first.
type headBuffer struct {
	b       []byte
	dropped int
}

func (h *headBuffer) reset() { h.b, h.dropped = h.b[:0], 0 }

func (h *headBuffer) Write(p []byte) (int, error) {
	room := outputKeep - len(h.b)
	if room > len(p) {
		room = len(p)
	}
	h.b = append(h.b, p[:room]...)
	h.dropped += len(p) - room
	return len(p), nil
}

func (h *headBuffer) String() string {
	if h.dropped > 0 {
		return string(h.b) + "\n[... output truncated]"
	}
	return string(h.b)
}
