package release

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/release/schedule"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// clientsOf lists, for each name, whether the store holds its history.
func clientsOf(h *historyStore, names ...string) string {
	s := ""
	for _, n := range names {
		if len(h.get(n).Samples) > 0 || h.get(n).RTT > 0 {
			s += n + " "
		}
	}
	return s
}

// TestHistoryEvictsLeastRecentlyUpdated: a full store makes room for a new
// client by evicting the history updated longest ago; reading a history
// does not count as an update.
func TestHistoryEvictsLeastRecentlyUpdated(t *testing.T) {
	h, err := openHistory(filepath.Join(t.TempDir(), "clients.json"), 3, 30*day, t0)
	if err != nil {
		t.Fatal(err)
	}
	h.addRate("a@Org1", t0, 1e6)
	h.addRate("b@Org1", t0.Add(time.Second), 2e6)
	h.addRate("c@Org1", t0.Add(2*time.Second), 3e6)
	h.setRTT("a@Org1", t0.Add(3*time.Second), 40*time.Millisecond) // a is now the most recent
	_ = h.get("b@Org1")                                            // a read is not an update
	h.addRate("d@Org1", t0.Add(4*time.Second), 4e6)
	if got, want := clientsOf(h, "a@Org1", "b@Org1", "c@Org1", "d@Org1"), "a@Org1 c@Org1 d@Org1 "; got != want {
		t.Fatalf("after adding d to a full store: %q, want %q (b least recently updated)", got, want)
	}
	if a := h.get("a@Org1"); len(a.Samples) != 1 || a.RTT != 40*time.Millisecond {
		t.Fatalf("a kept its history: %+v", a)
	}
	if _, evicted := h.expire(t0.Add(5 * time.Second)); evicted != 1 {
		t.Fatalf("evicted %d, want 1", evicted)
	}
}

// TestHistoryAgainstModel checks the store against a naive model (a map
// of last-update times; when full, drop the oldest; drop those older than
// the TTL on expire) over random operations with a clock that moves
// forward.
func TestHistoryAgainstModel(t *testing.T) {
	const maxClients, ttl = 5, time.Hour
	rng := rand.New(rand.NewPCG(1, 2))
	h, err := openHistory(filepath.Join(t.TempDir(), "clients.json"), maxClients, ttl, t0)
	if err != nil {
		t.Fatal(err)
	}
	model := map[string]time.Time{}
	now := t0
	for step := 0; step < 5000; step++ {
		now = now.Add(time.Duration(1+rng.IntN(20)) * time.Minute)
		c := fmt.Sprintf("u%d@Org1", rng.IntN(12))
		switch k := rng.IntN(10); {
		case k < 9:
			if _, ok := model[c]; !ok && len(model) >= maxClients {
				oldest := ""
				for m, at := range model {
					if oldest == "" || at.Before(model[oldest]) {
						oldest = m
					}
				}
				delete(model, oldest)
			}
			model[c] = now
			if k < 6 {
				h.addRate(c, now, 1e6)
			} else {
				h.setRTT(c, now, time.Millisecond)
			}
		default:
			for m, at := range model {
				if now.Sub(at) >= ttl {
					delete(model, m)
				}
			}
			h.expire(now)
		}
		if h.size() != len(model) {
			t.Fatalf("step %d: store holds %d clients, model %d", step, h.size(), len(model))
		}
		for m := range model {
			if x := h.get(m); len(x.Samples) == 0 && x.RTT == 0 {
				t.Fatalf("step %d: %s missing from the store", step, m)
			}
		}
	}
}

