package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/explorer"
)

const testToken = "0123456789abcdef-test-token"

func newServer(t testing.TB, st explorer.Store, cfg Config, opts ...Option) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := New(st, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func do(t testing.TB, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func expect(t *testing.T, w *httptest.ResponseRecorder, status int, contains ...string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body:\n%s", w.Code, status, w.Body.String())
	}
	for _, c := range contains {
		if !strings.Contains(w.Body.String(), c) {
			t.Errorf("body lacks %q:\n%s", c, w.Body.String())
		}
	}
}

func testEvidence(ctx context.Context, id string) ([]byte, EvidenceReport, error) {
	if id != "BOOK-1" {
		return nil, EvidenceReport{}, fmt.Errorf("work %q: %w", id, explorer.ErrNotFound)
	}
	return []byte(`{"bundle":"BOOK-1"}`), EvidenceReport{Valid: false, Subject: "work BOOK-1", Block: 2, StateRoot: hexOf("root 2"), Checks: []EvidenceCheck{
		{Name: "anchor", OK: true, Detail: "genesis roots of Org1MSP, Org2MSP"},
		{Name: "orderer signatures", OK: true, Detail: "2 of 3 orderers signed block 2"},
		{Name: "state proof", OK: false, Detail: "value does not hash to the state root"},
	}}, nil
}

func TestPagesRender(t *testing.T) {
	st := newFake(40)
	s := newServer(t, st, Config{}, WithEvidence(EvidenceFunc(testEvidence)))
	h := s.Handler()
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/", []string{"Dashboard", `data-stat="height">40<`, "MVCC_READ_CONFLICT", "Org1MSP", "<svg", "<rect", `href="/blocks/39"`, `data-live="1"`, "Network", "Contracts", "Releases"}},
		{"/blocks", []string{`href="/blocks/39"`, `href="/blocks/15"`, "/blocks?before=15", "data-live-blocks"}},
		{"/blocks?before=15", []string{`href="/blocks/14"`, `href="/blocks/0"`, "← Newest"}},
		{"/blocks/2", []string{blockHash(2), blockHash(1), "orderer0@OrdererOrg", "MVCC_READ_CONFLICT", "/tx/" + txID(2, 1), "Previous block", "Next block"}},
		{"/blocks/" + blockHash(5), []string{"Block 5"}},
		{"/tx/" + txID(2, 1), []string{"MVCC_READ_CONFLICT", "a key it read was changed", "copyright.register", `href="/works/BOOK-1"`, "1:0", "peer0@Org1", `href="/blocks/2"`}},
		{"/works", []string{"BOOK-1", "SONG-1", "Another &lt;Book&gt;", `id="hash-file"`, "All works"}},
		{"/works?owner=Org1MSP", []string{"BOOK-1", "BOOK-2", "Matching works"}},
		{"/works?hash=" + contentHash("SONG-1"), []string{"SONG-1"}},
		{"/works/BOOK-1", []string{"A Book", contentHash("BOOK-1"), "register", "transfer", "peer0@Org2", "/works/BOOK-1/evidence"}},
		{"/works/BOOK-1/evidence", []string{"does NOT verify", "1 of 3 checks failed", "orderer signatures", "FAIL", "state proof", "/works/BOOK-1/evidence/bundle"}},
		{"/network", []string{"Not configured", "certificate expiry"}},
		{"/contracts", []string{"Not configured"}},
		{"/releases", []string{"Not configured"}},
		{"/login", []string{"needs no token"}},
		{"/healthz", []string{`"status":"ok"`, `"height":40`}},
		{"/static/style.css", []string{"--ok"}},
		{"/static/app.js", []string{"crypto.subtle.digest"}},
		{"/chart.svg", []string{"<svg", "Transactions per second"}},
	} {
		t.Run(c.path, func(t *testing.T) { expect(t, do(t, h, c.path), http.StatusOK, c.want...) })
	}
	// A work absent from the list does not show: the listing filtered.
	if b := do(t, h, "/works?owner=Org2MSP").Body.String(); strings.Contains(b, "BOOK-1") {
		t.Error("owner filter lists BOOK-1")
	}
}

