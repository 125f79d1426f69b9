package release

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/folio-ledger/folio/internal/atomicfile"
	"github.com/folio-ledger/folio/internal/release/schedule"
)

// historyStore keeps every client's observed transfer rates and round
// trip, persisted in <data_dir>/release/clients.json so that estimates
// survive restarts. Safe for concurrent use; mu guards the map and the
// dirty flag. Writes are batched by run.
type historyStore struct {
	path string
	mu   struct {
		sync.Mutex
		m     map[string]*schedule.History
		dirty bool
	}
}

func openHistory(path string) (*historyStore, error) {
	h := &historyStore{path: path}
	h.mu.m = map[string]*schedule.History{}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &h.mu.m); err != nil {
			// A damaged history only costs estimates: start afresh.
			h.mu.m = map[string]*schedule.History{}
		}
	}
	return h, nil
}

// get returns a copy of a client's history.
func (h *historyStore) get(client string) schedule.History {
	h.mu.Lock()
	defer h.mu.Unlock()
	if x := h.mu.m[client]; x != nil {
		return schedule.History{Samples: append([]schedule.Sample(nil), x.Samples...), RTT: x.RTT}
	}
	return schedule.History{}
}

func (h *historyStore) entry(client string) *schedule.History {
	x := h.mu.m[client]
	if x == nil {
		x = &schedule.History{}
		h.mu.m[client] = x
	}
	return x
}

// addRate records an observed rate.
func (h *historyStore) addRate(client string, at time.Time, rateBps float64) {
	if rateBps <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.entry(client).Add(schedule.Sample{At: at, RateBps: rateBps})
	h.mu.dirty = true
}

// setRTT records a probed round trip.
func (h *historyStore) setRTT(client string, rtt time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.entry(client).RTT = rtt
	h.mu.dirty = true
}

// save writes the histories if they changed.
func (h *historyStore) save() error {
	h.mu.Lock()
	if !h.mu.dirty {
		h.mu.Unlock()
		return nil
	}
	raw, err := json.Marshal(h.mu.m)
	h.mu.dirty = false
	h.mu.Unlock()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(h.path, raw, 0o600)
}

// run saves every few seconds and once more when ctx ends.
func (h *historyStore) run(ctx context.Context, log func(error)) {
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := h.save(); err != nil {
				log(err)
			}
			return
		case <-t.C:
			if err := h.save(); err != nil {
				log(err)
			}
		}
	}
}
