package release_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	crelease "github.com/folio-ledger/folio/client/release"
	"github.com/folio-ledger/folio/internal/release/releasetest"
)

type fetched struct {
	res *crelease.FetchResult
	err error
}

func TestReleaseInProcess(t *testing.T) {
	n := releasetest.Start(t, releasetest.Options{Orgs: 2, PeersPerOrg: 2, Logger: testLogger(t)})
	ownerID := n.User(t, 0, "alice")
	owner := n.Client(t, ownerID, "peer0.org1", nil)
	file, plain := work(t, n, "W1", "alice@Org1", 700_000)
	// Two minutes: on a loaded CI machine the create alone has taken more
	// than the 35 s to the end time (the fetches then come late, which
	// must work too: TestEdgeDecryptAfterEnd).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	T := time.Now().Add(5 * time.Second)
	res, err := owner.Create(ctx, crelease.CreateOptions{Work: "W1", File: file, ReleaseAt: T, EndAt: T.Add(30 * time.Second),
		TrustedEdges: []string{"peer1.org2"}, ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Record.Threshold != 2 || len(res.Record.KeyServers) != 2 || res.Uploaded != res.Record.Chunks {
		t.Fatalf("create: %+v", res)
	}
	dir := t.TempDir()
	var wg sync.WaitGroup
	out := map[string]fetched{}
	var mu sync.Mutex
	for _, c := range []struct {
		name, home  string
		org         int
		edgeDecrypt bool
	}{{"a", "peer0.org1", 0, false}, {"b", "peer1.org1", 0, false}, {"c", "peer0.org2", 1, false}, {"e", "peer1.org2", 1, true}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := n.Client(t, n.User(t, c.org, "user-"+c.name), c.home, nil)
			r, err := cl.Fetch(ctx, crelease.FetchOptions{Work: "W1", Out: filepath.Join(dir, c.name), EdgeDecrypt: c.edgeDecrypt})
			mu.Lock()
			out[c.name] = fetched{r, err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for name, f := range out {
		if f.err != nil {
			t.Fatalf("%s: %v", name, f.err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, name))
		if !bytes.Equal(got, plain) {
			t.Fatalf("%s: wrong plaintext", name)
		}
		if f.res.AccessAt.Before(T) {
			t.Fatalf("%s: access %s before T", name, f.res.AccessAt.Sub(T))
		}
		t.Logf("%s: access T%+v key T%+v ciphertext T%+v", name, f.res.AccessAt.Sub(T), f.res.KeyReceivedAt.Sub(T), f.res.CiphertextCompleteAt.Sub(T))
	}
	rep, err := owner.Report(ctx, "W1", "")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Opened || rep.EarlyAccess != 0 || len(rep.Clients) != 4 || len(rep.SharesPublished) != 2 || rep.SharesBeforeT != 0 {
		t.Fatalf("report: %+v", rep)
	}
	if rep.SpreadMS > 500 || rep.EdgeVsKeyMS > 1000 {
		t.Errorf("spread %.0f ms, edge vs key %.0f ms", rep.SpreadMS, rep.EdgeVsKeyMS)
	}
	t.Logf("spread %.1f ms, edge vs key %.1f ms", rep.SpreadMS, rep.EdgeVsKeyMS)
}
