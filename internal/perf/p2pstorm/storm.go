package p2pstorm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/p2p/p2ptest"
)

// Options configures Run.
type Options struct {
	// Nodes is the number of nodes, at least 2. Required.
	Nodes int
	// Rounds is how many times the storm runs, each with fresh hosts.
	// Default 1.
	Rounds int
	// Seed seeds the random delays; 0 takes one from the clock.
	Seed uint64
	// MaxDelay bounds the random delay after which each node declares
	// (and so dials) each other node. Default 50ms.
	MaxDelay time.Duration
	// RoundTimeout bounds one round's wait for convergence. Default 3m.
	RoundTimeout time.Duration
	// Orgs is the number of organisations the nodes are spread over.
	// Default 2.
	Orgs int
	// Logger receives the hosts' logs. Default: discard.
	Logger *slog.Logger
	// Host adjusts each node's options (tests use it); may be nil.
	Host func(*p2p.Options)
}

// EnsureDefaults fills in the defaults of unset fields.
func (o *Options) EnsureDefaults() {
	if o.Rounds == 0 {
		o.Rounds = 1
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = 50 * time.Millisecond
	}
	if o.RoundTimeout == 0 {
		o.RoundTimeout = 3 * time.Minute
	}
	if o.Orgs == 0 {
		o.Orgs = 2
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
}

// Validate reports options Run cannot use.
func (o *Options) Validate() error {
	if o.Nodes < 2 || o.Rounds < 1 || o.Orgs < 1 || o.MaxDelay < 0 || o.RoundTimeout <= 0 {
		return fmt.Errorf("p2p storm: need at least 2 nodes, 1 round, 1 organisation and non-negative delays (got %d nodes, %d rounds, %d organisations, max delay %s, round timeout %s)",
			o.Nodes, o.Rounds, o.Orgs, o.MaxDelay, o.RoundTimeout)
	}
	return nil
}

// Result is the outcome of Run, as `folio p2p storm --json` prints it.
type Result struct {
	Nodes  int `json:"nodes"`
	Rounds int `json:"rounds"`
	// Sessions is the number of distinct sessions between all pairs after
	// the last round (N*(N-1)/2 when every pair has exactly one).
	Sessions int `json:"sessions"`
	// DuplicatesLeft counts, summed over rounds, sessions beyond the first
	// between a pair when the round ended (the two ends disagreeing on
	// the survivor counts as a duplicate).
	DuplicatesLeft int `json:"duplicates_left"`
	// MissingPairs counts, summed over rounds, pairs where an end had no
	// active session when the round ended.
	MissingPairs int `json:"missing_pairs"`
	// ConvergeMS is the slowest round's time from the first declaration
	// to convergence (or to the round timeout), in milliseconds.
	ConvergeMS int64 `json:"converge_ms"`
}

// Run runs the simultaneous-dial stress test in this process: it mints a
// throw-away consortium, starts Nodes hosts on 127.0.0.1 (all sharing one
// IP), makes every node declare every other node at once (after a random
// delay below MaxDelay), waits for the event stream to show convergence
// (every pair has exactly one active session and both ends name the same
// one), counts, tears down, and repeats for Rounds.
//
// Both ends of every connection live in this process, so a round may
// need up to 4*Nodes*(Nodes-1) file descriptors; Run raises
// RLIMIT_NOFILE as far as it may (beyond that, dials and accepts that hit
// the limit back off and retry).
func Run(ctx context.Context, o Options) (Result, error) {
	o.EnsureDefaults()
	res := Result{Nodes: o.Nodes, Rounds: o.Rounds}
	if err := o.Validate(); err != nil {
		return res, err
	}
	// Each pair's connection has both ends in this process, and a pair may
	// briefly hold two connections.
	if err := ensureFileLimit(uint64(4*o.Nodes*(o.Nodes-1) + 512)); err != nil {
		o.Logger.Warn("p2p storm: file descriptors may run short; dials and accepts then back off and retry", "err", err)
	}
	consortium, err := p2ptest.NewConsortium(o.Orgs)
	if err != nil {
		return res, err
	}
	creds := make([]*p2ptest.Node, o.Nodes)
	for i := range creds {
		org := i % o.Orgs
		if creds[i], err = consortium.IssueNode(org, fmt.Sprintf("peer%d.org%d", i/o.Orgs, org+1), identity.RolePeer); err != nil {
			return res, err
		}
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	for r := 0; r < o.Rounds; r++ {
		round, err := runRound(ctx, o, consortium.Verifier, creds, rng)
		if err != nil {
			return res, fmt.Errorf("p2p storm round %d: %w", r+1, err)
		}
		res.Sessions = round.Sessions
		res.DuplicatesLeft += round.DuplicatesLeft
		res.MissingPairs += round.MissingPairs
		res.ConvergeMS = max(res.ConvergeMS, round.ConvergeMS)
		o.Logger.Info("p2p storm round", "round", r+1, "sessions", round.Sessions, "duplicates_left", round.DuplicatesLeft,
			"missing_pairs", round.MissingPairs, "converge_ms", round.ConvergeMS)
	}
	return res, nil
}

// runRound runs one round with fresh hosts.
func runRound(ctx context.Context, o Options, v *identity.Verifier, creds []*p2ptest.Node, rng *rand.Rand) (Result, error) {
	n := len(creds)
	hosts := make([]*p2p.Host, n)
	for i, c := range creds {
		opts := p2p.Options{
			Self: c.Self, TLS: c.TLS, Verifier: v, ListenAddr: "127.0.0.1:0", Logger: o.Logger.With("node", c.Self.Name),
			MaxSessions: 2*n + 16, MaxPendingHandshakes: 2*n + 16,
			// Every handshake of the round competes for the same CPUs.
			HandshakeTimeout: time.Minute, BackoffMin: 50 * time.Millisecond, BackoffMax: 2 * time.Second,
		}
		if o.Host != nil {
			o.Host(&opts)
		}
		h, err := p2p.New(opts)
		if err != nil {
			return Result{}, err
		}
		hosts[i] = h
	}

	runCtx, stop := context.WithCancel(ctx)
	var running sync.WaitGroup
	runErrs := make([]error, n)
	for i, h := range hosts {
		running.Add(1)
		go func() {
			defer running.Done()
			runErrs[i] = h.Run(runCtx)
		}()
	}
	defer func() {
		stop()
		running.Wait()
	}()

	// changed is signalled (coalesced) on every session event of any host;
	// ups counts nodes up summed over hosts, so the full check runs only
	// once every host could be connected to every other.
	changed := make(chan struct{}, 1)
	var ups atomic.Int64
	for _, h := range hosts {
		ch, unsubscribe := h.Subscribe()
		defer unsubscribe()
		running.Add(1)
		go func() {
			defer running.Done()
			for ev := range ch {
				switch ev.Kind {
				case p2p.EventUp:
					ups.Add(1)
				case p2p.EventDown:
					ups.Add(-1)
				}
				select {
				case changed <- struct{}{}:
				default:
				}
			}
			// The channel closes when the host stops or drops a slow
			// subscriber; either way, make the waiter look again.
			select {
			case changed <- struct{}{}:
			default:
			}
		}()
	}
	for i, h := range hosts {
		<-h.Ready()
		if h.Addr() == nil {
			return Result{}, fmt.Errorf("node %d did not start: %w", i, errors.Join(runErrs[i], p2p.ErrClosed))
		}
	}

	start := time.Now()
	var timers []*time.Timer
	for i, h := range hosts {
		for j, peer := range hosts {
			if i == j {
				continue
			}
			spec := p2p.PeerSpec{NodeID: peer.ID(), Name: creds[j].Self.Name, Addr: peer.Addr().String()}
			delay := time.Duration(rng.Int64N(int64(o.MaxDelay) + 1))
			timers = append(timers, time.AfterFunc(delay, func() { _ = h.AddPeer(spec) }))
		}
	}
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()

	deadline := time.NewTimer(o.RoundTimeout)
	defer deadline.Stop()
	// Converged: every pair has one session both ends name, and no
	// connection attempt is still in flight anywhere (a dial started
	// before the other end's session came up would add a duplicate).
	all := int64(n * (n - 1))
wait:
	for {
		var busy <-chan struct{}
		if ups.Load() == all && converged(hosts) {
			for _, h := range hosts {
				if ch := h.AttemptsDone(); !isClosed(ch) {
					busy = ch
					break
				}
			}
			if busy == nil {
				break
			}
		}
		select {
		case <-changed:
		case <-busy: // nil (blocks) unless some host is still dialing
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	res := count(hosts)
	res.ConvergeMS = time.Since(start).Milliseconds()
	return res, nil
}

// converged reports whether every pair of hosts has exactly one session,
// active at both ends and the same connection.
func converged(hosts []*p2p.Host) bool {
	conn := make([]map[string]string, len(hosts))
	for i, h := range hosts {
		conn[i] = map[string]string{}
		for _, s := range h.Sessions() {
			if _, dup := conn[i][s.PeerID]; dup || s.State != "active" {
				return false
			}
			conn[i][s.PeerID] = s.Conn
		}
		if len(conn[i]) != len(hosts)-1 {
			return false
		}
	}
	for i := range hosts {
		for j := i + 1; j < len(hosts); j++ {
			if conn[i][hosts[j].ID()] != conn[j][hosts[i].ID()] {
				return false
			}
		}
	}
	return true
}

// count counts sessions, duplicates and missing pairs.
func count(hosts []*p2p.Host) Result {
	type view struct {
		conns  map[string][]string // peer -> connections
		active map[string]bool
	}
	views := make([]view, len(hosts))
	for i, h := range hosts {
		views[i] = view{conns: map[string][]string{}, active: map[string]bool{}}
		for _, s := range h.Sessions() {
			views[i].conns[s.PeerID] = append(views[i].conns[s.PeerID], s.Conn)
			if s.State == "active" {
				views[i].active[s.PeerID] = true
			}
		}
	}
	res := Result{Nodes: len(hosts), Rounds: 1}
	for i := range hosts {
		for j := i + 1; j < len(hosts); j++ {
			a, b := hosts[i].ID(), hosts[j].ID()
			union := map[string]bool{}
			for _, c := range views[i].conns[b] {
				union[c] = true
			}
			for _, c := range views[j].conns[a] {
				union[c] = true
			}
			res.Sessions += len(union)
			if len(union) > 1 {
				res.DuplicatesLeft += len(union) - 1
			}
			if !views[i].active[b] || !views[j].active[a] {
				res.MissingPairs++
			}
		}
	}
	return res
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
