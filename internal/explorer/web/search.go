package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/folio-ledger/folio/internal/explorer"
)

// maxHits bounds a search's results.
const maxHits = 50

// hit is one search result.
type hit struct {
	Kind   string `json:"kind"` // block, tx, work
	Label  string `json:"label"`
	Detail string `json:"detail,omitempty"`
	Href   string `json:"href"`
}

// search finds what q names: a block by number or hash, a transaction by
// ID, works by ID, owner, author or content hash. Unknown names are not
// errors; an unreachable source is.
func (s *Server) search(q string) ([]hit, *httpError) {
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, badRequest("Type a work ID, owner, author, content hash, block number or hash, or transaction ID.")
	}
	if e := checkText("the search", q); e != nil {
		return nil, e
	}
	var hits []hit
	seen := map[string]bool{}
	var unavailable error
	// keep records a store error: not-found is no match, unreachable
	// fails the search, anything else is logged and skipped.
	keep := func(err error) bool {
		switch {
		case err == nil:
			return true
		case errors.Is(err, explorer.ErrUnavailable):
			unavailable = err
		case !errors.Is(err, explorer.ErrNotFound):
			s.cfg.Logger.Warn("explorer: search", "q", q, "err", err)
		}
		return false
	}
	addWork := func(w explorer.Work, why string) {
		if seen["w"+w.ID] || len(hits) >= maxHits {
			return
		}
		seen["w"+w.ID] = true
		hits = append(hits, hit{Kind: "work", Label: w.ID + " — " + w.Title, Detail: why + "; owner " + w.Owner + ", author " + w.Author, Href: "/works/" + pathSeg(w.ID)})
	}
	if n, err := strconv.ParseUint(q, 10, 64); err == nil {
		if b, err := s.store.Block(n); keep(err) {
			hits = append(hits, hit{Kind: "block", Label: "Block " + strconv.FormatUint(b.Number, 10), Detail: strconv.Itoa(b.Txs) + " transactions", Href: "/blocks/" + strconv.FormatUint(b.Number, 10)})
		}
	}
	if h, ok := normHex64(strings.TrimPrefix(q, "sha256:")); ok {
		if b, err := s.store.BlockByHash(h); keep(err) {
			hits = append(hits, hit{Kind: "block", Label: "Block " + strconv.FormatUint(b.Number, 10), Detail: "header hash " + h, Href: "/blocks/" + strconv.FormatUint(b.Number, 10)})
		}
		if t, err := s.store.Tx(h); keep(err) {
			hits = append(hits, hit{Kind: "tx", Label: "Transaction " + shortHash(t.ID), Detail: t.Function + " by " + t.Creator + " in block " + strconv.FormatUint(t.Block, 10), Href: "/tx/" + t.ID})
		}
		if ws, err := s.store.Works(explorer.WorkQuery{ContentHash: "sha256:" + h, Limit: maxHits}); keep(err) {
			for _, w := range ws {
				addWork(w, "content hash")
			}
		}
	}
	if w, _, err := s.store.Work(q); keep(err) {
		addWork(w, "registration number")
	}
	for _, f := range []struct {
		why string
		q   explorer.WorkQuery
	}{
		{"owner", explorer.WorkQuery{Owner: q, Limit: maxHits}},
		{"author", explorer.WorkQuery{Author: q, Limit: maxHits}},
	} {
		if ws, err := s.store.Works(f.q); keep(err) {
			for _, w := range ws {
				addWork(w, f.why)
			}
		}
	}
	if len(hits) == 0 && unavailable != nil {
		return nil, s.storeError(unavailable, "search results")
	}
	return hits, nil
}

type searchData struct {
	Query string
	Hits  []hit
	Full  bool // maxHits reached: there may be more
}

func (s *Server) searchPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	hits, e := s.search(q)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	switch len(hits) {
	case 0:
		s.fail(w, r, notFound("Nothing matches %q: no block number or hash, transaction ID, work ID, owner, author or content hash.", clip(strings.TrimSpace(q))))
	case 1:
		http.Redirect(w, r, hits[0].Href, http.StatusSeeOther)
	default:
		s.render(w, r, http.StatusOK, "search", "Search: "+clip(q), "", searchData{Query: q, Hits: hits, Full: len(hits) >= maxHits})
	}
}

func (s *Server) apiSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	hits, e := s.search(q)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"query": q, "results": hits})
}
