package blocks

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/memkv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
	"github.com/folio-ledger/folio/internal/types"
)

// envelope builds a minimal envelope whose header carries txID.
func envelope(t testing.TB, txID string) []byte {
	p, _ := proto.Marshal(&foliov1.Payload{Header: &foliov1.TxHeader{TxId: txID}, Data: []byte("d")})
	e, err := proto.Marshal(&foliov1.Envelope{Payload: p, Signature: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// nextBlock builds the block after prev (nil for genesis) holding txIDs.
func nextBlock(t testing.TB, prev *foliov1.Block, txIDs ...string) *foliov1.Block {
	var envs [][]byte
	for _, id := range txIDs {
		envs = append(envs, envelope(t, id))
	}
	h := &foliov1.BlockHeader{PreviousHash: types.GenesisPreviousHash(), DataHash: types.DataHash(envs), TimestampUnixNano: time.Now().UnixNano()}
	if prev != nil {
		h.Number = prev.Header.Number + 1
		h.PreviousHash, _ = types.HeaderHash(prev.Header)
	}
	return &foliov1.Block{Header: h, Data: &foliov1.BlockData{Envelopes: envs}, Metadata: &foliov1.BlockMetadata{ValidationCodes: make([]byte, len(envs))}}
}

func backends(t *testing.T) map[string]func() kv.Store {
	dir := t.TempDir()
	var pdb *pebblekv.Store
	return map[string]func() kv.Store{
		"memory": func() kv.Store { return memkv.New() },
		"pebble": func() kv.Store {
			if pdb != nil {
				pdb.Close()
			}
			var err error
			pdb, err = pebblekv.Open(dir, pebblekv.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pdb.Close() })
			return pdb
		},
	}
}

func TestAppendAndRead(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, err := Open(open())
			if err != nil {
				t.Fatal(err)
			}
			var chain []*foliov1.Block
			var prev *foliov1.Block
			for i := 0; i < 5; i++ {
				b := nextBlock(t, prev, fmt.Sprintf("tx-%d-a", i), fmt.Sprintf("tx-%d-b", i))
				if err := s.Append(b, true); err != nil {
					t.Fatal(err)
				}
				chain, prev = append(chain, b), b
			}
			if s.Height() != 5 {
				t.Fatalf("height %d", s.Height())
			}
			for _, want := range chain {
				got, err := s.Block(want.Header.Number)
				if err != nil || !proto.Equal(got, want) {
					t.Fatalf("block %d: %v", want.Header.Number, err)
				}
				hash, _ := types.HeaderHash(want.Header)
				if got, err := s.BlockByHash(hash); err != nil || got.Header.Number != want.Header.Number {
					t.Fatalf("by hash: %v", err)
				}
			}
			if loc, err := s.Tx("tx-3-b"); err != nil || loc.Block != 3 || loc.Index != 1 {
				t.Fatalf("tx index: %+v %v", loc, err)
			}
			if _, err := s.Block(9); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing block: %v", err)
			}
			if _, err := s.Tx("nope"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing tx: %v", err)
			}
			// A duplicate tx ID keeps its first location.
			dup := nextBlock(t, prev, "tx-0-a")
			if err := s.Append(dup, true); err != nil {
				t.Fatal(err)
			}
			if loc, _ := s.Tx("tx-0-a"); loc.Block != 0 {
				t.Fatalf("duplicate moved the index to block %d", loc.Block)
			}
		})
	}
}

