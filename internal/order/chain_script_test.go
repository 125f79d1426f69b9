package order

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/types"
)

// TestChainScripts runs the scripts in testdata/chain: the block-cutting
// state machine fed log entries one by one, as the Raft driver applies the
// committed log. `go test -run TestChainScripts -rewrite` regenerates the
// expected output; review the diff like code.
//
// Commands (arguments in brackets are optional):
//
//	new-chain max-count=N max-bytes=B [height=H] [last-time=T]
//	    A chain whose next block is H (default 1) after a block stamped T.
//	ordered <tx>...
//	    Marks tx IDs as already in earlier blocks (in the TxIndex).
//	envelopes [ts=T]
//	<tx> <bytes>   one envelope per line, exactly <bytes> long
//	garbage        an envelope that does not decode
//	    Applies the next log entry: a batch of envelopes.
//	cut block=N [ts=T]
//	    Applies the next log entry: the leader's cut request for block N,
//	    proposed when the batch timeout fired.
//	empty
//	    Applies the next log entry: one with no kind (a new leader's entry).
//	blocks
//	    Every block cut so far, with its hash chain checked.
//	restart after=N
//	    A new chain resumed from block N as a restarted orderer resumes it
//	    (N=0: from the start), replaying the log from N's resume position.
//	    Reports whether the blocks it cuts are the ones cut before the
//	    restart, and continues with the new chain.
//
// Entry i is stamped ts=i*100 unless ts= is given. A block prints as
//
//	block <n> [<tx>...] <bytes>B ts=<timestamp> resume=<index>/<offset>
//
// where resume is the log position after the block: every envelope of
// entries before <index>, and the first <offset> of entry <index>, are in
// blocks (the position an orderer stores with the block).
func TestChainScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/chain", func(t *testing.T, path string) {
		e := &chainEnv{}
		datadriven.RunTest(t, path, e.handle)
	})
}

// chainEnv is the state of one chain script.
type chainEnv struct {
	cfg BatchConfig
	// start is where the chain began: next block, previous hash and time.
	start      uint64
	startHash  []byte
	startTime  int64
	preOrdered []string

	chain *Chain
	index memIndex
	log   []*foliov1.OrderEntry // log[i] is entry i+1
	cuts  []Cut
}

func (e *chainEnv) handle(t *testing.T, d *datadriven.TestData) string {
	if d.Cmd != "new-chain" && e.chain == nil {
		d.Fatalf(t, "%s before new-chain", d.Cmd)
	}
	var out strings.Builder
	switch d.Cmd {
	case "new-chain":
		e.cfg = BatchConfig{}
		d.ScanArgs(t, "max-count", &e.cfg.MaxTxCount)
		d.ScanArgs(t, "max-bytes", &e.cfg.MaxBytes)
		e.start, e.startTime = 1, 0
		d.MaybeScanArgs(t, "height", &e.start)
		d.MaybeScanArgs(t, "last-time", &e.startTime)
		e.startHash = bytes.Repeat([]byte{9}, 32)
		e.preOrdered, e.log, e.cuts = nil, nil, nil
		e.index = memIndex{}
		e.chain = NewChain(e.cfg, e.index, e.start, e.startHash, e.startTime)
		fmt.Fprintf(&out, "next block %d\n", e.chain.Next())
	case "ordered":
		for _, a := range d.CmdArgs {
			e.preOrdered = append(e.preOrdered, a.Key)
			e.index[a.Key] = true
		}
		return ""
	case "envelopes":
		envs, err := parseEnvelopes(d.Input)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		e.apply(t, &out, &foliov1.OrderEntry{TimestampUnixNano: e.entryTime(t, d),
			Kind: &foliov1.OrderEntry_Envelopes{Envelopes: &foliov1.EnvelopeBatch{Envelopes: envs}}})
	case "cut":
		var n uint64
		d.ScanArgs(t, "block", &n)
		e.apply(t, &out, cutEntry(e.entryTime(t, d), n))
	case "empty":
		e.apply(t, &out, &foliov1.OrderEntry{TimestampUnixNano: e.entryTime(t, d)})
	case "blocks":
		blocks := make([]*foliov1.Block, len(e.cuts))
		for i, c := range e.cuts {
			blocks[i] = c.Block
		}
		out.WriteString(checkLinks(e.startHash, blocks))
		for _, c := range e.cuts {
			out.WriteString(describeCut(c) + "\n")
		}
		writePending(&out, e.chain)
	case "restart":
		var after uint64
		d.ScanArgs(t, "after", &after)
		e.restart(t, d, &out, after)
	default:
		d.Fatalf(t, "unknown command %s", d.Cmd)
	}
	return out.String()
}

