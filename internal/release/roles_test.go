package release

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/contracts/release"
	"github.com/folio-ledger/folio/internal/release/content"
	"github.com/folio-ledger/folio/internal/release/wire"
)

// fakeClock is a clock tests move.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestEdgePredictions: an edge reports its live clients (a client whose
// last stream ended 3 ping intervals ago is gone), completed ones with
// their completion time, running ones predicted from their rate or, with
// none measured, from their history.
func TestEdgePredictions(t *testing.T) {
	clk := newFakeClock(tT)
	e := testEnv(t, clk.Now)
	rec := &release.Record{ID: "r", CipherSize: 1_000_000}
	sig := newSignal()
	ed := newEdge(e, rec, sig)
	e.history.addRate("hist@O", tT.Add(-time.Hour), 8e6) // 1 MB/s
	a, _ := ed.subscribe("a@O", subscribeArgs{client: "a@O"}, clk.Now())
	hist, _ := ed.subscribe("hist@O", subscribeArgs{client: "hist@O", haveBytes: 500_000}, clk.Now())
	gone, _ := ed.subscribe("gone@O", subscribeArgs{client: "gone@O"}, clk.Now())
	ed.endStream(gone, clk.Now())
	dec, _ := ed.subscribe("dec@O", subscribeArgs{client: "dec@O", edgeDecrypt: true}, clk.Now())

	ch := sig.C()
	ed.progress(progressArgs{client: "a@O", bytes: 250_000, total: 1_000_000, rate: 2e6}, clk.Now())
	if notified(ch) {
		t.Fatal("a ciphertext client's progress woke the waiters")
	}
	ed.progress(progressArgs{client: "dec@O", rate: 1e6}, clk.Now())
	if notified(ch) {
		t.Fatal("an edge-decrypt client's reported rate woke the waiters (it moves nothing)")
	}
	probe, _ := ed.probe("dec@O", 1<<20, clk.Now())
	clk.Advance(time.Second)
	ed.progress(progressArgs{client: "dec@O", probeAck: probe}, clk.Now())
	if !notified(ch) {
		t.Fatal("an edge-decrypt client's measured rate did not wake the waiters (it moves its start)")
	}
	if ed.progress(progressArgs{client: "nobody@O"}, clk.Now()) {
		t.Fatal("progress of a client without a subscription was taken")
	}
	clk.Advance(3*e.o.PingInterval + time.Millisecond)
	got := ed.predictions(clk.Now())
	var names []string
	for _, p := range got {
		names = append(names, p.Client)
	}
	if fmt.Sprint(names) != "[a@O dec@O hist@O]" {
		t.Fatalf("live clients %v", names)
	}
	want := clk.Now().Add(3 * time.Second) // 750 kB at 2 Mbit/s
	if p := got[0]; p.RateBps != 2e6 || p.PredictedAt != want.UnixNano() {
		t.Fatalf("a@O: %+v, want rate 2e6 and completion at %s", p, want)
	}
	if p := got[2]; p.RateBps != 8e6 || p.PredictedAt != clk.Now().Add(500*time.Millisecond).UnixNano() {
		t.Fatalf("hist@O predicted from its history: %+v", p)
	}
	if !got[1].EdgeDecrypt {
		t.Fatalf("dec@O: %+v", got[1])
	}
	ch = sig.C()
	ed.progress(progressArgs{client: "a@O", bytes: 1_000_000, total: 1_000_000, complete: true}, clk.Now())
	if !notified(ch) {
		t.Fatal("completion did not wake the waiters")
	}
	if p := ed.predictions(clk.Now())[0]; !p.Complete || p.DoneAt != clk.Now().UnixNano() {
		t.Fatalf("complete a@O: %+v", p)
	}
	// A round trip: the answer to a ping.
	id := ed.ping(a, clk.Now())
	clk.Advance(30 * time.Millisecond)
	ed.progress(progressArgs{client: "a@O", pong: id}, clk.Now())
	if h := e.history.get("a@O"); h.RTT != 30*time.Millisecond {
		t.Fatalf("round trip %s in the history", h.RTT)
	}
	// Open streams and plaintext requests keep subscriptions from
	// expiring; the others go after the TTL.
	if v, ok := ed.beginPlaintext("dec@O"); !ok || !v.edgeDecrypt {
		t.Fatalf("plaintext request of dec@O: %+v %v", v, ok)
	}
	ed.endStream(dec, clk.Now())
	ed.endStream(hist, clk.Now())
	clk.Advance(time.Hour)
	if n := ed.prune(clk.Now()); n != 2 || ed.count() != 2 {
		t.Fatalf("pruned %d, %d left; want gone@O and hist@O pruned, a@O (stream) and dec@O (plaintext) kept", n, ed.count())
	}
	ed.endPlaintext("dec@O", clk.Now())
	ed.endStream(a, clk.Now())
	clk.Advance(time.Hour)
	if n := ed.prune(clk.Now()); n != 2 || ed.count() != 0 {
		t.Fatalf("pruned %d, %d left after the last stream and request ended", n, ed.count())
	}
}

