package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/ledger/state"
	"github.com/folio-ledger/folio/internal/ledger/trie"
	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
	"github.com/folio-ledger/folio/internal/types"
)

// envelope builds a minimal envelope whose header carries txID, padded with
// pad bytes of payload data.
func envelope(txID string, ts int64, pad int) []byte {
	p, _ := proto.Marshal(&foliov1.Payload{
		Header: &foliov1.TxHeader{Type: foliov1.TxType_TX_TYPE_ENDORSER, ChannelId: "folio", TxId: txID, TimestampUnixNano: ts},
		Data:   make([]byte, pad),
	})
	e, _ := proto.Marshal(&foliov1.Envelope{Payload: p, Signature: []byte("signature")})
	return e
}

// makeBlock builds block num after prevHash (nil for genesis) holding envs.
func makeBlock(num uint64, prevHash []byte, ts int64, envs [][]byte, codes []byte) *foliov1.Block {
	if prevHash == nil {
		prevHash = types.GenesisPreviousHash()
	}
	return &foliov1.Block{
		Header:   &foliov1.BlockHeader{Number: num, PreviousHash: prevHash, DataHash: types.DataHash(envs), TimestampUnixNano: ts},
		Data:     &foliov1.BlockData{Envelopes: envs},
		Metadata: &foliov1.BlockMetadata{ValidationCodes: codes},
	}
}

func headerHash(b *foliov1.Block) []byte {
	h, _ := types.HeaderHash(b.Header)
	return h
}

// workload generates deterministic pseudo-random blocks: block num depends
// only on (seed, num) and the previous block's hash.
type workload struct {
	seed       uint64
	namespaces []string
	keys       int // key pool per namespace
	maxTxs     int // transactions per block, 0..maxTxs
	bigValues  bool
}

func defaultWorkload(seed uint64) workload {
	return workload{seed: seed, namespaces: []string{"copyright", "license", "registry.v2"}, keys: 300, maxTxs: 12, bigValues: true}
}

var baseTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func (w workload) key(r *rand.Rand) string {
	i := r.IntN(w.keys)
	switch i % 5 {
	case 0: // composite key: 0x00 objectType 0x00 attr 0x00 ...
		return fmt.Sprintf("\x00owner\x00user%02d\x00work%04d\x00", i%7, i)
	case 1:
		return fmt.Sprintf("wörk-ß-%04d", i)
	default:
		return fmt.Sprintf("work~%04d", i)
	}
}

