package check

import (
	"fmt"
	"sort"
	"strings"

	"github.com/folio-ledger/folio/internal/chaos/history"
)

// codeValid is the validation code of a transaction that took effect.
const codeValid = "VALID"

// change is a work's owner from a block on.
type change struct {
	block uint64
	owner string
}

// timeline is every work's owner changes on one chain, in chain order.
type timeline map[string][]change

// buildTimeline replays the chain's VALID copyright transactions, and
// reports the chain itself breaking the register's rule (a VALID register
// of a registered work, a VALID transfer of an unregistered one): two
// owners of one work in the committed history.
func buildTimeline(c *history.PeerChain, r *Report) timeline {
	t := timeline{}
	for _, tx := range c.Txs {
		if tx.Code != codeValid || tx.Work == "" || (tx.Kind != history.Register && tx.Kind != history.Transfer) {
			continue
		}
		cur := t.ownerAt(tx.Work, tx.Block+1)
		switch {
		case tx.Kind == history.Register && cur != "":
			r.add(Violation{Check: CheckChainModel, Work: tx.Work, Peer: c.Peer, Detail: fmt.Sprintf(
				"tx %s in block %d registers the work VALID for %s while %s owns it", tx.TxID, tx.Block, tx.Owner, cur)})
		case tx.Kind == history.Transfer && cur == "":
			r.add(Violation{Check: CheckChainModel, Work: tx.Work, Peer: c.Peer, Detail: fmt.Sprintf(
				"tx %s in block %d transfers the work VALID to %s before it is registered", tx.TxID, tx.Block, tx.Owner)})
		}
		t[tx.Work] = append(t[tx.Work], change{block: tx.Block, owner: tx.Owner})
	}
	return t
}

// ownerAt is the work's owner after blocks [0, height): what a peer at
// that height answers.
func (t timeline) ownerAt(work string, height uint64) string {
	cs := t[work]
	i := sort.Search(len(cs), func(i int) bool { return cs[i].block >= height })
	if i == 0 {
		return ""
	}
	return cs[i-1].owner
}

// checkReads runs check 2 over the answered reads: the value against the
// reference chain at the read's height (when there is a chain), and the
// height against what the read was promised.
func checkReads(ops []history.Op, ref *history.PeerChain, r *Report) {
	var valid []history.Op
	for _, op := range ops {
		if validOp(op) == nil {
			valid = append(valid, op)
		}
	}
	if ref != nil {
		t := buildTimeline(ref, r)
		for _, op := range valid {
			if op.Kind != history.Get || op.Outcome != history.OK {
				continue
			}
			if op.ReadHeight > ref.Height {
				r.WrongReads++
				r.add(Violation{Check: CheckReadValue, Work: op.Work, Op: op.ID, Peer: op.Via, Detail: fmt.Sprintf(
					"answered at height %d, but the highest healed peer (%s) has only %d blocks", op.ReadHeight, ref.Peer, ref.Height)})
				continue
			}
			// A peer reports the height it started the query at: the
			// answer reflects at least the blocks below it, and maybe
			// blocks it committed while the query ran. So the value must
			// be the owner at some height from there up to the chain's
			// end; an older value is a stale or wrong read.
			low := max(op.ReadHeight, op.MinHeight, op.SessionHeight)
			if !t.ownedSince(op.Work, low, ref.Height, op.Read) {
				want := t.ownerAt(op.Work, low)
				r.WrongReads++
				r.add(Violation{Check: CheckReadValue, Work: op.Work, Op: op.ID, Peer: op.Via, Detail: fmt.Sprintf(
					"read %s at height %d or later, but the chain (%s) says %s at height %d and never %s after it",
					ownerText(op.Read, op.Found), low, ref.Peer, ownerText(want, want != ""), low, ownerText(op.Read, op.Found))})
			}
		}
	}
	checkReadHeights(valid, r)
}