func TestKeyWatch(t *testing.T) {
	f := newKeyFixture(t, 3, 2)
	sig := newSignal()
	w := newKeyWatch(testEnv(t, time.Now), &f.rec, 0, sig)
	// Before any answer every key server counts as unreachable.
	if r := w.notReleasing(0); !strings.Contains(r, "peer0.org1 (share 1): unreachable") {
		t.Fatalf("nothing known yet: %q", r)
	}
	ch := sig.C()
	w.setReach("peer0.org2", false, "dial: connection refused")
	if !notified(ch) {
		t.Fatal("a change of reach not signalled")
	}
	ch = sig.C()
	w.setReach("peer0.org2", false, "dial: connection refused")
	if notified(ch) {
		t.Fatal("no change signalled")
	}
	w.setReach("peer0.org3", true, "clock skew beyond the bound")
	w.setReach("peer0.org1", true, "")
	r := w.notReleasing(1)
	for _, want := range []string{"1 of 3 shares released (2 needed)", "peer0.org2 (share 2): dial: connection refused", "peer0.org3 (share 3): clock skew"} {
		if !strings.Contains(r, want) {
			t.Errorf("%q does not say %q", r, want)
		}
	}
	if r := w.notReleasing(2); r != "" {
		t.Fatalf("threshold held: %q", r)
	}
	w.setReleased("peer0.org3")
	if r := w.notReleasing(1); strings.Contains(r, "peer0.org3") {
		t.Fatalf("a key server that released is listed: %q", r)
	}
	w.setSendAt(tT)
	if !w.sendAt().Equal(tT) {
		t.Fatal("send time not kept")
	}
	// A key server reporting a far-future agreement (80 years on) no
	// longer moves this peer's target past the end time.
	w.setSendAt(tT.AddDate(80, 0, 0))
	if _, E, _ := w.rec.Times(); !w.sendAt().Equal(E) {
		t.Fatalf("far-future agreement kept as %s, want E %s", w.sendAt(), E)
	}
	st := w.states()
	if len(st) != 3 || st[0].Name != "peer0.org1" || !st[2].Released || st[1].Reach {
		t.Fatalf("states %+v", st)
	}
	w.update("nobody", func(*ksState) { t.Fatal("an unknown key server updated") })
}

func TestPlaintextStart(t *testing.T) {
	const size = 10_000_000 // 80 Mbit
	target := tT
	for _, c := range []struct {
		name      string
		best      float64
		naive     bool
		maxLead   time.Duration
		wantStart time.Time
		wantRate  float64
	}{
		{"naive: at the target", 8e6, true, time.Hour, target, 0},
		{"unknown rate: at the target", 0, false, time.Hour, target, 0},
		// 10 s at 8 Mbit/s, 3% and 100 ms earlier.
		{"paced", 8e6, false, time.Hour, target.Add(-10*time.Second - 300*time.Millisecond - 100*time.Millisecond), 8e6},
		{"lead capped", 8e3, false, time.Minute, target.Add(-time.Minute), float64(size*8) / 60},
	} {
		start, rate := plaintextStart(target, size, c.best, c.naive, c.maxLead)
		if !start.Equal(c.wantStart) || rate != c.wantRate {
			t.Errorf("%s: start %s rate %.0f; want %s, %.0f", c.name, start.Sub(target), rate, c.wantStart.Sub(target), c.wantRate)
		}
		if start.After(target) {
			t.Errorf("%s: starts after the target", c.name)
		}
	}
	for _, c := range []struct{ size, want int64 }{
		{100, 100}, {1 << 20, 1 << 20}, {3 << 20, 1 << 20}, {4 << 20, 1 << 20}, {10_000_000, 2_500_000}, {1 << 30, 1 << 28},
	} {
		if got := tailBytes(c.size); got != c.want {
			t.Errorf("tailBytes(%d) = %d, want %d", c.size, got, c.want)
		}
	}
}

