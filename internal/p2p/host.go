package p2p

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/folio-ledger/folio/internal/identity"
)

// SessionInfo describes one registered session (connection).
type SessionInfo struct {
	// PeerID is the remote node's ID.
	PeerID string        `json:"peer"`
	Name   string        `json:"name"`
	Org    string        `json:"org"`
	MSPID  string        `json:"msp_id"`
	Role   identity.Role `json:"role"`
	// Addr is the address the remote node listens on ("" = dial-only).
	Addr string `json:"addr,omitempty"`
	// Remote is the socket address of the other end.
	Remote string `json:"remote"`
	// DialedBy is "self" or "remote".
	DialedBy string    `json:"dialed_by"`
	Since    time.Time `json:"since"`
	// State is "active" (carries new streams), "confirming" (handshake
	// done, waiting for the end-to-end ping), "standby" or "retiring"
	// (a duplicate or a leaving session, draining before close).
	State string `json:"state"`
	// Conn names the connection identically at both ends.
	Conn string `json:"conn"`
}

// Host keeps one session to each wanted node and serves the sessions
// other nodes open. Its methods are safe for concurrent use.
type Host struct {
	opts    Options
	log     *slog.Logger
	id      string
	hs      *handshaker
	metrics *metrics
	muxConf *yamux.Config
	gen     atomic.Uint64
	conns   atomic.Uint64
	ready   chan struct{}
	logs    logLimiter
	// dialing holds a token per outbound connection in progress.
	dialing chan struct{}

	// served is the handler table, frozen when Run starts.
	served map[string]Handler
	// wg counts every goroutine Run owns.
	wg sync.WaitGroup

	// mu guards everything below. Effects decided under it start
	// goroutines (wg.Add under mu) but never block under it.
	mu struct {
		sync.Mutex
		state    hostState
		runCtx   context.Context
		table    *table
		sessions map[connID]*session
		wants    map[string]*want
		waiters  map[string]chan struct{}
		subs     map[uint64]chan Event
		nextSub  uint64
		pending  int // inbound connections in the handshake
		dialing  int // outbound connections being dialed or handshaken
		// idle, when not nil, is closed once pending and dialing are 0.
		idle     chan struct{}
		handlers map[string]Handler
		addr     net.Addr
		advert   string
	}
}

type hostState uint8

const (
	stateNew hostState = iota
	stateRunning
	stateStopping
	stateStopped
)

// New validates the options and returns a host ready for Handle, AddPeer
// and Run. The node's own certificates must be valid consortium identities.
func New(opts Options) (*Host, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if _, err := opts.Verifier.Validate(opts.Self.MSPID, opts.Self.Certificate()); err != nil {
		return nil, fmt.Errorf("p2p: node certificate: %w", err)
	}
	leaf, _ := tlsLeaf(opts.TLS)
	tlsID, err := opts.Verifier.Identify(leaf)
	if err != nil {
		return nil, fmt.Errorf("p2p: TLS certificate: %w", err)
	}
	if tlsID.MSPID != opts.Self.MSPID || tlsID.Role != opts.Self.Role {
		return nil, fmt.Errorf("p2p: TLS certificate is %s but the node key is %s", tlsID, &opts.Self.Identity)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	h := &Host{opts: opts, log: opts.Logger, id: opts.Self.ID(), metrics: m, ready: make(chan struct{}), dialing: make(chan struct{}, opts.MaxDialing)}
	h.muxConf = &yamux.Config{
		AcceptBacklog:          acceptBacklog,
		EnableKeepAlive:        true,
		KeepAliveInterval:      opts.KeepAliveInterval,
		ConnectionWriteTimeout: opts.WriteTimeout,
		MaxStreamWindowSize:    opts.StreamWindowBytes,
		StreamOpenTimeout:      opts.HandshakeTimeout,
		StreamCloseTimeout:     opts.DrainTimeout,
		Logger:                 yamuxLogger{log: h.log}, // each session sets its own (session.start)
	}
	if err := yamux.VerifyConfig(h.muxConf); err != nil {
		return nil, fmt.Errorf("p2p: multiplexer: %w", err)
	}
	h.gen.Store(uint64(time.Now().UnixNano()))
	h.hs = &handshaker{
		self: opts.Self, selfID: h.id, verifier: opts.Verifier, tlsConf: newTLSConfig(opts.TLSSource, opts.Verifier),
		timeout: opts.HandshakeTimeout, advertise: h.advertised,
		admit: func(peer string) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.mu.table.admit(peer)
		},
		report: func(err *HandshakeError) { h.handshakeFailed(err) },
	}
	h.mu.table = newTable(opts.MaxSessions, opts.MaxSessionsPerPeer)
	h.mu.sessions = map[connID]*session{}
	h.mu.wants = map[string]*want{}
	h.mu.waiters = map[string]chan struct{}{}
	h.mu.subs = map[uint64]chan Event{}
	h.mu.handlers = map[string]Handler{}
	return h, nil
}

