package enclavebench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
	"github.com/folio-ledger/folio/internal/enclave/latency"
	"github.com/folio-ledger/folio/internal/enclave/vm"
)

// Store is the world state the benchmark runs on: the peer's ledger in
// production use (OpenLedger), anything else in tests of this package.
type Store interface {
	enclave.StateSource
	// Load writes the initial works (not measured): n values from value,
	// under keys from key, in blocks of at most perBlock.
	Load(n, perBlock int, key func(int) string, value func(int) []byte) error
	// CommitBlock commits the next block: one transaction per element of
	// txs (in order, with the given IDs), and returns its number.
	CommitBlock(txIDs []string, txs [][]enclave.Write) (uint64, error)
	// Current reads the committed version of a key (for MVCC checks).
	Current(ns, key string) (*foliov1.Version, error)
	Close() error
}

// Options configure a run. EnsureDefaults fills unset fields with the
// defaults their comments state.
type Options struct {
	// Works is the number of registered works. Default 1,000,000.
	Works int
	// Zipf is the exponent s of the work popularity. Default 0.99.
	Zipf float64
	// Duration is the measured time per configuration. Default 20s.
	Duration time.Duration
	// Warmup runs the workload before measuring, per configuration (after
	// the prefill). Default 10s.
	Warmup time.Duration
	// Prefill fills the caches of a configuration that has any before
	// its warm-up: its clients get the most popular works in popularity
	// order, each once, until every cache of the configuration holds at
	// least 95% of its bytes or Prefill works were read. Default (0): up
	// to Works; negative: no prefill. A Zipf workload cannot fill the
	// caches in a warm-up of seconds: with s = 0.99 over a million works,
	// the next read hits a work read before with probability 0.60 after
	// 30,000 calls, 0.68 after 100,000, 0.84 after a million and 0.92
	// after three million (the distinct works read then about fill 256
	// MiB), so the hit rate measured after a timed warm-up alone keeps
	// rising for hours. A W-TinyLFU cache in its steady state holds about
	// the most popular works that fit, which is what the prefill loads.
	Prefill int
	// Concurrency is the number of closed-loop clients. Default 64.
	Concurrency int
	// TransferPercent is the share of transfers (the rest are gets).
	// Default 10.
	TransferPercent int
	// BlockInterval cuts a block of transfers at least this often.
	// Default 100ms.
	BlockInterval time.Duration
	// Configs names the configurations to run, of "none", "external",
	// "tiered". Default all three.
	Configs []string
	// InternalCacheBytes and ExternalCacheBytes size the tiers when used.
	// Default 256 MiB each.
	InternalCacheBytes, ExternalCacheBytes int64
	// Wasm is the copyright contract. Required.
	Wasm []byte
	// Store is the ledger to run on (Run closes it). Required.
	Store Store
	// LoadBlock is how many works the setup writes per block. Default
	// 20,000.
	LoadBlock int
	// Enclave holds the process options (Exe, Args, Env, VM.CacheDir,
	// Logger); Run sets State and the cache sizes per configuration.
	Enclave enclave.Options
	// Progress receives a line per phase. Default: discard.
	Progress io.Writer
}

