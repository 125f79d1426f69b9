package check

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/folio-ledger/folio/internal/chaos/history"
)

// regInput is an operation as the register model sees it.
type regInput struct {
	ID     int64
	Work   string
	Kind   history.Kind
	Caller string
	Owner  string
	// Unknown: a write that may or may not have taken effect.
	Unknown bool
	// Refused: a register the contract refused, which observes that the
	// work is registered.
	Refused bool
}

// regOutput is what a linearizable get saw.
type regOutput struct {
	Found bool
	Owner string
}

// registerModel is the copyright register, one work per partition. The
// state is the work's owner label, "" while it is not registered.
var registerModel = porcupine.Model{
	Partition: partitionByWork,
	Init:      func() interface{} { return "" },
	Step:      stepRegister,
	DescribeOperation: func(in, out interface{}) string {
		return describeInput(in.(regInput), out)
	},
	DescribeState: func(state interface{}) string {
		if s := state.(string); s != "" {
			return "owner " + s
		}
		return "not registered"
	},
}

// stepRegister is the sequential specification. An unknown write may be
// placed anywhere after its invocation (its return is after every other
// operation), so "it never happened" is the placement at the very end;
// where it is placed it takes effect if it is legal there and has no
// effect otherwise (it would have been refused or committed invalid), as
// etcd's robustness models do with failed requests.
func stepRegister(state, input, output interface{}) (bool, interface{}) {
	s := state.(string)
	in := input.(regInput)
	switch in.Kind {
	case history.Register:
		if in.Refused {
			return s != "", s
		}
		if in.Unknown {
			if s == "" {
				return true, in.Owner
			}
			return true, s
		}
		return s == "", in.Owner
	case history.Transfer:
		legal := s != "" && s == in.Caller
		if in.Unknown {
			if legal {
				return true, in.Owner
			}
			return true, s
		}
		return legal, in.Owner
	case history.Get:
		out := output.(regOutput)
		return out.Found == (s != "") && (!out.Found || out.Owner == s), s
	}
	return false, s
}

func describeInput(in regInput, out interface{}) string {
	switch in.Kind {
	case history.Register:
		switch {
		case in.Refused:
			return fmt.Sprintf("#%d register(%s) refused", in.ID, in.Owner)
		case in.Unknown:
			return fmt.Sprintf("#%d register(%s) ?", in.ID, in.Owner)
		}
		return fmt.Sprintf("#%d register(%s) ok", in.ID, in.Owner)
	case history.Transfer:
		res := "ok"
		if in.Unknown {
			res = "?"
		}
		return fmt.Sprintf("#%d transfer(%s->%s) %s", in.ID, in.Caller, in.Owner, res)
	case history.Get:
		o, _ := out.(regOutput)
		if !o.Found {
			return fmt.Sprintf("#%d get -> not registered", in.ID)
		}
		return fmt.Sprintf("#%d get -> %s", in.ID, o.Owner)
	}
	return fmt.Sprintf("#%d %s", in.ID, in.Kind)
}

// partitionByWork splits a history by work, in the order of the works'
// names, so that partition i of a LinearizationInfo is the i-th work.
func partitionByWork(ops []porcupine.Operation) [][]porcupine.Operation {
	byWork := map[string][]porcupine.Operation{}
	for _, op := range ops {
		w := op.Input.(regInput).Work
		byWork[w] = append(byWork[w], op)
	}
	works := make([]string, 0, len(byWork))
	for w := range byWork {
		works = append(works, w)
	}
	sort.Strings(works)
	out := make([][]porcupine.Operation, 0, len(works))
	for _, w := range works {
		out = append(out, byWork[w])
	}
	return out
}

