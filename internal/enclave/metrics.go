package enclave

import (
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/folio-ledger/folio/internal/enclave/latency"
)

// Metric names (docs/enclave.md lists them). Every value is read from
// Stats when the metrics are collected: the counters have one owner.
const (
	metricPID        = "folio_enclave_pid"
	metricRestarts   = "folio_enclave_restarts_total"
	metricHeight     = "folio_enclave_height"
	metricCrossings  = "folio_enclave_crossings_total"
	metricBatches    = "folio_enclave_ecall_batches_total"
	metricBatched    = "folio_enclave_batched_ecalls_total"
	metricSealed     = "folio_enclave_sealed_bytes_total"
	metricUnsealed   = "folio_enclave_unsealed_bytes_total"
	metricHits       = "folio_enclave_cache_hits_total"
	metricMisses     = "folio_enclave_cache_misses_total"
	metricEntries    = "folio_enclave_cache_entries"
	metricBytes      = "folio_enclave_cache_bytes"
	metricStateReads = "folio_enclave_state_reads_total"
	metricTampered   = "folio_enclave_tamper_detected_total"
	metricStale      = "folio_enclave_stale_rejected_total"
	metricRollbacks  = "folio_enclave_rollbacks_detected_total"
	metricDirectory  = "folio_enclave_directory_entries"
	metricVMCalls    = "folio_enclave_vm_calls_total"
	metricVMErrors   = "folio_enclave_vm_errors_total"
	metricEcall      = "folio_enclave_ecall_duration_seconds"
	metricOcall      = "folio_enclave_ocall_duration_seconds"
)

type collector struct {
	h     *host
	descs map[string]*prometheus.Desc
}

func newCollector(h *host) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	c := &collector{h: h, descs: map[string]*prometheus.Desc{
		metricPID:        d(metricPID, "PID of the enclave process (0 while it restarts)."),
		metricRestarts:   d(metricRestarts, "Enclave processes that died and were replaced."),
		metricHeight:     d(metricHeight, "Committed height the enclave simulates at."),
		metricCrossings:  d(metricCrossings, "Boundary round trips, by direction (ecall: host to enclave, ocall: enclave to host).", "direction"),
		metricBatches:    d(metricBatches, "Batches of simulate ecalls sent to the enclave, each one crossing."),
		metricBatched:    d(metricBatched, "Simulate ecalls sent in batches."),
		metricSealed:     d(metricSealed, "Plaintext bytes the enclave sealed."),
		metricUnsealed:   d(metricUnsealed, "Plaintext bytes the enclave unsealed."),
		metricHits:       d(metricHits, "Cache hits by tier (internal, external).", "tier"),
		metricMisses:     d(metricMisses, "Cache misses by tier (internal, external).", "tier"),
		metricEntries:    d(metricEntries, "Cache entries by tier.", "tier"),
		metricBytes:      d(metricBytes, "Cache bytes by tier.", "tier"),
		metricStateReads: d(metricStateReads, "State database reads (ocalls)."),
		metricTampered:   d(metricTampered, "Sealed values that failed authentication."),
		metricStale:      d(metricStale, "External-cache entries rejected as not the latest version."),
		metricRollbacks:  d(metricRollbacks, "State reads that contradicted a version the enclave knew."),
		metricDirectory:  d(metricDirectory, "Keys whose committed version the enclave tracks."),
		metricVMCalls:    d(metricVMCalls, "Contract calls run by the enclave's VM."),
		metricVMErrors:   d(metricVMErrors, "Contract calls that failed (timeouts, traps, memory, ...)."),
		metricEcall:      d(metricEcall, "Ecall round trips seen by the host, by operation.", "op"),
		metricOcall:      d(metricOcall, "Ocall round trips seen by the enclave."),
	}}
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.h.Stats()
	counter := func(name string, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	gauge(metricPID, float64(s.PID))
	counter(metricRestarts, s.Restarts)
	gauge(metricHeight, float64(s.Height))
	counter(metricCrossings, s.Ecalls, "ecall")
	counter(metricCrossings, s.Ocalls, "ocall")
	counter(metricBatches, s.Batches)
	counter(metricBatched, s.BatchedCalls)
	counter(metricSealed, s.BytesSealed)
	counter(metricUnsealed, s.BytesUnsealed)
	for tier, t := range map[string]TierStats{"internal": s.Internal, "external": s.External} {
		counter(metricHits, t.Hits, tier)
		counter(metricMisses, t.Misses, tier)
		gauge(metricEntries, float64(t.Entries), tier)
		gauge(metricBytes, float64(t.Bytes), tier)
	}
	counter(metricStateReads, s.StateReads)
	counter(metricTampered, s.TamperDetected)
	counter(metricStale, s.StaleRejected)
	counter(metricRollbacks, s.RollbacksDetected)
	gauge(metricDirectory, float64(s.DirectoryEntries))
	counter(metricVMCalls, s.VMCalls)
	counter(metricVMErrors, s.VMErrors)
	ecalls, ocalls := c.h.ctr.histograms()
	for op, snap := range ecalls {
		ch <- prometheus.MustNewConstHistogram(c.descs[metricEcall], snap.Count(), snap.Sum.Seconds(), snap.Cumulative(), op)
	}
	ch <- prometheus.MustNewConstHistogram(c.descs[metricOcall], ocalls.Count(), ocalls.Sum.Seconds(), ocalls.Cumulative())
}