// acceptBacklog bounds streams opened by the remote and not yet accepted.
const acceptBacklog = 64

// ID returns this node's ID.
func (h *Host) ID() string { return h.id }

// Ready is closed once Run is listening (or has failed to start).
func (h *Host) Ready() <-chan struct{} { return h.ready }

// Addr returns the bound listen address once Ready is closed; nil for a
// dial-only node or before Run listens.
func (h *Host) Addr() net.Addr {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mu.addr
}

func (h *Host) advertised() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mu.advert
}

// Handle registers the handler for a protocol's streams. Names are 1-64
// characters of [a-z0-9._/-] starting with a letter. Handlers must be
// registered before Run.
func (h *Host) Handle(protocol string, handler Handler) error {
	if !validProtocol(protocol) {
		return fmt.Errorf("p2p: invalid protocol name %q", protocol)
	}
	if handler == nil {
		return fmt.Errorf("p2p: nil handler for %q", protocol)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.state != stateNew {
		return fmt.Errorf("p2p: Handle(%q) after Run: %w", protocol, ErrAlreadyRunning)
	}
	if _, dup := h.mu.handlers[protocol]; dup {
		return fmt.Errorf("p2p: protocol %q already has a handler", protocol)
	}
	h.mu.handlers[protocol] = handler
	return nil
}

// Sessions lists every registered session, duplicates being resolved
// included, sorted by peer and age. The slice is the caller's.
func (h *Host) Sessions() []SessionInfo {
	h.mu.Lock()
	out := make([]SessionInfo, 0, len(h.mu.sessions))
	for _, s := range h.mu.sessions {
		out = append(out, h.infoLocked(s))
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].PeerID != out[j].PeerID {
			return out[i].PeerID < out[j].PeerID
		}
		return out[i].Since.Before(out[j].Since)
	})
	return out
}

func (h *Host) infoLocked(s *session) SessionInfo {
	return SessionInfo{
		PeerID: s.peer.NodeID, Name: s.peer.Name, Org: s.peer.Org, MSPID: s.peer.MSPID, Role: s.peer.Role,
		Addr: s.peer.ListenAddr, Remote: s.remote, DialedBy: s.dialed.String(), Since: s.since,
		State: h.mu.table.connState(s.id), Conn: s.fingerprint,
	}
}