// writeClients writes a clients.json as a peer (or an older version of
// it, without "updated") would have.
func writeClients(t *testing.T, path string, v map[string]any) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestHistoryTTLAtOpen: histories not updated within the TTL are dropped
// when clients.json is read (also those written before "updated" existed,
// by their last sample, or the file's time for a round trip alone), only
// the most recently updated MaxHistoryClients are kept, and the file is
// rewritten without the others.
func TestHistoryTTLAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clients.json")
	sample := func(at time.Time, bps float64) []schedule.Sample { return []schedule.Sample{{At: at, RateBps: bps}} }
	writeClients(t, path, map[string]any{
		"fresh@Org1":        map[string]any{"samples": sample(t0.Add(-time.Hour), 1e6), "rtt": 1, "updated": t0.Add(-time.Hour)},
		"recent@Org1":       map[string]any{"samples": sample(t0.Add(-2*day), 2e6), "updated": t0.Add(-2 * day)},
		"stale@Org1":        map[string]any{"samples": sample(t0.Add(-31*day), 3e6), "updated": t0.Add(-31 * day)},
		"legacy-fresh@Org1": map[string]any{"samples": sample(t0.Add(-3*day), 4e6)},
		"legacy-stale@Org1": map[string]any{"samples": sample(t0.Add(-40*day), 5e6)},
		"rtt-only@Org1":     map[string]any{"rtt": int64(30 * time.Millisecond)},
	})
	if err := os.Chtimes(path, t0.Add(-35*day), t0.Add(-35*day)); err != nil {
		t.Fatal(err)
	}
	all := []string{"fresh@Org1", "recent@Org1", "stale@Org1", "legacy-fresh@Org1", "legacy-stale@Org1", "rtt-only@Org1"}

	h, err := openHistory(path, 10, 30*day, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := clientsOf(h, all...), "fresh@Org1 recent@Org1 legacy-fresh@Org1 "; got != want {
		t.Fatalf("kept %q, want %q", got, want)
	}
	if r := h.get("recent@Org1"); len(r.Samples) != 1 || r.Samples[0].RateBps != 2e6 {
		t.Fatalf("recent@Org1: %+v", r)
	}

	// A lower limit keeps the most recently updated.
	h2, err := openHistory(path, 2, 30*day, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := clientsOf(h2, all...), "fresh@Org1 recent@Org1 "; got != want {
		t.Fatalf("limit 2: kept %q, want %q", got, want)
	}
	if err := h2.save(); err != nil {
		t.Fatal(err)
	}
	var onDisk map[string]json.RawMessage
	raw, _ := os.ReadFile(path)
	if err := json.Unmarshal(raw, &onDisk); err != nil || len(onDisk) != 2 {
		t.Fatalf("rewritten file holds %d clients (%v), want 2", len(onDisk), err)
	}
}

// TestHistoryPersists: histories within the limits survive a save and a
// reopen unchanged, with their update times; they expire TTL after their
// last update, at open or on a periodic expire.
func TestHistoryPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clients.json")
	h, err := openHistory(path, 100, 30*day, t0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		c := fmt.Sprintf("u%02d@Org1", i)
		for k := range 3 {
			h.addRate(c, t0.Add(time.Duration(i*10+k)*time.Second), float64(1+i+k)*1e5)
		}
		h.setRTT(c, t0.Add(time.Duration(i*10+5)*time.Second), time.Duration(i+1)*time.Millisecond)
	}
	if err := h.save(); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(29 * day)
	h2, err := openHistory(path, 100, 30*day, later)
	if err != nil {
		t.Fatal(err)
	}
	if h2.size() != 50 {
		t.Fatalf("reopened with %d clients, want 50", h2.size())
	}
	for i := range 50 {
		c := fmt.Sprintf("u%02d@Org1", i)
		a, b := h.get(c), h2.get(c)
		if len(b.Samples) != 3 || b.RTT != a.RTT || b.Best() != a.Best() || !b.Samples[2].At.Equal(a.Samples[2].At) {
			t.Fatalf("%s: saved %+v, read back %+v", c, a, b)
		}
	}
	// u00 was last updated at t0+5s, u49 at t0+495s: at t0+30d+250s
	// the first 25 have expired.
	if expired, _ := h2.expire(t0.Add(30*day + 250*time.Second)); expired != 25 || h2.size() != 25 {
		t.Fatalf("expired %d, %d left; want 25 and 25", expired, h2.size())
	}
	if x := h2.get("u30@Org1"); len(x.Samples) != 3 {
		t.Fatalf("u30 dropped too early: %+v", x)
	}
}
