// Package replay re-validates a chain offline: it takes block 0 of a stored
// chain as the genesis block, builds a fresh ledger, feeds every later
// block through the same committer a peer runs (package commit, with the
// validator and the contract lifecycle), and compares, at every height,
// the validation codes and the state root it computed with the ones the
// peer stored in the block's metadata (and, for a peer's ledger, in its
// state root index). DESIGN 6 ("One truth") requires them to be equal on
// any date: validation is a pure function of the genesis block and the
// blocks before it.
//
// Sources: a stopped peer's data dir (copied first, never modified) or a
// block file written by `folio ledger export`. No network is needed. The
// command is `folio ledger replay` (docs/ledger.md, "Replaying the chain
// offline").
package replay

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/clock"
	"github.com/folio-ledger/folio/internal/commit"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/types"
)

// Kinds of mismatch.
const (
	// KindCode: the replay computed another validation code for a
	// transaction than the source stored (or the source stored a code
	// for a transaction the block does not hold, or none for one it does).
	KindCode = "validation_code"
	// KindStateRoot: the state root after the block differs from the one
	// in the block's metadata.
	KindStateRoot = "state_root"
	// KindStateRootIndex: it differs from the one the source's ledger
	// recorded in its root index.
	KindStateRootIndex = "state_root_index"
	// KindBlockSignature: the block does not pass the check a peer's
	// deliver client makes before committing (well-formedness, chain
	// link, timestamp order, orderer signature) at replay time, though the
	// source peer accepted it: a peer catching up now would refuse it.
	KindBlockSignature = "block_verification"
)

// Options configure a replay.
type Options struct {
	// WorkDir holds the fresh ledger (and, for a data dir source, the
	// copy of the peer's database). Required; Run creates WorkDir/ledger,
	// which must not exist yet.
	WorkDir string
	// Genesis, if set, is the network's genesis block: the source's block
	// 0 must have the same header.
	Genesis *foliov1.Block
	// MaxListed is how many mismatches the report lists (all are
	// counted). Default 20.
	MaxListed int
	// Progress, if set, receives a progress line about every
	// ProgressEvery (default 2 s) and at the end.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Logger receives the committer's and the ledger's logs. Default:
	// discard.
	Logger *slog.Logger
}

// Mismatch is one difference between the source and the replay.
type Mismatch struct {
	Block uint64 `json:"block"`
	// Tx is the transaction's index in the block (absent for block-level
	// kinds), TxID its ID when it parsed.
	Tx   *int   `json:"tx,omitempty"`
	TxID string `json:"tx_id,omitempty"`
	Kind string `json:"kind"`
	// Source and Replay are the two values: code names, or hex roots.
	Source string `json:"source"`
	Replay string `json:"replay"`
	// Reason is the replay's reason for an invalid code, or the
	// verification error.
	Reason string `json:"reason,omitempty"`
}

func (m Mismatch) String() string {
	where := fmt.Sprintf("block %d", m.Block)
	if m.Tx != nil {
		where += fmt.Sprintf(" tx %d", *m.Tx)
		if m.TxID != "" {
			where += " (" + m.TxID + ")"
		}
	}
	s := fmt.Sprintf("%s: %s: source %s, replay %s", where, m.Kind, m.Source, m.Replay)
	if m.Reason != "" {
		s += ": " + m.Reason
	}
	return s
}

// Report is the outcome of a replay.
type Report struct {
	Source  string `json:"source"`
	Channel string `json:"channel"`
	// GenesisHash is the header hash of block 0 (hex).
	GenesisHash string `json:"genesis_hash"`
	// Blocks replayed, genesis included; the last one is Blocks-1.
	Blocks uint64 `json:"blocks"`
	// Transactions validated (the transactions of blocks 1 and later).
	Transactions uint64 `json:"transactions"`
	// Codes counts the replay's validation codes by name.
	Codes map[string]uint64 `json:"codes"`
	// MismatchCount counts every mismatch; Mismatches lists the first
	// Options.MaxListed, in chain order.
	MismatchCount uint64     `json:"mismatch_count"`
	Mismatches    []Mismatch `json:"mismatches"`
	// StateRoot is the replay's state root after the last block,
	// SourceStateRoot the one the source stored for it (hex).
	StateRoot       string `json:"state_root"`
	SourceStateRoot string `json:"source_state_root"`
	// ClockOffset is the test hook's offset in force (internal/clock).
	ClockOffset string  `json:"clock_offset,omitempty"`
	Seconds     float64 `json:"seconds"`
}

