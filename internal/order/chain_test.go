package order

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/types"
)

// memIndex is the tx index of the blocks a test chain cut.
type memIndex map[string]bool

func (m memIndex) HasTx(id string) (bool, error) { return m[id], nil }

func (m memIndex) add(b *foliov1.Block) {
	for _, e := range b.Data.Envelopes {
		id, _ := envelopeTxID(e)
		m[id] = true
	}
}

func env(t testing.TB, txID string, size int) []byte {
	p, _ := proto.Marshal(&foliov1.Payload{Header: &foliov1.TxHeader{TxId: txID}, Data: bytes.Repeat([]byte{1}, size)})
	e, err := proto.Marshal(&foliov1.Envelope{Payload: p, Signature: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func batchEntry(ts int64, envs ...[]byte) *foliov1.OrderEntry {
	return &foliov1.OrderEntry{TimestampUnixNano: ts, Kind: &foliov1.OrderEntry_Envelopes{Envelopes: &foliov1.EnvelopeBatch{Envelopes: envs}}}
}

func cutEntry(ts int64, n uint64) *foliov1.OrderEntry {
	return &foliov1.OrderEntry{TimestampUnixNano: ts, Kind: &foliov1.OrderEntry_Cut{Cut: &foliov1.CutRequest{BlockNumber: n}}}
}

// The step-by-step cases (cut by count, bytes and cut request, duplicates,
// restart from a given block) are scripts in testdata/chain, run by
// TestChainScripts.

// TestReplayFromAnyCutReproducesTheChain is the restart property: a chain
// resumed after any block, replaying the log from that block's position,
// produces exactly the blocks the uninterrupted chain produced.
func TestReplayFromAnyCutReproducesTheChain(t *testing.T) {
	for seed := int64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewSource(seed))
		cfg := BatchConfig{MaxTxCount: 1 + rng.Intn(6), MaxBytes: 200 + rng.Intn(600)}
		var log []*foliov1.OrderEntry
		next := uint64(0)
		for i := 0; i < 40; i++ {
			if rng.Intn(4) == 0 {
				log = append(log, cutEntry(int64(i), next+uint64(rng.Intn(2))))
				continue
			}
			var envs [][]byte
			for j := 0; j < rng.Intn(5); j++ {
				envs = append(envs, env(t, fmt.Sprintf("tx%d", rng.Intn(60)), rng.Intn(150)))
			}
			log = append(log, batchEntry(int64(i)*1000-int64(rng.Intn(3000)), envs...))
		}
		run := func(c *Chain, idx memIndex, from Position) []Cut {
			var cuts []Cut
			for i := from.Index; i <= uint64(len(log)); i++ {
				skip := uint32(0)
				if i == from.Index {
					skip = from.Offset
				}
				a, err := c.Apply(i, log[i-1], skip)
				if err != nil {
					t.Fatal(err)
				}
				for _, cut := range a.Cuts {
					idx.add(cut.Block)
				}
				cuts = append(cuts, a.Cuts...)
			}
			return cuts
		}
		fullIdx := memIndex{}
		full := run(NewChain(cfg, fullIdx, 0, nil, 0), fullIdx, Position{Index: 1})
		// Every ordered tx ID is in exactly one block.
		seen := map[string]int{}
		for _, cut := range full {
			for _, e := range cut.Block.Data.Envelopes {
				id, _ := envelopeTxID(e)
				seen[id]++
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("seed %d: %s in %d blocks", seed, id, n)
			}
		}
		for k := range full {
			idx := memIndex{}
			for _, cut := range full[:k+1] {
				idx.add(cut.Block)
			}
			last := full[k].Block.Header
			hash, _ := types.HeaderHash(last)
			resumed := run(NewChain(cfg, idx, last.Number+1, hash, last.TimestampUnixNano), idx, full[k].After)
			if len(resumed) != len(full)-k-1 {
				t.Fatalf("seed %d resume after block %d: %d blocks, want %d", seed, k, len(resumed), len(full)-k-1)
			}
			for i, cut := range resumed {
				want := full[k+1+i]
				if !proto.Equal(cut.Block, want.Block) || cut.After != want.After {
					t.Fatalf("seed %d resume after block %d: block %d differs", seed, k, cut.Block.Header.Number)
				}
			}
		}
	}
}

func BenchmarkApply(b *testing.B) {
	c := NewChain(BatchConfig{MaxTxCount: 500, MaxBytes: 4 << 20, Timeout: time.Second}, memIndex{}, 0, nil, 0)
	envs := make([][]byte, 100)
	for i := 0; i < b.N; i++ {
		for j := range envs {
			envs[j] = env(b, fmt.Sprintf("%d-%d", i, j), 1000)
		}
		if _, err := c.Apply(uint64(i+1), batchEntry(int64(i), envs...), 0); err != nil {
			b.Fatal(err)
		}
	}
}