// EnsureDefaults fills unset fields and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.Works == 0 {
		o.Works = 1_000_000
	}
	if o.Zipf == 0 {
		o.Zipf = 0.99
	}
	if o.Duration == 0 {
		o.Duration = 20 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = 10 * time.Second
	}
	if o.Concurrency == 0 {
		o.Concurrency = 64
	}
	if o.TransferPercent == 0 {
		o.TransferPercent = 10
	}
	if o.BlockInterval == 0 {
		o.BlockInterval = 100 * time.Millisecond
	}
	if len(o.Configs) == 0 {
		o.Configs = []string{"none", "external", "tiered"}
	}
	if o.InternalCacheBytes == 0 {
		o.InternalCacheBytes = 256 << 20
	}
	if o.ExternalCacheBytes == 0 {
		o.ExternalCacheBytes = 256 << 20
	}
	if o.LoadBlock == 0 {
		o.LoadBlock = 20_000
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

// Validate rejects unusable options.
func (o *Options) Validate() error {
	switch {
	case o.Works < 2:
		return fmt.Errorf("enclavebench: %d works: want at least 2", o.Works)
	case o.Zipf <= 0 || o.Zipf == 1:
		return fmt.Errorf("enclavebench: Zipf exponent %v: want > 0 and != 1", o.Zipf)
	case o.Duration < 0 || o.Warmup < 0 || o.Concurrency < 1:
		return errors.New("enclavebench: negative duration or no clients")
	case o.TransferPercent < 0 || o.TransferPercent > 100:
		return fmt.Errorf("enclavebench: TransferPercent %d", o.TransferPercent)
	case len(o.Wasm) == 0:
		return errors.New("enclavebench: no copyright contract (Wasm)")
	case o.Store == nil:
		return errors.New("enclavebench: no Store")
	}
	for _, c := range o.Configs {
		if c != "none" && c != "external" && c != "tiered" {
			return fmt.Errorf("enclavebench: unknown configuration %q (none, external, tiered)", c)
		}
	}
	return nil
}

// Result is what `folio bench enclave --json` prints.
type Result struct {
	Works       int     `json:"works"`
	Zipf        float64 `json:"zipf"`
	Concurrency int     `json:"concurrency"`
	// EcallBatch is the most simulate ecalls that shared a crossing.
	EcallBatch int     `json:"ecall_batch"`
	DurationS  float64 `json:"duration_s"`
	WarmupS    float64 `json:"warmup_s"`
	// SetupS is the time to write the works into the ledger; SettleS
	// the time the store then took to absorb the bulk load (its
	// compactions), waited for before measuring.
	SetupS  float64        `json:"setup_s"`
	SettleS float64        `json:"settle_s"`
	Configs []ConfigResult `json:"configs"`
	// EcallRoundTripUS is the mean round trip of an empty ecall to the
	// enclave process; WasmCallUS the mean cost of one copyright get in
	// the VM alone (in this process, state in memory, pooled instance).
	EcallRoundTripUS float64 `json:"ecall_round_trip_us"`
	WasmCallUS       float64 `json:"wasm_call_us"`
	// Ratios of none to tiered (when both ran): crossings and ocalls per
	// call (none / tiered), calls per second (tiered / none).
	CrossingsNoneOverTiered float64 `json:"crossings_none_over_tiered,omitempty"`
	OcallsNoneOverTiered    float64 `json:"ocalls_none_over_tiered,omitempty"`
	CallsTieredOverNone     float64 `json:"calls_per_s_tiered_over_none,omitempty"`
	GOMAXPROCS              int     `json:"gomaxprocs"`
}

// ConfigResult is one configuration's figures over the measured period.
type ConfigResult struct {
	Name      string  `json:"name"`
	Calls     int64   `json:"calls"`
	CallsPerS float64 `json:"calls_per_s"`
	// CrossingsPerCall counts every boundary round trip (the simulate
	// ecall itself, its ocalls, the commit ecalls) per call;
	// OcallsPerCall only the ocalls (external-cache and state lookups).
	CrossingsPerCall float64 `json:"crossings_per_call"`
	OcallsPerCall    float64 `json:"ocalls_per_call"`
	// CallsPerEcall is the calls that shared one ecall crossing, on
	// average (batches: Options.Enclave.EcallBatch).
	CallsPerEcall        float64 `json:"calls_per_ecall"`
	StateReadsPerCall    float64 `json:"state_reads_per_call"`
	BytesSealedPerCall   float64 `json:"bytes_sealed_per_call"`
	BytesUnsealedPerCall float64 `json:"bytes_unsealed_per_call"`
	P50US                float64 `json:"p50_us"`
	P99US                float64 `json:"p99_us"`
	// OcallUSPerCall is the time a call spent in ocalls, on average, as
	// the enclave measured it: the boundary's share of a call.
	OcallUSPerCall float64 `json:"ocall_us_per_call"`
	HitRate        struct {
		Internal float64 `json:"internal"`
		External float64 `json:"external"`
	} `json:"hit_rate"`
	Transfers int64 `json:"transfers"`
	Committed int64 `json:"committed"`
	Conflicts int64 `json:"conflicts"`
	Blocks    int64 `json:"blocks"`
	// Dropped counts transfers not committed because the committer's
	// queue (4096) was full: the ledger was slower than the clients.
	Dropped int64 `json:"dropped"`
	Errors  int64 `json:"errors"`
	// LedgerCommitMS and EnclaveCommitMS are the mean times of the
	// ledger's commit of a block and of the push through the tiers.
	LedgerCommitMS  float64 `json:"ledger_commit_ms"`
	EnclaveCommitMS float64 `json:"enclave_commit_ms"`
	// VMUSPerCall is the mean time a call spent in the enclave's VM
	// (contract execution with its reads, ocalls included), as the
	// enclave measured it; the rest of p50 is the simulate ecall itself.
	VMUSPerCall float64 `json:"vm_us_per_call"`
	// HostCPUUSPerCall and EnclaveCPUUSPerCall are the CPU time (user and
	// system) per call of this process (clients, host side of the
	// boundary, ledger commits) and of the enclave process over the
	// measured period: what bounds calls/s once the cores are busy, and
	// less sensitive to other load on the machine than latencies. The
	// enclave's is read from /proc (0 elsewhere), in 10ms ticks.
	HostCPUUSPerCall    float64 `json:"host_cpu_us_per_call"`
	EnclaveCPUUSPerCall float64 `json:"enclave_cpu_us_per_call"`
	// PrefillCalls and PrefillS are the gets of the prefill (see
	// Options.Prefill) and how long they took; not measured.
	PrefillCalls int64   `json:"prefill_calls"`
	PrefillS     float64 `json:"prefill_s"`
}

// Run prepares the ledger and runs every configuration.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	defer o.Store.Close()
	res := &Result{Works: o.Works, Zipf: o.Zipf, Concurrency: o.Concurrency, DurationS: o.Duration.Seconds(),
		WarmupS: o.Warmup.Seconds(), GOMAXPROCS: runtime.GOMAXPROCS(0), EcallBatch: o.Enclave.EcallBatch}
	if res.EcallBatch == 0 {
		res.EcallBatch = enclave.DefaultEcallBatch
	}

	fmt.Fprintf(o.Progress, "writing %d works into the ledger...\n", o.Works)
	start := time.Now()
	if err := o.Store.Load(o.Works, o.LoadBlock, workKey, workRecord); err != nil {
		return nil, fmt.Errorf("enclavebench: load: %w", err)
	}
	res.SetupS = round(time.Since(start).Seconds(), 2)
	fmt.Fprintf(o.Progress, "setup: %.1fs\n", res.SetupS)
	settle, err := settleStore(ctx, o.Store, o.Works)
	if err != nil {
		return nil, fmt.Errorf("enclavebench: settle: %w", err)
	}
	res.SettleS = round(settle.Seconds(), 2)
	fmt.Fprintf(o.Progress, "store settled after the bulk load: %.1fs\n", res.SettleS)

	wc, err := wasmCallCost(ctx, o.Wasm, o.Enclave.VM)
	if err != nil {
		return nil, err
	}
	res.WasmCallUS = round(us(wc), 1)

	zetan := zeta(o.Works, o.Zipf)
	for i, name := range o.Configs {
		fmt.Fprintf(o.Progress, "configuration %s: warm-up %v, measure %v...\n", name, o.Warmup, o.Duration)
		cr, rtt, err := runConfig(ctx, &o, name, zetan, i == 0)
		if err != nil {
			return nil, fmt.Errorf("enclavebench: %s: %w", name, err)
		}
		if i == 0 {
			res.EcallRoundTripUS = round(us(rtt), 1)
		}
		fmt.Fprintf(o.Progress, "  %s: %.0f calls/s, %.2f crossings/call, %.2f ocalls/call, p50 %.0fµs p99 %.0fµs, hit rate internal %.3f external %.3f\n",
			name, cr.CallsPerS, cr.CrossingsPerCall, cr.OcallsPerCall, cr.P50US, cr.P99US, cr.HitRate.Internal, cr.HitRate.External)
		res.Configs = append(res.Configs, *cr)
	}
	var none, tiered *ConfigResult
	for i := range res.Configs {
		switch res.Configs[i].Name {
		case "none":
			none = &res.Configs[i]
		case "tiered":
			tiered = &res.Configs[i]
		}
	}
	if none != nil && tiered != nil && tiered.CrossingsPerCall > 0 && none.CallsPerS > 0 {
		res.CrossingsNoneOverTiered = round(none.CrossingsPerCall/tiered.CrossingsPerCall, 2)
		if tiered.OcallsPerCall > 0 {
			res.OcallsNoneOverTiered = round(none.OcallsPerCall/tiered.OcallsPerCall, 2)
		}
		res.CallsTieredOverNone = round(tiered.CallsPerS/none.CallsPerS, 2)
	}
	return res, nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// settleStore waits, up to 3 minutes, until committing a small block (10
// works rewritten as they are) takes less than 50ms three times in a row:
// after a bulk load the store is busy compacting, and the first
// configuration measured would pay for it.
func settleStore(ctx context.Context, st Store, works int) (time.Duration, error) {
	start := time.Now()
	fast := 0
	for i := 0; fast < 3 && time.Since(start) < 3*time.Minute; i++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		t := time.Now()
		var ws []enclave.Write
		for j := 0; j < 10; j++ {
			k := (i*10 + j) * 7919 % works
			ws = append(ws, enclave.Write{Namespace: Namespace, Key: workKey(k), Value: workRecord(k)})
		}
		if _, err := st.CommitBlock([]string{fmt.Sprintf("settle-%d-%d", os.Getpid(), i)}, [][]enclave.Write{ws}); err != nil {
			return 0, err
		}
		if time.Since(t) < 50*time.Millisecond {
			fast++
		} else {
			fast = 0
			time.Sleep(time.Second)
		}
	}
	return time.Since(start), nil
}