// ErrMismatch is returned by Check when a replay found mismatches.
var ErrMismatch = errors.New("the replay does not match the chain")

// Check returns an error wrapping ErrMismatch if the report has any
// mismatch.
func (r *Report) Check() error {
	if r.MismatchCount == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d mismatches, the first at %s", ErrMismatch, r.MismatchCount, r.Mismatches[0])
}

// Run replays src from block 0. An error means the replay could not go on
// (an unreadable source, a block that does not extend the chain, a failed
// commit); differences from the source are reported as mismatches, not
// errors.
func Run(ctx context.Context, src Source, o Options) (*Report, error) {
	if o.WorkDir == "" {
		return nil, errors.New("replay: WorkDir is required")
	}
	if o.MaxListed <= 0 {
		o.MaxListed = 20
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := clock.Err(); err != nil {
		return nil, err
	}
	started := time.Now()
	rep := &Report{Source: src.String(), Codes: map[string]uint64{}, Mismatches: []Mismatch{}}
	if off := clock.Offset(); off != 0 {
		rep.ClockOffset = off.String()
	}
	genesis, err := src.Next()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s holds no block", src)
	}
	if err != nil {
		return nil, err
	}
	if genesis.GetHeader().GetNumber() != 0 {
		return nil, fmt.Errorf("%s starts with block %d, not the genesis block", src, genesis.GetHeader().GetNumber())
	}
	if o.Genesis != nil && !proto.Equal(o.Genesis.GetHeader(), genesis.Header) {
		return nil, fmt.Errorf("%s starts with another genesis block than the one given", src)
	}
	cfg, err := channel.FromGenesis(genesis)
	if err != nil {
		return nil, fmt.Errorf("%s: block 0: %w", src, err)
	}
	gh, _ := types.HeaderHash(genesis.Header)
	rep.Channel, rep.GenesisHash = cfg.ChannelId, hex.EncodeToString(gh)

	led, err := ledger.Open(filepath.Join(o.WorkDir, "ledger"), ledger.Options{Logger: o.Logger.With("component", "ledger")})
	if err != nil {
		return nil, fmt.Errorf("replay ledger: %w", err)
	}
	defer led.Close()
	r := &run{o: o, rep: rep, src: src}
	// Block 0 is committed as a peer commits it (internal/node: Run), not
	// validated: every node is given it.
	g := fresh(genesis)
	if _, err := led.Commit(g, ledger.Updates{}); err != nil {
		return nil, fmt.Errorf("commit the genesis block: %w", err)
	}
	if err := r.compare(genesis, g, nil); err != nil {
		return nil, err
	}
	var last *commit.Committed
	path, err := newPeerPath(cfg, led, filepath.Join(o.WorkDir, "contracts"), func(c *commit.Committed) { last = c },
		o.Logger.With("component", "committer"))
	if err != nil {
		return nil, fmt.Errorf("build the committer: %w", err)
	}
	nextProgress := time.Now().Add(o.ProgressEvery)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		num := b.GetHeader().GetNumber()
		if num != led.Height() {
			return nil, fmt.Errorf("%s: got block %d after block %d", src, num, led.Height()-1)
		}
		rb := fresh(b)
		if err := path.verify(rb, led.Height(), led.Blocks().LastHash()); err != nil {
			r.add(Mismatch{Block: num, Kind: KindBlockSignature, Source: "accepted", Replay: "refused", Reason: err.Error()})
		}
		last = nil
		if err := path.com.Accept(rb); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		if last == nil || last.Block != rb {
			return nil, fmt.Errorf("block %d: the committer did not report the commit", num)
		}
		if err := r.compare(b, rb, last); err != nil {
			return nil, err
		}
		if o.Progress != nil && time.Now().After(nextProgress) {
			r.progress()
			nextProgress = time.Now().Add(o.ProgressEvery)
		}
	}
	rep.Blocks = led.Height()
	root, err := led.StateRoot(led.Height() - 1)
	if err != nil {
		return nil, err
	}
	rep.StateRoot = hex.EncodeToString(root)
	rep.Seconds = time.Since(started).Seconds()
	if o.Progress != nil {
		r.progress()
	}
	return rep, nil
}

// fresh returns a copy of b as an orderer delivers it: the orderers'
// signatures, and neither validation codes nor a state root (the
// committer fills them in).
func fresh(b *foliov1.Block) *foliov1.Block {
	c := proto.Clone(b).(*foliov1.Block)
	c.Metadata = &foliov1.BlockMetadata{Signatures: c.GetMetadata().GetSignatures()}
	return c
}

