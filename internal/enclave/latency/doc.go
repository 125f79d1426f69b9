// Package latency is a fixed-bucket latency histogram: lock-free to
// record into, cheap to snapshot, mergeable, with quantile estimates. The
// enclave records ecall and ocall round trips in it and exports them as
// Prometheus histograms and as p50/p99 in its statistics; the enclave
// benchmark uses it for per-call latencies.
//
// Buckets are log-linear: every power of two from 1µs up to about 268s is
// split into SubBuckets equal parts, so a quantile is known to within
// 1/SubBuckets (12.5%) of its value. Durations below 1µs fall in the first
// bucket, above the last bound in the last one.
package latency
