package blocks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/types"
)

// Errors callers branch on.
var (
	// ErrNotFound: no block or transaction with that number, hash or ID.
	ErrNotFound = errors.New("blocks: not found")
	// ErrDoesNotFollow: the block's number or previous hash does not extend the chain.
	ErrDoesNotFollow = errors.New("blocks: block does not follow the chain")
)

var (
	prefixBlock  = []byte("blk/b/")
	prefixHeader = []byte("blk/h/")
	prefixHash   = []byte("blk/x/")
	prefixTx     = []byte("blk/t/")
	keyTip       = []byte("blk/tip")
)

// TxLocation says where a transaction ID was first seen.
type TxLocation struct {
	Block uint64
	Index uint32
}

// Store is a chain of blocks in a kv.Store. Safe for concurrent use; Append
// and Stage/Committed must come from one goroutine (the node's committer).
type Store struct {
	db kv.Store

	mu struct {
		sync.RWMutex
		height  uint64 // number of blocks; the next block's number
		last    []byte // hash of block height-1; nil when empty
		changed chan struct{}
	}
}

// Open loads the chain from db, verifying the header chain and the last
// block's contents.
func Open(db kv.Store) (*Store, error) {
	s := &Store{db: db}
	s.mu.changed = make(chan struct{})
	tip, err := db.Get(keyTip)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("blocks: open: %w", err)
	}
	if len(tip) != 8+types.HashSize {
		return nil, corrupt("open", "chain tip record is %d bytes", len(tip))
	}
	s.mu.height = binary.BigEndian.Uint64(tip)
	s.mu.last = bytes.Clone(tip[8:])
	if err := s.verifyChain(); err != nil {
		return nil, err
	}
	if err := s.verifyBodies(); err != nil {
		return nil, err
	}
	return s, nil
}

// verifyBodies checks every stored block against its header (data hash,
// header fields) in one pass, so a damaged block is found at start rather
// than when someone first reads it.
func (s *Store) verifyBodies() error {
	it, err := s.db.NewIter(&kv.IterOptions{Lower: prefixBlock, Upper: kv.PrefixEnd(prefixBlock)})
	if err != nil {
		return fmt.Errorf("blocks: open: %w", err)
	}
	defer it.Close()
	var n uint64
	for ok := it.First(); ok; ok = it.Next() {
		if err := checkBody(n, it.Value(), nil); err != nil {
			return err
		}
		n++
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("blocks: open: %w", err)
	}
	if n != s.mu.height {
		return corrupt("open", "%d block bodies for a chain of %d blocks", n, s.mu.height)
	}
	return nil
}

// verifyChain walks every stored header in order, checking numbering,
// linkage and that the last hash equals the tip.
func (s *Store) verifyChain() error {
	it, err := s.db.NewIter(&kv.IterOptions{Lower: prefixHeader, Upper: kv.PrefixEnd(prefixHeader)})
	if err != nil {
		return fmt.Errorf("blocks: open: %w", err)
	}
	defer it.Close()
	prev := types.GenesisPreviousHash()
	var n uint64
	for ok := it.First(); ok; ok = it.Next() {
		key, hdr := it.Key(), it.Value()
		if len(key) != len(prefixHeader)+8 || binary.BigEndian.Uint64(key[len(prefixHeader):]) != n {
			return corrupt("open", "header of block %d missing (found key %x)", n, key)
		}
		if len(hdr) != types.HeaderSize {
			return corrupt("open", "header of block %d is %d bytes", n, len(hdr))
		}
		if binary.BigEndian.Uint64(hdr[:8]) != n || !bytes.Equal(hdr[8:40], prev) {
			return corrupt("open", "block %d does not link to block %d (previous hash mismatch)", n, int64(n)-1)
		}
		sum := sha256.Sum256(hdr)
		prev = sum[:]
		n++
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("blocks: open: %w", err)
	}
	if n != s.mu.height {
		return corrupt("open", "chain tip says %d blocks, headers hold %d", s.mu.height, n)
	}
	if n > 0 && !bytes.Equal(prev, s.mu.last) {
		return corrupt("open", "last header hash does not match the chain tip (block %d)", n-1)
	}
	return nil
}

