package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/folio-ledger/folio/internal/explorer"
)

// fetchEvidence runs the Evidence hook for the work named in the path,
// bounded in time and in concurrent calls.
func (s *Server) fetchEvidence(r *http.Request) (string, []byte, EvidenceReport, *httpError) {
	id := r.PathValue("id")
	if e := checkText("the work ID", id); e != nil {
		return id, nil, EvidenceReport{}, e
	}
	if s.evidence == nil {
		return id, nil, EvidenceReport{}, &httpError{Status: http.StatusNotImplemented, Title: "Evidence not configured",
			Detail: "This explorer was started without a client identity that can fetch evidence bundles from the peers."}
	}
	select {
	case s.evidenceSlots <- struct{}{}:
		defer func() { <-s.evidenceSlots }()
	case <-r.Context().Done():
		return id, nil, EvidenceReport{}, &httpError{Status: http.StatusServiceUnavailable, Title: "Busy", Detail: "Too many evidence requests at once; try again."}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.EvidenceTimeout)
	defer cancel()
	bundle, rep, err := s.evidence.Evidence(ctx, id)
	switch {
	case err == nil:
		return id, bundle, rep, nil
	case errors.Is(err, explorer.ErrNotFound), errors.Is(err, explorer.ErrUnavailable):
		return id, nil, rep, s.storeError(err, "evidence for work "+strconv.Quote(id))
	default:
		return id, nil, rep, &httpError{Status: http.StatusBadGateway, Title: "Evidence not available",
			Detail: fmt.Sprintf("Fetching the evidence bundle of work %q failed: %v", clip(id), err)}
	}
}

type evidenceData struct {
	ID     string
	Size   int
	Report EvidenceReport
	Failed int
}

func (s *Server) evidencePage(w http.ResponseWriter, r *http.Request) {
	id, bundle, rep, e := s.fetchEvidence(r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	d := evidenceData{ID: id, Size: len(bundle), Report: rep}
	for _, c := range rep.Checks {
		if !c.OK {
			d.Failed++
		}
	}
	s.render(w, r, http.StatusOK, "evidence", "Evidence for "+id, "Works", d)
}

func (s *Server) evidenceBundle(w http.ResponseWriter, r *http.Request) {
	id, bundle, _, e := s.fetchEvidence(r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="evidence-`+fileSafe(id)+`.json"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(bundle)))
	_, _ = w.Write(bundle)
}

// fileSafe keeps a download name to letters, digits, '.', '-' and '_'.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, clip(s))
}
