package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/folio-ledger/folio/internal/explorer"
)

func pathSeg(s string) string { return url.PathEscape(s) }

// healthReporter is optionally implemented by a Store that knows whether
// its source (the peers) is reachable; /healthz answers 503 and pages show
// a banner while Health returns an error.
type healthReporter interface{ Health() error }

// health is the Store's Health when it has one; otherwise a store that
// reports its source (explorer.SourceReporter) is unhealthy while the
// source's last attempt failed (every peer, for the index's PeerSource).
func (s *Server) health() error {
	if h, ok := s.store.(healthReporter); ok {
		return h.Health()
	}
	if st, ok := s.sourceStatus(); ok && !st.Following && st.LastError != "" {
		return fmt.Errorf("%w: %s", explorer.ErrUnavailable, st.LastError)
	}
	return nil
}

func (s *Server) sourceStatus() (explorer.SourceStatus, bool) {
	if r, ok := s.store.(explorer.SourceReporter); ok {
		return r.SourceStatus(), true
	}
	return explorer.SourceStatus{}, false
}

// chartWindow is the span of the dashboard's rate chart.
const chartWindow = 5 * time.Minute

type countRow struct {
	Name   string
	Count  uint64
	Reason string
}

// orgRow is one organisation's transactions: valid, and invalid by reason.
type orgRow struct {
	Name         string
	Total, Valid uint64
	InvalidTotal uint64
	Invalid      []countRow
}

func orgRows(st explorer.Stats) []orgRow {
	byOrg, _ := sortedCounts(st.ByOrg, false)
	rows := make([]orgRow, 0, len(byOrg))
	for _, o := range byOrg {
		r := orgRow{Name: o.Name, Total: o.Count}
		r.Invalid, r.InvalidTotal = sortedCounts(st.OrgInvalid[o.Name], true)
		r.Valid = r.Total - min(r.Total, r.InvalidTotal)
		rows = append(rows, r)
	}
	return rows
}

type dashboardData struct {
	Stats        explorer.Stats
	Lag          string
	InvalidTotal uint64
	Invalid      []countRow
	Recent       []explorer.BlockSummary
	Chart        template.HTML
	Problem      string // source unreachable
	OrgRows      []orgRow
	Latency      explorer.Latency
	LatencyChart template.HTML
	// Source is the feed's status when the store reports it (HasSource).
	Source    explorer.SourceStatus
	HasSource bool
	Window    string
}

func sortedCounts(m map[string]uint64, explain bool) ([]countRow, uint64) {
	rows := make([]countRow, 0, len(m))
	var total uint64
	for k, v := range m {
		r := countRow{Name: k, Count: v}
		if explain {
			r.Reason = reason(k)
		}
		rows = append(rows, r)
		total += v
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Count != rows[j].Count {
			return rows[i].Count > rows[j].Count
		}
		return rows[i].Name < rows[j].Name
	})
	return rows, total
}

func lag(st explorer.Stats) string {
	if st.LastBlockAt.IsZero() || st.IndexedAt.IsZero() {
		return "—"
	}
	return st.IndexedAt.Sub(st.LastBlockAt).Round(time.Millisecond).String()
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	st := s.store.Stats()
	d := dashboardData{Stats: st, Lag: lag(st)}
	d.Invalid, d.InvalidTotal = sortedCounts(st.Invalid, true)
	recent, err := s.store.Blocks(0, 10)
	if err != nil {
		s.fail(w, r, s.storeError(err, "the latest blocks"))
		return
	}
	d.Recent = recent
	d.OrgRows = orgRows(st)
	now := time.Now()
	rates := s.store.Rates(chartWindow)
	d.Chart = renderChart(rates, chartWindow, now)
	d.LatencyChart = renderLatencyChart(rates, chartWindow, now)
	d.Latency = s.store.Latency(chartWindow)
	d.Window = chartWindow.String()
	d.Source, d.HasSource = s.sourceStatus()
	if err := s.health(); err != nil {
		d.Problem = err.Error()
	}
	s.renderPage(w, r, http.StatusOK, "dashboard", pageData{Title: "Dashboard", Active: "Dashboard", Live: true, Data: d})
}

func (s *Server) chartSVG(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(renderChart(s.store.Rates(chartWindow), chartWindow, time.Now())))
}

