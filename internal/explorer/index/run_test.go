package index

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/explorer"
)

// waitHeight waits, on Changed, until ix has indexed h blocks. The
// timeout only turns a hang into a failure; nothing is timed.
func waitHeight(t *testing.T, ix *Index, h uint64) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		ch := ix.Changed()
		if ix.Height() >= h {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("height %d, waiting for %d", ix.Height(), h)
		}
	}
}

// runIndex runs ix over src in a goroutine; stop cancels it and returns
// Run's error.
func runIndex(ix *Index, src explorer.BlockSource) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ix.Run(ctx, src) }()
	return func() error {
		cancel()
		return <-done
	}
}

func TestRestartCatchesUpFromItsHeight(t *testing.T) {
	s := newScenario(t)
	dir := t.TempDir()
	src := newMemSource(s.c.blocks[:2])
	ix := open(t, dir)
	stop := runIndex(ix, src)
	waitHeight(t, ix, 2)
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if st := ix.Status(); st.Following || st.LastError != "" {
		t.Fatalf("status after stop %+v", st)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}

	// The chain grew while the explorer was down.
	src.append(s.c.blocks[2:]...)
	src.starts, src.delivered = nil, nil
	ix = open(t, dir)
	defer ix.Close()
	if h := ix.Height(); h != 2 {
		t.Fatalf("reopened at height %d", h)
	}
	stop = runIndex(ix, src)
	waitHeight(t, ix, 4)
	if st := ix.Status(); !st.Following || st.LastError != "" {
		t.Fatalf("status while following %+v", st)
	}
	// New blocks arrive while following.
	_, e := s.c.register(s.c.user1, work{"W9", "Late", "Cy", "user1@Org1", hashC})
	src.append(s.c.block(nil, e))
	waitHeight(t, ix, 5)
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.starts) != 1 || src.starts[0] != 2 {
		t.Fatalf("asked the source from %v, want only from 2", src.starts)
	}
	for _, n := range src.delivered {
		if n < 2 {
			t.Fatalf("re-read block %d below the stored height", n)
		}
	}
	if st := ix.Stats(); st.Height != 5 || st.Txs != 8 || st.Works != 2 {
		t.Fatalf("stats after catch-up %+v", st)
	}
	// The rate ring is rebuilt from the blocks indexed before the restart.
	var total int
	for _, r := range ix.Rates(time.Hour) {
		total += r.Valid + r.Invalid
	}
	if total != 8 {
		t.Fatalf("rates count %d transactions, want 8", total)
	}
	if w, _, err := ix.Work("W9"); err != nil || w.Block != 4 {
		t.Fatalf("W9 %+v %v", w, err)
	}
}

func TestApplyRefusesGapsAndForeignBlocks(t *testing.T) {
	s := newScenario(t)
	ix := open(t, t.TempDir())
	defer ix.Close()
	if err := ix.Apply(s.c.blocks[1]); !errors.Is(err, ErrGap) {
		t.Fatalf("block 1 first: %v", err)
	}
	applyAll(t, ix, s.c.blocks[:2]...)
	// A block already indexed is skipped and changes nothing.
	before := ix.Stats()
	applyAll(t, ix, s.c.blocks[1])
	if after := ix.Stats(); after.Txs != before.Txs {
		t.Fatalf("re-applied block counted: %d -> %d", before.Txs, after.Txs)
	}
	// A block 2 of another chain does not link to our block 1.
	other := newScenario(t)
	if err := ix.Apply(other.c.blocks[2]); !errors.Is(err, ErrBadBlock) {
		t.Fatalf("foreign block: %v", err)
	}
	// A block whose envelopes do not match its data hash.
	bad := proto.Clone(s.c.blocks[2]).(*foliov1.Block)
	bad.Data = &foliov1.BlockData{Envelopes: [][]byte{[]byte("forged")}}
	if err := ix.Apply(bad); !errors.Is(err, ErrBadBlock) {
		t.Fatalf("forged block: %v", err)
	}
	if ix.Height() != 2 {
		t.Fatalf("height %d after refusals", ix.Height())
	}
	applyAll(t, ix, s.c.blocks[2:]...)
}

