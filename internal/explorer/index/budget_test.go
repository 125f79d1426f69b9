package index

import (
	"bufio"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/explorer"
	"github.com/folio-ledger/folio/internal/explorer/web"
)

var budget = flag.Bool("explorer.budget", false, "run TestBudget100k: index 100,000 transactions and report the explorer's budgets")

// TestBudget100k reports the explorer budgets as figures (it
// asserts only that every page answers): with 100,000 transactions
// indexed into a real Pebble index, the first indexing time, restart to
// first page (Open, then "/" through web.Server.Handler()), the p95 render
// time over 200 requests of each page, and the process's memory (VmRSS
// once the test's own copy of the chain is dropped, VmHWM including it).
// Budgets: restart < 2 s, p95 < 200 ms, RSS < 150 MB. Skipped unless
// asked (make test does not pay for it):
//
//	go test ./internal/explorer/index -run TestBudget100k -explorer.budget -v -timeout 30m
func TestBudget100k(t *testing.T) {
	if !*budget {
		t.Skip("budget run: pass -explorer.budget")
	}
	blocks := build100k(t)
	blockIDs := make([][]string, 0, len(blocks))
	dir := t.TempDir()

	start := time.Now()
	ix, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if err := ix.Apply(b); err != nil {
			t.Fatal(err)
		}
	}
	indexing := time.Since(start)
	for n := range len(blocks) {
		b, err := ix.Block(uint64(n))
		if err != nil {
			t.Fatal(err)
		}
		blockIDs = append(blockIDs, b.TxIDs[:3])
	}
	blocks = nil
	bench100k.blocks = nil
	runtime.GC()
	debug.FreeOSMemory()
	rssIndexed, hwm := procStatus(t, "VmRSS"), procStatus(t, "VmHWM")
	closeStart := time.Now()
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	closing := time.Since(closeStart)
	du := dirSize(t, dir)

	// Restart: open the index and serve the dashboard once.
	start = time.Now()
	ix, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	opened := time.Since(start)
	srv, err := web.New(ix, web.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	if w := get(h, "/"); w.Code != http.StatusOK {
		t.Fatalf("/ after restart: %d", w.Code)
	}
	restart := time.Since(start)

	// 200 requests of each page, spread over the chain (the page cache
	// warms as a browsing user's would).
	pages := []struct {
		name string
		path func(i int) string
	}{
		{"/", func(int) string { return "/" }},
		{"/blocks", func(i int) string {
			if i%2 == 0 {
				return "/blocks"
			}
			return fmt.Sprintf("/blocks?before=%d", 1+(i*97)%999)
		}},
		{"/blocks/N", func(i int) string { return fmt.Sprintf("/blocks/%d", (i*37)%1000) }},
		{"/tx/ID", func(i int) string { return "/tx/" + blockIDs[(i*53)%1000][i%3] }},
		{"/works", func(i int) string {
			return []string{"/works", "/works?owner=user3%40Org1", "/works?author=Author+7", "/works?owner=user2%40Org2"}[i%4]
		}},
		{"/works/ID", func(i int) string { return fmt.Sprintf("/works/W%06d-%02d", (i*41)%1000, i%70) }},
		{"/search", func(i int) string {
			return "/search?q=" + url.QueryEscape([]string{"Author 7", fmt.Sprintf("W%06d-05", i*3), fmt.Sprint(i * 5), "user3@Org1"}[i%4])
		}},
	}
	type row struct {
		name          string
		p50, p95, max time.Duration
	}
	var rows []row
	for _, p := range pages {
		d := make([]time.Duration, 0, 200)
		for i := range 200 {
			path := p.path(i)
			t0 := time.Now()
			w := get(h, path)
			d = append(d, time.Since(t0))
			if w.Code != http.StatusOK && w.Code != http.StatusSeeOther {
				t.Fatalf("%s: %d %s", path, w.Code, w.Body.String()[:min(200, w.Body.Len())])
			}
		}
		slices.Sort(d)
		rows = append(rows, row{p.name, d[len(d)/2], d[len(d)*95/100-1], d[len(d)-1]})
	}
	rssServed := procStatus(t, "VmRSS")
	st := ix.Stats()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	var b strings.Builder
	fmt.Fprintf(&b, "explorer budgets, %d transactions in %d blocks, %s/%s, %d CPUs\n", st.Txs, st.Height, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintf(&b, "%-34s %12s  %s\n", "figure", "value", "budget")
	fmt.Fprintf(&b, "%-34s %12s  %s\n", "first indexing (100k tx)", indexing.Round(time.Millisecond), fmt.Sprintf("(%.1f µs/tx)", float64(indexing.Microseconds())/float64(st.Txs)))
	fmt.Fprintf(&b, "%-34s %12s\n", "close (flush)", closing.Round(time.Millisecond))
	fmt.Fprintf(&b, "%-34s %12s\n", "index on disk", fmt.Sprintf("%.1f MB", float64(du)/1e6))
	fmt.Fprintf(&b, "%-34s %12s\n", "restart: Open", opened.Round(time.Microsecond))
	fmt.Fprintf(&b, "%-34s %12s  < 2s\n", "restart to first page", restart.Round(time.Microsecond))
	for _, r := range rows {
		fmt.Fprintf(&b, "%-34s %12s  < 200ms (p50 %s, max %s)\n", "p95 render "+r.name, r.p95.Round(time.Microsecond), r.p50.Round(time.Microsecond), r.max.Round(time.Microsecond))
	}
	fmt.Fprintf(&b, "%-34s %12s  < 150MB\n", "VmRSS after indexing", fmt.Sprintf("%.1f MB", float64(rssIndexed)/1024))
	fmt.Fprintf(&b, "%-34s %12s  < 150MB\n", "VmRSS after serving", fmt.Sprintf("%.1f MB", float64(rssServed)/1024))
	fmt.Fprintf(&b, "%-34s %12s  (includes the test's chain)\n", "VmHWM", fmt.Sprintf("%.1f MB", float64(hwm)/1024))
	fmt.Fprintf(&b, "%-34s %12s\n", "Go heap in use after serving", fmt.Sprintf("%.1f MB", float64(ms.HeapInuse)/1e6))
	t.Log("\n" + b.String())
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

// procStatus reads a kB figure of /proc/self/status (Linux).
func procStatus(t *testing.T, field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Logf("no /proc/self/status: %v", err)
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	return 0
}

func dirSize(t *testing.T, dir string) int64 {
	var n int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && !e.IsDir() {
			n += fi.Size()
		}
	}
	return n
}

var _ explorer.Store = (*Index)(nil)
