package release_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	crelease "github.com/folio-ledger/folio/client/release"
	"github.com/folio-ledger/folio/internal/release"
	"github.com/folio-ledger/folio/internal/release/releasetest"
	"github.com/folio-ledger/folio/internal/release/schedule"
)

// testClock is a peer's clock that a test moves forward.
type testClock struct{ off atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *testClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// refusals counts the calls of PeerOptions.Refused per limit.
type refusals struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *refusals) add(limit string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[limit]++
}

func (r *refusals) get(limit string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[limit]
}

// subscription is an answer to a subscribe request: the code and message
// of a refusal, or the open event stream of a subscription.
type subscription struct {
	code   connect.Code // 0 when accepted
	msg    string
	stream *connect.ServerStreamForClient[foliov1.SubscribeResponse]
}

func (s subscription) close() {
	if s.stream != nil {
		s.stream.Close()
	}
}

// subscribe asks a peer for a subscription under client name; an accepted
// one is open (its hello event read) until closed.
func subscribe(t *testing.T, n *releasetest.Net, c *crelease.Client, peer, rid, name string) subscription {
	t.Helper()
	stream, err := apiAt(n, c, peer).Subscribe(context.Background(), connect.NewRequest(&foliov1.SubscribeRequest{ReleaseId: rid, Client: name}))
	if err == nil {
		if stream.Receive() {
			if ev := stream.Msg(); ev.GetType() != foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_HELLO {
				t.Errorf("subscription %s: first event %v", name, ev)
			}
			return subscription{stream: stream}
		}
		err = stream.Err()
		stream.Close()
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Errorf("subscription %s: %v", name, err)
		return subscription{code: connect.CodeUnknown, msg: fmt.Sprint(err)}
	}
	return subscription{code: ce.Code(), msg: ce.Message()}
}