func TestInvalidTransactionsChangeNoWork(t *testing.T) {
	c := newTestChain(t)
	w := work{"W1", "Song", "Ann", "user1@Org1", hashA}
	_, reg := c.register(c.user1, w)
	c.block(nil, reg)
	// Every refusal of a transfer and of a second registration.
	var envs [][]byte
	var codes []foliov1.ValidationCode
	for i, code := range []foliov1.ValidationCode{mvcc, foliov1.ValidationCode_ENDORSEMENT_POLICY_FAILURE, foliov1.ValidationCode_BAD_CREATOR_SIGNATURE, foliov1.ValidationCode_PHANTOM_READ_CONFLICT} {
		_, x := c.transfer(c.user1, w, fmt.Sprintf("thief%d@Org2", i), &foliov1.Version{BlockNum: 0})
		_, r := c.register(c.user2, work{"W1", "Stolen", "Eve", "eve@Org2", hashB})
		envs, codes = append(envs, x, r), append(codes, code, code)
	}
	c.block(codes, envs...)
	ix := open(t, t.TempDir())
	defer ix.Close()
	applyAll(t, ix, c.blocks...)
	got, prov, err := ix.Work("W1")
	if err != nil || got.Owner != "user1@Org1" || got.Title != "Song" || len(prov) != 1 {
		t.Fatalf("W1 after refused changes: %+v, %d changes, %v", got, len(prov), err)
	}
	for _, q := range []explorer.WorkQuery{{Owner: "thief0@Org2"}, {Author: "Eve"}, {ContentHash: hashB}} {
		if ws, _ := ix.Works(q); len(ws) != 0 {
			t.Fatalf("%+v found %v", q, ids(ws))
		}
	}
	if st := ix.Stats(); st.Works != 1 || st.Invalid["ENDORSEMENT_POLICY_FAILURE"] != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestCrashKeepsWholeBlocks crashes the store at random points (Pebble's
// crashable in-memory file system keeps a random part of what was not
// synced) and checks the reopened index holds whole blocks only, with
// counters that match them, and finishes to the same state as an index
// that never crashed.
func TestCrashKeepsWholeBlocks(t *testing.T) {
	c := newTestChain(t)
	var ws []work
	for i := range 30 {
		w := work{fmt.Sprintf("W%02d", i), "T", fmt.Sprintf("A%d", i%3), "user1@Org1", fmt.Sprintf("sha256:%064x", i)}
		ws = append(ws, w)
		_, r := c.register(c.user1, w)
		var x []byte
		if i > 0 {
			_, x = c.transfer(c.user2, ws[i-1], "user2@Org2", &foliov1.Version{BlockNum: uint64(i - 1)})
			c.block(nil, r, x)
		} else {
			c.block(nil, r)
		}
	}
	ref := open(t, t.TempDir())
	defer ref.Close()
	applyAll(t, ref, c.blocks...)

	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 8 {
		fs := vfs.NewCrashableMem()
		ix, err := Open(Options{Dir: "ix", FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		crashAt := 1 + rng.IntN(len(c.blocks)-1)
		applyAll(t, ix, c.blocks[:crashAt]...)
		clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rng})
		_ = ix.Close()

		ix, err = Open(Options{Dir: "ix", FS: clone})
		if err != nil {
			t.Fatalf("round %d: reopen after crash: %v", round, err)
		}
		h := ix.Height()
		if h > uint64(crashAt) {
			t.Fatalf("round %d: height %d after crashing at %d", round, h, crashAt)
		}
		var txs uint64
		for n := range h {
			b, err := ix.Block(n)
			if err != nil {
				t.Fatalf("round %d: height %d but block %d: %v", round, h, n, err)
			}
			txs += uint64(b.Txs)
		}
		if _, err := ix.Block(h); !errors.Is(err, explorer.ErrNotFound) {
			t.Fatalf("round %d: block %d above height %d: %v", round, h, h, err)
		}
		all, _ := ix.Works(explorer.WorkQuery{Limit: MaxLimit})
		if st := ix.Stats(); st.Txs != txs || st.Works != uint64(len(all)) {
			t.Fatalf("round %d: stats %+v, blocks hold %d txs, %d works", round, st, txs, len(all))
		}
		applyAll(t, ix, c.blocks[h:]...)
		if got, want := dump(t, ix), dump(t, ref); got != want {
			t.Fatalf("round %d (crash at %d, recovered %d): after catch-up\n%s\nwant\n%s", round, crashAt, h, got, want)
		}
		t.Logf("round %d: crashed after block %d, recovered %d blocks", round, crashAt-1, h)
		_ = ix.Close()
	}
}

// dump is an index's works and their indexes, for comparison.
func dump(t *testing.T, ix *Index) string {
	var b strings.Builder
	all, err := ix.Works(explorer.WorkQuery{Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	st := ix.Stats()
	fmt.Fprintf(&b, "height %d txs %d valid %d works %d\n", st.Height, st.Txs, st.Valid, st.Works)
	for _, w := range all {
		_, prov, _ := ix.Work(w.ID)
		byOwner, _ := ix.Works(explorer.WorkQuery{Owner: w.Owner, ID: w.ID})
		byAuthor, _ := ix.Works(explorer.WorkQuery{Author: w.Author, After: ""})
		fmt.Fprintf(&b, "%s owner %s block %d changes %d owner-idx %d author-idx %d\n", w.ID, w.Owner, w.Block, len(prov), len(byOwner), len(byAuthor))
	}
	return b.String()
}

func TestRunRetriesSourceErrors(t *testing.T) {
	s := newScenario(t)
	src := newMemSource(s.c.blocks)
	src.failures = []error{errors.New("peer0 unreachable"), errors.New("peer1 unreachable")}
	ix := open(t, t.TempDir())
	defer ix.Close()
	// Each call sees the status the previous failure left.
	var seen []Status
	src.onCall = func() { seen = append(seen, ix.Status()) }
	stop := runIndex(ix, src)
	waitHeight(t, ix, 4)
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if len(seen) != 3 || seen[1].LastError != "peer0 unreachable" || seen[1].Retries != 1 || seen[2].LastError != "peer1 unreachable" || seen[2].Retries != 2 {
		t.Fatalf("statuses seen by the source: %+v", seen)
	}
	if st := ix.Status(); st.LastError != "" || st.Retries != 0 {
		t.Fatalf("status after recovery %+v", st)
	}
	if len(src.starts) != 3 || src.starts[2] != 0 {
		t.Fatalf("starts %v", src.starts)
	}
}

func TestBounds(t *testing.T) {
	c := newTestChain(t)
	big := strings.Repeat("é", 40<<10) // 80 KiB of two-byte characters
	rw := &foliov1.NsReadWriteSet{Namespace: "notes", Writes: []*foliov1.KVWrite{{Key: "k", Value: []byte(big)}, {Key: "raw", Value: []byte{0xff, 0xfe}}}}
	id, e := c.tx(c.user1, "notes", "put", []string{big[:40<<10], big[:40<<10], "tail"}, rw)
	c.block(nil, e)
	ix := open(t, t.TempDir())
	defer ix.Close()
	applyAll(t, ix, c.blocks...)
	tx, err := ix.Tx(id)
	if err != nil {
		t.Fatal(err)
	}
	var args int
	for _, a := range tx.Args {
		args += len(a)
	}
	if args > MaxArgsBytes+2*len("…") || len(tx.Args) != 2 || !strings.HasSuffix(tx.Args[1], "…") {
		t.Fatalf("args kept: %d arguments, %d bytes", len(tx.Args), args)
	}
	if w := tx.Writes[0]; !w.Truncated || len(w.Value) > MaxValueBytes || w.Value != big[:len(w.Value)] {
		t.Fatalf("write 0: truncated %v, %d bytes", w.Truncated, len(w.Value))
	}
	if w := tx.Writes[1]; w.Truncated || w.Value != "base64://4=" {
		t.Fatalf("binary write %+v", w)
	}
	if got := limitOf(100000); got != MaxLimit {
		t.Fatalf("limit %d", got)
	}
	if got, _ := ix.Blocks(0, 100000); len(got) != 1 {
		t.Fatalf("blocks %d", len(got))
	}
}