// modelOps turns the history into porcupine operations by work. Left out,
// because they carry no reliable observation and had no effect: failed
// writes other than refused registers (a transfer refused by a lagging
// endorser says nothing about the present; one committed invalid did
// nothing), reads that failed, and reads that were not linearizable
// (check 2 holds those to their own, weaker, promise).
//
// Unknown writes return after every other operation, unless ref (the
// reference chain, nil when there is none) settles them, as etcd's
// robustness tests patch their history with what was persisted: one not
// VALID on the chain never took effect before the chain was read, so
// after every operation at best, where nothing observes it, and it is
// left out; one VALID in block b did take effect, so it is an ordinary
// write that returns by the first return of an operation that proves
// block b committed. Without this every unknown write stays pending to
// the end and porcupine's search doubles with each.
func modelOps(ops []history.Op, ref *chainView) (byWork map[string][]porcupine.Operation, patched int) {
	var last int64
	for _, op := range ops {
		last = max(last, op.Invoke, op.Return)
	}
	// After every other operation: an unknown write may take effect at
	// any time after it was invoked, even after the run.
	infinity := last + 1
	proof := newProofs(ops)
	byWork = map[string][]porcupine.Operation{}
	for _, op := range ops {
		if validOp(op) != nil {
			continue
		}
		in := regInput{ID: op.ID, Work: op.Work, Kind: op.Kind, Caller: op.Caller, Owner: op.Owner}
		var out interface{}
		ret := op.Return
		switch {
		case op.Kind == history.Get:
			if op.Outcome != history.OK || !op.Linearizable {
				continue
			}
			out = regOutput{Found: op.Found, Owner: op.Read}
		case op.Outcome == history.OK:
		case op.Outcome == history.Unknown && ref != nil && op.TxID != "":
			patched++
			tx, ok := ref.first(op.TxID)
			if !ok || tx.Code != codeValid {
				continue
			}
			ret = max(proof.by(tx.Block, infinity), op.Invoke)
		case op.Outcome == history.Unknown:
			in.Unknown = true
			ret = infinity
		case op.Kind == history.Register && op.Refused && AlreadyRegistered(op.Error):
			// Registrations are never undone, so a refusal, even from a
			// peer behind the others, proves the work registered by then.
			in.Refused = true
		default:
			continue
		}
		byWork[op.Work] = append(byWork[op.Work], porcupine.Operation{
			ClientId: max(op.Client, 0),
			Input:    in,
			Call:     op.Invoke,
			Output:   out,
			Return:   ret,
			Metadata: op.ID,
		})
	}
	return byWork, patched
}

// proofs answers: by when had some client been shown that block b was
// committed (an acknowledged write in a block >= b, a read at a height
// > b)?
type proofs struct {
	heights []uint64 // implied heights, ascending
	first   []int64  // first[i]: the earliest return among heights[i:]
}

func newProofs(ops []history.Op) proofs {
	type hr struct {
		h   uint64
		ret int64
	}
	var all []hr
	for _, op := range ops {
		if validOp(op) != nil {
			continue
		}
		if h, _ := implied(op); h > 0 {
			all = append(all, hr{h, op.Return})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].h < all[j].h })
	p := proofs{heights: make([]uint64, len(all)), first: make([]int64, len(all))}
	for i := len(all) - 1; i >= 0; i-- {
		p.heights[i] = all[i].h
		p.first[i] = all[i].ret
		if i+1 < len(all) {
			p.first[i] = min(p.first[i], p.first[i+1])
		}
	}
	return p
}

// by is the earliest return of an op proving block b committed, or
// otherwise when no op does.
func (p proofs) by(b uint64, otherwise int64) int64 {
	i := sort.Search(len(p.heights), func(i int) bool { return p.heights[i] > b })
	if i == len(p.heights) {
		return otherwise
	}
	return p.first[i]
}

