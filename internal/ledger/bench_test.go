package ledger_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/ledger"
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range preloads {
		p.l.Close()
		os.RemoveAll(p.dir)
	}
	os.Exit(code)
}

// preloaded is a Pebble ledger on disk holding `keys` copyright records in
// namespace "copyright", built once per process and shared by every run of
// the benchmark (the testing package calls a benchmark several times while
// it sizes b.N; blocks committed by a run stay for the next).
type preloaded struct {
	dir      string
	l        *ledger.Ledger
	opts     ledger.Options
	lastHash []byte
	nextKey  int
	setup    time.Duration
}

var preloads = map[int]*preloaded{}

// record returns a ~300-byte JSON copyright record for registration n, the
// shape the copyright contract writes.
func record(n int) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "work %d", n))
	v := fmt.Appendf(nil, `{"regNo":"REG-%010d","title":"Work number %d, a sound recording","author":"author-%06d","owner":"owner-%06d","type":"music","contentHash":"%s","registeredAt":"2025-06-01T12:00:00Z"}`,
		n, n, n%997, n%1009, hex.EncodeToString(h[:]))
	return v
}

func regKey(n int) string { return fmt.Sprintf("REG-%010d", n) }

// nextBlock builds the next block: txs transactions of writesPerTx new
// records each, envelopes padded to envBytes.
func (p *preloaded) nextBlock(txs, writesPerTx, envBytes int) (*foliov1.Block, ledger.Updates) {
	num := p.l.Height()
	ts := baseTime.Add(time.Duration(num) * time.Second)
	envs := make([][]byte, txs)
	u := ledger.Updates{Txs: make([]ledger.TxUpdate, txs)}
	for i := range txs {
		txID := fmt.Sprintf("%064x", uint64(num)<<20|uint64(i))
		envs[i] = envelope(txID, ts.UnixNano(), envBytes)
		ws := make([]*foliov1.KVWrite, writesPerTx)
		for j := range ws {
			ws[j] = &foliov1.KVWrite{Key: regKey(p.nextKey), Value: record(p.nextKey)}
			p.nextKey++
		}
		u.Txs[i] = ledger.TxUpdate{TxNum: uint64(i), TxID: txID, Timestamp: ts, Writes: []ledger.NsWrites{{Namespace: "copyright", Writes: ws}}}
	}
	return makeBlock(num, p.lastHash, ts.UnixNano(), envs, make([]byte, txs)), u
}

func (p *preloaded) commit(b *testing.B, blk *foliov1.Block, u ledger.Updates) {
	if _, err := p.l.Commit(blk, u); err != nil {
		b.Fatal(err)
	}
	p.lastHash = headerHash(blk)
}

// benchOptions keep 16 roots (pruning every 16 blocks) instead of the
// default 128, so that a short warm-up reaches the steady state where each
// prune removes what 16 ordinary blocks made obsolete. The prune work per
// block does not depend on KeepRoots, only on the nodes each block replaces.
func benchOptions() ledger.Options {
	return ledger.Options{KeepRoots: 16, PruneEvery: 16}
}

// preload returns the shared ledger holding keys records, building it with
// Commit in blocks of 10,000 writes (20 transactions of 500), then commits
// 32 blocks of the measured shape so that the bulk blocks' obsolete nodes
// are pruned before measuring.
func preload(b *testing.B, keys int) *preloaded {
	if p, ok := preloads[keys]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "folio-ledger-bench-")
	if err != nil {
		b.Fatal(err)
	}
	l, err := ledger.Open(dir, benchOptions())
	if err != nil {
		b.Fatal(err)
	}
	p := &preloaded{dir: dir, l: l, opts: benchOptions()}
	preloads[keys] = p
	start := time.Now()
	for p.nextKey < keys {
		blk, u := p.nextBlock(20, min(500, (keys-p.nextKey+19)/20), 64)
		p.commit(b, blk, u)
	}
	bulk := time.Since(start)
	bulkBlocks := l.Height()
	for range 32 {
		blk, u := p.nextBlock(500, 1, 1500)
		p.commit(b, blk, u)
	}
	p.setup = time.Since(start)
	b.Logf("preloaded %d keys in %d blocks in %v (%.0f keys/s), then 32 warm-up blocks: setup %v, in %s",
		keys, bulkBlocks, bulk.Round(time.Millisecond), float64(keys)/bulk.Seconds(), p.setup.Round(time.Millisecond), dir)
	return p
}