// Height returns the number of blocks, which is the next block's number.
func (s *Store) Height() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.height
}

// LastHash returns the hash of the last block, or nil when empty. The caller
// must not modify it.
func (s *Store) LastHash() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.last
}

// Append validates b as the next block and stores it in its own batch.
func (s *Store) Append(b *foliov1.Block, sync bool) error {
	batch := s.db.NewBatch()
	defer batch.Close()
	if err := s.Stage(batch, b); err != nil {
		return err
	}
	if err := batch.Commit(kv.WriteOptions{Sync: sync}); err != nil {
		return fmt.Errorf("blocks: append block %d: %w", b.GetHeader().GetNumber(), err)
	}
	return s.Committed(b)
}

// Stage checks that b follows the chain and adds its writes to batch. After
// the caller commits the batch it must call Committed(b); if the commit
// fails, it must not.
func (s *Store) Stage(batch kv.Batch, b *foliov1.Block) error {
	if err := types.ValidateBlock(b); err != nil {
		return fmt.Errorf("blocks: %w", err)
	}
	s.mu.RLock()
	height, last := s.mu.height, s.mu.last
	s.mu.RUnlock()
	h := b.Header
	if h.Number != height {
		return fmt.Errorf("%w: block %d offered, the next block is %d", ErrDoesNotFollow, h.Number, height)
	}
	wantPrev := last
	if height == 0 {
		wantPrev = types.GenesisPreviousHash()
	}
	if !bytes.Equal(h.PreviousHash, wantPrev) {
		return fmt.Errorf("%w: block %d's previous hash %x is not the hash of block %d (%x)", ErrDoesNotFollow, h.Number, h.PreviousHash, int64(height)-1, wantPrev)
	}
	hdr, _ := types.HeaderBytes(h)
	hash := sha256.Sum256(hdr)
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(b)
	if err != nil {
		return fmt.Errorf("blocks: encode block %d: %w", h.Number, err)
	}
	num := kv.AppendUint64(nil, h.Number)
	set := func(k, v []byte) error {
		if err := batch.Set(k, v); err != nil {
			return fmt.Errorf("blocks: stage block %d: %w", h.Number, err)
		}
		return nil
	}
	if err := set(append(bytes.Clone(prefixBlock), num...), data); err != nil {
		return err
	}
	if err := set(append(bytes.Clone(prefixHeader), num...), hdr); err != nil {
		return err
	}
	if err := set(append(bytes.Clone(prefixHash), hash[:]...), num); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, raw := range b.Data.Envelopes {
		txID := envelopeTxID(raw)
		if txID == "" || seen[txID] {
			continue
		}
		seen[txID] = true
		key := append(bytes.Clone(prefixTx), txID...)
		if _, err := s.db.Get(key); err == nil {
			continue // first occurrence wins; later ones are duplicates
		}
		loc := binary.BigEndian.AppendUint32(bytes.Clone(num), uint32(i))
		if err := set(key, loc); err != nil {
			return err
		}
	}
	tip := append(kv.AppendUint64(nil, h.Number+1), hash[:]...)
	return set(keyTip, tip)
}

// Committed advances the chain tip after the batch holding Stage(b) was
// committed, and wakes waiters.
func (s *Store) Committed(b *foliov1.Block) error {
	hash, err := types.HeaderHash(b.Header)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.Header.Number != s.mu.height {
		return fmt.Errorf("%w: Committed(%d) with height %d", ErrDoesNotFollow, b.Header.Number, s.mu.height)
	}
	s.mu.height++
	s.mu.last = hash
	close(s.mu.changed)
	s.mu.changed = make(chan struct{})
	return nil
}

// Changed returns a channel closed the next time the chain grows. Read the
// height after receiving, then call Changed again.
func (s *Store) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.changed
}