// TestLyingRate: an edge-decrypt client that reports a tiny rate and
// reads fast. By the old rule (the start from the client's word,
// max(history, reported rate), the history under a fresh client name
// empty) its start was the target minus the 2-hour cap, and with the
// pacer's schedule counted from there, all but the last 16 KiB were due
// at once, any time in the two hours before T. Now the start comes from
// the edge's own timed probes: without one the send starts at the
// target; with one, the lead is what the measured rate justifies; the
// reported rate moves nothing.
func TestLyingRate(t *testing.T) {
	const size = 10_000_000
	const lie = 8.0 // bits/s: what the client reports
	target := tT
	maxLead := 2 * time.Hour
	// The attack path of the old rule, on the same pure function.
	oldStart, oldRate := plaintextStart(target, size, lie, false, maxLead)
	tenSecondsBefore := target.Add(-10 * time.Second)
	due := int64(tenSecondsBefore.Sub(oldStart).Seconds() * oldRate / 8)
	if !oldStart.Equal(target.Add(-maxLead)) || due < size*99/100 {
		t.Fatalf("old rule: start T-%s, %d of %d bytes due 10 s before T", target.Sub(oldStart), due, size)
	}

	now := target.Add(-10 * time.Minute)
	e := testEnv(t, func() time.Time { return now })
	rec := &release.Record{ID: "00112233445566778899aabbccddeeff", Size: size, CipherSize: size + 160}
	sig := newSignal()
	ed := newEdge(e, rec, sig)
	w := newKeyWatch(e, rec, 0, sig)
	te := &trustedEdge{env: e, rec: rec, releaseAt: target, edge: ed, watch: w, changed: sig}
	te.mu.starts = map[string]time.Time{}
	client := "mallory@Org2/fresh-name"
	if _, err := ed.subscribe("mallory@Org2", subscribeArgs{client: client, session: "s1", edgeDecrypt: true}, now); err != nil {
		t.Fatal(err)
	}
	if !ed.progress(progressArgs{client: client, rate: lie}, now) {
		t.Fatal("progress refused")
	}
	e.history.addRate(client, now, lie)
	v, _ := ed.decryptClient(client)
	if start, _ := te.startFor(v, target); !start.Equal(target) {
		t.Fatalf("no measurement, reported %v bit/s: start T-%s, want T", lie, target.Sub(start))
	}
	// A timed probe: 4 MiB acknowledged 0.4 s after its first byte left
	// (about 84 Mbit/s): the lead is what that rate justifies, whatever
	// the client says.
	id, ok := ed.probe(client, 4<<20, now)
	if !ok {
		t.Fatal("probe refused")
	}
	now = now.Add(400 * time.Millisecond)
	ed.progress(progressArgs{client: client, probeAck: id, rate: lie}, now)
	v, _ = ed.decryptClient(client)
	measured := float64(4<<20*8) / 0.4
	if v.measured != measured {
		t.Fatalf("measured %.0f bit/s, want %.0f", v.measured, measured)
	}
	start, rate := te.startFor(v, target)
	wantStart, wantRate := plaintextStart(target, size, measured, false, maxLead)
	if !start.Equal(wantStart) || rate != wantRate || target.Sub(start) > 2*time.Second {
		t.Fatalf("measured %.0f bit/s: start T-%s at %.0f bit/s, want T-%s", measured, target.Sub(start), rate, target.Sub(wantStart))
	}
	// An acknowledgement of a probe never sent, or a second one, is
	// ignored; a smaller probe does not replace the larger one's figure.
	ed.progress(progressArgs{client: client, probeAck: id}, now.Add(time.Hour))
	ed.progress(progressArgs{client: client, probeAck: 999}, now)
	small, _ := ed.probe(client, 16<<10, now)
	ed.progress(progressArgs{client: client, probeAck: small}, now.Add(time.Minute))
	if v, _ = ed.decryptClient(client); v.measured != measured {
		t.Fatalf("measurement moved to %.0f bit/s", v.measured)
	}
	// A new fetch taking the name over once the old one is idle starts
	// without a measurement: the previous connection's says nothing of it.
	s := ed.mu.t.subs[client]
	ed.endStream(s, now)
	if _, err := ed.subscribe("mallory@Org2", subscribeArgs{client: client, session: "s2", edgeDecrypt: true}, now); err != nil {
		t.Fatal(err)
	}
	if v, _ = ed.decryptClient(client); v.measured != 0 {
		t.Fatalf("taken-over name kept the measurement %.0f", v.measured)
	}
}

