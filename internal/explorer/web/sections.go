package web

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/folio-ledger/folio/internal/explorer"
)

// section returns the hook of a named optional section (nil: absent).
func (s *Server) section(name string) func(context.Context) (*SectionView, error) {
	switch name {
	case "network":
		return s.sections.Network
	case "contracts":
		return s.sections.Contracts
	case "releases":
		return s.sections.Releases
	}
	return nil
}

type sectionData struct {
	Name       string
	Configured bool
	View       *SectionView
}

// what each section will show, for its "not configured" page.
var sectionAbout = map[string]string{
	"network":   "organisations, nodes and their state, Raft roles, the session graph, state-root agreement and certificate expiry",
	"contracts": "contract definitions, effective versions, installs per peer, activations and enclave cache tiers",
	"releases":  "timed releases with their schedules, key servers and access times",
}

func (s *Server) loadSection(r *http.Request, name string) (sectionData, *httpError) {
	d := sectionData{Name: name}
	f := s.section(name)
	if f == nil {
		return d, nil
	}
	v, err := f(r.Context())
	if err != nil {
		if errors.Is(err, explorer.ErrUnavailable) || errors.Is(err, explorer.ErrNotFound) {
			return d, s.storeError(err, "the "+name+" view")
		}
		return d, &httpError{Status: http.StatusBadGateway, Title: "Cannot read the " + name, Detail: err.Error()}
	}
	if v == nil {
		v = &SectionView{}
	}
	d.Configured, d.View = true, v
	return d, nil
}

func (s *Server) sectionPage(name string) http.HandlerFunc {
	title := strings.ToUpper(name[:1]) + name[1:]
	return func(w http.ResponseWriter, r *http.Request) {
		d, e := s.loadSection(r, name)
		if e != nil {
			s.fail(w, r, e)
			return
		}
		s.render(w, r, http.StatusOK, "section", title, title, struct {
			sectionData
			About string
		}{d, sectionAbout[name]})
	}
}

func (s *Server) apiSection(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, e := s.loadSection(r, name)
		if e != nil {
			s.fail(w, r, e)
			return
		}
		if !d.Configured {
			s.fail(w, r, &httpError{Status: http.StatusNotImplemented, Title: name + " not configured"})
			return
		}
		writeJSON(w, http.StatusOK, d.View)
	}
}