// block returns block num and its updates.
func (w workload) block(num uint64, prevHash []byte) (*foliov1.Block, ledger.Updates) {
	r := rand.New(rand.NewPCG(w.seed, num))
	n := r.IntN(w.maxTxs + 1)
	ts := baseTime.Add(time.Duration(num) * time.Second)
	var (
		envs  [][]byte
		codes []byte
		u     ledger.Updates
	)
	for i := 0; i < n; i++ {
		sum := sha256.Sum256(fmt.Appendf(nil, "%d/%d/%d", w.seed, num, i))
		txID := hex.EncodeToString(sum[:])
		txTS := ts.Add(time.Duration(i) * time.Millisecond)
		envs = append(envs, envelope(txID, txTS.UnixNano(), 32))
		if r.IntN(100) < 15 {
			codes = append(codes, byte(foliov1.ValidationCode_MVCC_READ_CONFLICT))
			continue
		}
		codes = append(codes, byte(foliov1.ValidationCode_VALID))
		tx := ledger.TxUpdate{TxNum: uint64(i), TxID: txID, Timestamp: txTS}
		for _, ns := range w.namespaces {
			if r.IntN(2) == 0 {
				continue
			}
			nw := ledger.NsWrites{Namespace: ns}
			seen := map[string]bool{}
			for j := 1 + r.IntN(4); j > 0; j-- {
				k := w.key(r)
				if seen[k] {
					continue
				}
				seen[k] = true
				if r.IntN(100) < 15 {
					nw.Writes = append(nw.Writes, &foliov1.KVWrite{Key: k, IsDelete: true})
					continue
				}
				size := r.IntN(400)
				if w.bigValues && r.IntN(200) == 0 {
					size = 20_000 + r.IntN(50_000)
				}
				v := make([]byte, size)
				for b := range v {
					v[b] = byte(r.Uint32())
				}
				nw.Writes = append(nw.Writes, &foliov1.KVWrite{Key: k, Value: v})
			}
			slices.SortFunc(nw.Writes, func(a, b *foliov1.KVWrite) int { return cmpString(a.Key, b.Key) })
			tx.Writes = append(tx.Writes, nw)
		}
		u.Txs = append(u.Txs, tx)
	}
	if r.IntN(10) == 0 {
		ns := w.namespaces[r.IntN(len(w.namespaces))]
		if r.IntN(3) == 0 {
			ns = "contract.only-code"
		}
		u.CodeHashes = map[string][32]byte{ns: trie.Keccak256(fmt.Appendf(nil, "code %d", num))}
	}
	return makeBlock(num, prevHash, ts.UnixNano(), envs, codes), u
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// model is the reference: plain maps fed the same updates.
type model struct {
	height   uint64
	entries  map[string]map[string]state.KV
	history  map[[2]string][]state.HistoryEntry
	nonce    map[string]uint64
	code     map[string][32]byte
	lastHash []byte
}

func newModel() *model {
	return &model{
		entries: map[string]map[string]state.KV{},
		history: map[[2]string][]state.HistoryEntry{},
		nonce:   map[string]uint64{},
		code:    map[string][32]byte{},
	}
}

func (m *model) apply(b *foliov1.Block, u ledger.Updates) {
	num := b.Header.Number
	for _, tx := range u.Txs {
		ver := &foliov1.Version{BlockNum: num, TxNum: tx.TxNum}
		for _, nw := range tx.Writes {
			if _, ok := m.nonce[nw.Namespace]; !ok {
				m.nonce[nw.Namespace] = 0
			}
			if m.entries[nw.Namespace] == nil {
				m.entries[nw.Namespace] = map[string]state.KV{}
			}
			for _, w := range nw.Writes {
				m.nonce[nw.Namespace]++
				h := state.HistoryEntry{TxID: tx.TxID, Version: ver, Timestamp: tx.Timestamp.UTC(), IsDelete: w.IsDelete}
				if w.IsDelete {
					delete(m.entries[nw.Namespace], w.Key)
				} else {
					v := append([]byte{}, w.Value...)
					m.entries[nw.Namespace][w.Key] = state.KV{Key: w.Key, Value: v, Version: ver}
					h.Value = v
				}
				k := [2]string{nw.Namespace, w.Key}
				m.history[k] = append(m.history[k], h)
			}
		}
	}
	for ns, h := range u.CodeHashes {
		if _, ok := m.nonce[ns]; !ok {
			m.nonce[ns] = 0
		}
		m.code[ns] = h
	}
	m.height = num + 1
	m.lastHash = headerHash(b)
}

// root computes the state root from scratch.
func (m *model) root() [32]byte {
	accounts := trie.NewSecureEmpty(nil)
	for ns, nonce := range m.nonce {
		code, ok := m.code[ns]
		if !ok {
			code = proof.EmptyCodeHash
		}
		a := proof.Account{Nonce: nonce, StorageRoot: m.storageRoot(ns), CodeHash: code}
		enc, _ := a.Encode()
		_ = accounts.Update([]byte(ns), enc)
	}
	return accounts.Hash()
}

// storageRoot computes the root of ns's storage trie from scratch.
func (m *model) storageRoot(ns string) trie.Hash {
	st := trie.NewSecureEmpty(nil)
	for k, e := range m.entries[ns] {
		_ = st.Update([]byte(k), proof.EncodeStorageValue(e.Value))
	}
	return st.Hash()
}

// sortedKVs returns the namespace's entries in key order.
func (m *model) sortedKVs(ns string) []state.KV {
	keys := slices.Sorted(maps.Keys(m.entries[ns]))
	out := make([]state.KV, 0, len(keys))
	for _, k := range keys {
		out = append(out, m.entries[ns][k])
	}
	return out
}

// checkAgainstModel compares everything the ledger serves with the model,
// and runs the ledger's own full check (VerifyState).
func checkAgainstModel(t testing.TB, l *ledger.Ledger, m *model, namespaces []string) {
	t.Helper()
	compareWithModel(t, l, m, namespaces)
	if err := l.VerifyState(); err != nil {
		t.Fatal(err)
	}
}

// compareWithModel compares every key, value, version and history entry of
// the given namespaces, and the state root, with the model.
func compareWithModel(t testing.TB, l *ledger.Ledger, m *model, namespaces []string) {
	t.Helper()
	r, err := l.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Height() != m.height {
		t.Fatalf("ledger height %d, model %d", r.Height(), m.height)
	}
	for _, ns := range namespaces {
		got, more, err := r.Range(ns, "", "", 0)
		if err != nil {
			t.Fatalf("range %s: %v", ns, err)
		}
		want := m.sortedKVs(ns)
		if more || len(got) != len(want) {
			t.Fatalf("%s: ledger has %d keys (more %v), model %d", ns, len(got), more, len(want))
		}
		for i := range want {
			if got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) || !proto.Equal(got[i].Version, want[i].Version) {
				t.Fatalf("%s entry %d: ledger %q=%x@%v, model %q=%x@%v", ns, i, got[i].Key, short(got[i].Value), got[i].Version, want[i].Key, short(want[i].Value), want[i].Version)
			}
		}
	}
	for k, want := range m.history {
		got, err := r.History(k[0], k[1])
		if err != nil {
			t.Fatalf("history %s/%q: %v", k[0], k[1], err)
		}
		if len(got) != len(want) {
			t.Fatalf("history %s/%q: %d entries, model %d", k[0], k[1], len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.TxID != w.TxID || !proto.Equal(g.Version, w.Version) || !g.Timestamp.Equal(w.Timestamp) || g.IsDelete != w.IsDelete || !bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) {
				t.Fatalf("history %s/%q entry %d: ledger %+v, model %+v", k[0], k[1], i, g, w)
			}
		}
	}
	if m.height == 0 {
		return
	}
	want := m.root()
	got, err := l.StateRoot(m.height - 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want[:]) || !bytes.Equal(r.StateRoot(), want[:]) {
		t.Fatalf("state root of block %d: ledger %x (reader %x), model %x", m.height-1, got, r.StateRoot(), want)
	}
	b, err := l.Blocks().Block(m.height - 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Metadata.StateRoot, want[:]) {
		t.Fatalf("block %d metadata root %x, model %x", m.height-1, b.Metadata.StateRoot, want)
	}
}

func short(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

func keccak(s string) trie.Hash { return trie.Keccak256([]byte(s)) }