func TestSearch(t *testing.T) {
	st := newFake(10)
	h := newServer(t, st, Config{}).Handler()
	for _, c := range []struct{ q, location string }{
		{"7", "/blocks/7"},
		{blockHash(3), "/blocks/3"},
		{strings.ToUpper(blockHash(3)), "/blocks/3"},
		{txID(4, 1), "/tx/" + txID(4, 1)},
		{"BOOK-2", "/works/BOOK-2"},
		{"Bob", "/works/BOOK-2"},
		{"Org2MSP", "/works/SONG-1"},
		{contentHash("SONG-1"), "/works/SONG-1"},
		{strings.TrimPrefix(contentHash("BOOK-1"), "sha256:"), "/works/BOOK-1"},
	} {
		w := do(t, h, "/search?q="+url.QueryEscape(c.q))
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != c.location {
			t.Errorf("search %q: %d to %q, want 303 to %q", c.q, w.Code, w.Header().Get("Location"), c.location)
		}
	}
	// Several matches are listed.
	expect(t, do(t, h, "/search?q=Ada"), http.StatusOK, "2 results", `href="/works/BOOK-1"`, `href="/works/SONG-1"`, "author")
	expect(t, do(t, h, "/search?q=Org1MSP"), http.StatusOK, "BOOK-1", "BOOK-2")
	// None, and malformed.
	expect(t, do(t, h, "/search?q=NOPE-9"), http.StatusNotFound, "Nothing matches", "NOPE-9")
	expect(t, do(t, h, "/search?q=999"), http.StatusNotFound, "Nothing matches")
	expect(t, do(t, h, "/search?q="), http.StatusBadRequest, "Type a work ID")
	expect(t, do(t, h, "/search?q=a%00b"), http.StatusBadRequest, "control characters")
	expect(t, do(t, h, "/search?q="+strings.Repeat("x", 300)), http.StatusBadRequest, "at most 256")

	var got struct {
		Results []hit `json:"results"`
	}
	w := do(t, h, "/api/search?q=Ada")
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || len(got.Results) != 2 {
		t.Fatalf("api search: %v %+v", err, got)
	}
}

func TestErrorPages(t *testing.T) {
	h := newServer(t, newFake(5), Config{}).Handler()
	for _, c := range []struct {
		path   string
		status int
		want   []string
	}{
		{"/blocks/99", 404, []string{"no block 99"}},
		{"/blocks/" + hexOf("nothing"), 404, []string{"no block with hash " + hexOf("nothing")}},
		{"/tx/" + hexOf("nothing"), 404, []string{"no transaction " + hexOf("nothing")}},
		{"/works/NOPE-1", 404, []string{`no work &#34;NOPE-1&#34;`}},
		{"/no/such/page", 404, []string{"There is no page at", "/no/such/page"}},
		{"/blocks/abc", 400, []string{"&#34;abc&#34; is not a block number"}},
		{"/blocks/-1", 400, []string{"not a block number"}},
		{"/blocks?before=x", 400, []string{"not a block number"}},
		{"/blocks?limit=0", 400, []string{"not a positive integer"}},
		{"/tx/xyz", 400, []string{"not a transaction ID"}},
		{"/works?hash=sha256:beef", 400, []string{"not a content hash"}},
		{"/works/BOOK-1/evidence", 501, []string{"Evidence not configured"}},
		{"/blocks?q=" + strings.Repeat("a", 3000), 400, []string{"query string is"}},
		{"/api/blocks/99", 404, []string{`"status":404`, "no block 99"}},
		{"/api/tx/zz", 400, []string{`"status":400`}},
		{"/api/rates?window=forever", 400, []string{"not a duration"}},
		{"/api/network", 501, []string{"not configured"}},
	} {
		t.Run(c.path[:min(len(c.path), 40)], func(t *testing.T) { expect(t, do(t, h, c.path), c.status, c.want...) })
	}
}

