package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/keys"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// Contract names on the channel.
const (
	ReleaseContract   = "release"
	CopyrightContract = "copyright"
)

// Errors callers branch on.
var (
	// ErrUnknownRelease: no such release on chain (or not yet).
	ErrUnknownRelease = errors.New("unknown release")
	// ErrRefused: this peer refuses to serve the release (its record does
	// not match the copyright record, or it names this peer wrongly).
	ErrRefused = errors.New("release refused by this peer")
	// ErrTooEarly: the key, a share or the plaintext was asked for before
	// the release time.
	ErrTooEarly = errors.New("too early: before the release time")
	// ErrClockSkew: this node's clock is too far from its peers' to act on
	// the release schedule.
	ErrClockSkew = errors.New("clock skew beyond the bound")
)

// Errors of client requests the API maps to their codes.
var (
	// errNotSubscribed: the request needs a subscription (of the right
	// kind) first.
	errNotSubscribed = errors.New("not subscribed")
	// ErrClientNameInUse: a subscription under a client name that a live
	// subscription of another fetch holds (two fetches sharing a name
	// would mix their progress and measurements).
	ErrClientNameInUse = errors.New("client name in use")
)

// Peer is a peer's release service, the composition root of its roles:
// it holds the table of releases it serves (each a rel with its roles:
// edge, key server, trusted edge), loads them from the chain, serves the
// node-to-node protocols (sessions.go) and the client API (API), and
// expires per-client state. Create it with StartPeer.
//
// Lock rules: mu guards the release table and the loads in progress;
// it is never held while a release is loaded or while any role's lock is
// taken. Every goroutine the service starts is counted in the WaitGroup
// given to StartPeer and returns when its context ends.
type Peer struct {
	env
	ctx context.Context
	wg  *sync.WaitGroup

	mu struct {
		sync.Mutex
		releases map[string]*rel
		// loading has a channel per release being loaded from the chain,
		// closed when done (one load at a time per release).
		loading map[string]chan struct{}
	}
}

// StartPeer validates the options, registers the "content" and "keys"
// protocols on the host, and starts the service's background work (chain
// polling, clock comparison, expiry of per-client state, and per release:
// fetching, key serving, trusted-edge decryption). It must be called
// before Host.Run; the caller then serves API() on the client API
// listener. Goroutines are added to wg and stop when ctx ends.
func StartPeer(ctx context.Context, wg *sync.WaitGroup, o PeerOptions) (*Peer, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("release: data dir: %w", err)
	}
	kex, err := keys.LoadOrCreateKex(filepath.Join(o.DataDir, "kex.pem"))
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	info, err := keys.Describe(o.Self, kex)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	hist, err := openHistory(filepath.Join(o.DataDir, "clients.json"), o.MaxHistoryClients, o.HistoryTTL, o.Now())
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	p := &Peer{env: env{o: &o, log: o.Logger, kex: kex, info: info, history: hist}, ctx: ctx, wg: wg}
	p.env.spawn = p.spawn
	p.mu.releases = map[string]*rel{}
	p.mu.loading = map[string]chan struct{}{}
	p.setPeers(o.Channel)
	p.clock = newClocks(&p.env)
	if err := o.Host.HandleCall(wire.ProtoContent, p.serveContent); err != nil {
		return nil, err
	}
	if err := o.Host.HandleCall(wire.ProtoKeys, p.serveKeys); err != nil {
		return nil, err
	}
	p.spawn(p.pollChain)
	p.spawn(p.clock.run)
	p.spawn(p.sweep)
	p.spawn(func(ctx context.Context) {
		hist.run(ctx, func(err error) { p.log.Warn("save client rate histories", "err", err) })
	})
	return p, nil
}

// SetChannel makes the peers of a configuration that came into force the
// channel's (a membership change): releases fetch from, relay to and
// measure clocks with them from now on.
func (p *Peer) SetChannel(cfg *foliov1.ChannelConfig) { p.setPeers(cfg) }

// spawn runs f in a goroutine owned by the service.
func (p *Peer) spawn(f func(ctx context.Context)) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f(p.ctx)
	}()
}

// pollChain finds releases nobody announced to this peer.
func (p *Peer) pollChain(ctx context.Context) {
	t := time.NewTicker(p.o.PollInterval)
	defer t.Stop()
	for {
		p.pollOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Peer) pollOnce(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, p.o.CallTimeout)
	defer cancel()
	raw, err := p.o.Chain.Evaluate(cctx, ReleaseContract, release.FnList, []byte(`{"limit":1000}`))
	if err != nil {
		if ctx.Err() == nil {
			p.log.Debug("poll releases", "err", err)
		}
		return
	}
	var l release.ListView
	if err := json.Unmarshal(raw, &l); err != nil {
		p.log.Warn("poll releases: undecodable answer", "err", err)
		return
	}
	for i := range l.Releases {
		r := &l.Releases[i]
		if _, end, err := r.Times(); err != nil || p.now().After(end.Add(time.Hour)) {
			continue
		}
		if _, err := p.release(ctx, r.ID); err != nil && ctx.Err() == nil {
			p.log.Warn("load release", "rid", r.ID, "work", r.Work, "err", err)
		}
	}
}

