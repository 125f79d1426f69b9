package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/folio-ledger/folio/internal/explorer"
)

const (
	// maxEventBlocks bounds the block events sent after one wake-up; a
	// client that fell further behind reloads the list (the stats in the
	// event are current).
	maxEventBlocks = 20
	// heartbeat keeps idle streams open through proxies and notices
	// clients that went away.
	heartbeat = 20 * time.Second
	// eventWriteTimeout bounds writing one event to a slow client.
	eventWriteTimeout = 10 * time.Second
)

// blockEvent is the data of a "block" event (and of the first "hello"
// event, without a block).
type blockEvent struct {
	Block *explorer.BlockSummary `json:"block,omitempty"`
	Stats explorer.Stats         `json:"stats"`
	Lag   string                 `json:"lag"`
	// Latency is the dashboard's window's commit latency.
	Latency explorer.Latency `json:"latency"`
}

// eventStream serves /events: a "hello" event with the current stats,
// then a "block" event for every block indexed, from Store.Changed. The
// number of streams is bounded; each ends when its client leaves or the
// server stops.
func (s *Server) eventStream(w http.ResponseWriter, r *http.Request) {
	select {
	case s.events <- struct{}{}:
		defer func() { <-s.events }()
	default:
		s.fail(w, r, &httpError{Status: http.StatusServiceUnavailable, Title: "Too many live clients",
			Detail: "The explorer serves a bounded number of live streams; the pages still work, reload them to update."})
		return
	}
	rc := http.NewResponseController(w)
	// The server's ReadTimeout would cancel the request's context
	// mid-stream (the connection's background read times out).
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	send := func(event string, v any) bool {
		data, err := json.Marshal(v)
		if err != nil {
			return false
		}
		// The server's WriteTimeout would cut a long stream; each event
		// gets its own deadline instead.
		_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		if _, err := w.Write([]byte("event: " + event + "\ndata: " + string(data) + "\n\n")); err != nil {
			return false
		}
		return rc.Flush() == nil
	}

	// Take the channel before reading the stats: a block indexed in
	// between closes it, so nothing is missed.
	changed := s.store.Changed()
	st := s.store.Stats()
	sent := st.Height
	_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
	if _, err := w.Write([]byte("retry: 3000\n")); err != nil {
		return
	}
	if !send("hello", blockEvent{Stats: st, Lag: lag(st), Latency: s.store.Latency(chartWindow)}) {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		case <-tick.C:
			_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
			if _, err := w.Write([]byte(": ping\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		case <-changed:
			changed = s.store.Changed()
			st = s.store.Stats()
			from := sent
			if st.Height > from+maxEventBlocks {
				from = st.Height - maxEventBlocks
			}
			latency := s.store.Latency(chartWindow)
			for n := from; n < st.Height; n++ {
				b, err := s.store.Block(n)
				if err != nil {
					continue
				}
				b.TxIDs = nil // the page links the block; the list can be long
				if !send("block", blockEvent{Block: &b, Stats: st, Lag: lag(st), Latency: latency}) {
					return
				}
			}
			sent = max(sent, st.Height)
		}
	}
}