func (s *Server) latencySVG(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(renderLatencyChart(s.store.Rates(chartWindow), chartWindow, time.Now())))
}

// limit reads ?limit=, defaulting to the page size and capped.
func (s *Server) limit(r *http.Request) (int, *httpError) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return s.cfg.PageSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, badRequest("limit %q is not a positive integer.", clip(v))
	}
	return min(n, s.cfg.MaxPageSize), nil
}

type blocksData struct {
	Blocks []explorer.BlockSummary
	// Newest: this is the first page, so live blocks are prepended.
	Newest bool
	// NextBefore is ?before= of the next (older) page, 0 when this page
	// reaches block 0.
	NextBefore uint64
}

func (s *Server) listBlocks(r *http.Request) (blocksData, *httpError) {
	var before uint64
	if v := r.URL.Query().Get("before"); v != "" {
		n, e := parseBlockNumber(v)
		if e != nil {
			return blocksData{}, e
		}
		if n == 0 {
			return blocksData{}, badRequest("there is no block before block 0.")
		}
		before = n
	}
	lim, e := s.limit(r)
	if e != nil {
		return blocksData{}, e
	}
	bs, err := s.store.Blocks(before, lim)
	if err != nil {
		return blocksData{}, s.storeError(err, "the block list")
	}
	d := blocksData{Blocks: bs, Newest: before == 0}
	if len(bs) == lim && bs[len(bs)-1].Number > 0 {
		d.NextBefore = bs[len(bs)-1].Number
	}
	return d, nil
}

func (s *Server) blocksPage(w http.ResponseWriter, r *http.Request) {
	d, e := s.listBlocks(r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	s.renderPage(w, r, http.StatusOK, "blocks", pageData{Title: "Blocks", Active: "Blocks", Live: d.Newest, Data: d})
}

// findBlock reads /blocks/{ref}: a number, or a header hash.
func (s *Server) findBlock(ref string) (explorer.BlockSummary, *httpError) {
	if h, ok := normHex64(ref); ok {
		b, err := s.store.BlockByHash(h)
		if err != nil {
			return b, s.storeError(err, "block with hash "+h)
		}
		return b, nil
	}
	n, e := parseBlockNumber(ref)
	if e != nil {
		return explorer.BlockSummary{}, e
	}
	b, err := s.store.Block(n)
	if err != nil {
		return b, s.storeError(err, "block "+strconv.FormatUint(n, 10))
	}
	return b, nil
}

// maxBlockTxs bounds the transactions a block page lists in detail.
const maxBlockTxs = 500

type txRow struct {
	ID string
	Tx *explorer.TxSummary // nil when the index could not read it
}

type blockData struct {
	Block    explorer.BlockSummary
	Invalid  []countRow
	Txs      []txRow
	Omitted  int
	Previous string // link to the previous block, "" for block 0
	Next     string
}

func (s *Server) blockPage(w http.ResponseWriter, r *http.Request) {
	b, e := s.findBlock(r.PathValue("ref"))
	if e != nil {
		s.fail(w, r, e)
		return
	}
	d := blockData{Block: b}
	d.Invalid, _ = sortedCounts(toU64(b.Invalid), true)
	ids := b.TxIDs
	if len(ids) > maxBlockTxs {
		d.Omitted = len(ids) - maxBlockTxs
		ids = ids[:maxBlockTxs]
	}
	for _, id := range ids {
		row := txRow{ID: id}
		if t, err := s.store.Tx(id); err == nil {
			row.Tx = &t
		} else if errors.Is(err, explorer.ErrUnavailable) {
			s.fail(w, r, s.storeError(err, "block "+strconv.FormatUint(b.Number, 10)+"'s transactions"))
			return
		}
		d.Txs = append(d.Txs, row)
	}
	if b.Number > 0 {
		d.Previous = "/blocks/" + strconv.FormatUint(b.Number-1, 10)
	}
	if st := s.store.Stats(); b.Number+1 < st.Height {
		d.Next = "/blocks/" + strconv.FormatUint(b.Number+1, 10)
	}
	s.render(w, r, http.StatusOK, "block", "Block "+strconv.FormatUint(b.Number, 10), "Blocks", d)
}

func toU64(m map[string]int) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = uint64(v)
	}
	return out
}

