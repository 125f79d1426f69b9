package validate

import (
	"context"
	"strings"
	"testing"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

// TestNotBefore checks the commit-time rule of ReadWriteSet.not_before:
// from capability level 3 a transaction is TOO_EARLY in a block stamped
// before the time its contract asserted, valid at or after it; a
// transaction without the assertion is unaffected; a negative time is a
// malformed rwset; at level 2 the assertion is ignored, as binaries
// without the rule ignore it, so a channel never splits during an upgrade.
func TestNotBefore(t *testing.T) {
	f := newFixture(t)
	T := time.Date(2026, 5, 1, 13, 0, 0, 0, time.UTC)
	nb := T.UnixNano()
	cases := []struct {
		name      string
		level     string
		notBefore int64
		blockAt   time.Time
		want      foliov1.ValidationCode
		says      string
	}{
		{"no assertion, early block", "v3", 0, T.Add(-time.Hour), foliov1.ValidationCode_VALID, ""},
		{"one nanosecond early", "v3", nb, T.Add(-time.Nanosecond), foliov1.ValidationCode_TOO_EARLY, "from 2026-05-01T13:00:00Z; block 7 is stamped 2026-05-01T12:59:59.999999999Z (1ns early)"},
		{"four minutes early", "v3", nb, T.Add(-4 * time.Minute), foliov1.ValidationCode_TOO_EARLY, "(4m0s early)"},
		{"at the time", "v3", nb, T, foliov1.ValidationCode_VALID, ""},
		{"after the time", "v3", nb, T.Add(time.Second), foliov1.ValidationCode_VALID, ""},
		{"negative time", "v3", -1, T, foliov1.ValidationCode_BAD_RWSET, "before the Unix epoch"},
		{"level 2 ignores it", "v2", nb, T.Add(-4 * time.Minute), foliov1.ValidationCode_VALID, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := f.opts(fakeState{}, fakeIndex{})
			if c.level == "v3" {
				o.Config = f.cfgV3
			}
			b := block(7, f.tx(t, txSpec{notBefore: c.notBefore}))
			b.Header.TimestampUnixNano = c.blockAt.UnixNano()
			res, err := Block(context.Background(), b, o)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Txs[0]; got.Code != c.want || !strings.Contains(got.Reason, c.says) {
				t.Fatalf("%v %q, want %v %q", got.Code, got.Reason, c.want, c.says)
			}
		})
	}
}

// TestEarlyPublicationByProposalTimestamp is the attack of issue 18 at
// validation: the creator stamps its proposal T (endorsers accept up to 5
// minutes ahead of their clocks, and the release contract's
// publish_share checked only that stamp), and the orderer cuts the block
// at T-4m. Validation never reads the proposal timestamp, so without an
// assertion (the old contract) the early write is VALID; with the
// contract's CommitNotBefore(T) in the rwset it is TOO_EARLY, and its
// writes do not count for later transactions of the block.
func TestEarlyPublicationByProposalTimestamp(t *testing.T) {
	f := newFixture(t)
	T := time.Date(2026, 5, 1, 13, 0, 0, 0, time.UTC)
	share := &foliov1.NsReadWriteSet{Namespace: "copyright", Writes: []*foliov1.KVWrite{{Key: "share1", Value: []byte("s")}}}
	// A later transaction of the same block that read share1 as absent.
	reader := &foliov1.NsReadWriteSet{Namespace: "copyright", Reads: []*foliov1.KVRead{{Key: "share1"}},
		Writes: []*foliov1.KVWrite{{Key: "seen", Value: []byte("no share yet")}}}
	o := f.opts(fakeState{}, fakeIndex{})
	o.Config = f.cfgV3

	old := block(3, f.tx(t, txSpec{rwset: share, proposedAt: T}), f.tx(t, txSpec{rwset: reader}))
	old.Header.TimestampUnixNano = T.Add(-4 * time.Minute).UnixNano()
	res, err := Block(context.Background(), old, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Txs[0].Code != foliov1.ValidationCode_VALID || res.Txs[1].Code != foliov1.ValidationCode_MVCC_READ_CONFLICT {
		t.Fatalf("without the assertion (the old contract): %v %v, want the early write VALID", res.Txs[0].Code, res.Txs[1].Code)
	}

	now := block(3, f.tx(t, txSpec{rwset: share, proposedAt: T, notBefore: T.UnixNano()}), f.tx(t, txSpec{rwset: reader}))
	now.Header.TimestampUnixNano = T.Add(-4 * time.Minute).UnixNano()
	res, err = Block(context.Background(), now, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Txs[0].Code != foliov1.ValidationCode_TOO_EARLY {
		t.Fatalf("publication with a proposal stamped T in a block at T-4m: %v %q, want TOO_EARLY", res.Txs[0].Code, res.Txs[0].Reason)
	}
	if res.Txs[1].Code != foliov1.ValidationCode_VALID {
		t.Fatalf("a too-early transaction's writes counted: the reader is %v %q", res.Txs[1].Code, res.Txs[1].Reason)
	}
}
