package order

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/types"
)

// BatchConfig sets when a block is cut.
type BatchConfig struct {
	// MaxTxCount: cut when this many envelopes are pending.
	MaxTxCount int
	// MaxBytes: cut before the pending envelopes would exceed this size.
	MaxBytes int
	// Timeout: the leader asks for a cut this long after the first pending
	// envelope was applied.
	Timeout time.Duration
}

// TxIndex answers whether a transaction ID is already in a block.
type TxIndex interface {
	HasTx(txID string) (bool, error)
}

// Position is how far the Raft log has been consumed into blocks: every
// envelope of entries before Index, and the first Offset envelopes of entry
// Index, are in blocks.
type Position struct {
	Index  uint64
	Offset uint32
}

// Cut is a block the chain produced and the log position after it.
type Cut struct {
	Block *foliov1.Block
	After Position
}

// Applied is what applying one log entry produced.
type Applied struct {
	Cuts []Cut
	// Accepted lists tx IDs that entered the order with this entry.
	Accepted []string
	// Duplicates lists tx IDs dropped because they were already ordered.
	Duplicates []string
	// Dropped counts envelopes that do not decode (a faulty proposer); they
	// are dropped identically by every orderer.
	Dropped int
}

// Chain is the deterministic block-cutting state machine of the ordering
// service: fed the committed Raft entries in order, every orderer cuts the
// same blocks with the same headers. It has no clock and does no I/O beyond
// TxIndex lookups. Not safe for concurrent use: the Raft driver owns it.
type Chain struct {
	batch BatchConfig
	index TxIndex

	next     uint64 // number of the next block
	prevHash []byte
	lastTime int64 // timestamp of the last block; block timestamps never decrease

	pending      [][]byte
	pendingBytes int
	pendingIDs   map[string]struct{}
	// cutIDs holds the tx IDs of blocks cut during the current Apply, which
	// the TxIndex cannot know yet.
	cutIDs map[string]struct{}
}

// NewChain resumes a chain whose next block is height, after a block with
// hash prevHash and timestamp lastTime.
func NewChain(batch BatchConfig, index TxIndex, height uint64, prevHash []byte, lastTime int64) *Chain {
	if height == 0 || len(prevHash) == 0 {
		prevHash = types.GenesisPreviousHash()
	}
	return &Chain{batch: batch, index: index, next: height, prevHash: prevHash, lastTime: lastTime, pendingIDs: map[string]struct{}{}}
}

// Next returns the number of the next block.
func (c *Chain) Next() uint64 { return c.next }

// Pending returns how many envelopes wait for the next cut.
func (c *Chain) Pending() int { return len(c.pending) }

// Apply consumes log entry index. skip is the number of leading envelopes of
// this entry already in blocks (non-zero only for the first entry replayed
// after a restart). The blocks it returns must be in the TxIndex before the
// next call.
func (c *Chain) Apply(index uint64, e *foliov1.OrderEntry, skip uint32) (Applied, error) {
	var out Applied
	c.cutIDs = nil
	ts := e.GetTimestampUnixNano()
	switch k := e.GetKind().(type) {
	case *foliov1.OrderEntry_Envelopes:
		envs := k.Envelopes.GetEnvelopes()
		for i := int(skip); i < len(envs); i++ {
			env := envs[i]
			txID, ok := envelopeTxID(env)
			if !ok {
				out.Dropped++
				continue
			}
			_, cutNow := c.cutIDs[txID]
			if _, dup := c.pendingIDs[txID]; dup || cutNow {
				out.Duplicates = append(out.Duplicates, txID)
				continue
			}
			ordered, err := c.index.HasTx(txID)
			if err != nil {
				return out, fmt.Errorf("order: tx index: %w", err)
			}
			if ordered {
				out.Duplicates = append(out.Duplicates, txID)
				continue
			}
			if len(c.pending) > 0 && c.pendingBytes+len(env) > c.batch.MaxBytes {
				out.Cuts = append(out.Cuts, c.cut(ts, normalize(index, uint32(i), len(envs))))
			}
			c.pending = append(c.pending, env)
			c.pendingBytes += len(env)
			c.pendingIDs[txID] = struct{}{}
			out.Accepted = append(out.Accepted, txID)
			if len(c.pending) >= c.batch.MaxTxCount || c.pendingBytes >= c.batch.MaxBytes {
				out.Cuts = append(out.Cuts, c.cut(ts, normalize(index, uint32(i+1), len(envs))))
			}
		}
	case *foliov1.OrderEntry_Cut:
		if k.Cut.GetBlockNumber() == c.next && len(c.pending) > 0 {
			out.Cuts = append(out.Cuts, c.cut(ts, Position{Index: index + 1}))
		}
	default:
		// An entry with no kind (Raft's empty entries on leader election) changes nothing.
	}
	return out, nil
}

// normalize turns "offset n of an entry of length n" into the next entry.
func normalize(index uint64, offset uint32, n int) Position {
	if int(offset) >= n {
		return Position{Index: index + 1}
	}
	return Position{Index: index, Offset: offset}
}

func (c *Chain) cut(ts int64, after Position) Cut {
	if ts < c.lastTime {
		ts = c.lastTime
	}
	envs := c.pending
	b := &foliov1.Block{
		Header: &foliov1.BlockHeader{Number: c.next, PreviousHash: c.prevHash, DataHash: types.DataHash(envs), TimestampUnixNano: ts},
		Data:   &foliov1.BlockData{Envelopes: envs},
	}
	hash, _ := types.HeaderHash(b.Header) // fields are well formed by construction
	c.next++
	c.prevHash = hash
	c.lastTime = ts
	if c.cutIDs == nil {
		c.cutIDs = c.pendingIDs
	} else {
		for id := range c.pendingIDs {
			c.cutIDs[id] = struct{}{}
		}
	}
	c.pending, c.pendingBytes, c.pendingIDs = nil, 0, map[string]struct{}{}
	return Cut{Block: b, After: after}
}

// envelopeTxID decodes the tx ID from an envelope's header.
func envelopeTxID(raw []byte) (string, bool) {
	var env foliov1.Envelope
	if proto.Unmarshal(raw, &env) != nil {
		return "", false
	}
	var p foliov1.Payload
	if proto.Unmarshal(env.Payload, &p) != nil || p.Header == nil || p.Header.TxId == "" {
		return "", false
	}
	return p.Header.TxId, true
}