// runConfig runs one configuration on a fresh enclave process.
func runConfig(ctx context.Context, o *Options, name string, zetan float64, measureRTT bool) (*ConfigResult, time.Duration, error) {
	eo := o.Enclave
	eo.State = o.Store
	eo.InternalCacheBytes, eo.ExternalCacheBytes = -1, -1
	switch name {
	case "external":
		eo.ExternalCacheBytes = o.ExternalCacheBytes
	case "tiered":
		eo.InternalCacheBytes, eo.ExternalCacheBytes = o.InternalCacheBytes, o.ExternalCacheBytes
	}
	if eo.ExternalCacheBytes > 0 && eo.DirectoryEntries == 0 {
		// An external-cache blob is served only while the directory knows
		// its key, and the directory keeps between half and all of its
		// entries (two generations): size it to twice what the external
		// cache holds (entries of about 400 bytes and up), or its default
		// (524,288) turns a quarter of the external hits of a 256 MiB
		// cache into stale entries refetched from the state.
		eo.DirectoryEntries = int(max(2*eo.ExternalCacheBytes/400, 1<<19))
	}
	// The enclave runs only signed modules (docs/enclave.md): a throwaway
	// consortium is its trust anchor and signs the contract.
	anchorDir, err := os.MkdirTemp("", "folio-bench-anchor-")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(anchorDir)
	mod, err := enclavetest.Provision(&eo, anchorDir, Namespace, o.Wasm)
	if err != nil {
		return nil, 0, err
	}
	e, err := enclave.New(ctx, eo)
	if err != nil {
		return nil, 0, err
	}
	defer e.Close()
	if err := e.Install(ctx, mod); err != nil {
		return nil, 0, err
	}
	var rtt time.Duration
	if measureRTT {
		if _, err := enclave.RoundTrip(ctx, e, 200); err != nil { // warm the path
			return nil, 0, err
		}
		if rtt, err = enclave.RoundTrip(ctx, e, 2000); err != nil {
			return nil, 0, err
		}
	}

	w := &workload{o: o, e: e, zetan: zetan, cfg: name}
	w.blocks = make(chan *pendingTx, 4096)
	cctx, stopCommitter := context.WithCancel(ctx)
	committerDone := make(chan error, 1)
	go func() { committerDone <- w.committer(cctx) }()
	stop := func() error {
		stopCommitter()
		return <-committerDone
	}

	// Prefill and warm-up, then the measured period.
	var prefilled int64
	var prefillTime time.Duration
	if name != "none" && o.Prefill >= 0 {
		limit := o.Prefill
		if limit == 0 || limit > o.Works {
			limit = o.Works
		}
		t := time.Now()
		var err error
		if prefilled, err = w.prefill(ctx, limit, &eo); err != nil {
			stop()
			return nil, 0, err
		}
		prefillTime = time.Since(t)
		st := e.Stats()
		fmt.Fprintf(o.Progress, "  prefill: %d gets in %.1fs; internal cache %d entries, %d bytes; external %d entries, %d bytes\n",
			prefilled, prefillTime.Seconds(), st.Internal.Entries, st.Internal.Bytes, st.External.Entries, st.External.Bytes)
	}
	if err := w.drive(ctx, o.Warmup, false); err != nil {
		stop()
		return nil, 0, err
	}
	before := e.Stats()
	w.reset()
	hostCPU0, enclaveCPU0 := selfCPU(), procCPU(before.PID)
	t0 := time.Now()
	if err := w.drive(ctx, o.Duration, true); err != nil {
		stop()
		return nil, 0, err
	}
	elapsed := time.Since(t0)
	hostCPU, enclaveCPU := selfCPU()-hostCPU0, procCPU(before.PID)-enclaveCPU0
	after := e.Stats()
	if err := stop(); err != nil {
		return nil, 0, err
	}

	calls := w.calls.Load()
	r := &ConfigResult{Name: name, Calls: calls, Transfers: w.transfers.Load(), Committed: w.committed.Load(),
		Conflicts: w.conflicts.Load(), Blocks: w.nblocks.Load(), Dropped: w.dropped.Load(), Errors: w.errors.Load(),
		PrefillCalls: prefilled, PrefillS: round(prefillTime.Seconds(), 1)}
	if calls == 0 {
		return r, rtt, errors.New("no call completed")
	}
	r.VMUSPerCall = round(float64(w.vmNS.Load())/float64(calls)/1e3, 1)
	r.HostCPUUSPerCall = round(us(hostCPU)/float64(calls), 1)
	if after.PID == before.PID { // no restart in between
		r.EnclaveCPUUSPerCall = round(us(enclaveCPU)/float64(calls), 1)
	}
	per := func(a, b uint64) float64 { return round(float64(a-b)/float64(calls), 3) }
	r.CallsPerS = round(float64(calls)/elapsed.Seconds(), 1)
	r.CrossingsPerCall = per(after.Crossings, before.Crossings)
	r.OcallsPerCall = per(after.Ocalls, before.Ocalls)
	if e := after.Ecalls - before.Ecalls; e > 0 {
		r.CallsPerEcall = round(float64(calls)/float64(e), 2)
	}
	r.StateReadsPerCall = per(after.StateReads, before.StateReads)
	r.BytesSealedPerCall = per(after.BytesSealed, before.BytesSealed)
	r.BytesUnsealedPerCall = per(after.BytesUnsealed, before.BytesUnsealed)
	lat := w.lat.Snapshot()
	r.P50US = round(us(lat.Quantile(0.5)), 1)
	r.P99US = round(us(lat.Quantile(0.99)), 1)
	hitRate := func(a, b enclave.TierStats) float64 {
		h, m := a.Hits-b.Hits, a.Misses-b.Misses
		if h+m == 0 {
			return 0
		}
		return round(float64(h)/float64(h+m), 4)
	}
	if r.Blocks > 0 {
		r.LedgerCommitMS = round(float64(w.ledgerNS.Load())/float64(r.Blocks)/1e6, 2)
		r.EnclaveCommitMS = round(float64(w.enclaveNS.Load())/float64(r.Blocks)/1e6, 2)
	}
	r.HitRate.Internal = hitRate(after.Internal, before.Internal)
	r.HitRate.External = hitRate(after.External, before.External)
	if oc := after.OcallLatency; oc.Count > before.OcallLatency.Count {
		total := oc.MeanUS*float64(oc.Count) - before.OcallLatency.MeanUS*float64(before.OcallLatency.Count)
		r.OcallUSPerCall = round(total/float64(calls), 1)
	}
	return r, rtt, nil
}

