package check

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/folio-ledger/folio/internal/chaos/history"
)

// codeDuplicate marks a second ordered copy of a transaction: legal, the
// first copy keeps its status (docs/transactions.md, "One orderer at a
// time").
const codeDuplicate = "DUPLICATE_TXID"

// chainView is a chain read without error, indexed by tx ID.
type chainView struct {
	c   *history.PeerChain
	txs map[string][]history.ChainTx // every copy, in chain order
}

func newView(c *history.PeerChain) chainView {
	v := chainView{c: c, txs: map[string][]history.ChainTx{}}
	for _, tx := range c.Txs {
		v.txs[tx.TxID] = append(v.txs[tx.TxID], tx)
	}
	return v
}

// first is the copy of the tx that took its status, if any.
func (v chainView) first(txID string) (history.ChainTx, bool) {
	if cs := v.txs[txID]; len(cs) > 0 {
		return cs[0], true
	}
	return history.ChainTx{}, false
}

func short(b []byte) string {
	if len(b) > 6 {
		b = b[:6]
	}
	return hex.EncodeToString(b)
}

// checkChains runs check 4 and returns the chains read without error;
// the first of them is the reference (the highest, the first given on a
// tie). A chain with Error set is reported, never silently skipped.
func checkChains(chains []history.PeerChain, o Options, r *Report) []chainView {
	if len(chains) == 0 {
		r.add(Violation{Check: CheckChainError, Detail: "no peer chains to check: acknowledged writes and reads cannot be verified"})
		return nil
	}
	var views []chainView
	for i := range chains {
		c := &chains[i]
		r.Heights[c.Peer] = c.Height
		if c.Error != "" {
			r.add(Violation{Check: CheckChainError, Peer: c.Peer, Detail: "chain not read completely: " + c.Error})
			continue
		}
		if uint64(len(c.BlockHashes)) != c.Height {
			r.add(Violation{Check: CheckChainError, Peer: c.Peer, Detail: fmt.Sprintf(
				"height %d but %d block hashes", c.Height, len(c.BlockHashes))})
		}
		if err := txsInOrder(c); err != nil {
			r.add(Violation{Check: CheckChainError, Peer: c.Peer, Detail: err.Error()})
			continue
		}
		views = append(views, newView(c))
	}
	if len(views) == 0 {
		return nil
	}
	sort.SliceStable(views, func(i, j int) bool { return views[i].c.Height > views[j].c.Height })
	if spread := views[0].c.Height - views[len(views)-1].c.Height; spread > o.MaxHeightSpread {
		var hs []string
		for _, v := range views {
			hs = append(hs, fmt.Sprintf("%s=%d", v.c.Peer, v.c.Height))
		}
		r.add(Violation{Check: CheckHeights, Detail: fmt.Sprintf(
			"heights did not converge: spread %d > %d (%s)", spread, o.MaxHeightSpread, strings.Join(hs, ", "))})
	}
	compareHashes(views, r)
	compareRoots(views, r)
	for _, v := range views[1:] {
		compareTxs(views[0], v, r)
	}
	for _, v := range views {
		checkDuplicates(v, r)
	}
	return views
}

// txsInOrder: the checks rely on Txs being in chain order, within the
// chain's height.
func txsInOrder(c *history.PeerChain) error {
	var prev uint64
	for i, tx := range c.Txs {
		if tx.Block < prev || tx.Block >= c.Height {
			return fmt.Errorf("tx %d (%s) in block %d is out of chain order or beyond height %d", i, tx.TxID, tx.Block, c.Height)
		}
		prev = tx.Block
	}
	return nil
}

// compareHashes counts the heights at which two peers hold different blocks.
func compareHashes(views []chainView, r *Report) {
	var top int
	for _, v := range views {
		top = max(top, len(v.c.BlockHashes))
	}
	for h := 0; h < top; h++ {
		var first []byte
		var parts []string
		differ := false
		for _, v := range views {
			if h >= len(v.c.BlockHashes) {
				continue
			}
			hash := v.c.BlockHashes[h]
			if len(parts) == 0 {
				first = hash
			} else if !bytes.Equal(hash, first) {
				differ = true
			}
			parts = append(parts, v.c.Peer+"="+short(hash))
		}
		if differ {
			r.DivergentBlocks++
			r.add(Violation{Check: CheckBlockHash, Detail: fmt.Sprintf("block %d differs: %s", h, strings.Join(parts, ", "))})
		}
	}
}

