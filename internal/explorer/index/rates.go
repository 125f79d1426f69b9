package index

import (
	"encoding/json"
	"time"

	"github.com/folio-ledger/folio/internal/explorer"
	"github.com/folio-ledger/folio/internal/kv"
)

// RateHorizon is how far back Rates can look: the ring holds one slot per
// second of the last hour, 3,600 slots whatever the load.
const RateHorizon = time.Hour

const ringSlots = int64(RateHorizon / time.Second)

// rates counts transactions per second of block time in a ring of
// ringSlots seconds. Guarded by Index.mu.
type rates struct {
	slot [ringSlots]struct {
		at             int64 // Unix second the counts belong to
		valid, invalid int
	}
	// rebuildBelow: blocks below it were indexed before this process
	// started; Rates folds the last hour of them in once (rebuilt).
	rebuildBelow uint64
	rebuilt      bool
}

func (r *rates) add(t time.Time, valid, invalid int) {
	sec := t.Unix()
	s := &r.slot[((sec%ringSlots)+ringSlots)%ringSlots]
	switch {
	case s.at == sec:
	case s.at > sec:
		return // the slot holds a newer second: this one left the ring
	default:
		s.at, s.valid, s.invalid = sec, 0, 0
	}
	s.valid += valid
	s.invalid += invalid
}

// Rates returns one point per second of the last window (at most
// RateHorizon; 0 means 5 minutes), oldest first, by block time.
func (ix *Index) Rates(window time.Duration) []explorer.Rate {
	if window <= 0 {
		window = 5 * time.Minute
	}
	window = min(window, RateHorizon)
	ix.rebuildRates()
	now := ix.opts.Now().Unix()
	n := int64(window / time.Second)
	out := make([]explorer.Rate, 0, n)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for sec := now - n + 1; sec <= now; sec++ {
		p := explorer.Rate{At: time.Unix(sec, 0).UTC()}
		if s := ix.mu.rates.slot[((sec%ringSlots)+ringSlots)%ringSlots]; s.at == sec {
			p.Valid, p.Invalid = s.valid, s.invalid
		}
		out = append(out, p)
	}
	return out
}

// rebuildRates folds the blocks of the last hour indexed before this
// process started into the ring, once, reading block summaries newest
// first until one is older than the horizon.
func (ix *Index) rebuildRates() {
	ix.mu.Lock()
	if ix.mu.rates.rebuilt || ix.mu.closed {
		ix.mu.Unlock()
		return
	}
	ix.mu.rates.rebuilt = true
	below := ix.mu.rates.rebuildBelow
	ix.mu.Unlock()
	if below == 0 {
		return
	}
	since := ix.opts.Now().Add(-RateHorizon)
	it, err := ix.st.NewIter(&kv.IterOptions{Lower: []byte{pBlock}, Upper: blockKey(below)})
	if err != nil {
		return // the series starts empty; nothing else depends on it
	}
	defer it.Close()
	type point struct {
		t              time.Time
		valid, invalid int
	}
	var pts []point
	for ok := it.Last(); ok; ok = it.Prev() {
		var b explorer.BlockSummary
		if json.Unmarshal(it.Value(), &b) != nil || b.Time.Before(since) {
			break
		}
		pts = append(pts, point{b.Time, b.Valid, b.Txs - b.Valid})
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, p := range pts {
		ix.mu.rates.add(p.t, p.valid, p.invalid)
	}
}