// Run listens (unless dial-only), keeps the wanted sessions and serves
// streams until ctx is cancelled; then it retires every session, lets
// streams drain (bounded by DrainTimeout), closes everything and returns.
// It returns an error only if it cannot start.
func (h *Host) Run(ctx context.Context) error {
	h.mu.Lock()
	switch h.mu.state {
	case stateRunning, stateStopping:
		h.mu.Unlock()
		return ErrAlreadyRunning
	case stateStopped:
		h.mu.Unlock()
		return ErrClosed
	}
	var ln net.Listener
	if h.opts.ListenAddr != "" {
		var err error
		ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", h.opts.ListenAddr)
		if err != nil {
			h.stopLocked()
			h.mu.Unlock()
			close(h.ready)
			return fmt.Errorf("p2p: listen: %w", err)
		}
		h.mu.addr = ln.Addr()
	}
	h.mu.advert = advertiseAddr(h.opts.AdvertiseAddr, h.opts.ListenAddr, h.mu.addr)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	h.mu.state, h.mu.runCtx = stateRunning, runCtx
	h.served = make(map[string]Handler, len(h.mu.handlers))
	for p, fn := range h.mu.handlers {
		h.served[p] = fn
	}
	for _, w := range h.mu.wants {
		h.startDialLoopLocked(w)
	}
	if ln != nil {
		h.wg.Add(1)
		go h.acceptLoop(runCtx, ln)
	}
	advert := h.mu.advert
	h.mu.Unlock()
	close(h.ready)
	h.log.Info("p2p host running", "node_id", short(h.id), "name", h.opts.Self.Name, "listen", advert)

	h.wg.Add(1)
	go h.revalidateLoop(runCtx)
	<-ctx.Done()
	h.mu.Lock()
	h.mu.state = stateStopping
	h.applyLocked(h.mu.table.shutdownAll())
	h.mu.Unlock()
	cancel()
	if ln != nil {
		_ = ln.Close()
	}
	h.wg.Wait()
	h.mu.Lock()
	h.stopLocked()
	h.mu.Unlock()
	h.log.Info("p2p host stopped", "node_id", short(h.id))
	return nil
}

// Revalidate checks every session's peer certificates with the MSP again
// and closes the sessions whose peer it no longer admits (revoked or
// expired since the handshake): a CRL must cut existing sessions, not only
// refuse new ones. It returns how many it closed. Run calls it every
// RevalidateEvery; nodes may call it after installing a CRL.
func (h *Host) Revalidate() int {
	h.mu.Lock()
	sessions := make([]*session, 0, len(h.mu.sessions))
	for _, s := range h.mu.sessions {
		sessions = append(sessions, s)
	}
	h.mu.Unlock()
	closed := 0
	for _, s := range sessions {
		for _, c := range s.certs {
			id, err := h.opts.Verifier.Identify(c)
			if err == nil && !id.Role.IsNode() {
				err = fmt.Errorf("%w: role %s", ErrNotNode, id.Role)
			}
			if err == nil {
				continue
			}
			h.log.Warn("p2p session closed: the peer's certificate is no longer valid", "peer", short(s.peer.NodeID), "name", s.peer.Name, "reason", err)
			h.metrics.revoked.Inc()
			_ = s.conn.Close() // the multiplexer shuts down and reports the session closed
			closed++
			break
		}
	}
	return closed
}

func (h *Host) revalidateLoop(ctx context.Context) {
	defer h.wg.Done()
	t := time.NewTicker(h.opts.RevalidateEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.Revalidate()
		}
	}
}

// stopLocked marks the host stopped and releases everyone waiting on it.
func (h *Host) stopLocked() {
	h.mu.state = stateStopped
	for id, ch := range h.mu.subs {
		close(ch)
		delete(h.mu.subs, id)
	}
	for peer, ch := range h.mu.waiters {
		close(ch)
		delete(h.mu.waiters, peer)
	}
}

// advertiseAddr is the configured advertise address, else the bound
// address when the listen address names a specific host.
func advertiseAddr(configured, listen string, bound net.Addr) string {
	if configured != "" || bound == nil {
		return configured
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return ""
	}
	return bound.String()
}

