package web

import (
	"io/fs"
	"net/http"
)

// routes maps the stable URLs (see doc.go) to their handlers. GET
// patterns also answer HEAD.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assetFS, "assets")
	files := http.FileServerFS(static)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Links carry ?v=assetVersion, so a changed asset has a new URL.
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /login", s.login)
	mux.HandleFunc("POST /login", s.login)

	mux.HandleFunc("GET /{$}", s.dashboard)
	mux.HandleFunc("GET /chart.svg", s.chartSVG)
	mux.HandleFunc("GET /latency.svg", s.latencySVG)
	mux.HandleFunc("GET /blocks", s.blocksPage)
	mux.HandleFunc("GET /blocks/{ref}", s.blockPage)
	mux.HandleFunc("GET /tx/{id}", s.txPage)
	mux.HandleFunc("GET /works", s.worksPage)
	mux.HandleFunc("GET /works/{id}", s.workPage)
	mux.HandleFunc("GET /works/{id}/evidence", s.evidencePage)
	mux.HandleFunc("GET /works/{id}/evidence/bundle", s.evidenceBundle)
	mux.HandleFunc("GET /search", s.searchPage)
	mux.HandleFunc("GET /network", s.sectionPage("network"))
	mux.HandleFunc("GET /contracts", s.sectionPage("contracts"))
	mux.HandleFunc("GET /releases", s.sectionPage("releases"))
	mux.HandleFunc("GET /events", s.eventStream)

	mux.HandleFunc("GET /api/stats", s.apiStats)
	mux.HandleFunc("GET /api/rates", s.apiRates)
	mux.HandleFunc("GET /api/blocks", s.apiBlocks)
	mux.HandleFunc("GET /api/blocks/{ref}", s.apiBlock)
	mux.HandleFunc("GET /api/tx/{id}", s.apiTx)
	mux.HandleFunc("GET /api/works", s.apiWorks)
	mux.HandleFunc("GET /api/works/{id}", s.apiWork)
	mux.HandleFunc("GET /api/search", s.apiSearch)
	mux.HandleFunc("GET /api/network", s.apiSection("network"))
	mux.HandleFunc("GET /api/contracts", s.apiSection("contracts"))
	mux.HandleFunc("GET /api/releases", s.apiSection("releases"))

	// Everything else: a 404 page naming the path, not net/http's plain text.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			s.fail(w, r, &httpError{Status: http.StatusMethodNotAllowed, Title: "Method not allowed", Detail: "The explorer only reads: use GET."})
			return
		}
		s.fail(w, r, notFound("There is no page at %q. Try the search box, or start from the dashboard.", clip(r.URL.Path)))
	})
	return s.guard(mux)
}
