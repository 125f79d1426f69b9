package index

import (
	"fmt"
	"sync"
	"testing"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/explorer"
)

var bench100k struct {
	once   sync.Once
	blocks []*foliov1.Block
}

// chain100k is 1,000 blocks of 100 copyright transactions: per block 70
// registrations, 20 transfers of earlier works and 10 refused
// transactions (MVCC). Signatures are placeholders (the index does not
// verify them); everything else is what peers commit.
func chain100k(b testing.TB) []*foliov1.Block {
	bench100k.once.Do(func() { bench100k.blocks = build100k(b) })
	return bench100k.blocks
}

// build100k builds chain100k's blocks afresh (the budget test drops them
// before measuring memory; chain100k keeps them for every benchmark).
func build100k(b testing.TB) []*foliov1.Block {
	{
		c := newTestChain(b)
		c.fast = true
		var ws []work
		for n := range 1000 {
			envs := make([][]byte, 0, 100)
			codes := make([]foliov1.ValidationCode, 0, 100)
			for i := range 100 {
				var e []byte
				switch {
				case i < 70 || len(ws) < 20:
					w := work{fmt.Sprintf("W%06d-%02d", n, i), "Title", fmt.Sprintf("Author %d", i%50), fmt.Sprintf("user%d@Org1", i%20), fmt.Sprintf("sha256:%064x", n*100+i)}
					ws = append(ws, w)
					_, e = c.register(c.user1, w)
				default:
					k := (n*31 + i*7) % (len(ws) - 1)
					_, e = c.transfer(c.user2, ws[k], "user2@Org2", &foliov1.Version{BlockNum: uint64(n)})
					ws[k].owner = "user2@Org2"
				}
				code := valid
				if i >= 90 {
					code = mvcc
				}
				envs, codes = append(envs, e), append(codes, code)
			}
			c.block(codes, envs...)
		}
		return c.blocks
	}
}

// BenchmarkIndex100k indexes 100,000 transactions into a new index (time
// and allocations per full indexing), then reopens it and reports the
// restart-to-ready time: open, then the dashboard's first queries
// (stats, newest blocks, works of an owner), and the time of the first
// Rates call, which rebuilds the last hour's series from block summaries.
func BenchmarkIndex100k(b *testing.B) {
	blocks := chain100k(b)
	b.ReportAllocs()
	b.ResetTimer()
	var restart, rebuild time.Duration
	for range b.N {
		dir := b.TempDir()
		ix, err := Open(Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		for _, blk := range blocks {
			if err := ix.Apply(blk); err != nil {
				b.Fatal(err)
			}
		}
		if err := ix.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		start := time.Now()
		ix, err = Open(Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		opened := time.Since(start)
		st := ix.Stats()
		page, _ := ix.Blocks(0, 20)
		works, _ := ix.Works(explorer.WorkQuery{Owner: "user3@Org1", Limit: 50})
		restart += time.Since(start)
		b.Logf("restart: open %v, first queries %v", opened, time.Since(start)-opened)
		start = time.Now()
		ix.Rates(5 * time.Minute) // the first call folds the last hour's blocks in
		rebuild += time.Since(start)
		if st.Txs != 100000 || len(page) != 20 || len(works) != 50 {
			b.Fatalf("after restart: %d txs, %d blocks, %d works", st.Txs, len(page), len(works))
		}
		_ = ix.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(restart.Milliseconds())/float64(b.N), "restart-ms")
	b.ReportMetric(float64(rebuild.Milliseconds())/float64(b.N), "rates-rebuild-ms")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/100000, "µs/tx")
}