// workload is one configuration's clients and committer.
type workload struct {
	o     *Options
	e     enclave.Enclave
	zetan float64
	cfg   string
	seq   atomic.Int64

	calls, transfers, committed, conflicts, nblocks, errors, dropped atomic.Int64
	ledgerNS, enclaveNS, vmNS                                        atomic.Int64
	lat                                                              latency.Histogram
	record                                                           atomic.Bool
	blocks                                                           chan *pendingTx
	lastErr                                                          atomic.Value
}

type pendingTx struct {
	txID string
	rw   *foliov1.ReadWriteSet
}

func (w *workload) reset() {
	w.calls.Store(0)
	w.transfers.Store(0)
	w.committed.Store(0)
	w.conflicts.Store(0)
	w.nblocks.Store(0)
	w.errors.Store(0)
	w.dropped.Store(0)
	w.ledgerNS.Store(0)
	w.enclaveNS.Store(0)
	w.vmNS.Store(0)
	w.lat.Reset()
}

var benchTime = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// drive runs the clients for d.
func (w *workload) drive(ctx context.Context, d time.Duration, record bool) error {
	if d <= 0 {
		return nil
	}
	w.record.Store(record)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	var fatal atomic.Value
	for c := 0; c < w.o.Concurrency; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			z := newZipfZeta(r, w.o.Works, w.o.Zipf, w.zetan)
			for ctx.Err() == nil {
				if err := w.one(ctx, r, z); err != nil && ctx.Err() == nil {
					fatal.Store(err)
					cancel()
					return
				}
			}
		}(c)
	}
	wg.Wait()
	if err, ok := fatal.Load().(error); ok {
		return err
	}
	return nil
}

