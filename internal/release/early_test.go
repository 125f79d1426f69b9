package release_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	crelease "github.com/folio-ledger/folio/client/release"
	"github.com/folio-ledger/folio/internal/release/releasetest"
)

// TestLyingRateGetsNothingEarly: an edge-decrypt client of a trusted
// edge reports a rate of 8 bit/s and reads as fast as it can. Before,
// the edge took that word (its start was T minus the 2-hour cap, and the
// pacer counted from there: all but 16 KiB went out at once, long before
// T; roles_test TestLyingRate shows the old rule's schedule). Now the
// edge paces by what it measured itself, and the client acknowledged no
// timed probe: not one byte leaves before T, the tail travels encrypted
// and its key comes at T, and the work it then holds is the work.
func TestLyingRateGetsNothingEarly(t *testing.T) {
	n := releasetest.Start(t, releasetest.Options{Orgs: 2, PeersPerOrg: 2, Logger: testLogger(t)})
	owner := n.Client(t, n.User(t, 0, "alice"), "peer0.org1", nil)
	file, plain := work(t, n, "W1", "alice@Org1", 3<<20)
	T := time.Now().Add(8 * time.Second)
	res, err := owner.Create(ctxT(t, 30*time.Second), crelease.CreateOptions{Work: "W1", File: file, ReleaseAt: T, EndAt: T.Add(30 * time.Second),
		TrustedEdges: []string{"peer1.org2"}, ChunkSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	rid := res.Record.ID
	liar := n.Client(t, n.User(t, 1, "mallory"), "peer1.org2", nil)
	api := apiAt(n, liar, "peer1.org2")
	ctx := ctxT(t, time.Minute)
	const name = "mallory@Org2/fresh-1"
	sub, err := api.Subscribe(ctx, connect.NewRequest(&foliov1.SubscribeRequest{ReleaseId: rid, Client: name, EdgeDecrypt: true, Session: "liar"}))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	go func() {
		for sub.Receive() { // keep the subscription live
		}
	}()
	waitPolling(t, 10*time.Second, "the lying report accepted", func() error {
		_, err := api.ReportProgress(ctx, connect.NewRequest(&foliov1.ReportProgressRequest{ReleaseId: rid, Client: name, RateBps: 8}))
		return err
	})
	stream, err := api.GetPlaintext(ctx, connect.NewRequest(&foliov1.GetPlaintextRequest{ReleaseId: rid, Client: name}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var got, key []byte
	tailAt := int64(-1)
	var early int
	var keyAt time.Time
	for stream.Receive() {
		m := stream.Msg()
		now := time.Now()
		if tailAt < 0 {
			tailAt = m.GetTailOffset()
		}
		if m.GetTailKey() != nil {
			key, keyAt = m.GetTailKey(), now
			break
		}
		if now.Before(T) {
			early += len(m.GetData())
		}
		got = append(got, m.GetData()...)
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if early != 0 {
		t.Fatalf("a client reporting 8 bit/s received %d bytes before T", early)
	}
	if key == nil || keyAt.Before(T) || len(got) != len(plain) {
		t.Fatalf("tail key %x at T%+v, %d of %d bytes", key, keyAt.Sub(T), len(got), len(plain))
	}
	if want := int64(len(plain)) - 1<<20; tailAt != want {
		t.Fatalf("tail at %d, want the last MiB (%d)", tailAt, want)
	}
	if bytes.Equal(got[tailAt:], plain[tailAt:]) {
		t.Fatal("the tail travelled in clear")
	}
	block, _ := aes.NewCipher(key)
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(got[tailAt:], got[tailAt:])
	if !bytes.Equal(got, plain) {
		t.Fatal("the work received is not the work")
	}
}

// TestFetchClientNames: fetches of one identity without a client name
// get one each (they used to share the identity's label: one
// subscription, mixed progress, opened seconds apart); a fetch under a
// name another live fetch holds fails at once with a clear error.
func TestFetchClientNames(t *testing.T) {
	n := releasetest.Start(t, releasetest.Options{Orgs: 2, PeersPerOrg: 1, Logger: testLogger(t)})
	T := time.Now().Add(6 * time.Second)
	owner, rec := create(t, n, "W1", T, crelease.CreateOptions{})
	// Another fetch holds "bob@Org2/x": its subscription stream is open.
	bobID := n.User(t, 1, "bob")
	bob := n.Client(t, bobID, "peer0.org2", nil)
	ctx := ctxT(t, time.Minute)
	sub, err := apiAt(n, bob, "peer0.org2").Subscribe(ctx, connect.NewRequest(&foliov1.SubscribeRequest{ReleaseId: rec.ID, Client: "bob@Org2/x", Session: "other"}))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if !sub.Receive() { // hello: the subscription is registered
		t.Fatalf("subscribe: %v", sub.Err())
	}
	dir := t.TempDir()
	_, err = bob.Fetch(ctx, crelease.FetchOptions{Work: "W1", Out: filepath.Join(dir, "x"), Client: "x", NoReport: true})
	if !errors.Is(err, crelease.ErrClientNameInUse) || connect.CodeOf(err) != connect.CodeAlreadyExists || !strings.Contains(err.Error(), "--client") {
		t.Fatalf("fetch under a live name: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Fatalf("the refused fetch wrote its output: %v", err)
	}
	// Two fetches without a name, at once: distinct names, both open.
	type out struct {
		res *crelease.FetchResult
		err error
	}
	ch := make(chan out, 2)
	for i := range 2 {
		go func() {
			r, err := bob.Fetch(ctx, crelease.FetchOptions{Work: "W1", Out: filepath.Join(dir, string(rune('a'+i)))})
			ch <- out{r, err}
		}()
	}
	names := map[string]bool{}
	for range 2 {
		o := <-ch
		if o.err != nil {
			t.Fatal(o.err)
		}
		if !strings.HasPrefix(o.res.Client, "bob@Org2/fetch-") || o.res.AccessAt.Before(T) {
			t.Fatalf("fetch: client %q, access T%+v", o.res.Client, o.res.AccessAt.Sub(T))
		}
		names[o.res.Client] = true
	}
	if len(names) != 2 {
		t.Fatalf("two fetches shared a client name: %v", names)
	}
	waitFor(t, n, []string{rec.ID}, 20*time.Second, "both accesses on chain", func() error {
		rep, err := owner.Report(ctxT(t, 5*time.Second), "W1", "")
		if err != nil {
			return err
		}
		seen := 0
		for _, c := range rep.Clients {
			if names[c.Client] {
				seen++
			}
		}
		if seen != 2 {
			return errors.New("not both reported")
		}
		return nil
	})
}

// TestCreateAgain: create for a work that already has a release used to
// print the old release and succeed, even with another file and other
// times; now it is refused with the release's details, unless resuming
// (and then with the release's times, or none). An interrupted create
// resumes with Resume.
func TestCreateAgain(t *testing.T) {
	n := releasetest.Start(t, releasetest.Options{Logger: testLogger(t)})
	owner := n.Client(t, n.User(t, 0, "alice"), "peer0.org1", nil)
	file, _ := work(t, n, "W1", "alice@Org1", 600_000)
	other, _ := work(t, n, "W2", "alice@Org1", 10_000)
	T := time.Now().Add(time.Hour).Truncate(time.Second)
	E := T.Add(time.Hour)
	// Interrupted: the upload stops after its first chunk.
	ctx, cancel := context.WithCancel(ctxT(t, time.Minute))
	_, err := owner.Create(ctx, crelease.CreateOptions{Work: "W1", File: file, ReleaseAt: T, EndAt: E, ChunkSize: 64 << 10, UploadWorkers: 1,
		Progress: func(stage string, done, _ int64) {
			if stage == "upload" && done >= 1 {
				cancel()
			}
		}})
	cancel()
	if err == nil {
		t.Fatal("the interrupted create succeeded")
	}
	ctx = ctxT(t, time.Minute)
	for _, c := range []struct {
		name string
		o    crelease.CreateOptions
	}{
		{"same again without resume", crelease.CreateOptions{Work: "W1", File: file, ReleaseAt: T, EndAt: E}},
		{"another file and times", crelease.CreateOptions{Work: "W1", File: other, ReleaseAt: T.Add(time.Minute), EndAt: E.Add(time.Hour)}},
		{"resume with other times", crelease.CreateOptions{Work: "W1", File: file, ReleaseAt: T.Add(time.Minute), EndAt: E, Resume: true}},
	} {
		_, err := owner.Create(ctx, c.o)
		if !errors.Is(err, crelease.ErrReleaseExists) || !strings.Contains(err.Error(), T.UTC().Format(time.RFC3339)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	res, err := owner.Create(ctx, crelease.CreateOptions{Work: "W1", File: file, Resume: true, UploadWorkers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if gotT, _, _ := res.Record.Times(); !res.Resumed || res.Uploaded == 0 || !gotT.Equal(T) {
		t.Fatalf("resume: %+v", res)
	}
	if _, err := os.Stat(file + ".folio-release"); !os.IsNotExist(err) {
		t.Fatalf("the staged copy is kept after the upload completed: %v", err)
	}
	st := status(t, owner, "peer0.org1", res.Record.ID)
	if st.ChunksTotal == 0 || st.ChunksHave != st.ChunksTotal {
		t.Fatalf("origin holds %d of %d chunks", st.ChunksHave, st.ChunksTotal)
	}
}

// TestEdgeDecryptAfterEnd: an edge-decrypt client that comes after the
// end time (the trusted edge's decryption loop has stopped; a slow create
// on a loaded machine made CI's TestReleaseInProcess do this) is served
// the plaintext, opened then from the released shares; it used to wait
// for a decryption that never came until its deadline.
func TestEdgeDecryptAfterEnd(t *testing.T) {
	n := releasetest.Start(t, releasetest.Options{Orgs: 2, PeersPerOrg: 1, Logger: testLogger(t)})
	owner := n.Client(t, n.User(t, 0, "alice"), "peer0.org1", nil)
	file, plain := work(t, n, "W1", "alice@Org1", 200_000)
	T := time.Now().Add(4 * time.Second)
	E := T.Add(3 * time.Second)
	if _, err := owner.Create(ctxT(t, 30*time.Second), crelease.CreateOptions{Work: "W1", File: file, ReleaseAt: T, EndAt: E,
		TrustedEdges: []string{"peer0.org2"}, ChunkSize: 64 << 10}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(E.Add(time.Second)))
	out := filepath.Join(t.TempDir(), "w")
	bob := n.Client(t, n.User(t, 1, "bob"), "peer0.org2", nil)
	res, err := bob.Fetch(ctxT(t, 30*time.Second), crelease.FetchOptions{Work: "W1", Out: out, EdgeDecrypt: true})
	if err != nil {
		t.Fatalf("edge-decrypt fetch after the end time: %v", err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, plain) || res.AccessAt.Before(E) {
		t.Fatalf("fetch after the end: %d bytes (want %d), access E%+v", len(got), len(plain), res.AccessAt.Sub(E))
	}
}
