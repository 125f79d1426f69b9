package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/folio-ledger/folio/internal/explorer"
)

// fakeStore is an in-memory explorer.Store for this package's tests.
type fakeStore struct {
	mu      sync.Mutex
	blocks  []explorer.BlockSummary
	txs     map[string]explorer.TxSummary
	works   map[string]explorer.Work
	prov    map[string][]explorer.ProvenanceEntry
	rates   []explorer.Rate
	latency explorer.Latency
	changed chan struct{}
	// err, when set, is what every read returns (e.g. ErrUnavailable).
	err error
	// health is what Health returns.
	health error
}

var _ explorer.Store = (*fakeStore)(nil)

var epoch = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func hexOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func contentHash(id string) string { return "sha256:" + hexOf("content of "+id) }

func txID(block uint64, i int) string { return hexOf(fmt.Sprintf("tx %d/%d", block, i)) }

func blockHash(n uint64) string { return hexOf(fmt.Sprintf("block %d", n)) }

// newFake holds n blocks of two transactions each (the second of every
// third block an MVCC conflict) and three works registered in block 1,
// one of them transferred in block 2.
func newFake(n int) *fakeStore {
	f := &fakeStore{txs: map[string]explorer.TxSummary{}, works: map[string]explorer.Work{}, prov: map[string][]explorer.ProvenanceEntry{}, changed: make(chan struct{})}
	for range n {
		f.appendBlock()
	}
	for _, w := range []explorer.Work{
		{ID: "BOOK-1", Title: "A Book", Author: "Ada", Owner: "Org1MSP", Type: "literary"},
		{ID: "BOOK-2", Title: "Another <Book>", Author: "Bob", Owner: "Org1MSP", Type: "literary"},
		{ID: "SONG-1", Title: "A Song", Author: "Ada", Owner: "Org2MSP", Type: "musical"},
	} {
		w.ContentHash = contentHash(w.ID)
		w.RegisteredAt = epoch.Add(time.Second)
		w.Block, w.TxID = 1, txID(1, 0)
		f.works[w.ID] = w
		f.prov[w.ID] = []explorer.ProvenanceEntry{{TxID: txID(1, 0), Block: 1, Time: w.RegisteredAt, Creator: "user1@Org1", Action: "register", Owner: w.Owner, Endorsers: []string{"peer0@Org1", "peer0@Org2"}}}
	}
	f.prov["BOOK-1"] = append(f.prov["BOOK-1"], explorer.ProvenanceEntry{TxID: txID(2, 0), Block: 2, Time: epoch.Add(2 * time.Second), Creator: "user1@Org1", Action: "transfer", Owner: "Org1MSP", Endorsers: []string{"peer0@Org1"}})
	for s := range 300 {
		r := explorer.Rate{At: time.Now().Add(-time.Duration(s) * time.Second).Truncate(time.Second), Valid: s % 7, Invalid: s % 3 / 2}
		if r.Valid+r.Invalid > 0 {
			r.P50, r.P95, r.P99 = 40, 90, float64(100+s)
		}
		f.rates = append(f.rates, r)
	}
	f.latency = explorer.Latency{Window: 5 * time.Minute, Count: 900, P50: 40, P95: 90, P99: 123.5, Max: 399}
	return f
}

// appendBlock adds a block; callers hold no lock (addBlock) or build.
func (f *fakeStore) appendBlock() explorer.BlockSummary {
	n := uint64(len(f.blocks))
	b := explorer.BlockSummary{Number: n, Hash: blockHash(n), DataHash: hexOf(fmt.Sprintf("data %d", n)), StateRoot: hexOf(fmt.Sprintf("root %d", n)),
		Time: epoch.Add(time.Duration(n) * time.Second), Signers: []string{"orderer0@OrdererOrg", "orderer1@OrdererOrg"}, Txs: 2, Valid: 2}
	if n > 0 {
		b.PreviousHash = blockHash(n - 1)
	}
	for i := range 2 {
		t := explorer.TxSummary{ID: txID(n, i), Block: n, Index: i, Time: b.Time, Creator: "user1@Org1", CreatorOrg: "Org1MSP",
			Contract: "copyright", Function: "register", Args: []string{`{"id":"BOOK-1"}`}, ValidationCode: "VALID", Endorsers: []string{"peer0@Org1"},
			Reads:  []explorer.KeyRead{{Namespace: "copyright", Key: "\x00work\x00BOOK-1\x00", Version: "1:0"}},
			Writes: []explorer.KeyWrite{{Namespace: "copyright", Key: "\x00work\x00BOOK-1\x00", Value: `{"id":"BOOK-1"}`}}}
		if i == 1 && n%3 == 2 {
			t.ValidationCode = "MVCC_READ_CONFLICT"
			b.Valid--
			b.Invalid = map[string]int{"MVCC_READ_CONFLICT": 1}
		}
		f.txs[t.ID] = t
		b.TxIDs = append(b.TxIDs, t.ID)
	}
	f.blocks = append(f.blocks, b)
	return b
}

