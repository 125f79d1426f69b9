package releasebench

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strings"
	"time"
)

// ClientResult is one client's outcome in a run.
type ClientResult struct {
	Name        string  `json:"name"`
	RateBps     float64 `json:"rate_bps"`
	EdgeDecrypt bool    `json:"edge_decrypt,omitempty"`
	// Times relative to the run's release time T, in milliseconds; nil
	// when it did not happen.
	CiphertextMS *float64 `json:"ciphertext_complete_ms,omitempty"`
	KeyMS        *float64 `json:"key_received_ms,omitempty"`
	AccessMS     *float64 `json:"access_ms,omitempty"`
	Error        string   `json:"error,omitempty"`
}

// Run is one run's parameters and results.
type Run struct {
	Name      string         `json:"name"`
	Title     string         `json:"title"`
	ReleaseAt time.Time      `json:"release_at"`
	EndAt     time.Time      `json:"end_at"`
	Clients   []ClientResult `json:"clients"`
	Summary   Summary        `json:"summary"`
}

// Summary is a run's fairness figures.
type Summary struct {
	// Accessed clients, of Clients.
	Accessed int `json:"accessed"`
	Clients  int `json:"clients"`
	// SpreadMS is max - min access time over the clients the run is
	// about: in (a) every client; otherwise the key clients that held the
	// ciphertext when the key went out (the first key receipt of the run:
	// a client still downloading gets its key queued behind its own data).
	// -1 when there are none.
	SpreadMS float64 `json:"spread_ms"`
	// FirstMS and LastMS are the earliest and latest such access after T.
	FirstMS float64 `json:"first_ms"`
	LastMS  float64 `json:"last_ms"`
	// EdgeSpreadMS: spread of the edge-decrypt clients; EdgeVsKeyMS: the
	// largest distance of an edge-decrypt client's access from the key
	// clients' median access (0 without edge clients).
	EdgeSpreadMS float64 `json:"edge_spread_ms,omitempty"`
	EdgeVsKeyMS  float64 `json:"edge_vs_key_ms,omitempty"`
	// Early counts accesses before T; MissedEnd clients without access by E.
	Early     int `json:"early_access"`
	MissedEnd int `json:"missed_end"`
	// KeyAfterMS is when the (median) key client got the key, after T: the
	// key send delay in (c).
	KeyAfterMS float64 `json:"key_after_release_ms"`
}

// Summarize computes a run's figures; allClients makes the spread cover
// every client that accessed (the naive run has no key clients).
func Summarize(r *Run, allClients bool) Summary {
	s := Summary{Clients: len(r.Clients), SpreadMS: -1}
	end := float64(r.EndAt.Sub(r.ReleaseAt)) / float64(time.Millisecond)
	sent := math.Inf(1) // the key went out: the first key receipt
	for _, c := range r.Clients {
		if c.KeyMS != nil && !c.EdgeDecrypt {
			sent = min(sent, *c.KeyMS)
		}
	}
	var key, edge, keyTimes []float64
	for _, c := range r.Clients {
		if c.AccessMS == nil {
			s.MissedEnd++
			continue
		}
		a := *c.AccessMS
		s.Accessed++
		if a < 0 {
			s.Early++
		}
		if a > end {
			s.MissedEnd++
		}
		switch {
		case c.EdgeDecrypt && !allClients:
			edge = append(edge, a)
		case allClients:
			key = append(key, a)
		case c.CiphertextMS != nil && c.KeyMS != nil && *c.CiphertextMS <= sent:
			key = append(key, a)
		}
		if c.KeyMS != nil && !c.EdgeDecrypt {
			keyTimes = append(keyTimes, *c.KeyMS)
		}
	}
	if len(key) > 0 {
		lo, hi := minMax(key)
		s.SpreadMS, s.FirstMS, s.LastMS = hi-lo, lo, hi
	}
	if len(edge) > 0 {
		lo, hi := minMax(edge)
		s.EdgeSpreadMS = hi - lo
		if len(key) > 0 {
			med := medianOf(key)
			for _, e := range edge {
				s.EdgeVsKeyMS = max(s.EdgeVsKeyMS, math.Abs(e-med))
			}
		}
	}
	if len(keyTimes) > 0 {
		s.KeyAfterMS = medianOf(keyTimes)
	}
	return s
}

