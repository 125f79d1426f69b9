package releaseprobe

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

var tRel = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return tRel.Add(d) }

// TestEvaluateFlags: observations that break the rules MUST be flagged,
// each once; those within the tolerance must not.
func TestEvaluateFlags(t *testing.T) {
	const size = 8 << 20 // allowance: 6 MiB (75%)
	obs := []Observation{
		// MUST flag: a share from a peer that is no key server to a client, 2 s early.
		{Client: "adversary", Role: RoleAdversary, Peer: "peer1.org2", RPC: "GetShares", Kind: KindShare, Index: 1, At: at(-2 * time.Second)},
		// The same again: reported once.
		{Client: "adversary", Role: RoleAdversary, Peer: "peer1.org2", RPC: "GetShares", Kind: KindShare, Index: 1, At: at(-1900 * time.Millisecond)},
		// MUST flag: just beyond the tolerance.
		{Client: "key-1", Role: RoleKey, Peer: "peer0.org1", RPC: "Subscribe", Kind: KindShare, Index: 2, At: at(-DefaultTolerance - time.Millisecond)},
		// Not flagged: at T, and within the tolerance before it.
		{Client: "key-3", Role: RoleKey, Peer: "peer0.org2", RPC: "Subscribe", Kind: KindShare, Index: 1, At: at(0)},
		{Client: "key-3", Role: RoleKey, Peer: "peer0.org2", RPC: "Subscribe", Kind: KindShare, Index: 2, At: at(-DefaultTolerance)},
		// MUST flag: the tail key a minute early.
		{Client: "edge-2", Role: RoleEdge, Peer: "peer0.org1", RPC: "GetPlaintext", Kind: KindTailKey, At: at(-time.Minute)},
		// MUST flag: more clear bytes than 75% before T.
		{Client: "edge-2", Role: RoleEdge, Peer: "peer0.org1", RPC: "GetPlaintext", Kind: KindPlaintext, Stream: 1, Bytes: 6<<20 + 1, At: at(-time.Second)},
		// Not flagged: exactly the allowance before T; more after T.
		{Client: "edge-4", Role: RoleEdge, Peer: "peer0.org2", RPC: "GetPlaintext", Kind: KindPlaintext, Stream: 1, Bytes: 6 << 20, At: at(-time.Second)},
		{Client: "edge-4", Role: RoleEdge, Peer: "peer0.org2", RPC: "GetPlaintext", Kind: KindPlaintext, Stream: 1, Bytes: 7 << 20, At: at(time.Millisecond)},
		// MUST flag: clear bytes before the announced start.
		{Client: "edge-6", Role: RoleEdge, Peer: "peer0.org2", RPC: "Subscribe", Kind: KindStart, Start: at(-10 * time.Second), At: at(-time.Minute)},
		{Client: "edge-6", Role: RoleEdge, Peer: "peer0.org2", RPC: "GetPlaintext", Kind: KindPlaintext, Stream: 1, Bytes: 100, At: at(-20 * time.Second)},
		// MUST flag: clear bytes 3 h before T (never before T - 2 h).
		{Client: "adversary/liar", Role: RoleAdversary, Peer: "peer0.org1", RPC: "GetPlaintext", Kind: KindPlaintext, Stream: 1, Bytes: 10, At: at(-3 * time.Hour)},
		// Opened: one early (MUST flag), one within the tolerance, one after.
		{Client: "key-5", Role: RoleKey, Peer: "peer1.org1", RPC: "Fetch", Kind: KindOpened, At: at(-time.Second)},
		{Client: "key-1", Role: RoleKey, Peer: "peer0.org1", RPC: "Fetch", Kind: KindOpened, At: at(-100 * time.Millisecond)},
		{Client: "edge-4", Role: RoleEdge, Peer: "peer0.org2", RPC: "Fetch", Kind: KindOpened, At: at(30 * time.Millisecond)},
	}
	r := Evaluate(obs, Rules{ReleaseAt: tRel, Size: size})
	want := map[string][]string{
		"KeyBefore": {
			"adversary (adversary) got share 1 from peer1.org2 by GetShares at T-2.000s",
			"key-1 (key) got share 2 from peer0.org1 by Subscribe at T-0.501s",
			"edge-2 (edge) got the tail key from peer0.org1 by GetPlaintext at T-60.000s",
		},
		"PlaintextEarly": {
			"before T - 2 h",
			"before its start T-10.000s",
			"edge-2 (edge) held 6291457 clear bytes from peer0.org1 at T-1.000s, more than the 6291456 allowed",
		},
		"OpenedEarly": {"key-5 (key) opened the work via peer1.org1 at T-1.000s"},
	}
	got := map[string][]string{"KeyBefore": r.KeyBefore, "PlaintextEarly": r.PlaintextEarly, "OpenedEarly": r.OpenedEarly}
	for k, ws := range want {
		if len(got[k]) != len(ws) {
			t.Errorf("%s: got %d items, want %d: %q", k, len(got[k]), len(ws), got[k])
			continue
		}
		for _, w := range ws {
			found := false
			for _, g := range got[k] {
				found = found || strings.Contains(g, w)
			}
			if !found {
				t.Errorf("%s: no item with %q in %q", k, w, got[k])
			}
		}
	}
	if n := len(r.Violations()); n != 7 {
		t.Errorf("Violations: %d, want 7: %q", n, r.Violations())
	}
	if len(r.Opened) != 3 || r.Opened[0].Client != "key-5" || r.Opened[2].AfterT != 30*time.Millisecond {
		t.Errorf("Opened: %+v", r.Opened)
	}
}

