package p2p

// EventKind says what happened to the sessions with a node.
type EventKind uint8

const (
	// EventUp: the node has a usable session (it had none).
	EventUp EventKind = iota + 1
	// EventDown: the node's last usable session is gone.
	EventDown
	// EventClosed: a session closed without changing whether the node is
	// up: a resolved duplicate, a refused or failed connection.
	EventClosed
)

func (k EventKind) String() string {
	switch k {
	case EventUp:
		return "up"
	case EventDown:
		return "down"
	case EventClosed:
		return "closed"
	}
	return "unknown"
}

// Event reports a change in the sessions with one node. A node is up while
// it has a usable session; replacing one session by a better one (the
// tie-break) is not a down/up.
type Event struct {
	Kind EventKind
	// Session is the session concerned: the new active one (EventUp), the
	// one lost (EventDown) or the one closed (EventClosed).
	Session SessionInfo
	// Superseded (EventClosed): the session was a duplicate closed by the
	// tie-break.
	Superseded bool
}

// Subscribe returns a channel of session events, in the order they
// happened, and a function that ends the subscription. A subscriber that
// falls Options.EventBuffer events behind is dropped: its channel is
// closed, and it should subscribe again and resynchronise with Sessions.
// The channel is also closed when the host stops.
func (h *Host) Subscribe() (<-chan Event, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan Event, h.opts.EventBuffer)
	if h.mu.state == stateStopped {
		close(ch)
		return ch, func() {}
	}
	id := h.mu.nextSub
	h.mu.nextSub++
	h.mu.subs[id] = ch
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if c, ok := h.mu.subs[id]; ok {
			close(c)
			delete(h.mu.subs, id)
		}
	}
}

// publishLocked turns a table event into an Event for every subscriber.
func (h *Host) publishLocked(e tableEvent) {
	s := h.mu.sessions[e.conn]
	if s == nil {
		return
	}
	ev := Event{Session: h.infoLocked(s), Superseded: e.superseded}
	switch e.kind {
	case evUp:
		ev.Kind = EventUp
		h.log.Info("p2p node up", "peer", short(e.peer), "name", s.peer.Name, "dialed_by", s.dialed, "conn", s.fingerprint)
	case evDown:
		ev.Kind = EventDown
		h.log.Info("p2p node down", "peer", short(e.peer), "name", s.peer.Name)
	case evClosed:
		ev.Kind = EventClosed
		if e.superseded {
			h.metrics.duplicates.Inc()
		}
	}
	for id, ch := range h.mu.subs {
		select {
		case ch <- ev:
		default:
			close(ch)
			delete(h.mu.subs, id)
			h.log.Warn("p2p event subscriber fell behind; dropped", "buffer", h.opts.EventBuffer)
		}
	}
}
