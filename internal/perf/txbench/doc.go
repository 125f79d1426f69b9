// Package txbench is Folio's load tool: closed-loop clients against a running
// (or temporary) local network, measuring committed or ordered throughput
// and latency percentiles with warm-up excluded. `folio bench` runs it.
package txbench
