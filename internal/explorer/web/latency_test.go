package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/explorer"
)

// TestLatencyChart: the latency chart draws p50, p95 and p99 as lines
// scaled to the highest p99, gaps where no second had a latency, and a
// notice when there is nothing to draw.
func TestLatencyChart(t *testing.T) {
	now := epoch.Add(10 * time.Minute)
	var rates []explorer.Rate
	for s := 1; s <= 30; s++ { // the last 30 s: p99 up to 150 ms
		rates = append(rates, explorer.Rate{At: now.Add(-time.Duration(s) * time.Second), Valid: 3, P50: 20, P95: 80, P99: float64(120 + s)})
	}
	// A lone second a minute earlier (a dot), and a second without any
	// latency (the genesis block's configuration): no point.
	rates = append(rates, explorer.Rate{At: now.Add(-90 * time.Second), Valid: 1, P50: 10, P95: 10, P99: 10},
		explorer.Rate{At: now.Add(-200 * time.Second), Valid: 1})
	svg := string(renderLatencyChart(rates, 5*time.Minute, now))
	for _, want := range []string{"highest p99 150 ms", "<polyline", `stroke="` + latencyColors[0] + `"`, `stroke="` + latencyColors[2] + `"`, "<circle", ">200<", ">100<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("latency chart lacks %q:\n%s", want, svg)
		}
	}
	if n := strings.Count(svg, "<polyline"); n != 3 {
		t.Errorf("%d polylines, want 3 (one per percentile)", n)
	}
	if n := strings.Count(svg, "<circle"); n != 3 {
		t.Errorf("%d dots, want 3 (the lone second, per percentile)", n)
	}
	if empty := string(renderLatencyChart(rates[len(rates)-1:], 5*time.Minute, now)); !strings.Contains(empty, "no transactions in the last 5m0s") || strings.Contains(empty, "<circle") {
		t.Errorf("empty latency chart: %s", empty)
	}
}

// sourceStore is a Store without Health that reports its source.
type sourceStore struct {
	explorer.Store
	status explorer.SourceStatus
}

func (s sourceStore) SourceStatus() explorer.SourceStatus { return s.status }

// TestDashboardLatencyAndSource: the dashboard shows the latency figures
// and chart, valid and invalid per organisation and reason, and the
// source's status; a failed source is a banner and /healthz 503; the API
// carries the percentiles.
func TestDashboardLatencyAndSource(t *testing.T) {
	fake := newFake(40)
	at := epoch.Add(time.Minute)
	st := sourceStore{Store: fake, status: explorer.SourceStatus{Source: "peer0.org1", Following: true, Peers: []explorer.PeerStatus{
		{Name: "peer0.org1", State: "streaming"},
		{Name: "peer0.org2", State: "failed", LastError: "dial tcp 127.0.0.1:7051: connection refused", LastErrorAt: at},
	}}}
	h := newServer(t, st, Config{}).Handler()
	expect(t, do(t, h, "/"), http.StatusOK,
		`data-stat="p50">40 ms<`, `data-stat="p95">90 ms<`, `data-stat="p99">123.5 ms<`, `data-stat="latency_count">900<`,
		`id="latency-chart"`, "<polyline", "Commit latency",
		// Org1MSP: 80 transactions, 13 MVCC conflicts (blocks 2, 5, ... 38).
		`<td>Org1MSP</td><td class="n">80</td><td class="n ok">67</td><td class="n fail">13</td>`, `MVCC_READ_CONFLICT</code> 13`,
		"Following", "reading from <strong>peer0.org1</strong>", "<td>peer0.org2</td><td class=\"fail\">down</td>", "connection refused")
	if b := do(t, h, "/").Body.String(); strings.Contains(b, "Source unreachable") {
		t.Error("a following source shows the unreachable banner")
	}
	expect(t, do(t, h, "/latency.svg"), http.StatusOK, "<svg", "Commit latency")
	expect(t, do(t, h, "/healthz"), http.StatusOK, `"source":{"source":"peer0.org1","following":true`)

	var rates struct {
		Rates   []explorer.Rate  `json:"rates"`
		Latency explorer.Latency `json:"latency"`
	}
	w := do(t, h, "/api/rates")
	if err := json.Unmarshal(w.Body.Bytes(), &rates); err != nil || len(rates.Rates) == 0 || rates.Latency.P99 != 123.5 || !strings.Contains(w.Body.String(), `"p95_ms":90`) {
		t.Errorf("/api/rates: %v %s", err, w.Body.String()[:min(300, w.Body.Len())])
	}
	expect(t, do(t, h, "/api/stats"), http.StatusOK, `"latency":{`, `"p99_ms":123.5`, `"org_invalid":{"Org1MSP":{"MVCC_READ_CONFLICT":13}}`, `"peers":[`)

	// Every peer failed: the source is not following.
	st.status = explorer.SourceStatus{Source: "peer0.org2", LastError: "peer0.org1: connection refused\npeer0.org2: connection refused", LastErrorAt: at, Retries: 3}
	h = newServer(t, st, Config{}).Handler()
	expect(t, do(t, h, "/"), http.StatusOK, "Source unreachable", "Not following", "3 failed attempts")
	expect(t, do(t, h, "/healthz"), http.StatusServiceUnavailable, `"status":"unavailable"`, "connection refused")
	if err := newServer(t, st, Config{}).health(); !errors.Is(err, explorer.ErrUnavailable) {
		t.Errorf("health() = %v, want ErrUnavailable", err)
	}
}