func TestUnavailable(t *testing.T) {
	st := newFake(5)
	h := newServer(t, st, Config{}).Handler()
	st.mu.Lock()
	st.health = errors.New("peer0.org1: connection refused")
	st.mu.Unlock()
	expect(t, do(t, h, "/healthz"), http.StatusServiceUnavailable, "connection refused")
	expect(t, do(t, h, "/"), http.StatusOK, "Source unreachable: peer0.org1: connection refused")

	st.setErr(fmt.Errorf("index: %w: peer0.org1 down", explorer.ErrUnavailable))
	for _, p := range []string{"/blocks/1", "/tx/" + txID(1, 0), "/works/BOOK-1", "/works", "/blocks", "/", "/search?q=BOOK-1", "/api/works/BOOK-1"} {
		w := do(t, h, p)
		expect(t, w, http.StatusServiceUnavailable, "peer0.org1 down")
		if w.Header().Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", p)
		}
	}
}

func TestAPI(t *testing.T) {
	st := newFake(12)
	h := newServer(t, st, Config{}).Handler()
	decode := func(path string, v any) {
		t.Helper()
		w := do(t, h, path)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var stats struct {
		explorer.Stats
		Lag string `json:"lag"`
	}
	decode("/api/stats", &stats)
	if stats.Height != 12 || stats.Txs != 24 || stats.Invalid["MVCC_READ_CONFLICT"] != 4 || stats.Lag != "40ms" {
		t.Errorf("stats %+v", stats)
	}
	var blocks struct {
		Blocks []explorer.BlockSummary `json:"blocks"`
		Next   uint64                  `json:"next_before"`
	}
	decode("/api/blocks?limit=5&before=11", &blocks)
	if len(blocks.Blocks) != 5 || blocks.Blocks[0].Number != 10 || blocks.Next != 6 {
		t.Errorf("blocks %+v", blocks)
	}
	var b explorer.BlockSummary
	decode("/api/blocks/3", &b)
	if b.Hash != blockHash(3) {
		t.Errorf("block %+v", b)
	}
	var tx explorer.TxSummary
	decode("/api/tx/"+txID(3, 1), &tx)
	if tx.Block != 3 || tx.Index != 1 {
		t.Errorf("tx %+v", tx)
	}
	var work struct {
		Work       explorer.Work              `json:"work"`
		Provenance []explorer.ProvenanceEntry `json:"provenance"`
	}
	decode("/api/works/BOOK-1", &work)
	if work.Work.Title != "A Book" || len(work.Provenance) != 2 {
		t.Errorf("work %+v", work)
	}
	var works struct {
		Works []explorer.Work `json:"works"`
	}
	decode("/api/works?author=Ada&limit=1", &works)
	if len(works.Works) != 1 || works.Works[0].ID != "BOOK-1" {
		t.Errorf("works %+v", works)
	}
	var rates struct {
		Rates []explorer.Rate `json:"rates"`
	}
	decode("/api/rates?window=1m", &rates)
	if len(rates.Rates) == 0 {
		t.Error("no rates")
	}
}

func TestEvidence(t *testing.T) {
	h := newServer(t, newFake(3), Config{}, WithEvidence(EvidenceFunc(testEvidence))).Handler()
	w := do(t, h, "/works/BOOK-1/evidence/bundle")
	expect(t, w, http.StatusOK)
	if w.Body.String() != `{"bundle":"BOOK-1"}` || w.Header().Get("Content-Disposition") != `attachment; filename="evidence-BOOK-1.json"` {
		t.Errorf("bundle %q, disposition %q", w.Body, w.Header().Get("Content-Disposition"))
	}
	expect(t, do(t, h, "/works/NOPE/evidence"), http.StatusNotFound, "evidence for work")

	valid := EvidenceFunc(func(ctx context.Context, id string) ([]byte, EvidenceReport, error) {
		return []byte("{}"), EvidenceReport{Valid: true, Checks: []EvidenceCheck{{Name: "anchor", OK: true, Detail: "roots"}}}, nil
	})
	h = newServer(t, newFake(3), Config{}, WithEvidence(valid)).Handler()
	expect(t, do(t, h, "/works/BOOK-1/evidence"), http.StatusOK, "The evidence verifies: all 1 checks pass", ">ok<")

	broken := EvidenceFunc(func(ctx context.Context, id string) ([]byte, EvidenceReport, error) {
		return nil, EvidenceReport{}, errors.New("prove: deadline exceeded")
	})
	h = newServer(t, newFake(3), Config{}, WithEvidence(broken)).Handler()
	expect(t, do(t, h, "/works/BOOK-1/evidence"), http.StatusBadGateway, "deadline exceeded")
}

func TestSections(t *testing.T) {
	net := func(ctx context.Context) (*SectionView, error) {
		return &SectionView{Warnings: []string{"peer1 certificate expires in 9 days"}, Tables: []Table{{
			Caption: "Nodes", Columns: []string{"Node", "State"},
			Rows: [][]Cell{{{Text: "peer0.org1", Href: "/network?node=peer0.org1"}, {Text: "up", Status: "ok"}}},
		}}}, nil
	}
	h := newServer(t, newFake(3), Config{}, WithSections(Sections{Network: net})).Handler()
	expect(t, do(t, h, "/network"), http.StatusOK, "expires in 9 days", "<caption>Nodes</caption>", `<td class="ok">up</td>`, "peer0.org1")
	expect(t, do(t, h, "/releases"), http.StatusOK, "Not configured")
	expect(t, do(t, h, "/api/network"), http.StatusOK, `"caption":"Nodes"`)
}

// readEvent reads one server-sent event (its name and data).
func readEvent(t *testing.T, r *bufio.Reader) (string, string) {
	t.Helper()
	var name, data string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		}
	}
}

