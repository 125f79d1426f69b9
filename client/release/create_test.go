package release

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	rc "github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/identitytest"
	"github.com/folio-ledger/folio/internal/release/keys"
)

// fakeLedger answers the copyright contract's get with one work owned by
// owner and has no release of it; it refuses submits (nothing in these
// tests may get that far).
type fakeLedger struct {
	owner, hash string
	submits     int
}

func (l *fakeLedger) Evaluate(_ context.Context, contract, function string, args ...[]byte) ([]byte, error) {
	if contract == CopyrightContract && function == "get" {
		var a struct{ ID string }
		_ = json.Unmarshal(args[0], &a)
		return json.Marshal(Work{ID: a.ID, Owner: l.owner, ContentHash: l.hash})
	}
	return nil, connect.NewError(connect.CodeNotFound, errors.New("no release"))
}

func (l *fakeLedger) Submit(context.Context, string, string, [][]byte, client.SubmitOptions) (*client.Result, error) {
	l.submits++
	return nil, errors.New("the test submits nothing")
}

// testClient is user1@Org1 in a channel of four organisations with one
// peer each, over fakeLedger; it has no HTTP client: a call to a peer
// would crash the test.
func testClient(t *testing.T) (*Client, *fakeLedger) {
	t.Helper()
	si := identitytest.NewOrg(t, "Org1").Member(t, "user1", identity.RoleClient)
	id, err := client.NewIdentity(si.MSPID, si.Cert, si.Key())
	if err != nil {
		t.Fatal(err)
	}
	l := &fakeLedger{owner: id.Label(), hash: "sha256:" + strings.Repeat("ab", 32)}
	c := &Client{Gateway: l, ID: id}
	for _, o := range []string{"1", "2", "3", "4"} {
		c.Peers = append(c.Peers, Peer{Name: "peer0.org" + o, Org: "Org" + o, NodeID: strings.Repeat("0", 64), API: "127.0.0.1:1"})
	}
	return c, l
}

// Create checks its options before it reads, encrypts or stages the file
// (issue 19: --threshold 5 with 4 key servers encrypted the whole file,
// then was refused; --chunk-size -1 failed as a malformed manifest).
func TestCreateChecksOptionsFirst(t *testing.T) {
	c, l := testClient(t)
	file := filepath.Join(t.TempDir(), "work.bin")
	if err := os.WriteFile(file, []byte("the work"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tc := range []struct {
		name string
		o    CreateOptions
		want string
	}{
		{"threshold above the key servers", CreateOptions{Threshold: 5}, "threshold 5 with 4 key servers: must be 1 to 4"},
		{"threshold of one among many", CreateOptions{Threshold: 1}, "threshold 1 with 4 key servers"},
		{"negative threshold", CreateOptions{Threshold: -1}, "threshold -1: must be 1 to 16"},
		{"two given key servers", CreateOptions{Threshold: 3, KeyServers: []string{"peer0.org1", "peer0.org2"}}, "threshold 3 with 2 key servers"},
		{"negative chunk size", CreateOptions{ChunkSize: -1}, "chunk size -1: must be 4096 to 16777216"},
		{"huge chunk size", CreateOptions{ChunkSize: 1 << 30}, "chunk size 1073741824"},
	} {
		o := tc.o
		o.Work, o.File, o.ReleaseAt, o.EndAt = "W1", file, now.Add(time.Hour), now.Add(2*time.Hour)
		_, err := c.Create(context.Background(), o)
		if !errors.Is(err, ErrBadOption) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrBadOption saying %q", tc.name, err, tc.want)
		}
		if _, err := os.Stat(stagedDir(file)); !os.IsNotExist(err) {
			t.Fatalf("%s: the file was staged (%v)", tc.name, err)
		}
	}
	if l.submits != 0 {
		t.Fatalf("%d submits", l.submits)
	}
}

func TestCheckThreshold(t *testing.T) {
	for _, c := range []struct {
		t, n int
		ok   bool
	}{{1, 1, true}, {2, 2, true}, {3, 4, true}, {4, 4, true}, {0, 1, false}, {2, 1, false}, {1, 2, false}, {5, 4, false}, {2, 17, false}, {1, 0, false}} {
		if err := checkThreshold(c.t, c.n); (err == nil) != c.ok {
			t.Errorf("threshold %d of %d: %v", c.t, c.n, err)
		}
	}
}

// awaitKey tells its caller what it waits for: the release time and the
// shares held of those needed, when the wait starts and as shares arrive
// (issue 19: a fetch waiting for the key printed nothing).
func TestAwaitKeyReportsTheWait(t *testing.T) {
	key, err := keys.NewContentKey()
	if err != nil {
		t.Fatal(err)
	}
	const rid = "r1"
	shares, err := keys.SplitKey(key, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	T := now.Add(time.Hour) // far ahead: no fallback path runs
	rec := &rc.Record{ID: rid, ReleaseAt: T.Format(time.RFC3339Nano), EndAt: T.Add(time.Hour).Format(time.RFC3339Nano), Threshold: 2,
		KeyCommit: hex.EncodeToString(rc.KeyCommitment(rid, key))}
	for i, s := range shares {
		rec.KeyServers = append(rec.KeyServers, rc.KeyServer{Index: i + 1, Name: "peer0.org" + string(rune('1'+i)),
			ShareCommit: hex.EncodeToString(rc.ShareCommitment(rid, i+1, s))})
	}
	var seen []KeyWait
	f := &fetch{c: &Client{Now: func() time.Time { return now }}, rec: rec, edge: Peer{Name: "peer0.org1"}, res: &FetchResult{},
		o: FetchOptions{Deadline: time.Now().Add(time.Hour), Waiting: func(w KeyWait) { seen = append(seen, w) }}}
	evs := make(chan received, 2)
	for i, s := range shares {
		evs <- received{ev: &foliov1.SubscribeResponse{Type: foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_SHARE, ShareIndex: uint32(i + 1), Share: s}, at: now}
	}
	got, err := f.awaitKey(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != hex.EncodeToString(key) {
		t.Fatal("opened another key")
	}
	if len(seen) < 2 || seen[0].Shares != 0 || seen[len(seen)-1].Shares != 1 {
		t.Fatalf("waits reported: %+v; want 0 of 2 first and 1 of 2 last", seen)
	}
	for _, w := range seen {
		if !w.ReleaseAt.Equal(T) || w.Threshold != 2 || w.KeyServers != 2 || w.Edge != "peer0.org1" {
			t.Fatalf("wait reported as %+v", w)
		}
	}
}
