// Package commit is a peer's committer: it takes each block delivered by the
// ordering service, validates every transaction against the committed state
// (package validate), records the validation codes in the block, commits the
// valid writes with the block atomically (package ledger: state, history,
// trie and state root in one synced batch), and then tells the rest of the
// peer: commit-status waiters, event subscribers, and the enclave's caches.
//
// Blocks arrive one at a time from the deliver client (Accept); the
// committer is the only writer of the ledger.
package commit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/sha3"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/ledger/blocks"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/validate"
)

// Status is the outcome of a committed transaction.
type Status struct {
	TxID   string
	Code   foliov1.ValidationCode
	Reason string
	Block  uint64
}

// Committed describes a block after commit, for subscribers.
type Committed struct {
	Block     *foliov1.Block
	StateRoot []byte
	Txs       []validate.Tx
	// Writes lists the valid writes per namespace.
	Writes map[string][]*foliov1.KVWrite
	// Updates are the block's ledger updates as committed, in block order
	// (the enclave's cache tiers are updated from them).
	Updates ledger.Updates
}

// Options configure a Committer.
type Options struct {
	ChannelID string
	Ledger    *ledger.Ledger
	// Config holds the channel configuration in force; the committer
	// validates each block against it and installs the configuration a
	// block's config update puts in force once the block is committed.
	Config    *channel.Tracker
	Contracts *lifecycle.Registry
	// OnCommit, if set, is called after each block is committed and before
	// waiters are told (the enclave's cache tiers update here, so a reader
	// told "committed" never sees an older value).
	OnCommit func(ctx context.Context, c *Committed) error
	// OnConfig, if set, is called with the configuration a committed block
	// put in force, before waiters are told (admission learns on-chain
	// revocations here).
	OnConfig func(c *channel.Config)
	// OwnEndorsement is passed to the validator (endorsements this peer
	// made itself, compared byte for byte).
	OwnEndorsement func(txID string, endorser, payload, signature []byte) bool
	Logger         *slog.Logger
}

// Committer validates and commits blocks. Accept must be called from one
// goroutine; the other methods are safe for concurrent use.
type Committer struct {
	o Options
	// lastTime caches the last committed block's timestamp (0: not known).
	lastTime atomic.Int64
	// readable is the height queries see (ReadHeight). It starts at the
	// ledger's height: the enclave starts at the height the host pins.
	readable atomic.Uint64

	mu struct {
		sync.Mutex
		waiters map[string][]chan Status
		subs    map[chan *Committed]struct{}
	}
}

// New returns a committer.
func New(o Options) (*Committer, error) {
	if o.Ledger == nil || o.Config == nil || o.Contracts == nil || o.Logger == nil {
		return nil, errors.New("commit: Ledger, Config, Contracts and Logger are required")
	}
	c := &Committer{o: o}
	c.readable.Store(o.Ledger.Height())
	c.mu.waiters = map[string][]chan Status{}
	c.mu.subs = map[chan *Committed]struct{}{}
	return c, nil
}

// Height is the ledger's height (deliver.Sink).
func (c *Committer) Height() uint64 { return c.o.Ledger.Height() }

// ReadHeight is the height every query started now reads at least: the
// ledger's height once OnCommit (the enclave's tiers, which move the
// height contract reads are pinned at) has returned for the last block.
// Height moves first, when the ledger commits: a read that waited for
// Height and reported it could run, and did in a chaos run (seed 1),
// against the state one block earlier than it claimed, so that a
// linearizable read could miss a transaction another peer had already
// acknowledged. Reads wait for and report this height instead.
func (c *Committer) ReadHeight() uint64 { return c.readable.Load() }

// LastHash is the last block's hash (deliver.Sink).
func (c *Committer) LastHash() []byte { return c.o.Ledger.Blocks().LastHash() }

// LastTimestamp is the last block's header timestamp (deliver.Sink).
func (c *Committer) LastTimestamp() int64 {
	if ts := c.lastTime.Load(); ts != 0 {
		return ts
	}
	h := c.o.Ledger.Height()
	if h == 0 {
		return 0
	}
	b, err := c.o.Ledger.Blocks().Block(h - 1)
	if err != nil {
		return 0
	}
	return b.Header.TimestampUnixNano
}