// establish registers a connection whose handshake succeeded and starts
// its multiplexer. w is the want that dialed it (nil for inbound).
func (h *Host) establish(tc net.Conn, res *handshakeResult, w *want) error {
	s := &session{
		h: h, id: connID(h.conns.Add(1)), peer: res.peer, dialed: res.dialed, fingerprint: res.fingerprint,
		remote: tc.RemoteAddr().String(), since: time.Now(), conn: tc, certs: res.certs, draining: make(chan struct{}),
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.state != stateRunning {
		herr := &HandshakeError{Remote: s.remote, Peer: s.peer.NodeID, Err: ErrHandshakeShutdown}
		h.handshakeFailed(herr)
		_ = tc.Close()
		return herr
	}
	eff, err := h.mu.table.add(s.id, res.peer.NodeID, res.rank)
	if err != nil {
		herr := &HandshakeError{Remote: s.remote, Peer: s.peer.NodeID, Err: err}
		h.handshakeFailed(herr)
		_ = tc.Close()
		return herr
	}
	if w != nil && w.spec.NodeID == "" {
		w.learned = res.peer.NodeID
	}
	h.mu.sessions[s.id] = s
	s.ctx, s.cancel = context.WithCancel(h.mu.runCtx)
	direction := "inbound"
	if res.dialed == DialedBySelf {
		direction = "outbound"
	}
	h.metrics.handshakes.WithLabelValues(direction).Inc()
	h.log.Debug("p2p session registered", "peer", short(s.peer.NodeID), "name", s.peer.Name, "dialed_by", s.dialed, "conn", s.fingerprint)
	s.start(h.muxConf)
	h.applyLocked(eff)
	return nil
}

// applyLocked carries out a table step's effects: publish events, start
// the goroutines that ping, notify and drain, and wake whoever waits on
// the peers concerned.
func (h *Host) applyLocked(eff effects) {
	touched := map[string]bool{}
	for _, e := range eff.events {
		touched[e.peer] = true
		h.publishLocked(e)
	}
	for _, id := range eff.confirm {
		if s := h.mu.sessions[id]; s != nil {
			h.wg.Add(1)
			go s.confirm()
		}
	}
	for _, n := range eff.notify {
		if s := h.mu.sessions[n.conn]; s != nil {
			touched[s.peer.NodeID] = true
			h.wg.Add(1)
			go s.retire(n.reason)
		}
	}
	for _, id := range eff.drain {
		if s := h.mu.sessions[id]; s != nil {
			h.wg.Add(1)
			go s.drain()
		}
	}
	for peer := range touched {
		if ch := h.mu.waiters[peer]; ch != nil {
			close(ch)
			delete(h.mu.waiters, peer)
		}
	}
	if len(touched) > 0 {
		for _, w := range h.mu.wants {
			if touched[w.nodeID()] {
				select {
				case w.wake <- struct{}{}:
				default:
				}
			}
		}
	}
	h.metrics.connections.Set(float64(len(h.mu.table.conns)))
	active := 0
	for _, p := range h.mu.table.peers {
		if p.active != nil {
			active++
		}
	}
	h.metrics.sessions.Set(float64(active))
}

// sessionClosed removes a session whose multiplexer has shut down.
func (h *Host) sessionClosed(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.applyLocked(h.mu.table.closed(s.id))
	delete(h.mu.sessions, s.id)
}

// AttemptsDone returns a channel that is closed once no connection
// attempt (inbound handshake or outbound dial) is in progress; it is
// closed already if none is. An observer that counts sessions (the storm
// load tool, tests) waits on it to count a settled state: an attempt still
// in flight may yet add a duplicate session. Safe for concurrent use.
func (h *Host) AttemptsDone() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.pending+h.mu.dialing == 0 {
		done := make(chan struct{})
		close(done)
		return done
	}
	if h.mu.idle == nil {
		h.mu.idle = make(chan struct{})
	}
	return h.mu.idle
}

// attemptEndedLocked releases AttemptsDone waiters when the last attempt
// in progress ends.
func (h *Host) attemptEndedLocked() {
	if h.mu.pending+h.mu.dialing == 0 && h.mu.idle != nil {
		close(h.mu.idle)
		h.mu.idle = nil
	}
}
