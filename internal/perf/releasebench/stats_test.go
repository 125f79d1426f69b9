package releasebench

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"
	"time"
)

func ms(v float64) *float64 { return &v }

func TestSummarize(t *testing.T) {
	T := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	r := &Run{Name: "d", ReleaseAt: T, EndAt: T.Add(10 * time.Second), Clients: []ClientResult{
		{Name: "k1", CiphertextMS: ms(-5000), KeyMS: ms(10), AccessMS: ms(12)},
		{Name: "k2", CiphertextMS: ms(-100), KeyMS: ms(30), AccessMS: ms(40)},
		{Name: "late", CiphertextMS: ms(2000), KeyMS: ms(2001), AccessMS: ms(2001)}, // ciphertext after the key went out (10 ms): not in the spread
		{Name: "e1", EdgeDecrypt: true, AccessMS: ms(100)},
		{Name: "e2", EdgeDecrypt: true, AccessMS: ms(-3)},
		{Name: "miss", Error: "no key"},
		{Name: "afterE", CiphertextMS: ms(9), KeyMS: ms(11000), AccessMS: ms(11000)},
	}}
	s := Summarize(r, false)
	if s.Accessed != 6 || s.Clients != 7 || s.Early != 1 || s.MissedEnd != 2 {
		t.Fatalf("counts: %+v", s)
	}
	// Key clients that held the ciphertext first: k1, k2, afterE.
	if s.SpreadMS != 11000-12 || s.FirstMS != 12 || s.LastMS != 11000 {
		t.Fatalf("spread: %+v", s)
	}
	if s.EdgeSpreadMS != 103 || s.EdgeVsKeyMS != math.Abs(100-40) { // median of 12, 40, 11000
		t.Fatalf("edge: %+v", s)
	}
	all := Summarize(r, true)
	if all.SpreadMS != 11000-(-3) {
		t.Fatalf("naive spread over every client: %+v", all)
	}
}

func TestHistogramAndSVG(t *testing.T) {
	T := time.Now()
	r := &Run{Name: "a", Title: "naive <test>", ReleaseAt: T, EndAt: T.Add(time.Hour), Clients: []ClientResult{
		{AccessMS: ms(50)}, {AccessMS: ms(70)}, {AccessMS: ms(1500)}, {AccessMS: ms(-1)}, {Error: "x"},
	}}
	r.Summary = Summarize(r, true)
	h := Histogram([]*Run{r})
	for _, want := range []string{"early (<T)     1 #", "0-0.1s         2 ##", "1-2s           1 #", "no access      1 x"} {
		if !strings.Contains(h, want) {
			t.Fatalf("histogram lacks %q:\n%s", want, h)
		}
	}
	svg := SVG([]*Run{r})
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Fatalf("SVG is not well-formed XML: %v", err)
	}
	if !strings.Contains(svg, "naive &lt;test&gt;") {
		t.Fatal("title not escaped")
	}
}

func TestRatesAndEdgeClients(t *testing.T) {
	r := Rates(100, 56e3, 100e6)
	if r[0] != 56e3 || math.Abs(r[99]-100e6) > 1 {
		t.Fatalf("ends %v %v", r[0], r[99])
	}
	for i := 1; i < len(r); i++ {
		if r[i] <= r[i-1] {
			t.Fatalf("not increasing at %d", i)
		}
	}
	n := 0
	for i := 0; i < 100; i++ {
		if isEdgeClient(i, 100, 30) {
			n++
		}
	}
	if n != 30 {
		t.Fatalf("%d edge clients, want 30", n)
	}
}
