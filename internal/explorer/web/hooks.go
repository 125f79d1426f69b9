package web

import "context"

// Evidence fetches a work's evidence bundle from the network and verifies
// it offline (the cmd wiring implements it with client/evidence). An error
// means no bundle could be had: wrapping explorer.ErrNotFound answers 404,
// explorer.ErrUnavailable 503, anything else 502. A bundle that does not
// verify is not an error: it comes back with report.Valid false and the
// failed checks, so the page can show them. Called concurrently.
type Evidence interface {
	Evidence(ctx context.Context, workID string) (bundle []byte, report EvidenceReport, err error)
}

// EvidenceFunc adapts a function to Evidence.
type EvidenceFunc func(ctx context.Context, workID string) ([]byte, EvidenceReport, error)

// Evidence calls f.
func (f EvidenceFunc) Evidence(ctx context.Context, workID string) ([]byte, EvidenceReport, error) {
	return f(ctx, workID)
}

// EvidenceReport is the offline verification of a bundle, check by check.
type EvidenceReport struct {
	Valid bool `json:"valid"`
	// Subject names what the bundle proves ("work BOOK-1").
	Subject   string          `json:"subject"`
	Block     uint64          `json:"block"`
	StateRoot string          `json:"state_root"`
	Checks    []EvidenceCheck `json:"checks"`
}

// EvidenceCheck is one verified statement or the reason it failed.
type EvidenceCheck struct {
	Name   string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Sections are the optional pages that read the network rather than the
// index: network topology and health, contracts, timed releases. Each nil
// function renders "not configured". They are called per request with
// the request's context and must be safe for concurrent use.
type Sections struct {
	Network   func(ctx context.Context) (*SectionView, error)
	Contracts func(ctx context.Context) (*SectionView, error)
	Releases  func(ctx context.Context) (*SectionView, error)
}

// SectionView is a section's content as generic tables, so a section can
// be added without a template of its own; a richer view can replace it.
type SectionView struct {
	// Notes are paragraphs above the tables ("read as admin@Org1").
	Notes []string `json:"notes,omitempty"`
	// Warnings are shown highlighted ("peer1 certificate expires in 9 days").
	Warnings []string `json:"warnings,omitempty"`
	Tables   []Table  `json:"tables"`
}

// Table is one captioned table of a section.
type Table struct {
	Caption string   `json:"caption"`
	Columns []string `json:"columns"`
	Rows    [][]Cell `json:"rows"`
}

// Cell is one table cell: text, an optional local link, an optional
// status ("ok", "warn", "fail") that colours it.
type Cell struct {
	Text   string `json:"text"`
	Href   string `json:"href,omitempty"`
	Status string `json:"status,omitempty"`
}

// Option configures a Server beyond its Config.
type Option func(*Server)

// WithEvidence sets the evidence hook; without it the evidence page says
// evidence is not configured.
func WithEvidence(e Evidence) Option { return func(s *Server) { s.evidence = e } }

// WithSections sets the optional network, contracts and releases pages.
func WithSections(sec Sections) Option { return func(s *Server) { s.sections = sec } }