// prefill gets the works of popularity rank 0, 1, 2, ... (each once, no
// transfers), with the configuration's clients, until every cache of the
// configuration (eo's sizes; negative: none) holds 95% of its bytes or
// limit works were read. It returns the number of gets.
func (w *workload) prefill(ctx context.Context, limit int, eo *enclave.Options) (int64, error) {
	full := func() bool {
		st := w.e.Stats()
		if eo.InternalCacheBytes > 0 && float64(st.Internal.Bytes) < 0.95*float64(eo.InternalCacheBytes) {
			return false
		}
		return eo.ExternalCacheBytes <= 0 || float64(st.External.Bytes) >= 0.95*float64(eo.ExternalCacheBytes)
	}
	var next, done atomic.Int64
	var stop atomic.Bool
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var fatal atomic.Value
	for c := 0; c < w.o.Concurrency; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && ctx.Err() == nil {
				rank := next.Add(1) - 1
				if rank >= int64(limit) {
					return
				}
				if rank%1000 == 999 && full() {
					stop.Store(true)
					return
				}
				id := workID(scramble(int(rank), w.o.Works))
				call := abi.Call{TxID: fmt.Sprintf("prefill-%s-%d-%d", w.cfg, os.Getpid(), rank), Timestamp: benchTime, ChannelID: "folio",
					Namespace: Namespace, Function: "get", Args: [][]byte{fmt.Appendf(nil, `{"id":%q}`, id)}, ReadOnly: true,
					Creator: abi.Identity{MSPID: "Org1MSP", Org: "Org1", Name: "reader", Role: "client"}}
				res, err := w.e.Simulate(ctx, "1", call)
				if err == nil && res.Response.Status != 200 {
					err = fmt.Errorf("get %s: %d %s", id, res.Response.Status, res.Response.Message)
				}
				if err != nil {
					if ctx.Err() == nil {
						fatal.Store(fmt.Errorf("prefill: %w", err))
						cancel()
					}
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := fatal.Load().(error); ok {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return done.Load(), nil
}

// one runs one call: a get, or a transfer whose result goes to the
// committer.
func (w *workload) one(ctx context.Context, r *rand.Rand, z *zipf) error {
	i := scramble(z.next(), w.o.Works)
	n := w.seq.Add(1)
	transfer := r.IntN(100) < w.o.TransferPercent
	c := abi.Call{
		TxID:      fmt.Sprintf("bench-%s-%d-%d", w.cfg, os.Getpid(), n),
		Timestamp: benchTime.Add(time.Duration(n) * time.Millisecond),
		ChannelID: "folio",
		Namespace: Namespace,
		Creator:   abi.Identity{MSPID: "Org1MSP", Org: "Org1", Name: "reader", Role: "client"},
	}
	if transfer {
		c.Function = "transfer"
		c.Args = [][]byte{fmt.Appendf(nil, `{"id":%q,"to":"user%d@Org1"}`, workID(i), r.IntN(1_000_000))}
		c.Creator = abi.Identity{MSPID: "Org1MSP", Org: "Org1", Name: "admin", Role: "admin"}
	} else {
		c.Function = "get"
		c.Args = [][]byte{fmt.Appendf(nil, `{"id":%q}`, workID(i))}
		c.ReadOnly = true
	}
	start := time.Now()
	res, err := w.e.Simulate(ctx, "1", c)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if w.record.Load() {
		w.lat.Since(start)
		w.calls.Add(1)
		w.vmNS.Add(int64(res.Duration))
	}
	if res.Response.Status != 200 {
		w.errors.Add(1)
		if w.errors.Load() > 100 && w.errors.Load() > w.calls.Load()/10 {
			return fmt.Errorf("%s %s: %d %s", c.Function, workID(i), res.Response.Status, res.Response.Message)
		}
		return nil
	}
	if transfer {
		if w.record.Load() {
			w.transfers.Add(1)
		}
		// Never let a slow ledger hold the clients up: a transfer the
		// committer cannot take now is dropped (counted).
		select {
		case w.blocks <- &pendingTx{txID: c.TxID, rw: res.RWSet}:
		default:
			if w.record.Load() {
				w.dropped.Add(1)
			}
		}
	}
	return nil
}

// committer cuts blocks of transfers every BlockInterval, drops those
// whose reads are no longer current (MVCC, including writes earlier in
// the block), commits the block to the ledger and pushes it through the
// tiers.
func (w *workload) committer(ctx context.Context) error {
	tick := time.NewTicker(w.o.BlockInterval)
	defer tick.Stop()
	var batch []*pendingTx
	for {
		select {
		case <-ctx.Done():
			return nil
		case tx := <-w.blocks:
			batch = append(batch, tx)
			if len(batch) < 500 {
				continue
			}
		case <-tick.C:
			if len(batch) == 0 {
				continue
			}
		}
		if err := w.commitBlock(ctx, batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		batch = batch[:0]
	}
}

func (w *workload) commitBlock(ctx context.Context, batch []*pendingTx) error {
	written := map[string]bool{}
	var ids []string
	var txs [][]enclave.Write
	for _, tx := range batch {
		ok := true
	check:
		for _, ns := range tx.rw.GetNsRwsets() {
			for _, rd := range ns.Reads {
				k := ns.Namespace + "\x00" + rd.Key
				if written[k] {
					ok = false
					break check
				}
				cur, err := w.o.Store.Current(ns.Namespace, rd.Key)
				if err != nil {
					return err
				}
				if cur.GetBlockNum() != rd.Version.GetBlockNum() || cur.GetTxNum() != rd.Version.GetTxNum() || (cur == nil) != (rd.Version == nil) {
					ok = false
					break check
				}
			}
		}
		if !ok {
			if w.record.Load() {
				w.conflicts.Add(1)
			}
			continue
		}
		var ws []enclave.Write
		for _, ns := range tx.rw.GetNsRwsets() {
			for _, wr := range ns.Writes {
				written[ns.Namespace+"\x00"+wr.Key] = true
				ws = append(ws, enclave.Write{Namespace: ns.Namespace, Key: wr.Key, Value: wr.Value, Delete: wr.IsDelete, Tx: uint64(len(txs))})
			}
		}
		ids = append(ids, tx.txID)
		txs = append(txs, ws)
	}
	if len(txs) == 0 {
		return nil
	}
	t0 := time.Now()
	b, err := w.o.Store.CommitBlock(ids, txs)
	if err != nil {
		return fmt.Errorf("ledger commit: %w", err)
	}
	t1 := time.Now()
	var all []enclave.Write
	for _, ws := range txs {
		all = append(all, ws...)
	}
	if err := w.e.Commit(context.WithoutCancel(ctx), b, all); err != nil {
		return fmt.Errorf("enclave commit of block %d: %w", b, err)
	}
	if w.record.Load() {
		w.committed.Add(int64(len(txs)))
		w.nblocks.Add(1)
		w.ledgerNS.Add(int64(t1.Sub(t0)))
		w.enclaveNS.Add(int64(time.Since(t1)))
	}
	return nil
}

// wasmCallCost measures one copyright get in the VM alone.
func wasmCallCost(ctx context.Context, wasm []byte, vo vm.Options) (time.Duration, error) {
	call, done, err := wasmCaller(ctx, wasm, vo)
	if err != nil {
		return 0, err
	}
	defer done()
	run := func(n int) (time.Duration, error) {
		start := time.Now()
		for i := 0; i < n; i++ {
			if err := call(); err != nil {
				return 0, err
			}
		}
		return time.Since(start) / time.Duration(n), nil
	}
	if _, err := run(200); err != nil {
		return 0, err
	}
	return run(2000)
}

// wasmCaller loads the contract in a runtime of its own and returns a
// function making one get against a state holding one work.
func wasmCaller(ctx context.Context, wasm []byte, vo vm.Options) (call func() error, done func(), err error) {
	vo.Logger = slog.New(slog.DiscardHandler)
	rt, err := vm.NewRuntime(ctx, vo)
	if err != nil {
		return nil, nil, err
	}
	m, err := rt.Load(ctx, Namespace, "1", wasm)
	if err != nil {
		rt.Close(ctx)
		return nil, nil, err
	}
	st := oneWork{key: workKey(1), value: workRecord(1)}
	c := abi.Call{TxID: "wasm-cost", Timestamp: benchTime, ChannelID: "folio", Function: "get",
		Args: [][]byte{fmt.Appendf(nil, `{"id":%q}`, workID(1))}, ReadOnly: true,
		Creator: abi.Identity{MSPID: "Org1MSP", Org: "Org1", Name: "reader", Role: "client"}}
	call = func() error {
		res, err := rt.Invoke(ctx, m, c, st)
		if err != nil {
			return err
		}
		if res.Response.Status != 200 {
			return fmt.Errorf("get: %d %s", res.Response.Status, res.Response.Message)
		}
		return nil
	}
	return call, func() { rt.Close(ctx) }, nil
}

// oneWork is a vm.State holding one work.
type oneWork struct {
	key   string
	value []byte
}

func (s oneWork) Get(ns, key string) ([]byte, *foliov1.Version, error) {
	if key != s.key {
		return nil, nil, nil
	}
	return s.value, &foliov1.Version{BlockNum: 1}, nil
}

func (s oneWork) Range(string, string, string, int) ([]vm.KV, bool, error) { return nil, false, nil }
func (s oneWork) History(string, string) ([]vm.HistoryEntry, error)        { return nil, nil }