// entryTime is the timestamp of the next entry: ts= or index*100.
func (e *chainEnv) entryTime(t *testing.T, d *datadriven.TestData) int64 {
	ts := int64(len(e.log)+1) * 100
	d.MaybeScanArgs(t, "ts", &ts)
	return ts
}

// apply appends entry to the log and applies it, as the driver does:
// blocks enter the TxIndex before the next entry.
func (e *chainEnv) apply(t *testing.T, out *strings.Builder, entry *foliov1.OrderEntry) {
	e.log = append(e.log, entry)
	index := uint64(len(e.log))
	res, err := e.chain.Apply(index, entry, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cuts {
		e.index.add(c.Block)
	}
	e.cuts = append(e.cuts, res.Cuts...)
	fmt.Fprintf(out, "entry %d: %s\n", index, describeEntry(entry, res))
	for _, c := range res.Cuts {
		out.WriteString(describeCut(c) + "\n")
	}
	writePending(out, e.chain)
}

// restart replaces the chain by one resumed after block `after` from what
// an orderer persists (the blocks up to it and the resume position), and
// replays the rest of the log into it.
func (e *chainEnv) restart(t *testing.T, d *datadriven.TestData, out *strings.Builder, after uint64) {
	kept := 0
	for kept < len(e.cuts) && e.cuts[kept].Block.Header.Number <= after {
		kept++
	}
	idx := memIndex{}
	for _, id := range e.preOrdered {
		idx[id] = true
	}
	next, hash, last, from := e.start, e.startHash, e.startTime, Position{Index: 1}
	if after >= e.start {
		if kept == 0 || e.cuts[kept-1].Block.Header.Number != after {
			d.Fatalf(t, "no block %d was cut", after)
		}
		for _, c := range e.cuts[:kept] {
			idx.add(c.Block)
		}
		h := e.cuts[kept-1].Block.Header
		hh, err := types.HeaderHash(h)
		if err != nil {
			t.Fatal(err)
		}
		next, hash, last, from = h.Number+1, hh, h.TimestampUnixNano, e.cuts[kept-1].After
	}
	c := NewChain(e.cfg, idx, next, hash, last)
	var replayed []Cut
	for i := from.Index; i <= uint64(len(e.log)); i++ {
		skip := uint32(0)
		if i == from.Index {
			skip = from.Offset
		}
		res, err := c.Apply(i, e.log[i-1], skip)
		if err != nil {
			t.Fatal(err)
		}
		for _, cut := range res.Cuts {
			idx.add(cut.Block)
		}
		replayed = append(replayed, res.Cuts...)
	}
	fmt.Fprintf(out, "resumed at block %d, replayed entries %d..%d from offset %d\n", next, from.Index, len(e.log), from.Offset)
	for _, cut := range replayed {
		out.WriteString(describeCut(cut) + "\n")
	}
	before := e.cuts[kept:]
	same := len(before) == len(replayed)
	for i := 0; same && i < len(before); i++ {
		same = proto.Equal(before[i].Block, replayed[i].Block) && before[i].After == replayed[i].After
	}
	if same && c.Pending() == e.chain.Pending() {
		out.WriteString("same blocks and pending envelopes as before the restart\n")
	} else {
		fmt.Fprintf(out, "DIFFERENT from before the restart: %d blocks then, %d now; %d pending then, %d now\n",
			len(before), len(replayed), e.chain.Pending(), c.Pending())
	}
	e.chain, e.index, e.cuts = c, idx, append(e.cuts[:kept:kept], replayed...)
	writePending(out, e.chain)
}

// parseEnvelopes reads "<tx> <bytes>" and "garbage" lines.
func parseEnvelopes(input string) ([][]byte, error) {
	var envs [][]byte
	for _, line := range strings.Split(strings.TrimSpace(input), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && f[0] == "garbage":
			envs = append(envs, []byte("garbage"))
		case len(f) == 2:
			size, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, fmt.Errorf("envelope %q: %v", line, err)
			}
			e, err := sizedEnv(f[0], size)
			if err != nil {
				return nil, err
			}
			envs = append(envs, e)
		default:
			return nil, fmt.Errorf("envelope line %q: want \"<tx> <bytes>\" or \"garbage\"", line)
		}
	}
	return envs, nil
}