type run struct {
	o    Options
	rep  *Report
	src  Source
	done uint64 // blocks compared
}

func (r *run) add(m Mismatch) {
	r.rep.MismatchCount++
	if len(r.rep.Mismatches) < r.o.MaxListed {
		r.rep.Mismatches = append(r.rep.Mismatches, m)
	}
}

// compare checks the replayed block rb (committed, its metadata filled in
// by the committer and the ledger) against the source's block b. c is the
// committer's report (nil for the genesis block).
func (r *run) compare(b, rb *foliov1.Block, c *commit.Committed) error {
	num := b.Header.Number
	r.done++
	want, got := b.GetMetadata().GetValidationCodes(), rb.GetMetadata().GetValidationCodes()
	if c != nil {
		r.rep.Transactions += uint64(len(got))
		for _, code := range got {
			r.rep.Codes[foliov1.ValidationCode(code).String()]++
		}
	}
	for i := 0; i < max(len(want), len(got)); i++ {
		if i < len(want) && i < len(got) && want[i] == got[i] {
			continue
		}
		m := Mismatch{Block: num, Tx: &i, Kind: KindCode, Source: codeName(want, i), Replay: codeName(got, i)}
		if c != nil && i < len(c.Txs) {
			m.TxID, m.Reason = c.Txs[i].TxID, c.Txs[i].Reason
		}
		r.add(m)
	}
	root := rb.GetMetadata().GetStateRoot()
	if len(root) == 0 {
		return fmt.Errorf("block %d: the ledger recorded no state root", num)
	}
	stored := b.GetMetadata().GetStateRoot()
	r.rep.SourceStateRoot = hex.EncodeToString(stored)
	if !bytes.Equal(stored, root) {
		r.add(Mismatch{Block: num, Kind: KindStateRoot, Source: rootString(stored), Replay: rootString(root)})
	}
	indexed, err := r.src.IndexedRoot(num)
	if err != nil {
		return fmt.Errorf("%s: state root of block %d: %w", r.src, num, err)
	}
	if indexed != nil && !bytes.Equal(indexed, root) {
		r.add(Mismatch{Block: num, Kind: KindStateRootIndex, Source: rootString(indexed), Replay: rootString(root)})
	}
	return nil
}

func (r *run) progress() {
	total := "?"
	if h := r.src.Height(); h > 0 {
		total = fmt.Sprint(h)
	}
	fmt.Fprintf(r.o.Progress, "replay: %d/%s blocks, %d transactions, %d mismatches\n", r.done, total, r.rep.Transactions, r.rep.MismatchCount)
}

func codeName(codes []byte, i int) string {
	if i >= len(codes) {
		return "(none)"
	}
	return foliov1.ValidationCode(codes[i]).String()
}

func rootString(r []byte) string {
	if len(r) == 0 {
		return "(none)"
	}
	return hex.EncodeToString(r)
}

// SortedCodes returns the code counts, most frequent first.
func (r *Report) SortedCodes() []CodeCount {
	out := make([]CodeCount, 0, len(r.Codes))
	for name, n := range r.Codes {
		out = append(out, CodeCount{name, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Code < out[j].Code
	})
	return out
}

// CodeCount is one line of the per-code counts.
type CodeCount struct {
	Code  string
	Count uint64
}

// Print writes the report for people.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "replayed %s: channel %s, genesis %s\n", r.Source, r.Channel, r.GenesisHash)
	if r.ClockOffset != "" {
		fmt.Fprintf(w, "clock moved by %s (%s)\n", r.ClockOffset, clock.EnvOffset)
	}
	fmt.Fprintf(w, "%d blocks (0-%d), %d transactions validated in %.1fs\n", r.Blocks, int64(r.Blocks)-1, r.Transactions, r.Seconds)
	for _, c := range r.SortedCodes() {
		fmt.Fprintf(w, "  %-34s %d\n", c.Code, c.Count)
	}
	fmt.Fprintf(w, "state root after block %d: %s (source: %s)\n", int64(r.Blocks)-1, r.StateRoot, r.SourceStateRoot)
	if r.MismatchCount == 0 {
		fmt.Fprintln(w, "0 mismatches: every validation code and state root matches the source")
		return
	}
	fmt.Fprintf(w, "%d MISMATCHES (first %d):\n", r.MismatchCount, len(r.Mismatches))
	for _, m := range r.Mismatches {
		fmt.Fprintf(w, "  %s\n", m)
	}
}