func (s *Server) findTx(id string) (explorer.TxSummary, *httpError) {
	h, ok := normHex64(id)
	if !ok {
		return explorer.TxSummary{}, badRequest("%q is not a transaction ID (64 hex digits).", clip(id))
	}
	t, err := s.store.Tx(h)
	if err != nil {
		return t, s.storeError(err, "transaction "+h)
	}
	return t, nil
}

type txData struct {
	Tx     explorer.TxSummary
	Valid  bool
	Reason string
}

func (s *Server) txPage(w http.ResponseWriter, r *http.Request) {
	t, e := s.findTx(r.PathValue("id"))
	if e != nil {
		s.fail(w, r, e)
		return
	}
	s.render(w, r, http.StatusOK, "tx", "Transaction "+shortHash(t.ID), "Blocks", txData{Tx: t, Valid: t.ValidationCode == "VALID", Reason: reason(t.ValidationCode)})
}

type worksData struct {
	ID, Owner, Author, Hash string
	Searched                bool
	Works                   []explorer.Work
	Next                    string
}

// worksQuery reads the works search form.
func (s *Server) worksQuery(r *http.Request) (explorer.WorkQuery, worksData, *httpError) {
	v := r.URL.Query()
	d := worksData{ID: v.Get("id"), Owner: v.Get("owner"), Author: v.Get("author"), Hash: v.Get("hash")}
	q := explorer.WorkQuery{ID: d.ID, Owner: d.Owner, Author: d.Author, After: v.Get("after")}
	for _, f := range []struct{ name, val string }{{"the ID", d.ID}, {"the owner", d.Owner}, {"the author", d.Author}, {"after", q.After}} {
		if e := checkText(f.name, f.val); e != nil {
			return q, d, e
		}
	}
	if d.Hash != "" {
		h, e := normContentHash(d.Hash)
		if e != nil {
			return q, d, e
		}
		q.ContentHash = h
	}
	lim, e := s.limit(r)
	if e != nil {
		return q, d, e
	}
	q.Limit = lim
	d.Searched = d.ID != "" || d.Owner != "" || d.Author != "" || d.Hash != ""
	return q, d, nil
}

// findWorks runs the works search the request asks for (worksQuery), for
// the page and the API alike.
func (s *Server) findWorks(r *http.Request) (explorer.WorkQuery, worksData, []explorer.Work, *httpError) {
	q, d, e := s.worksQuery(r)
	if e != nil {
		return q, d, nil, e
	}
	ws, err := s.store.Works(q)
	if err != nil {
		return q, d, nil, s.storeError(err, "works")
	}
	return q, d, ws, nil
}

func (s *Server) worksPage(w http.ResponseWriter, r *http.Request) {
	q, d, ws, e := s.findWorks(r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	d.Works = ws
	if len(ws) == q.Limit {
		next := r.URL.Query()
		next.Set("after", ws[len(ws)-1].ID)
		d.Next = "/works?" + next.Encode()
	}
	s.render(w, r, http.StatusOK, "works", "Works", "Works", d)
}

func (s *Server) findWork(id string) (explorer.Work, []explorer.ProvenanceEntry, *httpError) {
	if e := checkText("the work ID", id); e != nil {
		return explorer.Work{}, nil, e
	}
	wk, prov, err := s.store.Work(id)
	if err != nil {
		return wk, nil, s.storeError(err, "work "+strconv.Quote(id))
	}
	return wk, prov, nil
}

type workData struct {
	Work       explorer.Work
	Provenance []explorer.ProvenanceEntry
	Evidence   bool
}

func (s *Server) workPage(w http.ResponseWriter, r *http.Request) {
	wk, prov, e := s.findWork(r.PathValue("id"))
	if e != nil {
		s.fail(w, r, e)
		return
	}
	s.render(w, r, http.StatusOK, "work", "Work "+wk.ID, "Works", workData{Work: wk, Provenance: prov, Evidence: s.evidence != nil})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	st := s.store.Stats()
	body := map[string]any{"status": "ok", "height": st.Height, "last_block_at": st.LastBlockAt, "indexed_at": st.IndexedAt}
	if src, ok := s.sourceStatus(); ok {
		body["source"] = src
	}
	if err := s.health(); err != nil {
		body["status"] = "unavailable"
		body["error"] = err.Error()
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}