// ownedSince says whether work's owner is owner ("": not registered) at
// some height in [low, high].
func (t timeline) ownedSince(work string, low, high uint64, owner string) bool {
	if t.ownerAt(work, low) == owner {
		return true
	}
	for _, c := range t[work] {
		// The owner written in block b is in force from height b+1.
		if c.block+1 > low && c.block+1 <= high && c.owner == owner {
			return true
		}
	}
	return false
}

func ownerText(owner string, found bool) string {
	if !found {
		return "not registered"
	}
	return "owner " + owner
}

// floor is the least height some earlier operation obliges a read to
// have, and the operation that set it.
type floor struct {
	height uint64
	op     int64
	why    string
}

func (f *floor) raise(h uint64, op int64, why string) {
	if h > f.height {
		*f = floor{height: h, op: op, why: why}
	}
}

// implied is the height an operation proves committed once it returned:
// blocks below an acknowledged write's block + 1, below an answered
// read's height.
func implied(op history.Op) (uint64, string) {
	if op.Outcome != history.OK {
		return 0, ""
	}
	if op.Kind == history.Get {
		return op.ReadHeight, "read answered at that height"
	}
	return op.Block + 1, fmt.Sprintf("%s acknowledged in block %d", op.Kind, op.Block)
}

// checkReadHeights holds every answered read to its minimum height, its
// client's session height, its client's own earlier acknowledged writes
// and reads (read-your-writes, monotonic reads), and a linearizable read
// to everything anyone had been told before it was invoked. "Before" is
// strict: an operation returning at the instant another is invoked is
// concurrent with it, as porcupine's closed intervals have it.
func checkReadHeights(ops []history.Op, r *Report) {
	byReturn := append([]history.Op(nil), ops...)
	sort.SliceStable(byReturn, func(i, j int) bool { return byReturn[i].Return < byReturn[j].Return })
	var reads []history.Op
	for _, op := range ops {
		// A "not registered" answer carries no height (validOp): the
		// value check holds it to its lower bounds instead.
		if op.Kind == history.Get && op.Outcome == history.OK && op.ReadHeight > 0 {
			reads = append(reads, op)
		}
	}
	sort.SliceStable(reads, func(i, j int) bool { return reads[i].Invoke < reads[j].Invoke })
	var global floor
	own := map[int]*floor{}
	next := 0
	for _, rd := range reads {
		for ; next < len(byReturn) && byReturn[next].Return < rd.Invoke; next++ {
			done := byReturn[next]
			h, why := implied(done)
			if h == 0 {
				continue
			}
			global.raise(h, done.ID, why)
			f := own[done.Client]
			if f == nil {
				f = &floor{}
				own[done.Client] = f
			}
			f.raise(h, done.ID, why)
		}
		var reasons []string
		if rd.ReadHeight < rd.MinHeight {
			reasons = append(reasons, fmt.Sprintf("its minimum height is %d", rd.MinHeight))
		}
		if rd.ReadHeight < rd.SessionHeight {
			reasons = append(reasons, fmt.Sprintf("its client's session height was %d", rd.SessionHeight))
		}
		if f := own[rd.Client]; f != nil && rd.ReadHeight < f.height {
			reasons = append(reasons, fmt.Sprintf("its client's earlier op %d (%s) implies height %d", f.op, f.why, f.height))
		}
		if rd.Linearizable && rd.ReadHeight < global.height {
			reasons = append(reasons, fmt.Sprintf("it is linearizable and op %d (%s) returned before it, implying height %d", global.op, global.why, global.height))
		}
		if len(reasons) > 0 {
			r.StaleReads++
			r.add(Violation{Check: CheckReadStale, Work: rd.Work, Op: rd.ID, Peer: rd.Via, Detail: fmt.Sprintf(
				"answered at height %d, but %s", rd.ReadHeight, strings.Join(reasons, "; "))})
		}
	}
}
