package release_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	crelease "github.com/folio-ledger/folio/client/release"
	rc "github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/releasetest"
)

// testLogger is the peers' logger: with RELEASE_TEST_LOG set, every
// line to stderr; otherwise the last logTail lines are kept in memory and
// printed only if the test fails (a flake on a loaded CI machine must be
// diagnosable from its output alone).
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("RELEASE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ring := &logRing{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the peers' last %d log lines:\n%s", logTail, ring.String())
		}
	})
	return slog.New(slog.NewTextHandler(ring, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// logTail is how many log lines a failed test prints.
const logTail = 600

// logRing keeps the last logTail lines written to it (one Write per line,
// as slog's text handler does).
type logRing struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRing) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) == logTail {
		r.lines = append(r.lines[:0], r.lines[1:]...)
	}
	r.lines = append(r.lines, string(p))
	return len(p), nil
}

func (r *logRing) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "")
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// work writes a random work, registers it for owner and returns its path
// and bytes.
func work(t *testing.T, n *releasetest.Net, id, owner string, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	p := filepath.Join(t.TempDir(), id)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	n.Chain.Register(releasetest.Work{ID: id, Owner: owner, ContentHash: "sha256:" + hex.EncodeToString(sum[:])})
	return p, b
}

// create releases a fresh work of alice@Org1 at T.
func create(t *testing.T, n *releasetest.Net, id string, T time.Time, o crelease.CreateOptions) (*crelease.Client, *rc.Record) {
	t.Helper()
	owner := n.Client(t, n.User(t, 0, "alice"), n.Peers[0].Name, nil)
	file, _ := work(t, n, id, "alice@Org1", 300_000)
	o.Work, o.File, o.ReleaseAt = id, file, T
	if o.EndAt.IsZero() {
		o.EndAt = T.Add(20 * time.Second)
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = 64 << 10
	}
	res, err := owner.Create(ctxT(t, 30*time.Second), o)
	if err != nil {
		t.Fatal(err)
	}
	return owner, &res.Record
}

// status asks a peer's client API for its view of a release.
func status(t *testing.T, c *crelease.Client, peer, rid string) *crelease.EdgeStatus {
	t.Helper()
	st, err := c.PeerStatus(ctxT(t, 10*time.Second), peer, rid)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// apiAt is a raw client of peer's release API as c's identity: what a
// client not using the SDK (or a greedy one) sends.
func apiAt(n *releasetest.Net, c *crelease.Client, peer string) foliov1connect.ReleaseServiceClient {
	return foliov1connect.NewReleaseServiceClient(c.HTTP, "https://"+n.Peer(peer).API)
}

// waitFor waits until cond holds, checking it again whenever one of the
// releases rids changes at one of the peers or the chain commits (the
// timeout is a failure guard). While a peer has not loaded a release (it
// learns of it by polling the chain, which no event announces), it
// checks every 50 ms as well.
func waitFor(t *testing.T, n *releasetest.Net, rids []string, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		chans := []<-chan struct{}{n.Chain.Changed()}
		loading := false
		for _, nd := range n.Peers {
			if nd.Service == nil {
				continue
			}
			for _, rid := range rids {
				if ch := nd.Service.Changed(rid); ch != nil {
					chans = append(chans, ch)
				} else {
					loading = true
				}
			}
		}
		err := cond()
		if err == nil {
			return
		}
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(deadline.C)}}
		for _, ch := range chans {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
		}
		if loading {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(time.After(50 * time.Millisecond))})
		}
		if i, _, _ := reflect.Select(cases); i == 0 {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// waitPolling waits until cond holds, checking it every 50 ms: for
// conditions that time passing brings about (clock comparisons, the
// liveness window of a client), which no event announces. The timeout is
// a failure guard.
func waitPolling(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