// reopen closes the shared ledger and opens it again with opts (cold
// caches), then commits 16 warm-up blocks.
func (p *preloaded) reopen(b *testing.B, opts ledger.Options) {
	if err := p.l.Close(); err != nil {
		b.Fatal(err)
	}
	l, err := ledger.Open(p.dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	p.l, p.opts = l, opts
	for range 16 {
		blk, u := p.nextBlock(500, 1, 1500)
		p.commit(b, blk, u)
	}
}

// benchmarkCommit commits blocks of 500 transactions, each writing one new
// ~300-byte record, on top of `keys` existing records; envelopes are padded
// to ~1.5 KB (an endorsed transaction with two endorsements). It reports
// tx/s and the share of each commit phase (ledger.CommitStats): trie
// (of which trie-reads: loading stored nodes), pebble (the synced batch
// commit), encode (state and history records), block (block encoding and
// the block store's indexes and checks), prune and check.
func benchmarkCommit(b *testing.B, keys int, opts ledger.Options) {
	p := preload(b, keys)
	if p.opts != opts {
		p.reopen(b, opts)
	}
	const txs = 500
	before := p.l.Stats()
	var elapsed time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		blk, u := p.nextBlock(txs, 1, 1500)
		b.StartTimer()
		t := time.Now()
		p.commit(b, blk, u)
		elapsed += time.Since(t)
	}
	b.StopTimer()
	st := p.l.Stats().Sub(before)
	total := st.Total().Seconds()
	b.ReportMetric(float64(st.Txs)/elapsed.Seconds(), "tx/s")
	b.ReportMetric(1000*total/float64(st.Blocks), "ms/block")
	b.ReportMetric(100*st.Trie.Seconds()/total, "trie-%")
	b.ReportMetric(100*st.TrieReads.Seconds()/total, "trie-reads-%")
	b.ReportMetric(float64(st.TrieNodeReads)/float64(st.Blocks), "node-reads/block")
	b.ReportMetric(100*st.Store.Seconds()/total, "pebble-%")
	b.ReportMetric(100*st.Encode.Seconds()/total, "encode-%")
	b.ReportMetric(100*st.Block.Seconds()/total, "block-%")
	b.ReportMetric(100*st.Prune.Seconds()/total, "prune-%")
	b.ReportMetric(100*st.Check.Seconds()/total, "check-%")
	b.ReportMetric(p.setup.Seconds(), "setup-s")
}

// BenchmarkCommit: the figure, on a state of 1,000,000 records,
// with the default caches (64 MiB Pebble block cache, 64 MiB trie node
// cache).
func BenchmarkCommit(b *testing.B) { benchmarkCommit(b, 1_000_000, benchOptions()) }

// BenchmarkCommit100k: the same on 100,000 records, for quick runs.
func BenchmarkCommit100k(b *testing.B) { benchmarkCommit(b, 100_000, benchOptions()) }

// BenchmarkCommitBigCache: BenchmarkCommit's ledger reopened with a
// 512 MiB Pebble block cache and a 256 MiB trie node cache (the 1M-record
// store is about 2 GB).
func BenchmarkCommitBigCache(b *testing.B) {
	opts := benchOptions()
	opts.Store.CacheBytes = 512 << 20
	opts.TrieCacheBytes = 256 << 20
	benchmarkCommit(b, 1_000_000, opts)
}