// checkLinearizable runs check 1: each work on its own (porcupine's work
// stays bounded by the largest work), one after another within the total
// budget, then once more, verbosely, over the violating works to describe
// and draw them.
func checkLinearizable(ops []history.Op, ref *chainView, o Options, r *Report) {
	byWork, patched := modelOps(ops, ref)
	r.Linearizability.PatchedUnknown = patched
	works := make([]string, 0, len(byWork))
	for w, wops := range byWork {
		works = append(works, w)
		r.Linearizability.Ops += len(wops)
	}
	sort.Strings(works)
	r.Linearizability.Works = len(works)
	deadline := time.Now().Add(o.LinearizabilityTimeout)
	var bad []string
	for _, w := range works {
		left := time.Until(deadline)
		if left <= 0 {
			r.Linearizability.UndecidedWorks = append(r.Linearizability.UndecidedWorks, w)
			continue
		}
		switch porcupine.CheckOperationsTimeout(registerModel, byWork[w], left) {
		case porcupine.Ok:
			r.Linearizability.Checked++
		case porcupine.Illegal:
			r.Linearizability.Checked++
			bad = append(bad, w)
		default:
			r.Linearizability.UndecidedWorks = append(r.Linearizability.UndecidedWorks, w)
		}
	}
	switch {
	case len(bad) > 0:
		r.Linearizability.Result = ResultViolation
	case len(r.Linearizability.UndecidedWorks) > 0:
		r.Linearizability.Result = ResultUnknown
	default:
		r.Linearizability.Result = ResultOK
		return
	}
	r.Linearizability.ViolatingWorks = bad
	if len(bad) == 0 {
		return
	}
	var violating []porcupine.Operation
	for _, w := range bad {
		violating = append(violating, byWork[w]...)
	}
	// A second search with the whole budget again (each of these works
	// was found violating within it), to learn the longest orders.
	res, info := porcupine.CheckOperationsVerbose(registerModel, violating, o.LinearizabilityTimeout)
	partials := info.PartialLinearizationsOperations()
	for i, w := range bad {
		var longest []porcupine.Operation
		if res != porcupine.Unknown && i < len(partials) {
			for _, p := range partials[i] {
				if len(p) > len(longest) {
					longest = p
				}
			}
		}
		r.add(Violation{Check: CheckLinearizable, Work: w, Detail: describeViolation(w, byWork[w], longest)})
	}
	if o.VisualizePath == "" {
		return
	}
	if err := porcupine.VisualizePath(registerModel, info, o.VisualizePath); err != nil {
		r.Linearizability.VisualizationError = fmt.Sprintf("write %s: %v", o.VisualizePath, err)
		return
	}
	r.Linearizability.Visualization = o.VisualizePath
}

// describeViolation says in text why a work has no linearization: the
// longest order porcupine could find, and the operations it could not
// then place.
func describeViolation(work string, ops []porcupine.Operation, longest []porcupine.Operation) string {
	const maxListed = 12
	list := func(ops []porcupine.Operation) string {
		var parts []string
		for i, op := range ops {
			if i == maxListed {
				parts = append(parts, fmt.Sprintf("... %d more", len(ops)-maxListed))
				break
			}
			parts = append(parts, describeInput(op.Input.(regInput), op.Output))
		}
		return strings.Join(parts, ", ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "no order of its %d operations obeys the register (register once, transfer only by the owner)", len(ops))
	if longest == nil {
		return b.String()
	}
	placed := map[int64]bool{}
	for _, op := range longest {
		placed[op.Input.(regInput).ID] = true
	}
	var rest []porcupine.Operation
	for _, op := range ops {
		if !placed[op.Input.(regInput).ID] {
			rest = append(rest, op)
		}
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].Call < rest[j].Call })
	fmt.Fprintf(&b, "; the longest legal order is [%s] and it cannot be extended with any of [%s]",
		list(longest), list(rest))
	return b.String()
}

// AlreadyRegistered says whether a register's error is the contract's
// "already registered" refusal, the only refusal that observes the work's
// state (an owner outside the channel, a bad argument or a duplicate
// content hash say nothing about it).
func AlreadyRegistered(err string) bool {
	return strings.Contains(err, "is already registered")
}
