package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/internal/explorer"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// assetVersion changes whenever an embedded asset does, so pages can let
// browsers cache /static/ files and still get new ones after an upgrade.
var assetVersion = func() string {
	h := sha256.New()
	_ = fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assetFS.ReadFile(p)
		h.Write([]byte(p))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

// pages are the page templates, each parsed with the shared layout.
var pages = []string{"dashboard", "blocks", "block", "tx", "works", "work", "evidence", "search", "section", "error", "login"}

type templates struct{ page map[string]*template.Template }

func parseTemplates() (*templates, error) {
	base, err := template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("explorer: templates: %w", err)
	}
	t := &templates{page: map[string]*template.Template{}}
	for _, p := range pages {
		c, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := c.ParseFS(templateFS, "templates/"+p+".html"); err != nil {
			return nil, fmt.Errorf("explorer: template %s: %w", p, err)
		}
		t.page[p] = c
	}
	return t, nil
}

var funcs = template.FuncMap{
	"ts":     formatTime,
	"short":  shortHash,
	"seg":    url.PathEscape,
	"reason": reason,
	"key":    readableKey,
	"workOf": workOfKey,
	"join":   strings.Join,
	"sub":    func(a, b int) int { return a - b },
	"num":    func(n any) string { return group(fmt.Sprint(n)) },
	"asset":  func(name string) string { return "/static/" + name + "?v=" + assetVersion },
	"ms":     formatMs,
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// shortHash keeps the start of a long hex string; the full value is in
// the element's title and the detail page.
func shortHash(s string) string {
	if len(s) <= 16 {
		return s
	}
	return s[:12] + "…"
}

// group writes an integer with thin thousands separators.
func group(s string) string {
	if len(s) <= 3 || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(r)
	}
	return b.String()
}

// readableKey shows a composite key as its parts ("work BOOK-1"), any
// other key as is.
func readableKey(k string) string {
	if strings.HasPrefix(k, "\x00") {
		if typ, attrs, err := contract.SplitCompositeKey(k); err == nil {
			return strings.Join(append([]string{typ}, attrs...), " ")
		}
	}
	return k
}

// workOfKey returns the work ID a key of the copyright contract stores
// (composite key "work" + ID), or "".
func workOfKey(k string) string {
	if !strings.HasPrefix(k, "\x00") {
		return ""
	}
	typ, attrs, err := contract.SplitCompositeKey(k)
	if err != nil || typ != "work" || len(attrs) != 1 {
		return ""
	}
	return attrs[0]
}

// reasons explain the invalid validation codes people meet most.
var reasons = map[string]string{
	"VALID":                          "valid: its writes were applied",
	"MVCC_READ_CONFLICT":             "a key it read was changed by an earlier transaction before it committed; submit it again",
	"PHANTOM_READ_CONFLICT":          "a range it read gained or lost keys before it committed",
	"ENDORSEMENT_POLICY_FAILURE":     "its endorsements do not satisfy the contract's endorsement policy",
	"DUPLICATE_TXID":                 "a transaction with the same ID was committed before",
	"BAD_CREATOR_SIGNATURE":          "the creator's signature does not verify",
	"BAD_CREATOR_IDENTITY":           "the creator's certificate is unknown to the channel, expired or revoked",
	"CONTRACT_VERSION_NOT_EFFECTIVE": "the endorsed contract version is not the one effective at this block",
	"CONTRACT_VERSION_CONFLICT":      "endorsed by different contract versions",
	"LIFECYCLE_REJECTED":             "a lifecycle transaction was refused",
	"TOO_EARLY":                      "committed before the time the contract required; may succeed if submitted again later",
	"INVALID_WRITESET":               "its write set is not acceptable",
	"ILLEGAL_WRITESET":               "it writes where it may not",
	"BAD_RWSET":                      "its read/write set is malformed",
	"INVALID_CONFIG_TRANSACTION":     "a configuration update that the channel's rules refuse",
	"EXPIRED_CONTRACT":               "the contract has expired",
	"INVALID_OTHER_REASON":           "refused for another reason",
	"NOT_VALIDATED":                  "not validated",
}

func reason(code string) string {
	if r, ok := reasons[code]; ok {
		return r
	}
	return "refused by validation (" + code + ")"
}

// pageData is what every page template gets.
type pageData struct {
	Title  string
	Active string // nav entry
	Query  string // the header search box
	// Live marks pages whose script follows /events.
	Live bool
	Nav  []navItem
	Data any
}

type navItem struct{ Name, Href string }

// nav lists every section, including the optional ones (they say "not
// configured" when their hook is absent).
var nav = []navItem{
	{"Dashboard", "/"}, {"Blocks", "/blocks"}, {"Works", "/works"},
	{"Network", "/network"}, {"Contracts", "/contracts"}, {"Releases", "/releases"},
}

// render executes a page into a buffer first, so a template error is a
// clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page, title, active string, data any) {
	s.renderPage(w, r, status, page, pageData{Title: title, Active: active, Data: data})
}

func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, page string, d pageData) {
	t := s.tmpl.page[page]
	d.Nav = nav
	if d.Query == "" {
		d.Query = r.URL.Query().Get("q")
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		s.cfg.Logger.Error("explorer: render", "page", page, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// httpError is an error page: status, a title and what was asked.
type httpError struct {
	Status int    `json:"status"`
	Title  string `json:"error"`
	Detail string `json:"detail,omitempty"`
}

func (e *httpError) Error() string { return e.Title + ": " + e.Detail }

func badRequest(format string, args ...any) *httpError {
	return &httpError{Status: http.StatusBadRequest, Title: "Malformed request", Detail: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *httpError {
	return &httpError{Status: http.StatusNotFound, Title: "Not found", Detail: fmt.Sprintf(format, args...)}
}

// storeError turns a Store error about what (e.g. `block 42`) into a page.
func (s *Server) storeError(err error, what string) *httpError {
	switch {
	case errors.Is(err, explorer.ErrNotFound):
		return notFound("The index holds no %s.", what)
	case errors.Is(err, explorer.ErrUnavailable):
		return &httpError{Status: http.StatusServiceUnavailable, Title: "Source unreachable",
			Detail: fmt.Sprintf("Cannot read %s now: %v. Try again when the network is back.", what, err)}
	default:
		s.cfg.Logger.Error("explorer: store", "what", what, "err", err)
		return &httpError{Status: http.StatusInternalServerError, Title: "Internal error", Detail: fmt.Sprintf("Reading %s failed.", what)}
	}
}

// fail answers with an error page, or JSON under /api/.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, e *httpError) {
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/events" {
		writeJSON(w, e.Status, e)
		return
	}
	s.render(w, r, e.Status, "error", strconv.Itoa(e.Status)+" "+e.Title, "", e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"internal error encoding the answer"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// formatMs shows a latency in milliseconds, "—" when nothing was measured.
func formatMs(v float64, count int) string {
	if count == 0 {
		return "—"
	}
	if v >= 10000 {
		return strconv.FormatFloat(v/1000, 'f', 1, 64) + " s"
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + " ms"
}
