package release

import (
	"context"
	"crypto/ecdh"
	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/folio-ledger/folio/internal/release/keys"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// env is what the roles of every release share on this peer. It is built
// by StartPeer and never changes afterwards, so it needs no lock, except
// the channel's peers, which membership changes replace (SetPeers); the
// stores it points to (history, clock) guard themselves.
type env struct {
	o    *PeerOptions
	log  *slog.Logger
	kex  *ecdh.PrivateKey
	info *keys.KeyServerInfo
	// peerList holds every other peer of the channel (peers()).
	peerList atomic.Pointer[[]peerInfo]
	history  *historyStore
	clock    *clocks
	// spawn runs f in a goroutine owned by the service: counted in its
	// WaitGroup, given its context, which ends at shutdown.
	spawn func(f func(ctx context.Context))
}

// peerInfo is another peer of the channel.
type peerInfo struct {
	Name, Org, MSPID, NodeID string
}

func (e *env) now() time.Time { return e.o.Now() }

// name is this peer's name.
func (e *env) name() string { return e.o.Self.Name }

// peers returns every other peer of the channel, as the configuration in
// force lists them.
func (e *env) peers() []peerInfo {
	if p := e.peerList.Load(); p != nil {
		return *p
	}
	return nil
}

// setPeers makes cfg's peers other than this one the channel's.
func (e *env) setPeers(cfg *foliov1.ChannelConfig) {
	msp := map[string]string{}
	for _, org := range cfg.Orgs {
		msp[org.Name] = org.MspId
	}
	var out []peerInfo
	for _, n := range cfg.Peers {
		if n.NodeId != e.o.Self.ID() {
			out = append(out, peerInfo{Name: n.Name, Org: n.Org, MSPID: msp[n.Org], NodeID: n.NodeId})
		}
	}
	e.peerList.Store(&out)
}

// peerByName finds another peer of the channel.
func (e *env) peerByName(name string) (peerInfo, bool) {
	for _, x := range e.peers() {
		if x.Name == name {
			return x, true
		}
	}
	return peerInfo{}, false
}

// call sends one request of a session protocol to a peer (bounded by
// CallTimeout) and parses the reply's status.
func (e *env) call(ctx context.Context, nodeID, proto string, req []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, e.o.CallTimeout)
	defer cancel()
	reply, err := e.o.Host.Call(ctx, nodeID, proto, req)
	if err != nil {
		return nil, err
	}
	return wire.ParseReply(reply)
}

// sourcesFor orders the peers to fetch a release's content from: its
// origin first, then the others in random order (spreading the load).
func (e *env) sourcesFor(origin string) []peerInfo {
	var out, rest []peerInfo
	for _, x := range e.peers() {
		if x.Name == origin {
			out = append(out, x)
		} else {
			rest = append(rest, x)
		}
	}
	rand.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	return append(out, rest...)
}

// sleepUntil waits until t by the peer's clock; false if ctx ended first.
func (e *env) sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		d := t.Sub(e.now())
		if d <= 0 {
			return true
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
}

// signal wakes the waiters of one release when anything of it changes
// (a chunk stored, a share accepted, a subscriber's progress, the agreed
// time). A waiter takes C, then checks the state it waits for, then
// selects on the channel it took: a change between the check and the
// select closes that channel, so nothing is missed. Its lock is a leaf:
// notify may be called with a role's lock held.
type signal struct {
	mu struct {
		sync.Mutex
		ch chan struct{}
	}
}

func newSignal() *signal {
	s := &signal{}
	s.mu.ch = make(chan struct{})
	return s
}

// C returns the channel closed at the next notify.
func (s *signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.ch
}

// notify wakes every waiter.
func (s *signal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.mu.ch)
	s.mu.ch = make(chan struct{})
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
