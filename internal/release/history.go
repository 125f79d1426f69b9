package release

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/folio-ledger/folio/internal/atomicfile"
	"github.com/folio-ledger/folio/internal/release/schedule"
)

// historyStore keeps the observed transfer rates and round trip of at most
// max clients, persisted in <data_dir>/release/clients.json so that
// estimates survive restarts. A history not updated for ttl is dropped (at
// open and by expire); when the store is full, the least recently updated
// history makes room for a new client. The store reads no clock: callers
// pass the time. Safe for concurrent use; mu guards everything in it.
// Writes are batched by run.
type historyStore struct {
	path string
	max  int
	ttl  time.Duration
	mu   struct {
		sync.Mutex
		// m finds a client's element of lru, whose values are *histEntry,
		// most recently updated first.
		m       map[string]*list.Element
		lru     *list.List
		dirty   bool
		evicted int // since the last expire
	}
}

// histEntry is one client's history as clients.json holds it: the
// schedule.History fields and when it was last updated. (Files written
// before "updated" existed are read with the time of the last sample, or
// of the file for a round trip alone.)
type histEntry struct {
	client string
	schedule.History
	Updated time.Time `json:"updated"`
}

// openHistory reads the histories at path, keeping those updated within
// ttl before now, at most maxClients of them (the most recently updated). A
// missing or damaged file starts an empty store: it only costs estimates.
func openHistory(path string, maxClients int, ttl time.Duration, now time.Time) (*historyStore, error) {
	h := &historyStore{path: path, max: maxClients, ttl: ttl}
	h.mu.m = map[string]*list.Element{}
	h.mu.lru = list.New()
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return h, nil
	case err != nil:
		return nil, err
	}
	var stored map[string]*histEntry
	if err := json.Unmarshal(b, &stored); err != nil {
		return h, nil
	}
	var fileTime time.Time
	if fi, err := os.Stat(path); err == nil {
		fileTime = fi.ModTime()
	}
	keep := make([]*histEntry, 0, len(stored))
	for client, e := range stored {
		if e == nil {
			continue
		}
		e.client = client
		if e.Updated.IsZero() {
			e.Updated = fileTime
			if n := len(e.Samples); n > 0 {
				e.Updated = e.Samples[n-1].At
			}
		}
		if e.Updated.After(now) {
			e.Updated = now // written under a clock that was ahead
		}
		if h.expired(e, now) {
			continue
		}
		keep = append(keep, e)
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].Updated.After(keep[j].Updated) })
	if len(keep) > maxClients {
		keep = keep[:maxClients]
	}
	for _, e := range keep {
		h.mu.m[e.client] = h.mu.lru.PushBack(e)
	}
	h.mu.dirty = len(keep) != len(stored)
	return h, nil
}

func (h *historyStore) expired(e *histEntry, now time.Time) bool {
	return !now.Before(e.Updated.Add(h.ttl))
}

// get returns a copy of a client's history.
func (h *historyStore) get(client string) schedule.History {
	h.mu.Lock()
	defer h.mu.Unlock()
	if el := h.mu.m[client]; el != nil {
		x := el.Value.(*histEntry)
		return schedule.History{Samples: append([]schedule.Sample(nil), x.Samples...), RTT: x.RTT}
	}
	return schedule.History{}
}

// touchLocked returns a client's history marked updated at now, making it
// (evicting the least recently updated when full) if needed.
func (h *historyStore) touchLocked(client string, now time.Time) *histEntry {
	h.mu.dirty = true
	if el := h.mu.m[client]; el != nil {
		h.mu.lru.MoveToFront(el)
		e := el.Value.(*histEntry)
		e.Updated = now
		return e
	}
	for h.mu.lru.Len() >= h.max {
		old := h.mu.lru.Remove(h.mu.lru.Back()).(*histEntry)
		delete(h.mu.m, old.client)
		h.mu.evicted++
	}
	e := &histEntry{client: client, Updated: now}
	h.mu.m[client] = h.mu.lru.PushFront(e)
	return e
}

// addRate records a rate observed at at.
func (h *historyStore) addRate(client string, at time.Time, rateBps float64) {
	if rateBps <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.touchLocked(client, at).Add(schedule.Sample{At: at, RateBps: rateBps})
}

// setRTT records a round trip probed at at.
func (h *historyStore) setRTT(client string, at time.Time, rtt time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.touchLocked(client, at).RTT = rtt
}

// expire drops the histories not updated within ttl before now. It
// returns how many, and how many were evicted to make room since the last
// call.
func (h *historyStore) expire(now time.Time) (expired, evicted int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for el := h.mu.lru.Front(); el != nil; {
		next := el.Next()
		if e := el.Value.(*histEntry); h.expired(e, now) {
			h.mu.lru.Remove(el)
			delete(h.mu.m, e.client)
			expired++
		}
		el = next
	}
	if expired > 0 {
		h.mu.dirty = true
	}
	evicted, h.mu.evicted = h.mu.evicted, 0
	return expired, evicted
}

// size is the number of clients with a history.
func (h *historyStore) size() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mu.lru.Len()
}

// save writes the histories if they changed.
func (h *historyStore) save() error {
	h.mu.Lock()
	if !h.mu.dirty {
		h.mu.Unlock()
		return nil
	}
	out := make(map[string]*histEntry, len(h.mu.m))
	for client, el := range h.mu.m {
		out[client] = el.Value.(*histEntry)
	}
	raw, err := json.Marshal(out)
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
