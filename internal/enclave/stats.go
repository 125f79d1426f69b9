package enclave

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/folio-ledger/folio/internal/enclave/latency"
	"github.com/folio-ledger/folio/internal/enclave/link"
	"github.com/folio-ledger/folio/internal/enclave/wire"
)

// Stats are the enclave's counters: what `folio peer stats --json` prints
// under "enclave", and what the metrics export. Counters are cumulative
// over the Enclave's life, across process restarts; entries and bytes are
// current.
type Stats struct {
	// PID of the enclave process (0 while it restarts); in process (the
	// test-only mode), the peer's own.
	PID int `json:"pid"`
	// Restarts counts enclave processes that died and were replaced.
	Restarts uint64 `json:"restarts"`
	// Height is the committed height Simulate reads at.
	Height uint64 `json:"height"`
	// Crossings counts boundary round trips: Ecalls (host to enclave:
	// install, simulate, commit, ...) plus Ocalls (enclave to host:
	// external-cache and state lookups). A batch of simulate ecalls that
	// crosses in one frame and comes back in one frame is one round trip.
	Crossings uint64 `json:"crossings"`
	Ecalls    uint64 `json:"ecalls"`
	Ocalls    uint64 `json:"ocalls"`
	// Batches counts the batches of simulate ecalls sent, BatchedCalls
	// the ecalls they carried.
	Batches      uint64 `json:"batches"`
	BatchedCalls uint64 `json:"batched_calls"`
	// BytesSealed and BytesUnsealed count plaintext bytes the enclave
	// sealed (external-cache entries, confidential writes) and opened
	// (external-cache hits, confidential values).
	BytesSealed   uint64 `json:"bytes_sealed"`
	BytesUnsealed uint64 `json:"bytes_unsealed"`
	// Internal and External are the two cache tiers. A read at the
	// state database is a miss of both (of the internal one only when
	// there is no external cache).
	Internal TierStats `json:"internal"`
	External TierStats `json:"external"`
	// StateReads counts state ocalls (gets, ranges, histories).
	StateReads uint64 `json:"state_reads"`
	// TamperDetected counts sealed values that failed authentication
	// (external-cache blobs, which are then refetched, and confidential
	// state values, which fail their call).
	TamperDetected uint64 `json:"tamper_detected"`
	// StaleRejected counts external-cache blobs that authenticated but did
	// not carry the version the enclave knows as latest (refetched).
	StaleRejected uint64 `json:"stale_rejected"`
	// RollbacksDetected counts state reads that contradicted the version
	// the enclave knew (the call failed with ErrRollback).
	RollbacksDetected uint64 `json:"rollbacks_detected"`
	// DirectoryEntries is the number of keys whose version the enclave
	// tracks.
	DirectoryEntries uint64 `json:"directory_entries"`
	// VMCalls and VMErrors count contract calls and failed ones.
	VMCalls  uint64 `json:"vm_calls"`
	VMErrors uint64 `json:"vm_errors"`
	// EcallLatency is the host-measured round trip of simulate ecalls
	// (contract execution included); OcallLatency the enclave-measured
	// round trip of ocalls.
	EcallLatency latency.Summary `json:"ecall_latency"`
	OcallLatency latency.Summary `json:"ocall_latency"`
}

// TierStats are one cache tier's counters.
type TierStats struct {
	Hits    uint64 `json:"hits"`
	Misses  uint64 `json:"misses"`
	Entries uint64 `json:"entries"`
	Bytes   uint64 `json:"bytes"`
}

// HitRate is Hits / (Hits + Misses), 0 without lookups.
func (t TierStats) HitRate() float64 {
	if t.Hits+t.Misses == 0 {
		return 0
	}
	return float64(t.Hits) / float64(t.Hits+t.Misses)
}

// hostCounters are the host side's statistics and its copy of the
// enclave's.
type hostCounters struct {
	ocalls, stateReads, restarts atomic.Uint64
	ecallLat                     [8]latency.Histogram // by op (wire.Op*)
	// crossings counts the ecall round trips, by the boundary (a batch
	// of ecalls is one).
	crossings link.Counters

	mu struct {
		sync.Mutex
		// last is the newest snapshot (by Seq) of the enclave process of
		// generation gen; retired sums the cumulative counters of earlier
		// generations.
		gen           uint64
		last, retired wire.Counters
	}
}

