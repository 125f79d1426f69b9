package release_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/client"
	crelease "github.com/folio-ledger/folio/client/release"
	rc "github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/release"
	"github.com/folio-ledger/folio/internal/release/keys"
	"github.com/folio-ledger/folio/internal/release/releasetest"
	"github.com/folio-ledger/folio/internal/release/wire"
)

func TestCreateRefuses(t *testing.T) {
	n := releasetest.Start(t, releasetest.Options{Logger: testLogger(t)})
	ctx := ctxT(t, 30*time.Second)
	file, _ := work(t, n, "W1", "alice@Org1", 10_000)
	other, _ := work(t, n, "W2", "alice@Org1", 10_000)
	alice := n.Client(t, n.User(t, 0, "alice"), "peer0.org1", nil)
	bob := n.Client(t, n.User(t, 1, "bob"), "peer0.org2", nil)
	now := time.Now()
	for _, c := range []struct {
		name string
		cl   *crelease.Client
		o    crelease.CreateOptions
		want error
	}{
		{"non-owner", bob, crelease.CreateOptions{Work: "W1", File: file, ReleaseAt: now.Add(time.Minute), EndAt: now.Add(2 * time.Minute)}, crelease.ErrNotOwner},
		{"release time in the past", alice, crelease.CreateOptions{Work: "W1", File: file, ReleaseAt: now.Add(-time.Second), EndAt: now.Add(time.Minute)}, crelease.ErrBadTime},
		{"release time after the end time", alice, crelease.CreateOptions{Work: "W1", File: file, ReleaseAt: now.Add(2 * time.Minute), EndAt: now.Add(time.Minute)}, crelease.ErrBadTime},
		{"plaintext hash not the registered work", alice, crelease.CreateOptions{Work: "W1", File: other, ReleaseAt: now.Add(time.Minute), EndAt: now.Add(2 * time.Minute)}, crelease.ErrHashMismatch},
	} {
		if _, err := c.cl.Create(ctx, c.o); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := os.Stat(file + ".folio-release"); !os.IsNotExist(err) {
		t.Errorf("a refused release left its staging directory: %v", err)
	}
}

// lying wraps the chain for a malicious owner's client: it claims the work
// is the caller's and may rewrite the release record before submitting.
type lying struct {
	crelease.Contracts
	owner   string
	rewrite func(*rc.Record)
}

func (l lying) Evaluate(ctx context.Context, contract, fn string, args ...[]byte) ([]byte, error) {
	out, err := l.Contracts.Evaluate(ctx, contract, fn, args...)
	if contract == "copyright" && err == nil {
		var w map[string]any
		_ = json.Unmarshal(out, &w)
		w["owner"] = l.owner
		return json.Marshal(w)
	}
	return out, err
}

func (l lying) Submit(ctx context.Context, contract, fn string, args [][]byte, o client.SubmitOptions) (*client.Result, error) {
	if fn == rc.FnCreate && l.rewrite != nil {
		var r rc.Record
		_ = json.Unmarshal(args[0], &r)
		l.rewrite(&r)
		b, _ := json.Marshal(r)
		args = [][]byte{b}
	}
	return l.Contracts.Submit(ctx, contract, fn, args, o)
}

// TestPeersRefuseBadRecords: a release recorded by someone who is not the
// work's owner, or naming a key server with a key that is not its own, is
// refused by the peers: no content, no key, and the reason in the status.
func TestPeersRefuseBadRecords(t *testing.T) {
	n := releasetest.Start(t, releasetest.Options{Logger: testLogger(t)})
	file, _ := work(t, n, "W1", "alice@Org1", 100_000)
	ctx := ctxT(t, 30*time.Second)
	// mallory@Org2 claims W1 (owned by alice) in her client.
	mal := n.Client(t, n.User(t, 1, "mallory"), "peer0.org2", nil)
	mal.Gateway = lying{Contracts: mal.Gateway, owner: "mallory@Org2"}
	_, err := mal.Create(ctx, crelease.CreateOptions{Work: "W1", File: file, ReleaseAt: time.Now().Add(time.Minute), EndAt: time.Now().Add(2 * time.Minute)})
	if err == nil || !strings.Contains(err.Error(), "refuses") {
		t.Fatalf("create by a non-owner: %v", err)
	}
	rid := rc.ReleaseID("W1", "mallory@Org2")
	for _, p := range n.Peers {
		st := status(t, mal, p.Name, rid)
		if st.State != "refused" || !strings.Contains(st.Reason, "not released by its owner") {
			t.Errorf("%s: %+v", p.Name, st)
		}
	}
	// A forged key server entry: the owner's record names peer0.org1 with
	// another key-agreement key.
	alice := n.Client(t, n.User(t, 0, "alice"), "peer0.org1", nil)
	file2, _ := work(t, n, "W2", "alice@Org1", 100_000)
	alice.Gateway = lying{Contracts: alice.Gateway, owner: "alice@Org1", rewrite: func(r *rc.Record) {
		r.KeyServers[0].KexPub = r.KeyServers[1].KexPub
	}}
	if _, err := alice.Create(ctx, crelease.CreateOptions{Work: "W2", File: file2, ReleaseAt: time.Now().Add(time.Minute), EndAt: time.Now().Add(2 * time.Minute)}); err == nil {
		t.Fatal("a release with a forged key server was accepted by its origin")
	}
	st := status(t, alice, "peer0.org1", rc.ReleaseID("W2", "alice@Org1"))
	if st.State != "refused" || !strings.Contains(st.Reason, "key-agreement key that is not this peer's") {
		t.Fatalf("forged key server: %+v", st)
	}
}

// TestSharesBeforeTheReleaseTime: a share sent before T (a key server that
// breaks the rule, or whose statement says so) is refused and recorded;
// forged shares are refused; clients asking early for shares or plaintext
// get nothing; subscribers get no share before T.
func TestSharesBeforeTheReleaseTime(t *testing.T) {
	n := releasetest.Start(t, releasetest.Options{Orgs: 2, PeersPerOrg: 2, Logger: testLogger(t)})
	T := time.Now().Add(6 * time.Second)
	owner, rec := create(t, n, "W1", T, crelease.CreateOptions{TrustedEdges: []string{"peer1.org2"}})
	ks := n.Peer("peer0.org1")
	kex, err := keys.LoadOrCreateKex(filepath.Join(n.DataDir(ks.Name), "kex.pem"))
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := hex.DecodeString(rec.KeyServers[0].EncShare)
	share, err := keys.DecryptShare(kex, rec.ID, 1, enc)
	if err != nil {
		t.Fatal(err)
	}
	send := func(m wire.ShareMsg) error {
		raw, err := ks.Host.Call(ctxT(t, 5*time.Second), n.Peer("peer1.org1").Self.ID(), wire.ProtoKeys, wire.Encode(wire.KeysRequest{Op: wire.OpShare, RID: rec.ID, Share: &m}))
		if err != nil {
			return err
		}
		_, err = wire.ParseReply(raw)
		return err
	}
	msg := func(sentAt time.Time, s []byte) wire.ShareMsg {
		sr, err := keys.SignShareRelease(ks.Self, rec.ID, 1, s, sentAt)
		if err != nil {
			t.Fatal(err)
		}
		pa := sr.PublishArgs(rec)
		return wire.ShareMsg{Index: 1, Share: pa.Share, SentAt: pa.SentAt, NodeID: pa.NodeID, Sig: pa.Sig}
	}
	if err := send(msg(time.Now(), share)); err == nil || !strings.Contains(err.Error(), "before the release time") {
		t.Fatalf("share sent before T: %v", err)
	}
	if err := send(msg(T.Add(time.Second), share)); err == nil || !strings.Contains(err.Error(), "before the release time") {
		t.Fatalf("share dated after T but arriving before it: %v", err)
	}
	forged := append([]byte(nil), share...)
	forged[3] ^= 0x40
	if err := send(msg(T, forged)); err == nil || !strings.Contains(err.Error(), "commitment") {
		t.Fatalf("forged share: %v", err)
	}
	other := n.Peer("peer0.org2")
	bad := msg(T, share)
	sig, _ := other.Self.Sign(keys.DomainShare, rc.ShareStatement(rec.ID, 1, share, T, other.Self.ID()))
	bad.NodeID, bad.Sig = other.Self.ID(), hex.EncodeToString(sig)
	if err := send(bad); err == nil || !strings.Contains(err.Error(), "not by its key server") {
		t.Fatalf("share signed by another node: %v", err)
	}
	st := status(t, owner, "peer1.org1", rec.ID)
	if len(st.EarlyShares) != 2 || len(st.SharesHeld) != 0 {
		t.Fatalf("early shares recorded: %+v", st)
	}
	// A greedy client.
	greedy := n.Client(t, n.User(t, 1, "greedy"), "peer1.org2", nil)
	ctx := ctxT(t, 10*time.Second)
	for _, peer := range []string{"peer0.org1", "peer1.org2"} {
		_, err := apiAt(n, greedy, peer).GetShares(ctx, connect.NewRequest(&foliov1.GetSharesRequest{ReleaseId: rec.ID}))
		if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "too early") {
			t.Errorf("%s: shares before T: %v, want failed_precondition (too early)", peer, err)
		}
	}
	for _, c := range []struct {
		peer, client string
		code         connect.Code
	}{
		{"peer1.org2", "greedy@Org2", connect.CodeFailedPrecondition}, // no edge-decrypt subscription
		{"peer0.org1", "greedy@Org2", connect.CodePermissionDenied},   // not a trusted edge
		{"peer1.org2", "alice@Org1", connect.CodePermissionDenied},    // not the caller's name
	} {
		stream, err := apiAt(n, greedy, c.peer).GetPlaintext(ctx, connect.NewRequest(&foliov1.GetPlaintextRequest{ReleaseId: rec.ID, Client: c.client}))
		if err == nil {
			for stream.Receive() {
				t.Fatalf("%s: plaintext for %s before T", c.peer, c.client)
			}
			err = stream.Err()
			stream.Close()
		}
		if connect.CodeOf(err) != c.code {
			t.Errorf("%s plaintext for %s: %v, want %v", c.peer, c.client, err, c.code)
		}
	}
	// Subscribers receive shares only at or after T; so does the greedy
	// client's subscription.
	stream, err := apiAt(n, greedy, "peer1.org2").Subscribe(ctxT(t, 30*time.Second), connect.NewRequest(&foliov1.SubscribeRequest{ReleaseId: rec.ID, Client: "greedy@Org2"}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	shares := 0
	for shares < 2 && stream.Receive() {
		if ev := stream.Msg(); ev.GetType() == foliov1.ReleaseEventType_RELEASE_EVENT_TYPE_SHARE {
			if now := time.Now(); now.Before(T) {
				t.Fatalf("share %d delivered %s before T", ev.GetShareIndex(), T.Sub(now))
			}
			shares++
		}
	}
	if shares < 2 {
		t.Fatalf("subscription ended with %d shares: %v", shares, stream.Err())
	}
	// On chain: both shares published after T (the key servers publish
	// them in this test chain), none before.
	waitFor(t, n, []string{rec.ID}, 10*time.Second, "shares on chain", func() error {
		rep, err := owner.Report(ctxT(t, 5*time.Second), "W1", "")
		if err != nil {
			return err
		}
		if len(rep.SharesPublished) != 2 || rep.SharesBeforeT != 0 {
			return fmt.Errorf("%d published, %d before T", len(rep.SharesPublished), rep.SharesBeforeT)
		}
		return nil
	})
}

// TestKeyServerOffline: with three organisations and 2-of-3 shares, the
// release opens at T with one key server stopped, and does not open with
// two stopped; the client's error and the report say why.
func TestKeyServerOffline(t *testing.T) {
	n := releasetest.Start(t, releasetest.Options{Orgs: 3, PeersPerOrg: 2, Logger: testLogger(t), RefusePeers: true})
	T := time.Now().Add(6 * time.Second)
	_, rec := create(t, n, "W1", T, crelease.CreateOptions{})
	if rec.Threshold != 2 || len(rec.KeyServers) != 3 {
		t.Fatalf("record: %d of %d", rec.Threshold, len(rec.KeyServers))
	}
	T2 := time.Now().Add(7 * time.Second)
	owner, rec2 := create(t, n, "W2", T2, crelease.CreateOptions{EndAt: T2.Add(4 * time.Second)})
	// Let the edges fetch, then stop key server 3.
	waitFor(t, n, []string{rec.ID, rec2.ID}, 20*time.Second, "peer1.org1 holds both ciphertexts", func() error {
		for _, r := range []*rc.Record{rec, rec2} {
			if st := status(t, owner, "peer1.org1", r.ID); st.ChunksTotal == 0 || st.ChunksHave != st.ChunksTotal {
				return fmt.Errorf("%s: %d of %d", r.Work, st.ChunksHave, st.ChunksTotal)
			}
		}
		return nil
	})
	n.Stop("peer0.org3")
	cl := n.Client(t, n.User(t, 0, "carol"), "peer1.org1", nil)
	res, err := cl.Fetch(ctxT(t, 40*time.Second), crelease.FetchOptions{Work: "W1", Out: filepath.Join(t.TempDir(), "w1")})
	if err != nil {
		t.Fatal(err)
	}
	if res.AccessAt.Before(T) || res.AccessAt.Sub(T) > 3*time.Second {
		t.Fatalf("opened at T%+v with one key server down", res.AccessAt.Sub(T))
	}
	t.Logf("one key server down: opened at T%+v with shares %v", res.AccessAt.Sub(T), res.Shares)
	// Second release: stop another key server as well.
	n.Stop("peer0.org2")
	_, err = cl.Fetch(ctxT(t, 40*time.Second), crelease.FetchOptions{Work: "W2", Out: filepath.Join(t.TempDir(), "w2"), Deadline: T2.Add(5 * time.Second)})
	if !errors.Is(err, crelease.ErrNoKey) || !strings.Contains(err.Error(), "peer0.org2") || !strings.Contains(err.Error(), "peer0.org3") {
		t.Fatalf("two key servers down: %v", err)
	}
	t.Logf("two key servers down: %v", err)
	rep, err := owner.Report(ctxT(t, 5*time.Second), "W2", "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Opened || !strings.Contains(rep.Reason, "needed shares published on chain") || !strings.Contains(rep.Reason, "peer0.org3") {
		t.Fatalf("report: opened %v, reason %q", rep.Opened, rep.Reason)
	}
}

// TestClockSkew: a key server whose clock is off its peers' by more than
// the bound refuses to release its share (and says why); with 2-of-3 the
// release still opens from the other two.
func TestClockSkew(t *testing.T) {
	skew := 5 * time.Second
	n := releasetest.Start(t, releasetest.Options{Orgs: 3, Logger: testLogger(t), Tune: func(name string, o *release.PeerOptions) {
		if name == "peer0.org3" {
			o.Now = func() time.Time { return time.Now().Add(skew) }
		}
	}})
	T := time.Now().Add(6 * time.Second)
	owner, rec := create(t, n, "W1", T, crelease.CreateOptions{})
	// Clocks are compared every ClockInterval, which no event announces.
	waitPolling(t, 10*time.Second, "peer0.org3 sees its skew", func() error {
		if st := status(t, owner, "peer0.org3", rec.ID); st.ClockSkewMS > -4000 {
			return fmt.Errorf("skew %.0f ms", st.ClockSkewMS)
		}
		return nil
	})
	cl := n.Client(t, n.User(t, 0, "carol"), "peer0.org1", nil)
	res, err := cl.Fetch(ctxT(t, 30*time.Second), crelease.FetchOptions{Work: "W1", Out: filepath.Join(t.TempDir(), "w1")})
	if err != nil {
		t.Fatal(err)
	}
	if res.AccessAt.Before(T) {
		t.Fatal("opened before T")
	}
	for _, i := range res.Shares {
		if i == 3 {
			t.Fatalf("the skewed key server's share was used: %v", res.Shares)
		}
	}
	st := status(t, owner, "peer0.org3", rec.ID)
	if !strings.Contains(st.Reason, "clock skew") {
		t.Fatalf("skewed key server's status: %+v", st)
	}
	if held := status(t, owner, "peer0.org1", rec.ID).SharesHeld; len(held) != 2 {
		t.Fatalf("shares held at peer0.org1: %v", held)
	}
	t.Logf("skewed key server: %s", st.Reason)
}

// TestTamperedChunk: a peer serving tampered chunks is caught: every chunk
// it sends fails verification, is refused and fetched from another peer.
func TestTamperedChunk(t *testing.T) {
	var tampered sync.Map
	evil := func(n *releasetest.Net, self *releasetest.Node) map[string]p2p.CallHandler {
		return map[string]p2p.CallHandler{wire.ProtoContent: func(ctx context.Context, from p2p.PeerIdentity, req []byte) []byte {
			var q wire.ContentRequest
			if wire.Decode(req, &q) != nil {
				return wire.ReplyErr(wire.StatusFailed, "bad request")
			}
			if q.Op == wire.OpHave {
				return wire.Reply(wire.StatusOK, []byte(strings.Repeat("\xff", 64)))
			}
			// Proxy to the origin, then damage chunks.
			raw, err := self.Host.Call(ctx, n.Peer("peer0.org1").Self.ID(), wire.ProtoContent, req)
			if err != nil {
				return wire.ReplyErr(wire.StatusNotReady, "%v", err)
			}
			if q.Op == wire.OpChunk && len(raw) > 10 && raw[0] == wire.StatusOK {
				raw[10] ^= 1
				tampered.Store(q.Index, true)
			}
			return raw
		}}
	}
	n := releasetest.Start(t, releasetest.Options{Orgs: 2, PeersPerOrg: 2, Logger: testLogger(t),
		Impostors: map[string]func(*releasetest.Net, *releasetest.Node) map[string]p2p.CallHandler{"evil.org1": evil}})
	T := time.Now().Add(30 * time.Second)
	owner, rec := create(t, n, "W1", T, crelease.CreateOptions{ChunkSize: 16 << 10})
	waitFor(t, n, []string{rec.ID}, 30*time.Second, "every honest peer holds the ciphertext", func() error {
		for _, p := range []string{"peer1.org1", "peer0.org2", "peer1.org2"} {
			if st := status(t, owner, p, rec.ID); st.ChunksTotal == 0 || st.ChunksHave != st.ChunksTotal {
				return fmt.Errorf("%s: %d of %d", p, st.ChunksHave, st.ChunksTotal)
			}
		}
		return nil
	})
	served := 0
	tampered.Range(func(_, _ any) bool { served++; return true })
	if served == 0 {
		t.Fatal("no peer ever asked the impostor for a chunk")
	}
	var rejected int64
	for _, p := range []string{"peer1.org1", "peer0.org2", "peer1.org2"} {
		rejected += status(t, owner, p, rec.ID).RejectedChunks
	}
	if rejected == 0 {
		t.Fatal("tampered chunks were not counted as refused")
	}
	t.Logf("%d tampered chunks served, %d refused and fetched again", served, rejected)
}

// enospc fails writes once limit bytes were written.
type enospc struct {
	w     io.WriterAt
	limit int64
	n     int64
}

func (e *enospc) WriteAt(p []byte, off int64) (int, error) {
	if e.n+int64(len(p)) > e.limit {
		return 0, &os.PathError{Op: "write", Path: "part", Err: syscall.ENOSPC}
	}
	e.n += int64(len(p))
	return e.w.WriteAt(p, off)
}

// TestDiskFullWhileReceiving: a client whose disk fills up stops with a
// clear error and resumes where it stopped when run again.
func TestDiskFullWhileReceiving(t *testing.T) {
	n := releasetest.Start(t, releasetest.Options{Logger: testLogger(t)})
	T := time.Now().Add(5 * time.Second)
	create(t, n, "W1", T, crelease.CreateOptions{})
	cl := n.Client(t, n.User(t, 0, "carol"), "peer0.org1", nil)
	out := filepath.Join(t.TempDir(), "w1")
	_, err := cl.Fetch(ctxT(t, 30*time.Second), crelease.FetchOptions{Work: "W1", Out: out, NoReport: true,
		WrapWriter: func(w io.WriterAt) io.WriterAt { return &enospc{w: w, limit: 150_000} }})
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "run the same command again to resume") {
		t.Fatalf("disk full: %v", err)
	}
	t.Logf("disk full: %v", err)
	res, err := cl.Fetch(ctxT(t, 30*time.Second), crelease.FetchOptions{Work: "W1", Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedBytes == 0 || res.ResumedBytes > 150_000 {
		t.Fatalf("resumed from %d bytes", res.ResumedBytes)
	}
	if _, err := os.Stat(out + ".part"); !os.IsNotExist(err) {
		t.Fatalf("part file left: %v", err)
	}
}

// TestAPIRefusesBadInput: every client API request is checked before use
// and refused with a code and a reason; nothing is stored.
func TestAPIRefusesBadInput(t *testing.T) {
	n := releasetest.Start(t, releasetest.Options{Logger: testLogger(t)})
	owner, rec := create(t, n, "W1", time.Now().Add(time.Hour), crelease.CreateOptions{})
	bob := n.Client(t, n.User(t, 0, "bob"), "peer0.org1", nil)
	ctx := ctxT(t, 30*time.Second)
	origin, other := apiAt(n, owner, "peer0.org1"), apiAt(n, owner, "peer0.org2")
	put := func(api foliov1connect.ReleaseServiceClient, msgs ...*foliov1.PutChunkRequest) error {
		stream := api.PutChunk(ctx)
		for _, m := range msgs {
			if err := stream.Send(m); err != nil {
				break
			}
		}
		_, err := stream.CloseAndReceive()
		return err
	}
	big := make([]byte, releasetest.MaxMessageBytes+1)
	piece := make([]byte, 40<<10)
	unknown := rc.ReleaseID("W9", "alice@Org1")
	for _, c := range []struct {
		name string
		code connect.Code
		msg  string
		err  error
	}{
		{"malformed release ID", connect.CodeInvalidArgument, "32 lowercase hex", func() error {
			_, err := origin.GetReleaseStatus(ctx, connect.NewRequest(&foliov1.GetReleaseStatusRequest{ReleaseId: "../etc"}))
			return err
		}()},
		{"unknown release", connect.CodeNotFound, "unknown release", func() error {
			_, err := origin.GetManifest(ctx, connect.NewRequest(&foliov1.GetManifestRequest{ReleaseId: unknown}))
			return err
		}()},
		{"chunk beyond the release", connect.CodeInvalidArgument, "has chunks 0..", func() error {
			stream, err := origin.GetChunk(ctx, connect.NewRequest(&foliov1.GetChunkRequest{ReleaseId: rec.ID, Index: rec.Chunks}))
			if err == nil {
				stream.Receive()
				err = stream.Err()
			}
			return err
		}()},
		{"upload by another client", connect.CodePermissionDenied, "only the owner", put(apiAt(n, bob, "peer0.org1"), &foliov1.PutChunkRequest{ReleaseId: rec.ID, Index: 0, Data: piece})},
		{"upload to a peer that is not the origin", connect.CodeFailedPrecondition, "upload to the origin", put(other, &foliov1.PutChunkRequest{ReleaseId: rec.ID, Index: 0, Data: piece})},
		{"chunk longer than the manifest says", connect.CodeInvalidArgument, "longer than", put(origin,
			&foliov1.PutChunkRequest{ReleaseId: rec.ID, Index: 0, Data: piece}, &foliov1.PutChunkRequest{Data: piece})},
		{"pieces of two chunks", connect.CodeInvalidArgument, "carries a piece of chunk 1", put(origin,
			&foliov1.PutChunkRequest{ReleaseId: rec.ID, Index: 0, Data: piece[:100]}, &foliov1.PutChunkRequest{Index: 1, Data: piece[:100]})},
		{"chunk that does not verify", connect.CodeInvalidArgument, "chunk 0", put(origin, &foliov1.PutChunkRequest{ReleaseId: rec.ID, Index: 0, Data: piece[:100]})},
		{"empty upload", connect.CodeInvalidArgument, "empty upload", put(origin)},
		{"message over the node's limit", connect.CodeResourceExhausted, "", func() error {
			_, err := origin.PutManifest(ctx, connect.NewRequest(&foliov1.PutManifestRequest{ReleaseId: rec.ID, Manifest: big}))
			return err
		}()},
		{"manifest that does not decode", connect.CodeInvalidArgument, "manifest", func() error {
			_, err := origin.PutManifest(ctx, connect.NewRequest(&foliov1.PutManifestRequest{ReleaseId: rec.ID, Manifest: []byte("x")}))
			return err
		}()},
		{"subscription under a bad name", connect.CodeInvalidArgument, "client", subscribeErr(ctx, origin, &foliov1.SubscribeRequest{ReleaseId: rec.ID, Client: "a b"})},
		{"subscription under another's name", connect.CodePermissionDenied, "may subscribe as alice@Org1", subscribeErr(ctx, origin, &foliov1.SubscribeRequest{ReleaseId: rec.ID, Client: "bob@Org1"})},
		{"edge decryption at an edge that is not trusted", connect.CodeFailedPrecondition, "not a trusted edge", subscribeErr(ctx, origin,
			&foliov1.SubscribeRequest{ReleaseId: rec.ID, Client: "alice@Org1", EdgeDecrypt: true})},
		{"naive without edge decryption", connect.CodeInvalidArgument, "naive", subscribeErr(ctx, origin, &foliov1.SubscribeRequest{ReleaseId: rec.ID, Client: "alice@Org1", Naive: true})},
		{"progress with a rate that is not a number", connect.CodeInvalidArgument, "progress out of range", func() error {
			_, err := origin.ReportProgress(ctx, connect.NewRequest(&foliov1.ReportProgressRequest{ReleaseId: rec.ID, Client: "alice@Org1", RateBps: math.NaN()}))
			return err
		}()},
		{"probe too large", connect.CodeInvalidArgument, "probe of", func() error {
			stream, err := origin.Probe(ctx, connect.NewRequest(&foliov1.ProbeRequest{Bytes: wire.MaxProbeBytes + 1}))
			if err == nil {
				stream.Receive()
				err = stream.Err()
			}
			return err
		}()},
		{"timed probe for another's name", connect.CodePermissionDenied, "may not probe for bob@Org1", probeErr(ctx, origin,
			&foliov1.ProbeRequest{Bytes: 1, ReleaseId: rec.ID, Client: "bob@Org1"})},
		{"timed probe without a subscription", connect.CodeFailedPrecondition, "subscribe as alice@Org1/x", probeErr(ctx, origin,
			&foliov1.ProbeRequest{Bytes: 1, ReleaseId: rec.ID, Client: "alice@Org1/x"})},
		{"timed probe of half a subscription", connect.CodeInvalidArgument, "release ID", probeErr(ctx, origin,
			&foliov1.ProbeRequest{Bytes: 1, Client: "alice@Org1"})},
	} {
		var ce *connect.Error
		if !errors.As(c.err, &ce) || ce.Code() != c.code || !strings.Contains(ce.Message(), c.msg) {
			t.Errorf("%s: %v, want %v (%q)", c.name, c.err, c.code, c.msg)
		}
	}
	if st := status(t, owner, "peer0.org1", rec.ID); st.ChunksHave != st.ChunksTotal || st.Subscriptions != 0 {
		t.Fatalf("after bad requests: %+v", st)
	}
}

// probeErr is the error a probe request ends with.
func probeErr(ctx context.Context, api foliov1connect.ReleaseServiceClient, req *foliov1.ProbeRequest) error {
	stream, err := api.Probe(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	defer stream.Close()
	for stream.Receive() {
	}
	return stream.Err()
}

// subscribeErr is the error a subscription request ends with.
func subscribeErr(ctx context.Context, api foliov1connect.ReleaseServiceClient, req *foliov1.SubscribeRequest) error {
	stream, err := api.Subscribe(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	defer stream.Close()
	for stream.Receive() {
		return fmt.Errorf("subscription accepted: first event %v", stream.Msg().GetType())
	}
	return stream.Err()
}
