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