// TestSubscriptionLimits: an enrolled client subscribing under 10,000
// fresh names gets 16 subscriptions and then refusals (resource_exhausted) naming the
// limit and its setting; the peer holds no more than the limit; other
// callers are not affected; re-subscribing under a name held is allowed;
// a subscription that expired frees its slot, one with an open stream
// never expires; a release's subscriptions are bounded over all callers.
// Every refusal is reported to PeerOptions.Refused.
func TestSubscriptionLimits(t *testing.T) {
	clk := &testClock{}
	var refused1, refused2 refusals
	// TTLs far longer than the test, so that nothing expires but by the
	// moved clock.
	const ttl = 5 * time.Minute
	n := releasetest.Start(t, releasetest.Options{Logger: testLogger(t), Tune: func(name string, o *release.PeerOptions) {
		switch name {
		case "peer0.org1":
			o.Now, o.SubscriptionTTL, o.Refused = clk.Now, ttl, refused1.add
		case "peer0.org2":
			o.MaxSubscriptions, o.SubscriptionTTL, o.Refused = 40, time.Hour, refused2.add
		}
	}})
	_, rec := create(t, n, "W1", time.Now().Add(time.Hour), crelease.CreateOptions{})
	alice := n.Client(t, n.User(t, 0, "alice"), "peer0.org1", nil)

	// 10,000 fresh names from one identity, 8 at a time.
	const names = 10_000
	var accepted []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := atomic.Int64{}
	want := fmt.Sprintf("alice@Org1 already has 16 subscriptions to release %s on peer0.org1 (limit release.max_subscriptions_per_client)", rec.ID)
	var badRefusals atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= names; i = next.Add(1) {
				name := fmt.Sprintf("alice@Org1/c%05d", i)
				s := subscribe(t, n, alice, "peer0.org1", rec.ID, name)
				switch {
				case s.code == 0:
					s.close()
					mu.Lock()
					accepted = append(accepted, name)
					mu.Unlock()
				case s.code != connect.CodeResourceExhausted || s.msg != want:
					if badRefusals.Add(1) < 3 {
						t.Errorf("%s: %v %q\nwant resource_exhausted %q", name, s.code, s.msg, want)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(accepted) != 16 || badRefusals.Load() != 0 {
		t.Fatalf("%d of %d names accepted (want 16), %d bad refusals", len(accepted), names, badRefusals.Load())
	}
	if got := refused1.get(release.LimitSubscriptionsPerClient); got != names-16 {
		t.Fatalf("Refused(%s) called %d times, want %d", release.LimitSubscriptionsPerClient, got, names-16)
	}
	if st := status(t, alice, "peer0.org1", rec.ID); st.Subscriptions != 16 {
		t.Fatalf("peer0.org1 holds %d subscriptions, want 16", st.Subscriptions)
	}
	// A refused name has no entry: its progress is not taken.
	_, perr := apiAt(n, alice, "peer0.org1").ReportProgress(ctxT(t, 10*time.Second), connect.NewRequest(&foliov1.ReportProgressRequest{
		ReleaseId: rec.ID, Client: "alice@Org1/c99999", Bytes: 1, Total: 2}))
	if connect.CodeOf(perr) != connect.CodeFailedPrecondition {
		t.Fatalf("progress under a refused name: %v, want failed_precondition", perr)
	}

	// Re-subscribing under a name held reuses its entry, at the limit.
	if s := subscribe(t, n, alice, "peer0.org1", rec.ID, accepted[0]); s.code != 0 {
		t.Fatalf("re-subscribe as %s: %v %s", accepted[0], s.code, s.msg)
	} else {
		s.close()
	}

	// Other callers are not affected; carol keeps her 16 streams open.
	bob := n.Client(t, n.User(t, 0, "bob"), "peer0.org1", nil)
	if s := subscribe(t, n, bob, "peer0.org1", rec.ID, "bob@Org1"); s.code != 0 {
		t.Fatalf("bob: %v %s", s.code, s.msg)
	} else {
		s.close()
	}
	carol := n.Client(t, n.User(t, 1, "carol"), "peer0.org1", nil)
	var open []subscription
	for i := range 16 {
		s := subscribe(t, n, carol, "peer0.org1", rec.ID, fmt.Sprintf("carol@Org2/%d", i))
		if s.code != 0 {
			t.Fatalf("carol %d: %v %s", i, s.code, s.msg)
		}
		open = append(open, s)
	}
	defer func() {
		for _, s := range open {
			s.close()
		}
	}()
	if st := status(t, alice, "peer0.org1", rec.ID); st.Subscriptions != 33 {
		t.Fatalf("peer0.org1 holds %d subscriptions, want 16 + 1 + 16", st.Subscriptions)
	}

	// Once alice's and bob's streams have ended (the edge no longer lists
	// them as live) and the TTL has passed, their entries expire: alice
	// may subscribe again. carol's open streams never expire. An edge
	// counts a client live for 3 ping intervals after its last stream
	// ended: time passing is the point of this wait, so it polls.
	waitPolling(t, 10*time.Second, "closed subscriptions idle", func() error {
		for _, c := range status(t, alice, "peer0.org1", rec.ID).Subscribers {
			if !strings.HasPrefix(c.Client, "carol@") {
				return fmt.Errorf("%s still live", c.Client)
			}
		}
		return nil
	})
	clk.Advance(ttl + time.Second)
	again := subscribe(t, n, alice, "peer0.org1", rec.ID, "alice@Org1/again")
	if again.code != 0 {
		t.Fatalf("alice after her subscriptions expired: %v %s", again.code, again.msg)
	}
	defer again.close()
	if st := status(t, alice, "peer0.org1", rec.ID); st.Subscriptions != 17 {
		t.Fatalf("after expiry peer0.org1 holds %d subscriptions, want 16 (carol) + 1 (alice again)", st.Subscriptions)
	}
	clk.Advance(ttl + time.Second)
	s := subscribe(t, n, carol, "peer0.org1", rec.ID, "carol@Org2/more")
	if s.code != connect.CodeResourceExhausted || !strings.Contains(s.msg, "carol@Org2 already has 16 subscriptions") {
		t.Fatalf("carol with 16 open streams, two TTLs later: %v %q", s.code, s.msg)
	}
	if st := status(t, alice, "peer0.org1", rec.ID); st.Subscriptions != 17 {
		t.Fatalf("two TTLs later peer0.org1 holds %d subscriptions, want the 17 with open streams", st.Subscriptions)
	}

	// The release limit (40 at peer0.org2) bounds all callers together.
	wantRel := fmt.Sprintf("release %s already has 40 subscriptions on peer0.org2 (limit release.max_subscriptions)", rec.ID)
	got := 0
	for u := range 3 {
		cl := n.Client(t, n.User(t, 1, fmt.Sprintf("user%d", u)), "peer0.org2", nil)
		for i := range 16 {
			s := subscribe(t, n, cl, "peer0.org2", rec.ID, fmt.Sprintf("user%d@Org2/%d", u, i))
			switch {
			case s.code == 0:
				s.close()
				got++
			case s.code != connect.CodeResourceExhausted || s.msg != wantRel:
				t.Fatalf("user%d/%d: %v %q\nwant resource_exhausted %q", u, i, s.code, s.msg, wantRel)
			}
		}
	}
	if got != 40 || refused2.get(release.LimitSubscriptions) != 8 || refused2.get(release.LimitSubscriptionsPerClient) != 0 {
		t.Fatalf("peer0.org2: %d accepted, refusals %v", got, refused2.n)
	}
	if st := status(t, alice, "peer0.org2", rec.ID); st.Subscriptions != 40 {
		t.Fatalf("peer0.org2 holds %d subscriptions, want 40", st.Subscriptions)
	}
}

// TestHistoryAtStart: a peer starting with a clients.json keeps the
// histories updated within release.history_ttl (their rates feed the
// predictions of subscribed clients) and drops the others.
func TestHistoryAtStart(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	entry := func(at time.Time, bps float64) map[string]any {
		return map[string]any{"samples": []schedule.Sample{{At: at, RateBps: bps}}, "updated": at}
	}
	raw, _ := json.Marshal(map[string]any{
		"alice@Org1": entry(now.Add(-time.Hour), 5e6),
		"old@Org1":   entry(now.Add(-40*24*time.Hour), 7e6),
	})
	if err := os.MkdirAll(filepath.Join(dir, "peer0.org1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "peer0.org1", "clients.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	n := releasetest.Start(t, releasetest.Options{Logger: testLogger(t), DataDir: dir})
	_, rec := create(t, n, "W1", time.Now().Add(10*time.Minute), crelease.CreateOptions{})
	alice := n.Client(t, n.User(t, 0, "alice"), "peer0.org1", nil)
	old := n.Client(t, n.User(t, 0, "old"), "peer0.org1", nil)
	for _, c := range []struct {
		cl   *crelease.Client
		name string
	}{{alice, "alice@Org1"}, {old, "old@Org1"}} {
		s := subscribe(t, n, c.cl, "peer0.org1", rec.ID, c.name)
		if s.code != 0 {
			t.Fatalf("%s: %v %s", c.name, s.code, s.msg)
		}
		defer s.close()
	}
	rates := map[string]float64{}
	for _, c := range status(t, alice, "peer0.org1", rec.ID).Subscribers {
		rates[c.Client] = c.RateBps
	}
	if rates["alice@Org1"] != 5e6 || rates["old@Org1"] != 0 {
		t.Fatalf("predicted rates %v: want alice@Org1's history (5e6) kept, old@Org1's (40 days) dropped", rates)
	}
}

func TestLimitError(t *testing.T) {
	err := fmt.Errorf("subscribe: %w", &release.LimitError{Setting: release.LimitSubscriptions, Detail: "release R already has 2 subscriptions on p"})
	var le *release.LimitError
	if !errors.Is(err, release.ErrResourceExhausted) || !errors.As(err, &le) || le.Setting != "release.max_subscriptions" {
		t.Fatalf("%v: not a LimitError for release.max_subscriptions", err)
	}
	if got, want := err.Error(), "subscribe: resource_exhausted: release R already has 2 subscriptions on p (limit release.max_subscriptions)"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}

// TestLimitDefaults: the documented defaults, and a subscription TTL
// shorter than the time after which the key servers stop waiting for a
// client is refused at start, naming the setting.
func TestLimitDefaults(t *testing.T) {
	var o release.PeerOptions
	o.EnsureDefaults()
	if o.MaxSubscriptionsPerClient != 16 || o.MaxSubscriptions != 10_000 || o.SubscriptionTTL != 20*time.Second ||
		o.MaxHistoryClients != 10_000 || o.HistoryTTL != 30*24*time.Hour || o.Refused == nil {
		t.Fatalf("defaults: per client %d, per release %d, subscription TTL %s, histories %d, history TTL %s",
			o.MaxSubscriptionsPerClient, o.MaxSubscriptions, o.SubscriptionTTL, o.MaxHistoryClients, o.HistoryTTL)
	}
	o.Refused(release.LimitSubscriptions) // the default does nothing
	o.SubscriptionTTL = 5 * time.Second
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "release.subscription_ttl 5s is shorter than 3 x the ping interval (6s)") {
		t.Fatalf("a 5s subscription TTL with a 2s ping interval: %v", err)
	}
}