// WaitHeight blocks until the chain holds at least h blocks or ctx is done.
func (s *Store) WaitHeight(ctx context.Context, h uint64) error {
	for {
		ch := s.Changed()
		if s.Height() >= h {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Block returns block num, verified against its stored header.
func (s *Store) Block(num uint64) (*foliov1.Block, error) {
	key := kv.AppendUint64(bytes.Clone(prefixBlock), num)
	data, err := s.db.Get(key)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, fmt.Errorf("%w: block %d (height %d)", ErrNotFound, num, s.Height())
	}
	if err != nil {
		return nil, fmt.Errorf("blocks: read block %d: %w", num, err)
	}
	var b foliov1.Block
	if err := checkBody(num, data, &b); err != nil {
		return nil, err
	}
	hdr, err := s.db.Get(kv.AppendUint64(bytes.Clone(prefixHeader), num))
	if err != nil {
		return nil, corrupt("read", "header of block %d: %v", num, err)
	}
	got, _ := types.HeaderBytes(b.Header)
	if !bytes.Equal(got, hdr) {
		return nil, corrupt("read", "block %d does not match its stored header", num)
	}
	return &b, nil
}

// checkBody decodes a stored block (into b, if not nil) and checks it is
// well formed, numbered num, and its envelopes match its data hash.
func checkBody(num uint64, data []byte, b *foliov1.Block) error {
	if b == nil {
		b = &foliov1.Block{}
	}
	if err := proto.Unmarshal(data, b); err != nil {
		return corrupt("read", "block %d does not decode: %v", num, err)
	}
	if err := types.ValidateBlock(b); err != nil {
		return corrupt("read", "block %d: %v", num, err)
	}
	if b.Header.Number != num {
		return corrupt("read", "block stored as %d says it is block %d", num, b.Header.Number)
	}
	return nil
}

// BlockByHash returns the block whose header hash is hash.
func (s *Store) BlockByHash(hash []byte) (*foliov1.Block, error) {
	num, err := s.db.Get(append(bytes.Clone(prefixHash), hash...))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, fmt.Errorf("%w: block with hash %x", ErrNotFound, hash)
	}
	if err != nil {
		return nil, fmt.Errorf("blocks: hash index: %w", err)
	}
	if len(num) != 8 {
		return nil, corrupt("read", "hash index entry for %x is %d bytes", hash, len(num))
	}
	return s.Block(binary.BigEndian.Uint64(num))
}

// Tx returns where a transaction ID first appeared.
func (s *Store) Tx(txID string) (TxLocation, error) {
	v, err := s.db.Get(append(bytes.Clone(prefixTx), txID...))
	if errors.Is(err, kv.ErrNotFound) {
		return TxLocation{}, fmt.Errorf("%w: transaction %s", ErrNotFound, txID)
	}
	if err != nil {
		return TxLocation{}, fmt.Errorf("blocks: tx index: %w", err)
	}
	if len(v) != 12 {
		return TxLocation{}, corrupt("read", "tx index entry for %s is %d bytes", txID, len(v))
	}
	return TxLocation{Block: binary.BigEndian.Uint64(v[:8]), Index: binary.BigEndian.Uint32(v[8:])}, nil
}

// HasTx reports whether a transaction ID is already in the chain.
func (s *Store) HasTx(txID string) (bool, error) {
	_, err := s.Tx(txID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// envelopeTxID extracts the tx ID of an envelope, or "" if it does not
// decode (such envelopes are invalid and not indexed).
func envelopeTxID(raw []byte) string {
	var env foliov1.Envelope
	if proto.Unmarshal(raw, &env) != nil {
		return ""
	}
	var p foliov1.Payload
	if proto.Unmarshal(env.Payload, &p) != nil || p.Header == nil {
		return ""
	}
	return p.Header.TxId
}

func corrupt(op, format string, args ...any) error {
	return &kv.CorruptionError{Op: "blocks " + op, Err: fmt.Errorf(format, args...)}
}