// TestMeasuredRate: probes through a token-bucket shaper (70 kbit/s,
// a 3028-byte bucket, full before the first probe and partly refilled
// before the second, 5% framing, 50 ms round trip). The largest probe
// alone overstates the link (what made edge-decrypt clients on slow
// links minutes late in the first run of the fairness experiment with
// edge-side measurement); the two probes together do not.
func TestMeasuredRate(t *testing.T) {
	const rate = 70e3
	took := func(payload, bucket int64) time.Duration {
		wire := float64(payload) * 1.05
		return 50*time.Millisecond + time.Duration((wire-float64(bucket))*8/rate*float64(time.Second))
	}
	one := []probeDone{{bytes: 16 << 10, took: took(16<<10, 3028)}}
	if got := measuredRate(one); got <= rate {
		t.Fatalf("one probe: %.0f bit/s; expected the burst to overstate %.0f", got, rate)
	}
	two := append(one, probeDone{bytes: 64 << 10, took: took(64<<10, 875)})
	if got := measuredRate(two); got > rate || got < 0.9*rate {
		t.Fatalf("two probes: %.0f bit/s, want at most %.0f and close to it", got, float64(rate))
	}
	// A slow acknowledgement of the larger probe only lowers the figure;
	// one of the smaller probe (the difference then looking fast) does
	// not raise it above the larger probe's own.
	slowBig := []probeDone{one[0], {bytes: 64 << 10, took: time.Minute}}
	if got := measuredRate(slowBig); got > float64((64<<10)*8)/60 {
		t.Fatalf("slow large probe: %.0f", got)
	}
	slowSmall := []probeDone{{bytes: 16 << 10, took: 7 * time.Second}, {bytes: 64 << 10, took: 7500 * time.Millisecond}}
	if got, single := measuredRate(slowSmall), float64((64<<10)*8)/7.5; got != single {
		t.Fatalf("slow small probe: %.0f, want the large probe's %.0f", got, single)
	}
	if measuredRate(nil) != 0 {
		t.Fatal("a rate without a probe")
	}
}

// TestClientNameClash: a second live subscription under a name held by
// another fetch is refused; a reconnect of the same fetch, or a new one
// once the old is idle, is not.
func TestClientNameClash(t *testing.T) {
	now := tT
	e := testEnv(t, func() time.Time { return now })
	e.o.Self = newKeyFixture(t, 1, 1).signers[0] // the edge's name, in the refusal
	rec := &release.Record{ID: "00112233445566778899aabbccddeeff", Size: 1000}
	ed := newEdge(e, rec, newSignal())
	a := subscribeArgs{client: "alice@Org1", session: "one"}
	s1, err := ed.subscribe("alice@Org1", a, now)
	if err != nil {
		t.Fatal(err)
	}
	b := a
	b.session = "two"
	_, err = ed.subscribe("alice@Org1", b, now)
	if !errors.Is(err, ErrClientNameInUse) || !strings.Contains(err.Error(), "--client") {
		t.Fatalf("second fetch under a live name: %v", err)
	}
	var ce *connect.Error
	if !errors.As(codeOf(err), &ce) || ce.Code() != connect.CodeAlreadyExists {
		t.Fatalf("code of a clash: %v", codeOf(err))
	}
	s2, err := ed.subscribe("alice@Org1", a, now) // reconnect, old stream not yet seen closed
	if err != nil || s2 != s1 {
		t.Fatalf("reconnect: %v", err)
	}
	ed.endStream(s1, now)
	ed.endStream(s2, now)
	if _, err := ed.subscribe("alice@Org1", b, now); err != nil {
		t.Fatalf("new fetch after the old one ended: %v", err)
	}
}