// sizedEnv returns an envelope for txID exactly size bytes long, so that
// scripts can state byte limits in round numbers.
func sizedEnv(txID string, size int) ([]byte, error) {
	build := func(pad, sig int) []byte {
		p, _ := proto.Marshal(&foliov1.Payload{Header: &foliov1.TxHeader{TxId: txID}, Data: bytes.Repeat([]byte{1}, pad)})
		e, _ := proto.Marshal(&foliov1.Envelope{Payload: p, Signature: bytes.Repeat([]byte("s"), sig)})
		return e
	}
	// A length prefix growing by a byte can skip a size; a longer
	// signature fills the gap.
	for sig := 1; sig <= 2; sig++ {
		for pad := size - len(build(0, sig)); pad >= 0; pad-- {
			e := build(pad, sig)
			if len(e) == size {
				return e, nil
			}
			if len(e) < size {
				break
			}
		}
	}
	return nil, fmt.Errorf("no envelope for %s is exactly %d bytes (the smallest is %d)", txID, size, len(build(0, 1)))
}

// describeEntry says what applying an entry did.
func describeEntry(e *foliov1.OrderEntry, a Applied) string {
	switch k := e.GetKind().(type) {
	case *foliov1.OrderEntry_Cut:
		if len(a.Cuts) == 0 {
			return fmt.Sprintf("cut request for block %d ignored", k.Cut.GetBlockNumber())
		}
		return fmt.Sprintf("cut request for block %d", k.Cut.GetBlockNumber())
	case *foliov1.OrderEntry_Envelopes:
		return describeApplied(a)
	default:
		return "empty"
	}
}

func describeApplied(a Applied) string {
	var parts []string
	if len(a.Accepted) > 0 {
		parts = append(parts, "accepted "+strings.Join(a.Accepted, " "))
	}
	if len(a.Duplicates) > 0 {
		parts = append(parts, "duplicate "+strings.Join(a.Duplicates, " "))
	}
	if a.Dropped > 0 {
		parts = append(parts, fmt.Sprintf("dropped %d undecodable", a.Dropped))
	}
	if len(parts) == 0 {
		return "no envelopes"
	}
	return strings.Join(parts, "; ")
}

func describeCut(c Cut) string {
	return fmt.Sprintf("%s resume=%d/%d", describeBlock(c.Block), c.After.Index, c.After.Offset)
}

func describeBlock(b *foliov1.Block) string {
	ids, size := make([]string, len(b.Data.Envelopes)), 0
	for i, e := range b.Data.Envelopes {
		ids[i], _ = envelopeTxID(e)
		size += len(e)
	}
	return fmt.Sprintf("block %d [%s] %dB ts=%d", b.Header.Number, strings.Join(ids, " "), size, b.Header.TimestampUnixNano)
}

func writePending(out *strings.Builder, c *Chain) {
	if len(c.pending) == 0 {
		fmt.Fprintf(out, "nothing pending, next block %d\n", c.Next())
		return
	}
	ids, size := make([]string, len(c.pending)), 0
	for i, e := range c.pending {
		ids[i], _ = envelopeTxID(e)
		size += len(e)
	}
	fmt.Fprintf(out, "pending [%s] %dB, next block %d\n", strings.Join(ids, " "), size, c.Next())
}

// checkLinks returns a line for every block that does not follow the one
// before it (number, previous hash, data hash, time), "" when all do.
// prev is the hash of the block before the first.
func checkLinks(prev []byte, blocks []*foliov1.Block) string {
	var out strings.Builder
	var last *foliov1.BlockHeader
	for _, b := range blocks {
		h := b.Header
		switch {
		case last != nil && h.Number != last.Number+1:
			fmt.Fprintf(&out, "BROKEN: block %d follows block %d\n", h.Number, last.Number)
		case !bytes.Equal(h.PreviousHash, prev):
			fmt.Fprintf(&out, "BROKEN: block %d does not name the previous block's hash\n", h.Number)
		case !bytes.Equal(h.DataHash, types.DataHash(b.Data.Envelopes)):
			fmt.Fprintf(&out, "BROKEN: block %d data hash\n", h.Number)
		case last != nil && h.TimestampUnixNano < last.TimestampUnixNano:
			fmt.Fprintf(&out, "BROKEN: block %d is older than block %d\n", h.Number, last.Number)
		}
		prev, _ = types.HeaderHash(h)
		last = h
	}
	return out.String()
}