func TestRefusesBlocksThatDoNotFollow(t *testing.T) {
	s, _ := Open(memkv.New())
	g := nextBlock(t, nil, "a")
	if err := s.Append(g, false); err != nil {
		t.Fatal(err)
	}
	skip := nextBlock(t, nextBlock(t, g, "b"), "c")
	if err := s.Append(skip, false); !errors.Is(err, ErrDoesNotFollow) {
		t.Fatalf("gap: %v", err)
	}
	fork := nextBlock(t, g, "b")
	fork.Header.PreviousHash = bytes.Repeat([]byte{1}, 32)
	if err := s.Append(fork, false); !errors.Is(err, ErrDoesNotFollow) {
		t.Fatalf("wrong previous hash: %v", err)
	}
	bad := nextBlock(t, g, "b")
	bad.Data.Envelopes[0] = envelope(t, "tampered")
	if err := s.Append(bad, false); !errors.Is(err, types.ErrMalformed) {
		t.Fatalf("data hash mismatch: %v", err)
	}
	if s.Height() != 1 {
		t.Fatalf("refused blocks changed the height to %d", s.Height())
	}
}

func TestCorruptionIsDetectedNamingTheBlock(t *testing.T) {
	db := memkv.New()
	s, _ := Open(db)
	var prev *foliov1.Block
	for i := 0; i < 4; i++ {
		prev = nextBlock(t, prev, fmt.Sprint("t", i))
		if err := s.Append(prev, false); err != nil {
			t.Fatal(err)
		}
	}
	write := func(key, val []byte) {
		b := db.NewBatch()
		_ = b.Set(key, val)
		if err := b.Commit(kv.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A flipped bit in a stored block body is caught on read.
	key := kv.AppendUint64([]byte("blk/b/"), 2)
	orig, _ := db.Get(key)
	flipped := bytes.Clone(orig)
	flipped[len(flipped)/2] ^= 0x10
	write(key, flipped)
	if _, err := s.Block(2); !errors.Is(err, kv.ErrCorruption) || !bytesContains(err.Error(), "block 2") {
		t.Fatalf("flipped block body: %v", err)
	}
	if _, err := Open(db); !errors.Is(err, kv.ErrCorruption) || !bytesContains(err.Error(), "block 2") {
		t.Fatalf("flipped block body at open: %v", err)
	}
	write(key, orig)
	// A flipped bit in a header breaks the chain at open.
	hkey := kv.AppendUint64([]byte("blk/h/"), 1)
	hdr, _ := db.Get(hkey)
	hdr[50] ^= 1
	write(hkey, hdr)
	if _, err := Open(db); !errors.Is(err, kv.ErrCorruption) || !bytesContains(err.Error(), "block 2") {
		t.Fatalf("flipped header: %v", err)
	}
}

func bytesContains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }

func TestReopenAndWait(t *testing.T) {
	dir := t.TempDir()
	db, err := pebblekv.Open(dir, pebblekv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := Open(db)
	g := nextBlock(t, nil, "a")
	_ = s.Append(g, true)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- s.WaitHeight(ctx, 2) }()
	b1 := nextBlock(t, g, "b")
	if err := s.Append(b1, true); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = pebblekv.Open(dir, pebblekv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err = Open(db)
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := types.HeaderHash(b1.Header)
	if s.Height() != 2 || !bytes.Equal(s.LastHash(), h1) {
		t.Fatalf("reopened at height %d", s.Height())
	}
}

// BenchmarkOpen measures the start-up verification of a 2,000-block chain
// of 100-transaction blocks (every header linked, every body hashed).
func BenchmarkOpen(b *testing.B) {
	db := memkv.New()
	s, _ := Open(db)
	var prev *foliov1.Block
	for i := 0; i < 2000; i++ {
		ids := make([]string, 100)
		for j := range ids {
			ids[j] = fmt.Sprintf("%d-%d", i, j)
		}
		prev = nextBlock(b, prev, ids...)
		if err := s.Append(prev, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Open(db); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	s, _ := Open(memkv.New())
	var prev *foliov1.Block
	ids := make([]string, 100)
	for i := 0; i < b.N; i++ {
		for j := range ids {
			r := make([]byte, 8)
			_, _ = rand.Read(r)
			ids[j] = fmt.Sprintf("%x", r)
		}
		blk := nextBlock(b, prev, ids...)
		if err := s.Append(blk, false); err != nil {
			b.Fatal(err)
		}
		prev = blk
	}
}