// TestPace: the paced send gives every byte, in order: the plaintext up
// to the tail, the tail encrypted, and the tail key, which opens it,
// never before the target, however early it starts and however fast the
// client reads. (Real time: the hold until the target is the point.)
func TestPace(t *testing.T) {
	e := testEnv(t, time.Now)
	sig := newSignal()
	target := time.Now().Add(150 * time.Millisecond)
	data := bytes.Repeat([]byte("0123456789"), 300_000)
	rec := &release.Record{Size: int64(len(data))}
	w := newKeyWatch(e, rec, 0, sig)
	w.setSendAt(target)
	te := &trustedEdge{env: e, rec: rec, releaseAt: target.Add(-time.Hour), watch: w, changed: sig}
	var got, key []byte
	tailAt := int64(-1)
	var keyAt time.Time
	err := te.pace(context.Background(), bytes.NewReader(data), time.Now().Add(-time.Hour), 1e12, func(p plainPiece) error {
		if tailAt < 0 {
			tailAt = p.tailOffset
		}
		if p.tailKey != nil {
			key, keyAt = p.tailKey, time.Now()
			return nil
		}
		if key != nil {
			t.Fatal("data after the tail key")
		}
		got = append(got, p.data...)
		return nil
	})
	if err != nil || len(got) != len(data) || key == nil {
		t.Fatalf("paced send: %v, %d of %d bytes, key %x", err, len(got), len(data), key)
	}
	if tailAt != int64(len(data))-tailBytes(int64(len(data))) || !bytes.Equal(got[:tailAt], data[:tailAt]) {
		t.Fatalf("tail at %d; plaintext before it differs", tailAt)
	}
	if bytes.Equal(got[tailAt:tailAt+64], data[tailAt:tailAt+64]) {
		t.Fatal("the tail travelled in clear")
	}
	if keyAt.Before(target) {
		t.Fatalf("the tail key left %s before the target", target.Sub(keyAt))
	}
	block, _ := aes.NewCipher(key)
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(got[tailAt:], got[tailAt:])
	if !bytes.Equal(got, data) {
		t.Fatal("the tail key does not open the tail")
	}
	// A send that fails stops the pacing with its error; so does the end
	// of the request.
	boom := errors.New("client gone")
	if err := te.pace(context.Background(), bytes.NewReader(data), time.Now(), 0, func(plainPiece) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failed send: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.setSendAt(time.Now().Add(time.Hour))
	if err := te.pace(ctx, bytes.NewReader(data), time.Now(), 0, func(plainPiece) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if err := te.pace(context.Background(), bytes.NewReader(data[:10]), time.Now(), 0, func(plainPiece) error { return nil }); err == nil {
		t.Fatal("a plaintext shorter than the work was sent as complete")
	}
}

func TestCodeOf(t *testing.T) {
	for _, c := range []struct {
		err  error
		code connect.Code
	}{
		{&LimitError{Setting: LimitSubscriptions, Detail: "d"}, connect.CodeResourceExhausted},
		{&os.PathError{Op: "write", Path: "cipher", Err: syscall.ENOSPC}, connect.CodeResourceExhausted},
		{fmt.Errorf("x: %w", wire.ErrMalformed), connect.CodeInvalidArgument},
		{fmt.Errorf("x: %w", content.ErrCorrupt), connect.CodeInvalidArgument},
		{fmt.Errorf("x: %w", ErrUnknownRelease), connect.CodeNotFound},
		{fmt.Errorf("x: %w", ErrRefused), connect.CodePermissionDenied},
		{fmt.Errorf("%w: %w: x", errNotSubscribed, ErrTooEarly), connect.CodeFailedPrecondition},
		{fmt.Errorf("x: %w", ErrTooEarly), connect.CodeFailedPrecondition},
		{fmt.Errorf("x: %w", ErrClockSkew), connect.CodeUnavailable},
		{errors.New("anything else"), connect.CodeInternal},
		{connect.NewError(connect.CodeAborted, errors.New("kept")), connect.CodeAborted},
	} {
		if got := connect.CodeOf(codeOf(c.err)); got != c.code {
			t.Errorf("%v: %v, want %v", c.err, got, c.code)
		}
	}
	if codeOf(nil) != nil {
		t.Fatal("codeOf(nil) is an error")
	}
	var ce *connect.Error
	if errors.As(codeOf(&LimitError{Setting: "s", Detail: "d"}), &ce); ce.Message() != "d (limit s)" {
		t.Fatalf("limit message %q", ce.Message())
	}
}

func TestLargeBody(t *testing.T) {
	put, _ := http.NewRequest(http.MethodPost, "https://p"+foliov1connect.ReleaseServicePutChunkProcedure, nil)
	if n, ok := LargeBody(put); !ok || n < release.MaxChunkSize+content.TagSize || n > release.MaxChunkSize+release.MaxChunkSize/16 {
		t.Fatalf("chunk upload: %d %v", n, ok)
	}
	for _, r := range []struct{ method, path string }{
		{http.MethodPost, foliov1connect.ReleaseServicePutManifestProcedure},
		{http.MethodGet, foliov1connect.ReleaseServicePutChunkProcedure},
		{http.MethodPost, foliov1connect.ReleaseServicePutChunkProcedure + "/x"},
		{http.MethodPut, "/release/v1/releases/0123/chunks/1"},
	} {
		req, _ := http.NewRequest(r.method, "https://p"+r.path, nil)
		if _, ok := LargeBody(req); ok {
			t.Errorf("%s %s is not a chunk upload", r.method, r.path)
		}
	}
}

// TestKeyServerNeedsACheckedClock drives a key server role alone (no
// other peer, so no clock to compare with): it agrees on T with itself,
// then refuses to release on an unchecked clock, says why, retries until
// the end time and stops. (Real time, short: the schedule is the point.)
func TestKeyServerNeedsACheckedClock(t *testing.T) {
	f := newKeyFixture(t, 1, 1)
	e := testEnv(t, time.Now)
	e.o.Self = f.signers[0]
	e.o.CoordLead, e.o.CoordInterval, e.o.Freeze = time.Second, 100*time.Millisecond, 50*time.Millisecond
	T := time.Now().Add(700 * time.Millisecond).Truncate(time.Millisecond)
	f.rec.ReleaseAt, f.rec.EndAt = T.Format(time.RFC3339Nano), T.Add(1500*time.Millisecond).Format(time.RFC3339Nano)
	e.spawn = func(func(context.Context)) { t.Error("the key server started background work without releasing") }
	r, err := newRel(e, f.rec, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.ks == nil || r.te != nil {
		t.Fatalf("roles: key server %v, trusted edge %v", r.ks != nil, r.te != nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.ks.run(ctx)
	if ctx.Err() != nil {
		t.Fatal("the key server did not stop at the end time")
	}
	if time.Now().Before(r.endAt) {
		t.Fatalf("stopped %s before the end time", r.endAt.Sub(time.Now()))
	}
	released, reason := r.ks.status()
	if released || r.shares.count() != 0 || !strings.Contains(reason, "could not compare its clock") {
		t.Fatalf("released %v, %d shares, reason %q", released, r.shares.count(), reason)
	}
	if !r.watch.sendAt().Equal(T) {
		t.Fatalf("agreed %s, want T", r.watch.sendAt().Sub(T))
	}
}
