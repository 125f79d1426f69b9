package index

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/explorer"
	"github.com/folio-ledger/folio/internal/types"
)

const (
	hashA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hashB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	hashC = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
)

var (
	valid = foliov1.ValidationCode_VALID
	mvcc  = foliov1.ValidationCode_MVCC_READ_CONFLICT
	dup   = foliov1.ValidationCode_DUPLICATE_TXID
)

func open(t testing.TB, dir string) *Index {
	t.Helper()
	ix, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func applyAll(t testing.TB, ix *Index, bs ...*foliov1.Block) {
	t.Helper()
	for _, b := range bs {
		if err := ix.Apply(b); err != nil {
			t.Fatalf("block %d: %v", b.Header.Number, err)
		}
	}
}

// scenario is a small chain exercising every kind of record:
//
//	0: config (genesis)
//	1: register W1 (user1), register W2 (user2), register W3 refused (MVCC)
//	2: transfer W1 to user2; a replay of W1's registration (DUPLICATE_TXID)
//	3: delete W2
type scenario struct {
	c                                *testChain
	w1, w2, w3                       work
	regW1, regW2, regW3, xferW1, del string
}

func newScenario(t testing.TB) *scenario {
	c := newTestChain(t)
	s := &scenario{c: c, w1: work{"W1", "Song", "Ann", "user1@Org1", hashA}, w2: work{"W2", "Poem", "Bob", "user2@Org2", hashB},
		w3: work{"W3", "Lost", "Ann", "user1@Org1", hashC}}
	_, cfg := c.configTx()
	c.block(nil, cfg)
	var e1, e2, e3 []byte
	s.regW1, e1 = c.register(c.user1, s.w1)
	s.regW2, e2 = c.register(c.user2, s.w2)
	s.regW3, e3 = c.register(c.user1, s.w3)
	c.block([]foliov1.ValidationCode{valid, valid, mvcc}, e1, e2, e3)
	var x []byte
	s.xferW1, x = c.transfer(c.user1, s.w1, "user2@Org2", &foliov1.Version{BlockNum: 1, TxNum: 0})
	c.block([]foliov1.ValidationCode{valid, dup}, x, e1)
	var d []byte
	s.del, d = c.remove(c.user2, s.w2)
	c.block(nil, d)
	return s
}

func TestIndexServesEveryQuery(t *testing.T) {
	s := newScenario(t)
	ix := open(t, t.TempDir())
	defer ix.Close()
	changed := ix.Changed()
	applyAll(t, ix, s.c.blocks[0])
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed after a block")
	}
	if ix.Changed() == changed {
		t.Fatal("Changed did not renew its channel")
	}
	applyAll(t, ix, s.c.blocks[1:]...)

	st := ix.Stats()
	if st.Height != 4 || st.Txs != 7 || st.Valid != 5 || st.Invalid["MVCC_READ_CONFLICT"] != 1 || st.Invalid["DUPLICATE_TXID"] != 1 || st.Works != 1 {
		t.Fatalf("stats %+v", st)
	}
	if st.ByOrg["Org1MSP"] != 4 || st.ByOrg["Org2MSP"] != 2 || st.ByOrg["OrdererOrgMSP"] != 1 {
		t.Fatalf("by org %v", st.ByOrg)
	}
	if !st.LastBlockAt.Equal(time.Unix(0, s.c.blocks[3].Header.TimestampUnixNano)) || st.IndexedAt.IsZero() {
		t.Fatalf("times %v %v", st.LastBlockAt, st.IndexedAt)
	}

	// Blocks.
	b1, err := ix.Block(1)
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := types.HeaderHash(s.c.blocks[1].Header)
	if b1.Hash != hex.EncodeToString(h1) || b1.Txs != 3 || b1.Valid != 2 || b1.Invalid["MVCC_READ_CONFLICT"] != 1 ||
		len(b1.Signers) != 1 || b1.Signers[0] != "orderer0@OrdererOrg" || len(b1.TxIDs) != 3 || b1.TxIDs[0] != s.regW1 || b1.StateRoot == "" {
		t.Fatalf("block 1 %+v", b1)
	}
	if b2, _ := ix.Block(2); b2.PreviousHash != b1.Hash {
		t.Fatalf("block 2 previous %s, block 1 %s", b2.PreviousHash, b1.Hash)
	}
	if got, err := ix.BlockByHash(strings.ToUpper(b1.Hash)); err != nil || got.Number != 1 {
		t.Fatalf("by hash: %+v %v", got, err)
	}
	for _, bad := range []string{"zz", "", strings.Repeat("ab", 32)} {
		if _, err := ix.BlockByHash(bad); !errors.Is(err, explorer.ErrNotFound) {
			t.Fatalf("hash %q: %v", bad, err)
		}
	}
	if _, err := ix.Block(4); !errors.Is(err, explorer.ErrNotFound) {
		t.Fatalf("block 4: %v", err)
	}
	page, err := ix.Blocks(0, 3)
	if err != nil || len(page) != 3 || page[0].Number != 3 || page[2].Number != 1 {
		t.Fatalf("newest blocks %v", numbers(page))
	}
	if page, _ = ix.Blocks(1, 10); len(page) != 1 || page[0].Number != 0 {
		t.Fatalf("blocks before 1: %v", numbers(page))
	}

	// Transactions.
	tx, err := ix.Tx(s.regW1)
	if err != nil {
		t.Fatal(err)
	}
	if tx.ValidationCode != "VALID" || tx.Block != 1 || tx.Index != 0 || tx.Creator != "user1@Org1" || tx.CreatorOrg != "Org1MSP" ||
		tx.Contract != "copyright" || tx.Function != "register" || len(tx.Args) != 1 || !strings.Contains(tx.Args[0], `"id":"W1"`) ||
		len(tx.Endorsers) != 2 || tx.Endorsers[0] != "peer0.org1@Org1" || len(tx.Writes) != 4 || len(tx.Reads) != 1 || tx.Reads[0].Version != "" {
		t.Fatalf("register tx %+v", tx)
	}
	xf, _ := ix.Tx(s.xferW1)
	if xf.Reads[0].Version != "1:0" || xf.Creator != "user1@Org1" {
		t.Fatalf("transfer reads %+v", xf.Reads)
	}
	if bad, _ := ix.Tx(s.regW3); bad.ValidationCode != "MVCC_READ_CONFLICT" {
		t.Fatalf("refused tx %+v", bad)
	}
	cfg, _ := ix.Tx(b0tx(t, ix))
	if !cfg.Config {
		t.Fatalf("config tx %+v", cfg)
	}
	if _, err := ix.Tx("nope"); !errors.Is(err, explorer.ErrNotFound) {
		t.Fatal(err)
	}

	// Works: W1 transferred, W2 deleted, W3 never valid.
	w1, prov, err := ix.Work("W1")
	if err != nil || w1.Owner != "user2@Org2" || w1.Author != "Ann" || w1.ContentHash != hashA || w1.Block != 2 || w1.TxID != s.xferW1 || w1.RegisteredAt.IsZero() {
		t.Fatalf("W1 %+v %v", w1, err)
	}
	if len(prov) != 2 || prov[0].Action != "register" || prov[0].Owner != "user1@Org1" || prov[0].Block != 1 || prov[0].TxID != s.regW1 ||
		prov[1].Action != "transfer" || prov[1].Owner != "user2@Org2" || prov[1].Creator != "user1@Org1" || len(prov[1].Endorsers) != 2 {
		t.Fatalf("W1 provenance %+v", prov)
	}
	for _, id := range []string{"W2", "W3"} {
		if _, _, err := ix.Work(id); !errors.Is(err, explorer.ErrNotFound) {
			t.Fatalf("%s: %v", id, err)
		}
	}
	for _, q := range []struct {
		q    explorer.WorkQuery
		want []string
	}{
		{explorer.WorkQuery{}, []string{"W1"}},
		{explorer.WorkQuery{Owner: "user2@Org2"}, []string{"W1"}},
		{explorer.WorkQuery{Owner: "user1@Org1"}, nil}, // moved away
		{explorer.WorkQuery{Author: "Ann"}, []string{"W1"}},
		{explorer.WorkQuery{Author: "Bob"}, nil}, // deleted
		{explorer.WorkQuery{ContentHash: strings.ToUpper(hashA[:10]) + hashA[10:]}, []string{"W1"}},
		{explorer.WorkQuery{ContentHash: hashC}, nil}, // refused
		{explorer.WorkQuery{ID: "W1", Owner: "user2@Org2"}, []string{"W1"}},
		{explorer.WorkQuery{ID: "W1", Owner: "user1@Org1"}, nil},
		{explorer.WorkQuery{Author: "Ann", Owner: "user1@Org1"}, nil},
		{explorer.WorkQuery{After: "W1"}, nil},
		{explorer.WorkQuery{Owner: "a\x00b"}, nil},
	} {
		got, err := ix.Works(q.q)
		if err != nil || strings.Join(ids(got), ",") != strings.Join(q.want, ",") {
			t.Errorf("Works(%+v) = %v, %v; want %v", q.q, ids(got), err, q.want)
		}
	}

	// Rates: the blocks are ten minutes old, each in its own second.
	rs := ix.Rates(time.Hour)
	var v, inv int
	for _, r := range rs {
		v, inv = v+r.Valid, inv+r.Invalid
	}
	if len(rs) != 3600 || v != 5 || inv != 2 {
		t.Fatalf("rates: %d points, %d valid, %d invalid", len(rs), v, inv)
	}
}

// b0tx is the genesis block's configuration transaction ID.
func b0tx(t *testing.T, ix *Index) string {
	b, err := ix.Block(0)
	if err != nil || len(b.TxIDs) != 1 {
		t.Fatalf("block 0 %+v %v", b, err)
	}
	return b.TxIDs[0]
}

func numbers(bs []explorer.BlockSummary) []uint64 {
	var out []uint64
	for _, b := range bs {
		out = append(out, b.Number)
	}
	return out
}

func ids(ws []explorer.Work) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.ID)
	}
	return out
}

func TestClosedIndexIsUnavailable(t *testing.T) {
	ix := open(t, t.TempDir())
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Block(0); !errors.Is(err, explorer.ErrUnavailable) || errors.Is(err, explorer.ErrNotFound) {
		t.Fatalf("block of a closed index: %v", err)
	}
	if err := ix.Apply(newTestChain(t).block(nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("apply to a closed index: %v", err)
	}
}