func registerMetrics(h *host) error {
	if h.opts.Registerer == nil {
		return nil
	}
	if err := h.opts.Registerer.Register(newCollector(h)); err != nil {
		return fmt.Errorf("enclave: register metrics: %w", err)
	}
	return nil
}

// StatsFromMetrics rebuilds Stats from a peer's /metrics page (the
// Prometheus text format): what `folio peer stats` prints. Values of one
// metric with several label sets besides those named above (a node's
// constant labels) are added up. Latency summaries come from the
// histograms' buckets (powers of two), so they are coarser than Stats'.
func StatsFromMetrics(r io.Reader) (Stats, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return Stats{}, fmt.Errorf("enclave: parse metrics: %w", err)
	}
	if _, ok := fams[metricCrossings]; !ok {
		return Stats{}, fmt.Errorf("enclave: the metrics have no %s: is this a peer with an enclave?", metricCrossings)
	}
	sum := func(name string, match map[string]string) float64 {
		var v float64
		f := fams[name]
		if f == nil {
			return 0
		}
	metrics:
		for _, m := range f.Metric {
			for k, want := range match {
				found := false
				for _, l := range m.Label {
					if l.GetName() == k {
						found = true
						if l.GetValue() != want {
							continue metrics
						}
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				v += m.Counter.GetValue()
			case m.Gauge != nil:
				v += m.Gauge.GetValue()
			}
		}
		return v
	}
	u := func(name string, match map[string]string) uint64 { return uint64(math.Round(sum(name, match))) }
	tier := func(t string) TierStats {
		m := map[string]string{"tier": t}
		return TierStats{Hits: u(metricHits, m), Misses: u(metricMisses, m), Entries: u(metricEntries, m), Bytes: u(metricBytes, m)}
	}
	s := Stats{
		PID:               int(u(metricPID, nil)),
		Restarts:          u(metricRestarts, nil),
		Height:            u(metricHeight, nil),
		Ecalls:            u(metricCrossings, map[string]string{"direction": "ecall"}),
		Ocalls:            u(metricCrossings, map[string]string{"direction": "ocall"}),
		Batches:           u(metricBatches, nil),
		BatchedCalls:      u(metricBatched, nil),
		BytesSealed:       u(metricSealed, nil),
		BytesUnsealed:     u(metricUnsealed, nil),
		Internal:          tier("internal"),
		External:          tier("external"),
		StateReads:        u(metricStateReads, nil),
		TamperDetected:    u(metricTampered, nil),
		StaleRejected:     u(metricStale, nil),
		RollbacksDetected: u(metricRollbacks, nil),
		DirectoryEntries:  u(metricDirectory, nil),
		VMCalls:           u(metricVMCalls, nil),
		VMErrors:          u(metricVMErrors, nil),
	}
	s.Crossings = s.Ecalls + s.Ocalls
	s.EcallLatency = summarize(fams[metricEcall], map[string]string{"op": "simulate"})
	s.OcallLatency = summarize(fams[metricOcall], nil)
	return s, nil
}

// summarize digests the histograms of a family (added up) that match.
func summarize(f *dto.MetricFamily, match map[string]string) latency.Summary {
	if f == nil {
		return latency.Summary{}
	}
	type bucket struct{ le, n float64 }
	byLE := map[float64]float64{}
	var count uint64
	var sumS float64
	for _, m := range f.Metric {
		ok := true
		for k, want := range match {
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() != want {
					ok = false
				}
			}
		}
		h := m.GetHistogram()
		if !ok || h == nil {
			continue
		}
		count += h.GetSampleCount()
		sumS += h.GetSampleSum()
		for _, b := range h.Bucket {
			byLE[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	if count == 0 {
		return latency.Summary{}
	}
	var bs []bucket
	for le, n := range byLE {
		bs = append(bs, bucket{le, n})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	q := func(q float64) float64 {
		rank := q * float64(count)
		prevLE, prevN := 0.0, 0.0
		for _, b := range bs {
			if b.n >= rank {
				if b.n == prevN || math.IsInf(b.le, 1) {
					return prevLE
				}
				return prevLE + (b.le-prevLE)*(rank-prevN)/(b.n-prevN)
			}
			prevLE, prevN = b.le, b.n
		}
		return prevLE
	}
	us := func(sec float64) float64 { return math.Round(sec*1e7) / 10 }
	return latency.Summary{Count: count, MeanUS: us(sumS / float64(count)), P50US: us(q(0.5)), P99US: us(q(0.99))}
}
