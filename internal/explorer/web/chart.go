package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/folio-ledger/folio/internal/explorer"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH   = 640, 180
	chartL, chartB   = 44, 22 // left and bottom margins for the axes
	chartT           = 8
	chartBuckets     = 60
	colorValid       = "#2e7d32"
	colorInvalid     = "#c62828"
	colorAxis        = "#888"
	chartFontSize    = 11
	chartEmptyNotice = "no transactions in the last %s"
)

// renderChart draws transactions per second over [now-window, now) as
// stacked bars (valid below, invalid above) in chartBuckets buckets. It
// is built from numbers and times only, so it needs no escaping.
// Presentation is in attributes (not style) so the page's CSP holds and
// the same SVG works standalone at /chart.svg.
func renderChart(rates []explorer.Rate, window time.Duration, now time.Time) template.HTML {
	start := now.Add(-window)
	bw := window / chartBuckets
	var valid, invalid [chartBuckets]float64
	for _, r := range rates {
		if r.At.Before(start) || !r.At.Before(now) {
			continue
		}
		i := int(r.At.Sub(start) / bw)
		if i >= chartBuckets {
			i = chartBuckets - 1
		}
		valid[i] += float64(r.Valid)
		invalid[i] += float64(r.Invalid)
	}
	secs := bw.Seconds()
	var peak, total float64
	for i := range valid {
		valid[i] /= secs
		invalid[i] /= secs
		peak = math.Max(peak, valid[i]+invalid[i])
		total += (valid[i] + invalid[i]) * secs
	}
	top := niceCeil(peak)
	plotW, plotH := float64(chartW-chartL), float64(chartH-chartB-chartT)
	barW := plotW / chartBuckets

	var b strings.Builder
	mean := total / window.Seconds()
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="chart-title">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<title id="chart-title">Transactions per second over the last %s: peak %.1f, mean %.2f</title>`, window, peak, mean)
	// Axes and grid: 0, half and top.
	for _, f := range []float64{0, 0.5, 1} {
		y := float64(chartT) + plotH*(1-f)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="0.5"/>`, chartL, y, chartW, y, colorAxis)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="%d" text-anchor="end" fill="%s">%s</text>`, chartL-4, y+4, chartFontSize, colorAxis, trimFloat(top*f))
	}
	for i := range valid {
		x := float64(chartL) + float64(i)*barW
		vh := plotH * valid[i] / top
		ih := plotH * invalid[i] / top
		base := float64(chartT) + plotH
		if vh > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %.1f valid tx/s</title></rect>`,
				x, base-vh, barW*0.85, vh, colorValid, start.Add(time.Duration(i)*bw).UTC().Format("15:04:05"), valid[i])
		}
		if ih > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %.1f invalid tx/s</title></rect>`,
				x, base-vh-ih, barW*0.85, ih, colorInvalid, start.Add(time.Duration(i)*bw).UTC().Format("15:04:05"), invalid[i])
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="%d" fill="%s">%s</text>`, chartL, chartH-6, chartFontSize, colorAxis, start.UTC().Format("15:04:05"))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="%d" text-anchor="end" fill="%s">%s UTC</text>`, chartW, chartH-6, chartFontSize, colorAxis, now.UTC().Format("15:04:05"))
	if total == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="%d" text-anchor="middle" fill="%s">`+chartEmptyNotice+`</text>`, (chartW+chartL)/2, chartH/2, chartFontSize+2, colorAxis, window)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds a peak up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(f float64) string {
	if f == math.Trunc(f) {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.1f", f)
}

// Latency chart colours: p50, p95, p99.
var latencyColors = [3]string{"#1f5fbf", "#a86400", "#c62828"}

// renderLatencyChart draws the commit latency percentiles (p50, p95, p99,
// in ms) over [now-window, now) as three lines of chartBuckets points.
// Percentiles of different seconds cannot be merged, so a point shows the
// worst second of its bucket (the highest of each percentile); buckets
// without transactions leave a gap. Like renderChart it is built from
// numbers and times only and keeps presentation in attributes.
func renderLatencyChart(rates []explorer.Rate, window time.Duration, now time.Time) template.HTML {
	start := now.Add(-window)
	bw := window / chartBuckets
	var pts [chartBuckets][3]float64
	var has [chartBuckets]bool
	var peak float64
	for _, r := range rates {
		// A second whose percentiles are all 0 had no transaction with
		// a proposal time (the genesis block's configuration, say): a
		// real p99 under a millisecond from proposal to commit is not.
		if r.At.Before(start) || !r.At.Before(now) || r.P99 == 0 {
			continue
		}
		i := min(int(r.At.Sub(start)/bw), chartBuckets-1)
		has[i] = true
		for j, v := range [3]float64{r.P50, r.P95, r.P99} {
			pts[i][j] = math.Max(pts[i][j], v)
			peak = math.Max(peak, v)
		}
	}
	top := niceCeil(peak)
	plotW, plotH := float64(chartW-chartL), float64(chartH-chartB-chartT)
	step := plotW / chartBuckets

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="latency-title">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<title id="latency-title">Commit latency over the last %s (ms; p50, p95, p99 of the worst second per %s): highest p99 %s ms</title>`, window, bw, trimFloat(peak))
	for _, f := range []float64{0, 0.5, 1} {
		y := float64(chartT) + plotH*(1-f)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="0.5"/>`, chartL, y, chartW, y, colorAxis)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="%d" text-anchor="end" fill="%s">%s</text>`, chartL-4, y+4, chartFontSize, colorAxis, trimFloat(top*f))
	}
	// One polyline per run of buckets with data, per percentile; a lone
	// point is a dot.
	type xy struct{ x, y float64 }
	drawn := false
	for j := range 3 {
		var run []xy
		flush := func() {
			switch len(run) {
			case 0:
			case 1:
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2" fill="%s"/>`, run[0].x, run[0].y, latencyColors[j])
			default:
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="`, latencyColors[j])
				for k, p := range run {
					if k > 0 {
						b.WriteByte(' ')
					}
					fmt.Fprintf(&b, "%.1f,%.1f", p.x, p.y)
				}
				b.WriteString(`"/>`)
			}
			run = run[:0]
		}
		for i := range chartBuckets {
			if !has[i] {
				flush()
				continue
			}
			drawn = true
			run = append(run, xy{float64(chartL) + (float64(i)+0.5)*step, float64(chartT) + plotH*(1-pts[i][j]/top)})
		}
		flush()
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="%d" fill="%s">%s</text>`, chartL, chartH-6, chartFontSize, colorAxis, start.UTC().Format("15:04:05"))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="%d" text-anchor="end" fill="%s">%s UTC</text>`, chartW, chartH-6, chartFontSize, colorAxis, now.UTC().Format("15:04:05"))
	if !drawn {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="%d" text-anchor="middle" fill="%s">`+chartEmptyNotice+`</text>`, (chartW+chartL)/2, chartH/2, chartFontSize+2, colorAxis, window)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
