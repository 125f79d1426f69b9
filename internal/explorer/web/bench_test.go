package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/internal/explorer"
)

// BenchmarkPages renders each page against an in-memory store of 5,000
// blocks (10,000 transactions) and 1,000 works: the web layer's share of
// the 200 ms p95 page budget (the Pebble index adds its reads).
func BenchmarkPages(b *testing.B) {
	st := newFake(5000)
	for i := range 1000 {
		id := fmt.Sprintf("WORK-%04d", i)
		st.works[id] = explorer.Work{ID: id, Title: "Title " + id, Author: fmt.Sprintf("author%d", i%50), Owner: fmt.Sprintf("Org%dMSP", i%4), ContentHash: contentHash(id), Block: 1, TxID: txID(1, 0)}
	}
	h := newServer(b, st, Config{}, WithEvidence(EvidenceFunc(testEvidence))).Handler()
	for _, p := range []string{
		"/", "/blocks", "/blocks?before=2500", "/blocks/2500", "/tx/" + txID(2500, 1), "/works", "/works?author=author7",
		"/works/BOOK-1", "/works/BOOK-1/evidence", "/search?q=author7", "/search?q=" + blockHash(1234), "/network",
		"/api/stats", "/api/blocks/2500", "/api/works/BOOK-1",
	} {
		name := strings.NewReplacer("/", "_", "?", "_").Replace(p)
		if len(name) > 40 {
			name = name[:40]
		}
		b.Run(name, func(b *testing.B) {
			if w := do(b, h, p); w.Code != http.StatusOK && w.Code != http.StatusSeeOther {
				b.Fatalf("%s: %d", p, w.Code)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, p, nil))
			}
		})
	}
}