func TestEventsDeliverBlocks(t *testing.T) {
	st := newFake(5)
	ts := httptest.NewServer(newServer(t, st, Config{}).Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	// The hello comes after the stream took Changed: a block added now is
	// not missed.
	if name, data := readEvent(t, r); name != "hello" || !strings.Contains(data, `"height":5`) {
		t.Fatalf("first event %s %s", name, data)
	}
	for want := uint64(5); want < 7; want++ {
		st.addBlock()
		name, data := readEvent(t, r)
		var ev blockEvent
		if err := json.Unmarshal([]byte(data), &ev); err != nil || name != "block" || ev.Block == nil {
			t.Fatalf("event %s %s: %v", name, data, err)
		}
		if ev.Block.Number != want || ev.Block.Hash != blockHash(want) || ev.Stats.Height != want+1 {
			t.Fatalf("event for block %d: %+v", want, ev)
		}
	}
}

func TestEventsBounded(t *testing.T) {
	st := newFake(2)
	ts := httptest.NewServer(newServer(t, st, Config{MaxEventClients: 1}).Handler())
	defer ts.Close()
	first, err := http.Get(ts.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Body.Close()
	readEvent(t, bufio.NewReader(first.Body)) // the first stream holds its slot now
	second, err := http.Get(ts.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(second.Body)
	second.Body.Close()
	if second.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "Too many live clients") {
		t.Fatalf("second stream: %d %s", second.StatusCode, body)
	}
}

// TestServeStops: cancelling Serve's context ends open event streams and
// Serve returns nil.
func TestServeStops(t *testing.T) {
	st := newFake(2)
	s := newServer(t, st, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	readEvent(t, r)
	cancel()
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestAccessConfig(t *testing.T) {
	st := newFake(1)
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Addr: "0.0.0.0:8080"}, "needs an access token"},
		{Config{Addr: ":8080"}, "needs an access token"},
		{Config{Addr: "explorer.example.org:8080"}, "needs an access token"},
		{Config{Addr: "0.0.0.0:8080", Token: "short"}, "too short"},
		{Config{Addr: "127.0.0.1:8080", ClientCAs: x509Pool()}, "need a TLS configuration"},
		{Config{Addr: "nonsense"}, "address"},
	} {
		if _, err := New(st, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	for _, addr := range []string{"127.0.0.1:8080", "[::1]:8080", "localhost:8080"} {
		if _, err := New(st, Config{Addr: addr}); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	// Serve checks the listener it is given, whatever Addr said.
	s := newServer(t, st, Config{Addr: "127.0.0.1:0"})
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skip("cannot listen on 0.0.0.0:", err)
	}
	if err := s.Serve(context.Background(), ln); !errors.Is(err, ErrUnprotected) {
		t.Errorf("Serve on %s: %v", ln.Addr(), err)
	}
}

func TestTokenEnforced(t *testing.T) {
	h := newServer(t, newFake(3), Config{Addr: "0.0.0.0:8080", Token: testToken}).Handler()
	expect(t, do(t, h, "/blocks"), http.StatusUnauthorized, "Access token needed")
	expect(t, do(t, h, "/api/stats"), http.StatusUnauthorized, `"status":401`)
	expect(t, do(t, h, "/events"), http.StatusUnauthorized)
	expect(t, do(t, h, "/blocks", "Authorization", "Bearer wrong-token-of-some-length"), http.StatusUnauthorized)
	expect(t, do(t, h, "/blocks", "Authorization", "Bearer "+testToken), http.StatusOK, "/blocks/2")
	expect(t, do(t, h, "/healthz"), http.StatusOK)
	expect(t, do(t, h, "/static/style.css"), http.StatusOK)
	expect(t, do(t, h, "/login"), http.StatusOK, `type="password"`)
	expect(t, do(t, h, "/login?token=wrong-token-of-some-length"), http.StatusUnauthorized, "not this explorer")

	w := do(t, h, "/login?token="+testToken)
	if w.Code != http.StatusSeeOther || len(w.Result().Cookies()) != 1 {
		t.Fatalf("login: %d %v", w.Code, w.Result().Cookies())
	}
	c := w.Result().Cookies()[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || strings.Contains(c.Value, testToken) {
		t.Errorf("cookie %+v", c)
	}
	expect(t, do(t, h, "/works", "Cookie", c.Name+"="+c.Value), http.StatusOK, "BOOK-1")
	expect(t, do(t, h, "/works", "Cookie", c.Name+"="+hexOf("other")), http.StatusUnauthorized)

	// The login form posts the token.
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader("token="+testToken))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	pw := httptest.NewRecorder()
	h.ServeHTTP(pw, r)
	if pw.Code != http.StatusSeeOther || len(pw.Result().Cookies()) != 1 {
		t.Errorf("login form: %d", pw.Code)
	}
}

func TestChart(t *testing.T) {
	now := epoch.Add(10 * time.Minute)
	svg := string(renderChart([]explorer.Rate{{At: now.Add(-10 * time.Second), Valid: 50, Invalid: 5}, {At: now.Add(-time.Hour), Valid: 1000}}, 5*time.Minute, now))
	for _, want := range []string{"peak 11.0", `fill="` + colorValid + `"`, `fill="` + colorInvalid + `"`, ">20<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q:\n%s", want, svg)
		}
	}
	if empty := string(renderChart(nil, time.Minute, now)); !strings.Contains(empty, "no transactions in the last 1m0s") {
		t.Errorf("empty chart: %s", empty)
	}
}

func TestWorksPaginationAndOddIDs(t *testing.T) {
	st := newFake(3)
	odd := explorer.Work{ID: "A/B C?&", Title: "Odd", Author: "Ada", Owner: "Org1MSP", ContentHash: contentHash("odd"), Block: 1, TxID: txID(1, 0)}
	st.works[odd.ID] = odd
	h := newServer(t, st, Config{}, WithEvidence(EvidenceFunc(testEvidence))).Handler()
	expect(t, do(t, h, "/works?limit=2"), http.StatusOK, `href="/works/A%2FB%20C%3F&amp;"`, "BOOK-1", `href="/works?after=BOOK-1&amp;limit=2"`)
	w := do(t, h, "/works?after=BOOK-1&limit=2")
	expect(t, w, http.StatusOK, "BOOK-2", "SONG-1")
	if strings.Contains(w.Body.String(), ">BOOK-1<") {
		t.Error("second page repeats BOOK-1")
	}
	expect(t, do(t, h, "/works/A%2FB%20C%3F&"), http.StatusOK, "Odd", `href="/works/A%2FB%20C%3F&amp;/evidence`)
	loc := do(t, h, "/search?q="+url.QueryEscape(odd.ID)).Header().Get("Location")
	if loc != "/works/"+url.PathEscape(odd.ID) {
		t.Errorf("search redirects to %q", loc)
	}
}

func TestMethods(t *testing.T) {
	h := newServer(t, newFake(2), Config{}).Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/blocks", strings.NewReader("x")))
	expect(t, w, http.StatusMethodNotAllowed, "only reads")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodHead, "/blocks/1", nil))
	expect(t, w, http.StatusOK)
}