func minMax(v []float64) (float64, float64) {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

func medianOf(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// Bins are the histogram's bins of access time after T, in seconds: a
// logarithmic scale like the patent's figures (< 0 is early).
var Bins = []float64{0, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 2400}

// binOf returns the bin index of an access at ms after T: 0 for early,
// i for [Bins[i-1], Bins[i]) seconds, len(Bins) beyond the last.
func binOf(ms float64) int {
	sec := ms / 1000
	if sec < 0 {
		return 0
	}
	for i := 1; i < len(Bins); i++ {
		if sec < Bins[i] {
			return i
		}
	}
	return len(Bins)
}

func binLabel(i int) string {
	switch {
	case i == 0:
		return "early (<T)"
	case i == len(Bins):
		return fmt.Sprintf(">= %gs", Bins[len(Bins)-1])
	}
	return fmt.Sprintf("%g-%gs", Bins[i-1], Bins[i])
}

// counts returns the histogram counts of a run plus its misses.
func counts(r *Run) ([]int, int) {
	c := make([]int, len(Bins)+1)
	missed := 0
	for _, cl := range r.Clients {
		if cl.AccessMS == nil {
			missed++
			continue
		}
		c[binOf(*cl.AccessMS)]++
	}
	return c, missed
}

// Histogram renders the runs' access-time histograms as text.
func Histogram(runs []*Run) string {
	var b strings.Builder
	for _, r := range runs {
		c, missed := counts(r)
		fmt.Fprintf(&b, "run %s: %s\n", r.Name, r.Title)
		for i, n := range c {
			if n == 0 && i != 0 {
				continue
			}
			fmt.Fprintf(&b, "  %-12s %3d %s\n", binLabel(i), n, strings.Repeat("#", n))
		}
		if missed > 0 {
			fmt.Fprintf(&b, "  %-12s %3d %s\n", "no access", missed, strings.Repeat("x", missed))
		}
	}
	return b.String()
}

// SVG renders one panel per run: clients per access-time bin.
func SVG(runs []*Run) string {
	const w, ph, left, top = 760, 170, 60, 30
	nb := len(Bins) + 2 // bins, beyond, no access
	bw := float64(w-left-20) / float64(nb)
	h := top + len(runs)*(ph+40) + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">Access time after the release time T, clients per bin</text>`+"\n", left)
	for k, r := range runs {
		c, missed := counts(r)
		c = append(c, missed)
		maxN := 1
		for _, n := range c {
			maxN = max(maxN, n)
		}
		y0 := top + k*(ph+40) + 20
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12">(%s) %s: spread %s, early %d, missed E %d</text>`+"\n",
			left, y0-4, html.EscapeString(r.Name), html.EscapeString(r.Title), fmtMS(r.Summary.SpreadMS), r.Summary.Early, r.Summary.MissedEnd)
		base := y0 + ph - 30
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, base, w-20, base)
		for i, n := range c {
			x := float64(left) + float64(i)*bw
			bh := float64(ph-40) * float64(n) / float64(maxN)
			color := "#4878a8"
			switch {
			case i == 0:
				color = "#c03030"
			case i == len(c)-1:
				color = "#999999"
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x+2, float64(base)-bh, bw-4, bh, color)
			if n > 0 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`+"\n", x+bw/2, float64(base)-bh-2, n)
			}
			label := "no access"
			if i < len(c)-1 {
				label = binLabel(i)
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="9">%s</text>`+"\n", x+bw/2, base+12, html.EscapeString(label))
		}
		fmt.Fprintf(&b, `<text x="4" y="%d" font-size="9">clients</text>`+"\n", base-ph/2)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func fmtMS(ms float64) string {
	switch {
	case ms < 0:
		return "n/a"
	case ms >= 10000:
		return fmt.Sprintf("%.1f s", ms/1000)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

// Rates spreads n link rates log-uniformly over [lo, hi] bits per second.
func Rates(n int, lo, hi float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		if n == 1 {
			out[i] = lo
			continue
		}
		out[i] = lo * math.Pow(hi/lo, float64(i)/float64(n-1))
	}
	return out
}