// compareRoots counts the blocks after which two peers attested
// different state roots.
func compareRoots(views []chainView, r *Report) {
	blocks := map[uint64]bool{}
	for _, v := range views {
		for b := range v.c.StateRoots {
			blocks[b] = true
		}
	}
	sorted := make([]uint64, 0, len(blocks))
	for b := range blocks {
		sorted = append(sorted, b)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	for _, b := range sorted {
		var first []byte
		var parts []string
		differ := false
		for _, v := range views {
			root, ok := v.c.StateRoots[b]
			if !ok {
				continue
			}
			if len(parts) == 0 {
				first = root
			} else if !bytes.Equal(root, first) {
				differ = true
			}
			parts = append(parts, v.c.Peer+"="+short(root))
		}
		if differ {
			r.DivergentRoots++
			r.add(Violation{Check: CheckStateRoot, Detail: fmt.Sprintf("state root after block %d differs: %s", b, strings.Join(parts, ", "))})
		}
	}
}

// compareTxs checks that two peers hold the same transactions, in the same
// blocks, with the same validation codes, in the blocks both have: the
// codes are each peer's own verdict, outside the block hash.
func compareTxs(ref, v chainView, r *Report) {
	shared := min(ref.c.Height, v.c.Height)
	seen := map[string]bool{} // one count per tx and pair of peers
	diff := func(a, b chainView) {
		for _, tx := range a.c.Txs {
			if tx.Block >= shared || seen[tx.TxID] {
				continue
			}
			cs := b.txs[tx.TxID]
			var same bool
			for _, o := range cs {
				if o.Block == tx.Block && o.Code == tx.Code {
					same = true
					break
				}
			}
			if same {
				continue
			}
			seen[tx.TxID] = true
			r.DivergentCodes++
			got := "absent"
			if len(cs) > 0 {
				got = fmt.Sprintf("%s in block %d", cs[0].Code, cs[0].Block)
			}
			r.add(Violation{Check: CheckTxCode, Work: tx.Work, Peer: b.c.Peer, Detail: fmt.Sprintf(
				"tx %s is %s in block %d on %s but %s on %s", tx.TxID, tx.Code, tx.Block, a.c.Peer, got, b.c.Peer)})
		}
	}
	diff(ref, v)
	diff(v, ref)
}

// checkDuplicates: a tx takes effect once. A later ordered copy must be
// marked DUPLICATE_TXID, and the first copy must not be.
func checkDuplicates(v chainView, r *Report) {
	ids := make([]string, 0)
	for id, cs := range v.txs {
		if len(cs) > 1 || (len(cs) == 1 && cs[0].Code == codeDuplicate) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		cs := v.txs[id]
		bad := cs[0].Code == codeDuplicate
		for _, c := range cs[1:] {
			bad = bad || c.Code != codeDuplicate
		}
		if !bad {
			continue
		}
		var parts []string
		for _, c := range cs {
			parts = append(parts, fmt.Sprintf("%s in block %d", c.Code, c.Block))
		}
		r.DuplicateTxs++
		r.add(Violation{Check: CheckDuplicateTx, Work: cs[0].Work, Peer: v.c.Peer, Detail: fmt.Sprintf(
			"tx %s committed %d times: %s", id, len(cs), strings.Join(parts, ", "))})
	}
}

// checkWrites runs check 3: each acknowledged write is VALID in the block
// the client was told on every peer; a write the client was told failed
// is not VALID on the reference chain; unknown writes are resolved
// against it.
func checkWrites(ops []history.Op, views []chainView, r *Report) {
	proof := newProofs(ops)
	// predates reports a write whose block some client had already been
	// shown committed before the write was even invoked.
	predates := func(op history.Op, block uint64) {
		if at := proof.by(block, op.Invoke); at < op.Invoke {
			r.WrongBlock++
			r.add(Violation{Check: CheckWrongBlock, Work: op.Work, Op: op.ID, Detail: fmt.Sprintf(
				"%s tx %s is in block %d, which an operation returning at %d showed committed before the write was invoked at %d",
				op.Kind, op.TxID, block, at, op.Invoke)})
		}
	}
	for _, op := range ops {
		if op.Kind == history.Get || validOp(op) != nil {
			continue
		}
		switch op.Outcome {
		case history.OK:
			checkAcknowledged(op, views, r)
			predates(op, op.Block)
		case history.Fail:
			if op.TxID == "" || len(views) == 0 {
				continue
			}
			if tx, ok := views[0].first(op.TxID); ok && tx.Code == codeValid {
				r.FailedCommitted++
				r.add(Violation{Check: CheckFailCommitted, Work: op.Work, Op: op.ID, Peer: views[0].c.Peer, Detail: fmt.Sprintf(
					"the client was told %s failed (%s) but tx %s is VALID in block %d", op.Kind, op.Error, op.TxID, tx.Block)})
			}
		case history.Unknown:
			if len(views) == 0 {
				continue
			}
			tx, ok := views[0].first(op.TxID)
			switch {
			case op.TxID == "" || !ok:
				r.UnknownResolved.Absent++
			case tx.Code == codeValid:
				r.UnknownResolved.Committed++
				predates(op, tx.Block)
			default:
				r.UnknownResolved.Invalid++
			}
		}
	}
}

func checkAcknowledged(op history.Op, views []chainView, r *Report) {
	var lost, moved []string
	for _, v := range views {
		tx, ok := v.first(op.TxID)
		switch {
		case !ok:
			lost = append(lost, v.c.Peer+": absent")
			continue
		case tx.Code != codeValid:
			lost = append(lost, fmt.Sprintf("%s: %s in block %d", v.c.Peer, tx.Code, tx.Block))
			continue
		case tx.Block != op.Block:
			moved = append(moved, fmt.Sprintf("%s: block %d", v.c.Peer, tx.Block))
		}
		if tx.Kind != "" && (tx.Kind != op.Kind || tx.Work != op.Work || (tx.Owner != "" && tx.Owner != op.Owner)) {
			r.add(Violation{Check: CheckAckContent, Work: op.Work, Op: op.ID, Peer: v.c.Peer, Detail: fmt.Sprintf(
				"the client asked %s %s to %s but tx %s writes %s %s to %s", op.Kind, op.Work, op.Owner, op.TxID, tx.Kind, tx.Work, tx.Owner)})
		}
	}
	if len(lost) > 0 {
		r.LostAcknowledged++
		r.add(Violation{Check: CheckLostAck, Work: op.Work, Op: op.ID, Detail: fmt.Sprintf(
			"%s acknowledged in block %d (tx %s) is not VALID on every peer: %s", op.Kind, op.Block, op.TxID, strings.Join(lost, "; "))})
	}
	if len(moved) > 0 {
		r.WrongBlock++
		r.add(Violation{Check: CheckWrongBlock, Work: op.Work, Op: op.ID, Detail: fmt.Sprintf(
			"%s acknowledged in block %d (tx %s) is in another block on %s", op.Kind, op.Block, op.TxID, strings.Join(moved, "; "))})
	}
}