// ecall records the latency of one ecall (its crossing is counted by the
// boundary).
func (c *hostCounters) ecall(op uint8, start time.Time) {
	if int(op) < len(c.ecallLat) {
		c.ecallLat[op].Since(start)
	}
}

// note keeps an enclave snapshot if it is the newest: of a later process
// generation (the previous generation's last snapshot is then folded into
// the totals), or of the same generation with a higher Seq. Snapshots of
// earlier generations (late replies of a dead process) are ignored.
func (c *hostCounters) note(gen uint64, w *wire.Counters) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case gen < c.mu.gen:
	case gen > c.mu.gen:
		c.retireLocked()
		c.mu.gen, c.mu.last = gen, *w
	case w.Seq > c.mu.last.Seq:
		c.mu.last = *w
	}
}

// retireLocked folds the cumulative counters of the last snapshot into
// the totals.
func (c *hostCounters) retireLocked() {
	r, l := &c.mu.retired, &c.mu.last
	r.InternalHits += l.InternalHits
	r.InternalMisses += l.InternalMisses
	r.ExternalHits += l.ExternalHits
	r.ExternalMisses += l.ExternalMisses
	r.Tampered += l.Tampered
	r.Stale += l.Stale
	r.Rollbacks += l.Rollbacks
	r.BytesSealed += l.BytesSealed
	r.BytesUnsealed += l.BytesUnsealed
	r.Ocalls += l.Ocalls
	r.VMCalls += l.VMCalls
	r.VMErrors += l.VMErrors
	r.OcallLatency.Add(&l.OcallLatency)
	*l = wire.Counters{}
}

// stats combines the host's counters with the enclave's.
func (c *hostCounters) stats(pid int, height uint64, ext ExternalCache) Stats {
	c.mu.Lock()
	r, l := c.mu.retired, c.mu.last
	c.mu.Unlock()
	s := Stats{
		PID:               pid,
		Restarts:          c.restarts.Load(),
		Height:            height,
		Ecalls:            c.crossings.Replies.Load(),
		Batches:           c.crossings.Batches.Load(),
		BatchedCalls:      c.crossings.Batched.Load(),
		Ocalls:            c.ocalls.Load(),
		BytesSealed:       r.BytesSealed + l.BytesSealed,
		BytesUnsealed:     r.BytesUnsealed + l.BytesUnsealed,
		StateReads:        c.stateReads.Load(),
		TamperDetected:    r.Tampered + l.Tampered,
		StaleRejected:     r.Stale + l.Stale,
		RollbacksDetected: r.Rollbacks + l.Rollbacks,
		DirectoryEntries:  l.DirectoryEntries,
		VMCalls:           r.VMCalls + l.VMCalls,
		VMErrors:          r.VMErrors + l.VMErrors,
		Internal: TierStats{Hits: r.InternalHits + l.InternalHits, Misses: r.InternalMisses + l.InternalMisses,
			Entries: l.InternalEntries, Bytes: l.InternalBytes},
		External: TierStats{Hits: r.ExternalHits + l.ExternalHits, Misses: r.ExternalMisses + l.ExternalMisses},
	}
	s.Crossings = s.Ecalls + s.Ocalls
	if ext != nil {
		s.External.Entries, s.External.Bytes = uint64(ext.Len()), uint64(ext.Bytes())
	}
	sim := c.ecallLat[wire.OpSimulate].Snapshot()
	s.EcallLatency = sim.Summary()
	oc := r.OcallLatency
	oc.Add(&l.OcallLatency)
	s.OcallLatency = oc.Summary()
	return s
}

// histograms returns the latency histograms for the metrics: ecalls by
// op name, and the ocalls'.
func (c *hostCounters) histograms() (map[string]latency.Snapshot, latency.Snapshot) {
	ecalls := map[string]latency.Snapshot{}
	for op := range c.ecallLat {
		if s := c.ecallLat[op].Snapshot(); s.Count() > 0 {
			ecalls[wire.OpName(uint8(op))] = s
		}
	}
	c.mu.Lock()
	oc := c.mu.retired.OcallLatency
	oc.Add(&c.mu.last.OcallLatency)
	c.mu.Unlock()
	return ecalls, oc
}