// addBlock indexes one more block and signals Changed.
func (f *fakeStore) addBlock() explorer.BlockSummary {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.appendBlock()
	close(f.changed)
	f.changed = make(chan struct{})
	return b
}

func (f *fakeStore) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeStore) Health() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.health
}

func (f *fakeStore) Stats() explorer.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := explorer.Stats{Height: uint64(len(f.blocks)), Invalid: map[string]uint64{}, ByOrg: map[string]uint64{}, OrgInvalid: map[string]map[string]uint64{}, Works: uint64(len(f.works))}
	for _, t := range f.txs {
		st.Txs++
		st.ByOrg[t.CreatorOrg]++
		if t.ValidationCode == "VALID" {
			st.Valid++
		} else {
			st.Invalid[t.ValidationCode]++
			if st.OrgInvalid[t.CreatorOrg] == nil {
				st.OrgInvalid[t.CreatorOrg] = map[string]uint64{}
			}
			st.OrgInvalid[t.CreatorOrg][t.ValidationCode]++
		}
	}
	if len(f.blocks) > 0 {
		st.LastBlockAt = f.blocks[len(f.blocks)-1].Time
		st.IndexedAt = st.LastBlockAt.Add(40 * time.Millisecond)
	}
	return st
}

func (f *fakeStore) Rates(window time.Duration) []explorer.Rate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]explorer.Rate(nil), f.rates...)
}

func (f *fakeStore) Latency(window time.Duration) explorer.Latency {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latency
}

func (f *fakeStore) Block(n uint64) (explorer.BlockSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return explorer.BlockSummary{}, f.err
	}
	if n >= uint64(len(f.blocks)) {
		return explorer.BlockSummary{}, explorer.ErrNotFound
	}
	return f.blocks[n], nil
}

func (f *fakeStore) BlockByHash(h string) (explorer.BlockSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return explorer.BlockSummary{}, f.err
	}
	for _, b := range f.blocks {
		if b.Hash == h {
			return b, nil
		}
	}
	return explorer.BlockSummary{}, explorer.ErrNotFound
}

func (f *fakeStore) Blocks(before uint64, limit int) ([]explorer.BlockSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	top := uint64(len(f.blocks))
	if before != 0 && before < top {
		top = before
	}
	var out []explorer.BlockSummary
	for n := top; n > 0 && len(out) < limit; n-- {
		out = append(out, f.blocks[n-1])
	}
	return out, nil
}

func (f *fakeStore) Tx(id string) (explorer.TxSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return explorer.TxSummary{}, f.err
	}
	t, ok := f.txs[id]
	if !ok {
		return t, explorer.ErrNotFound
	}
	return t, nil
}

func (f *fakeStore) Work(id string) (explorer.Work, []explorer.ProvenanceEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return explorer.Work{}, nil, f.err
	}
	w, ok := f.works[id]
	if !ok {
		return w, nil, explorer.ErrNotFound
	}
	return w, f.prov[id], nil
}

func (f *fakeStore) Works(q explorer.WorkQuery) ([]explorer.Work, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	lim := q.Limit
	if lim <= 0 || lim > 100 {
		lim = 100
	}
	var out []explorer.Work
	for _, w := range f.works {
		if (q.ID == "" || w.ID == q.ID) && (q.Owner == "" || w.Owner == q.Owner) && (q.Author == "" || w.Author == q.Author) &&
			(q.ContentHash == "" || w.ContentHash == q.ContentHash) && strings.Compare(w.ID, q.After) > 0 {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) > lim {
		out = out[:lim]
	}
	return out, nil
}

func (f *fakeStore) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}