// TestEvaluateClean: a run by the rules has no violation.
func TestEvaluateClean(t *testing.T) {
	obs := []Observation{
		{Client: "key-1", Role: RoleKey, Peer: "peer0.org1", RPC: "Subscribe", Kind: KindShare, Index: 1, At: at(3 * time.Millisecond)},
		{Client: "key-1", Role: RoleKey, Peer: "peer0.org1", RPC: "Subscribe", Kind: KindShare, Index: 2, At: at(4 * time.Millisecond)},
		{Client: "key-1", Role: RoleKey, Peer: "peer0.org1", RPC: "Fetch", Kind: KindOpened, At: at(5 * time.Millisecond)},
		// A small work is all tail: the encrypted bytes arrive before T, no clear one.
		{Client: "edge-2", Role: RoleEdge, Peer: "peer0.org2", RPC: "GetPlaintext", Kind: KindPlaintext, Stream: 1, Bytes: 0, At: at(-50 * time.Millisecond)},
		{Client: "edge-2", Role: RoleEdge, Peer: "peer0.org2", RPC: "GetPlaintext", Kind: KindTailKey, At: at(2 * time.Millisecond)},
		{Client: "edge-2", Role: RoleEdge, Peer: "peer0.org2", RPC: "Fetch", Kind: KindOpened, At: at(2 * time.Millisecond)},
	}
	r := Evaluate(obs, Rules{ReleaseAt: tRel, Size: 256 << 10})
	if v := r.Violations(); len(v) != 0 {
		t.Fatalf("violations in a clean run: %q", v)
	}
	if len(r.Opened) != 2 {
		t.Fatalf("Opened: %+v", r.Opened)
	}
}

func TestPrefixAllowance(t *testing.T) {
	for _, c := range []struct{ size, want int64 }{
		{0, 0}, {256 << 10, 0}, {1 << 20, 0}, {1<<20 + 1, 1}, {2 << 20, 1 << 20},
		{4 << 20, 3 << 20}, {8 << 20, 6 << 20}, {10_000_001, 7_500_000},
	} {
		if got := PrefixAllowance(c.size); got != c.want {
			t.Errorf("PrefixAllowance(%d) = %d, want %d", c.size, got, c.want)
		}
	}
}

// TestObservePiece: clear bytes stop at the tail offset; the tail key is
// recorded as such.
func TestObservePiece(t *testing.T) {
	var got int64
	tail := int64(-1)
	var obs []Observation
	rec := func(o Observation) { obs = append(obs, o) }
	observePiece(&foliov1.GetPlaintextResponse{Data: make([]byte, 100), TailOffset: 150}, &got, &tail, rec)
	observePiece(&foliov1.GetPlaintextResponse{Data: make([]byte, 100)}, &got, &tail, rec)
	observePiece(&foliov1.GetPlaintextResponse{TailKey: make([]byte, 32)}, &got, &tail, rec)
	if len(obs) != 3 || obs[0].Bytes != 100 || obs[1].Bytes != 150 || obs[2].Kind != KindTailKey {
		t.Fatalf("observations: %+v", obs)
	}
}

// TestTapBody: envelopes split across reads are decoded whole, the end
// of stream is skipped, and a compressed message stops the observation
// with an error.
func TestTapBody(t *testing.T) {
	env := func(flags byte, msg []byte) []byte {
		b := []byte{flags, 0, 0, 0, byte(len(msg))}
		return append(b, msg...)
	}
	var body []byte
	body = append(body, env(0, []byte("one"))...)
	body = append(body, env(0, []byte("two"))...)
	body = append(body, env(2, []byte("{}"))...)
	var got []string
	var fails []error
	tb := &tapBody{rc: io.NopCloser(iotest.OneByteReader(bytes.NewReader(body))), stream: true,
		on: func(b []byte, _ time.Time) error { got = append(got, string(b)); return nil }, fail: func(err error) { fails = append(fails, err) }}
	if _, err := io.ReadAll(tb); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "one,two" || len(fails) != 0 {
		t.Fatalf("decoded %q, failures %v", got, fails)
	}
	tb = &tapBody{rc: io.NopCloser(bytes.NewReader(env(1, []byte("zz")))), stream: true,
		on: func(b []byte, _ time.Time) error { got = append(got, string(b)); return nil }, fail: func(err error) { fails = append(fails, err) }}
	if _, err := io.ReadAll(tb); err != nil || len(fails) != 1 {
		t.Fatalf("compressed message: err %v, failures %v", err, fails)
	}
}
