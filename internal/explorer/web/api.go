package web

import (
	"net/http"
	"time"

	"github.com/folio-ledger/folio/internal/explorer"
)

// maxRateWindow bounds /api/rates?window=.
const maxRateWindow = time.Hour

func (s *Server) apiStats(w http.ResponseWriter, r *http.Request) {
	st := s.store.Stats()
	body := struct {
		explorer.Stats
		Lag     string                 `json:"lag"`
		Latency explorer.Latency       `json:"latency"`
		Source  *explorer.SourceStatus `json:"source,omitempty"`
	}{Stats: st, Lag: lag(st), Latency: s.store.Latency(chartWindow)}
	if src, ok := s.sourceStatus(); ok {
		body.Source = &src
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) apiRates(w http.ResponseWriter, r *http.Request) {
	window := chartWindow
	if v := r.URL.Query().Get("window"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > maxRateWindow {
			s.fail(w, r, badRequest("window %q is not a duration between 1s and %s (e.g. 5m).", clip(v), maxRateWindow))
			return
		}
		window = d
	}
	// Each point carries its second's latency percentiles (p50_ms, ...);
	// "latency" is the whole window's.
	writeJSON(w, http.StatusOK, map[string]any{"window": window.String(), "rates": s.store.Rates(window), "latency": s.store.Latency(window)})
}

func (s *Server) apiBlocks(w http.ResponseWriter, r *http.Request) {
	d, e := s.listBlocks(r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"blocks": d.Blocks, "next_before": d.NextBefore})
}

func (s *Server) apiBlock(w http.ResponseWriter, r *http.Request) {
	b, e := s.findBlock(r.PathValue("ref"))
	if e != nil {
		s.fail(w, r, e)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) apiTx(w http.ResponseWriter, r *http.Request) {
	t, e := s.findTx(r.PathValue("id"))
	if e != nil {
		s.fail(w, r, e)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) apiWorks(w http.ResponseWriter, r *http.Request) {
	_, _, ws, e := s.findWorks(r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	if ws == nil {
		ws = []explorer.Work{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"works": ws})
}

func (s *Server) apiWork(w http.ResponseWriter, r *http.Request) {
	wk, prov, e := s.findWork(r.PathValue("id"))
	if e != nil {
		s.fail(w, r, e)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"work": wk, "provenance": prov})
}