// release returns the release with ID rid, loading it from the chain (and
// starting its work) the first time.
func (p *Peer) release(ctx context.Context, rid string) (*rel, error) {
	for {
		p.mu.Lock()
		if r := p.mu.releases[rid]; r != nil {
			p.mu.Unlock()
			return r, nil
		}
		if wait := p.mu.loading[rid]; wait != nil {
			p.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		p.mu.loading[rid] = done
		p.mu.Unlock()
		r, err := p.load(ctx, rid)
		p.mu.Lock()
		delete(p.mu.loading, rid)
		if err == nil {
			p.mu.releases[rid] = r
		}
		p.mu.Unlock()
		close(done)
		if err != nil {
			return nil, err
		}
		r.start()
		return r, nil
	}
}

// known returns a release already loaded, or nil.
func (p *Peer) known(rid string) *rel {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.releases[rid]
}

// load reads a release from the chain and checks it against the copyright
// record: the owner and content hash must be the registered ones, else the
// release is kept as refused (so clients are told why).
func (p *Peer) load(ctx context.Context, rid string) (*rel, error) {
	if !wire.ValidRID(rid) {
		return nil, fmt.Errorf("%w: %q is not a release ID", ErrUnknownRelease, rid)
	}
	cctx, cancel := context.WithTimeout(ctx, p.o.CallTimeout)
	defer cancel()
	raw, err := p.o.Chain.Evaluate(cctx, ReleaseContract, release.FnGet, wire.Encode(release.RefArgs{ID: rid}))
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%w %s", ErrUnknownRelease, rid)
		}
		return nil, fmt.Errorf("read release %s: %w", rid, err)
	}
	var v release.View
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("release %s: undecodable record: %w", rid, err)
	}
	rec := v.Release
	if err := rec.Validate(); err != nil || rec.ID != rid || release.ReleaseID(rec.Work, rec.Owner) != rid {
		return nil, fmt.Errorf("release %s: invalid record on chain: %v", rid, err)
	}
	refused := p.checkAgainstCopyright(cctx, &rec)
	if refused == "" {
		refused = p.checkKeyServerEntry(&rec)
	}
	st, err := openStore(p.o.DataDir, &rec)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", rid, err)
	}
	r, err := newRel(&p.env, rec, st, refused)
	if err != nil {
		st.close()
		return nil, err
	}
	if refused != "" {
		p.log.Warn("release refused", "rid", rid, "work", rec.Work, "owner", rec.Owner, "reason", refused)
	}
	for _, pub := range v.Shares {
		// Shares already published on chain (a peer restarting after T).
		r.acceptPublished(pub)
	}
	return r, nil
}

// checkAgainstCopyright returns why the release must be refused, or "".
func (p *Peer) checkAgainstCopyright(ctx context.Context, rec *release.Record) string {
	raw, err := p.o.Chain.Evaluate(ctx, CopyrightContract, "get", wire.Encode(map[string]string{"id": rec.Work}))
	if err != nil {
		if isNotFound(err) {
			return fmt.Sprintf("work %q is not registered in the copyright contract", rec.Work)
		}
		return fmt.Sprintf("cannot read the copyright record of %q: %v", rec.Work, err)
	}
	var w struct {
		Owner       string `json:"owner"`
		ContentHash string `json:"content_hash"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return fmt.Sprintf("undecodable copyright record of %q", rec.Work)
	}
	switch {
	case w.Owner != rec.Owner:
		return fmt.Sprintf("release by %s, but work %q is owned by %s: not released by its owner", rec.Owner, rec.Work, w.Owner)
	case w.ContentHash != rec.ContentHash:
		return fmt.Sprintf("release content hash %s is not the registered content hash %s of work %q", rec.ContentHash, w.ContentHash, rec.Work)
	}
	return ""
}

// checkKeyServerEntry refuses a release that names this peer as a key
// server with a key that is not this peer's (a forged key server entry).
func (p *Peer) checkKeyServerEntry(rec *release.Record) string {
	for _, ks := range rec.KeyServers {
		if ks.Name == p.name() && (ks.NodeID != p.o.Self.ID() || ks.KexPub != p.info.KexPub) {
			return fmt.Sprintf("the release names %s as key server %d with a node ID or key-agreement key that is not this peer's", ks.Name, ks.Index)
		}
	}
	return ""
}

// sweepEvery is the period of sweep: half the subscription TTL, within
// [1s, 1min].
func (p *Peer) sweepEvery() time.Duration {
	return min(max(p.o.SubscriptionTTL/2, time.Second), time.Minute)
}

// sweep drops expired per-client state every sweepEvery until ctx ends:
// idle subscriptions past SubscriptionTTL in every release, and rate
// histories not updated for HistoryTTL.
func (p *Peer) sweep(ctx context.Context) {
	t := time.NewTicker(p.sweepEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.sweepOnce(p.now())
		}
	}
}

func (p *Peer) sweepOnce(now time.Time) {
	p.mu.Lock()
	rels := make([]*rel, 0, len(p.mu.releases))
	for _, r := range p.mu.releases {
		rels = append(rels, r)
	}
	p.mu.Unlock()
	for _, r := range rels {
		if n := r.edge.prune(now); n > 0 {
			p.log.Debug("expired subscriptions deleted", "rid", r.rec.ID, "deleted", n, "setting", LimitSubscriptionTTL)
		}
	}
	expired, evicted := p.history.expire(now)
	if expired > 0 || evicted > 0 {
		p.log.Info("client rate histories dropped", "expired", expired, "ttl_setting", LimitHistoryTTL,
			"evicted", evicted, "max_setting", LimitHistoryClients)
	}
}