// Accept validates and commits the next block (deliver.Sink).
func (c *Committer) Accept(b *foliov1.Block) error {
	ctx := context.Background()
	num := b.Header.Number
	start := time.Now()
	reader, err := c.o.Ledger.NewReader()
	if err != nil {
		return err
	}
	res, err := validate.Block(ctx, b, validate.Options{ChannelID: c.o.ChannelID, Config: c.o.Config.Current(), Contracts: c.o.Contracts,
		State: stateView{reader}, Committed: c.o.Ledger.Blocks(), OwnEndorsement: c.o.OwnEndorsement,
		Lifecycle: c.o.Contracts})
	reader.Close()
	if err != nil {
		return fmt.Errorf("validate block %d: %w", num, err)
	}
	if b.Metadata == nil {
		b.Metadata = &foliov1.BlockMetadata{}
	}
	b.Metadata.ValidationCodes = res.Codes()
	u := ledger.Updates{CodeHashes: c.codeHashes(num)}
	writes := map[string][]*foliov1.KVWrite{}
	for _, t := range res.Txs {
		if t.Code != foliov1.ValidationCode_VALID {
			continue
		}
		tu := ledger.TxUpdate{TxNum: uint64(t.Index), TxID: t.TxID, Timestamp: time.Unix(0, t.Header.TimestampUnixNano)}
		for _, ns := range t.Action.GetRwset().GetNsRwsets() {
			if len(ns.Writes) == 0 {
				continue
			}
			tu.Writes = append(tu.Writes, ledger.NsWrites{Namespace: ns.Namespace, Writes: ns.Writes})
			writes[ns.Namespace] = append(writes[ns.Namespace], ns.Writes...)
		}
		u.Txs = append(u.Txs, tu)
	}
	root, err := c.o.Ledger.Commit(b, u)
	if err != nil {
		return fmt.Errorf("commit block %d: %w", num, err)
	}
	// The ledger now holds the block's lifecycle records; the registry
	// follows before anyone is told the block committed.
	c.o.Contracts.Commit(res.Lifecycle)
	c.lastTime.Store(b.Header.TimestampUnixNano)
	if res.Config != nil {
		c.o.Config.Set(res.Config)
		c.o.Logger.Info("channel configuration updated", "block", num, "sequence", res.Config.Sequence(), "capability", res.Config.Level())
		if c.o.OnConfig != nil {
			c.o.OnConfig(res.Config)
		}
	}
	done := &Committed{Block: b, StateRoot: root, Txs: res.Txs, Writes: writes, Updates: u}
	if c.o.OnCommit != nil {
		if err := c.o.OnCommit(ctx, done); err != nil {
			return fmt.Errorf("after committing block %d: %w", num, err)
		}
	}
	c.readable.Store(num + 1)
	valid := 0
	for _, t := range res.Txs {
		if t.Code == foliov1.ValidationCode_VALID {
			valid++
		} else if t.TxID != "" {
			c.o.Logger.Info("transaction invalid", "block", num, "tx_id", t.TxID, "code", t.Code.String(), "reason", t.Reason)
		}
	}
	c.o.Logger.Debug("block committed", "number", num, "txs", len(res.Txs), "valid", valid, "state_root", fmt.Sprintf("%x", root), "took", time.Since(start))
	c.notify(done)
	return nil
}

// codeHashes sets the account code hash of every contract whose definition
// takes effect at this block: keccak256 of the package's SHA-256, which is
// on chain, so every peer computes the same state root whether or not it
// has the package installed (docs/ledger.md).
func (c *Committer) codeHashes(block uint64) map[string][32]byte {
	out := map[string][32]byte{}
	for _, name := range c.o.Contracts.Names() {
		d, err := c.o.Contracts.Effective(name, block)
		if err != nil || d.FromBlock != block {
			continue
		}
		h := sha3.NewLegacyKeccak256()
		h.Write(d.PackageHash)
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		out[name] = sum
	}
	return out
}

func (c *Committer) notify(done *Committed) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range done.Txs {
		if t.TxID == "" {
			continue
		}
		for _, ch := range c.mu.waiters[t.TxID] {
			ch <- Status{TxID: t.TxID, Code: t.Code, Reason: t.Reason, Block: done.Block.Header.Number}
		}
		delete(c.mu.waiters, t.TxID)
	}
	for ch := range c.mu.subs {
		select {
		case ch <- done:
		default: // a slow subscriber misses blocks rather than stall commits
		}
	}
}

// Wait returns the commit status of a transaction, waiting until it is
// committed (valid or not) or ctx is done.
func (c *Committer) Wait(ctx context.Context, txID string) (Status, error) {
	ch := make(chan Status, 1)
	c.mu.Lock()
	c.mu.waiters[txID] = append(c.mu.waiters[txID], ch)
	c.mu.Unlock()
	// It may have committed before we registered.
	if st, ok, err := c.Lookup(txID); err != nil || ok {
		c.drop(txID, ch)
		return st, err
	}
	select {
	case st := <-ch:
		return st, nil
	case <-ctx.Done():
		c.drop(txID, ch)
		return Status{}, ctx.Err()
	}
}

func (c *Committer) drop(txID string, ch chan Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := c.mu.waiters[txID]
	for i, w := range ws {
		if w == ch {
			c.mu.waiters[txID] = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(c.mu.waiters[txID]) == 0 {
		delete(c.mu.waiters, txID)
	}
}

// Lookup returns the status of a committed transaction, if it is committed.
func (c *Committer) Lookup(txID string) (Status, bool, error) {
	loc, err := c.o.Ledger.Blocks().Tx(txID)
	if errors.Is(err, blocks.ErrNotFound) {
		return Status{}, false, nil
	}
	if err != nil {
		return Status{}, false, err
	}
	b, err := c.o.Ledger.Blocks().Block(loc.Block)
	if err != nil {
		return Status{}, false, err
	}
	st := Status{TxID: txID, Block: loc.Block, Code: foliov1.ValidationCode_NOT_VALIDATED}
	if codes := b.GetMetadata().GetValidationCodes(); int(loc.Index) < len(codes) {
		st.Code = foliov1.ValidationCode(codes[loc.Index])
	}
	return st, true, nil
}

// Subscribe delivers committed blocks until cancel is called. A subscriber
// that does not keep up misses blocks.
func (c *Committer) Subscribe(buffer int) (<-chan *Committed, func()) {
	ch := make(chan *Committed, buffer)
	c.mu.Lock()
	c.mu.subs[ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.mu.subs, ch)
		c.mu.Unlock()
	}
}

// stateView adapts a ledger reader to the validator's State.
type stateView struct{ r *ledger.Reader }

func (s stateView) Version(ns, key string) (*foliov1.Version, error) {
	_, v, err := s.r.Get(ns, key)
	return v, err
}

func (s stateView) RangeKeys(ns, start, end string, limit int) ([]validate.KeyVersion, error) {
	var out []validate.KeyVersion
	for {
		kvs, more, err := s.r.Range(ns, start, end, 1000)
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			out = append(out, validate.KeyVersion{Key: kv.Key, Version: kv.Version})
		}
		if !more || len(kvs) == 0 || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
		start = kvs[len(kvs)-1].Key + "\x00"
	}
}
