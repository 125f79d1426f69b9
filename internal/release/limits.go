package release

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Setting names of the limits on per-client state, as the node
// configuration spells them. LimitError.Setting and PeerOptions.Refused
// use them; docs/release.md lists them with their defaults.
const (
	LimitSubscriptionsPerClient = "release.max_subscriptions_per_client"
	LimitSubscriptions          = "release.max_subscriptions"
	LimitSubscriptionTTL        = "release.subscription_ttl"
	LimitHistoryClients         = "release.max_history_clients"
	LimitHistoryTTL             = "release.history_ttl"
)

// ErrResourceExhausted: a request was refused because a limit on the state
// the peer keeps for clients is reached. The node stays up and nothing
// already held is lost; the error is a *LimitError saying which limit.
var ErrResourceExhausted = errors.New("resource_exhausted")

// LimitError is a request refused at a limit. Its text is what the client
// reads (HTTP 429): "resource_exhausted: DETAIL (limit SETTING)".
// errors.Is(err, ErrResourceExhausted) holds.
type LimitError struct {
	// Setting is the configuration setting that raises the limit
	// (a Limit* constant).
	Setting string
	// Detail says what is at the limit, e.g. "alice@Org1 already has 16
	// subscriptions to release R on peer0.org1".
	Detail string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%v: %s (limit %s)", ErrResourceExhausted, e.Detail, e.Setting)
}

// Is makes errors.Is(err, ErrResourceExhausted) hold.
func (e *LimitError) Is(target error) bool { return target == ErrResourceExhausted }

// idle: no subscribe stream and no plaintext request is open.
func (s *sub) idle() bool { return s.streams == 0 && s.plain == 0 }

// leaveLocked ends one open stream or plaintext request of sb at now;
// when none is left open, sb may expire SubscriptionTTL later.
func (r *rel) leaveLocked(sb *sub, now time.Time) {
	sb.lastSeen = now
	if !sb.idle() {
		return
	}
	if exp := now.Add(r.p.o.SubscriptionTTL); r.mu.pruneAt.IsZero() || exp.Before(r.mu.pruneAt) {
		r.mu.pruneAt = exp
	}
}

// admitLocked decides whether caller may add a subscription under a new
// client name at now. When a limit is reached it first deletes the
// subscriptions that expired, so a client that went away frees its slot.
func (r *rel) admitLocked(caller string, now time.Time) *LimitError {
	o := &r.p.o
	if r.mu.byCaller[caller] >= o.MaxSubscriptionsPerClient || len(r.mu.subs) >= o.MaxSubscriptions {
		r.pruneSubsLocked(now)
	}
	if n := r.mu.byCaller[caller]; n >= o.MaxSubscriptionsPerClient {
		return &LimitError{Setting: LimitSubscriptionsPerClient,
			Detail: fmt.Sprintf("%s already has %d subscriptions to release %s on %s", caller, n, r.rec.ID, r.p.name())}
	}
	if n := len(r.mu.subs); n >= o.MaxSubscriptions {
		return &LimitError{Setting: LimitSubscriptions,
			Detail: fmt.Sprintf("release %s already has %d subscriptions on %s", r.rec.ID, n, r.p.name())}
	}
	return nil
}

// addSubLocked records a new subscription of caller under client name.
func (r *rel) addSubLocked(caller, client string) *sub {
	sb := &sub{client: client, caller: caller, pings: map[int64]time.Time{}}
	r.mu.subs[client] = sb
	r.mu.byCaller[caller]++
	return sb
}

// pruneSubsLocked deletes the subscriptions idle for SubscriptionTTL at
// now and returns how many. It costs nothing before pruneAt, the earliest
// time one can have expired, so refusals at a limit stay cheap.
func (r *rel) pruneSubsLocked(now time.Time) int {
	if r.mu.pruneAt.IsZero() || now.Before(r.mu.pruneAt) {
		return 0
	}
	ttl := r.p.o.SubscriptionTTL
	var next time.Time
	n := 0
	for name, s := range r.mu.subs {
		if !s.idle() {
			continue
		}
		exp := s.lastSeen.Add(ttl)
		if now.Before(exp) {
			if next.IsZero() || exp.Before(next) {
				next = exp
			}
			continue
		}
		delete(r.mu.subs, name)
		if r.mu.byCaller[s.caller]--; r.mu.byCaller[s.caller] <= 0 {
			delete(r.mu.byCaller, s.caller)
		}
		n++
	}
	r.mu.pruneAt = next
	return n
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
		r.mu.Lock()
		n := r.pruneSubsLocked(now)
		r.mu.Unlock()
		if n > 0 {
			p.log.Debug("expired subscriptions deleted", "rid", r.rec.ID, "deleted", n, "setting", LimitSubscriptionTTL)
		}
	}
	expired, evicted := p.history.expire(now)
	if expired > 0 || evicted > 0 {
		p.log.Info("client rate histories dropped", "expired", expired, "ttl_setting", LimitHistoryTTL,
			"evicted", evicted, "max_setting", LimitHistoryClients)
	}
}

// refuse answers a request refused at a limit (429 with the LimitError's
// text) and tells PeerOptions.Refused. Call it without holding a lock.
func (p *Peer) refuse(w http.ResponseWriter, err *LimitError) {
	p.log.Debug("request refused at a limit", "limit", err.Setting, "detail", err.Detail)
	p.o.Refused(err.Setting)
	httpError(w, http.StatusTooManyRequests, "%v", err)
}
