package check

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/internal/chaos/history"
)

// world is a run generated from a sequential simulation of the register
// and the ledger: every operation takes effect at its step's instant
// (unknown writes possibly later, or never), and its interval is spread
// randomly around that instant, so operations overlap. Such a history is
// linearizable by construction, and its chains agree with it.
type world struct {
	rng     *rand.Rand
	works   []string
	callers []string
	clients int

	owner   map[string]string
	height  uint64 // blocks 0 .. height-1; block 0 is genesis
	txs     []history.ChainTx
	ops     []history.Op
	free    []int64  // per client: when its last op returned
	session []uint64 // per client: the height its own ops imply
	pending []int    // indexes of unknown writes that may still happen
	unknown int
}

func newWorld(seed uint64) *world {
	w := &world{
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		works:   []string{"w0", "w1", "w2"},
		callers: []string{"alice@Org1", "bob@Org1", "carol@Org2"},
		clients: 6,
		owner:   map[string]string{},
		height:  1,
	}
	w.free = make([]int64, w.clients)
	for i := range w.free {
		w.free[i] = -1
	}
	w.session = make([]uint64, w.clients)
	return w
}

func (w *world) callerOf(client int) string { return w.callers[client%len(w.callers)] }

// commit appends a block holding the write's tx with the code it gets
// when it is applied now, and applies it when VALID.
func (w *world) commit(op *history.Op) (valid bool) {
	legal := w.owner[op.Work] == ""
	if op.Kind == history.Transfer {
		legal = w.owner[op.Work] == op.Caller
	}
	code := codeValid
	if !legal {
		code = "MVCC_READ_CONFLICT"
	}
	block := w.height
	w.height++
	w.txs = append(w.txs, history.ChainTx{TxID: op.TxID, Block: block, Code: code, Contract: "copyright",
		Function: string(op.Kind), Kind: op.Kind, Work: op.Work, Owner: op.Owner})
	if legal {
		w.owner[op.Work] = op.Owner
		op.Block = block
	}
	return legal
}

// ownerAt replays the committed txs: the owner after blocks [0, h).
func (w *world) ownerAt(work string, h uint64) string {
	owner := ""
	for _, tx := range w.txs {
		if tx.Block < h && tx.Work == work && tx.Code == codeValid {
			owner = tx.Owner
		}
	}
	return owner
}

func (w *world) step(k int) {
	now := int64(k) * 1000
	// An unknown write that is still in flight may take effect now.
	if len(w.pending) > 0 && w.rng.IntN(4) == 0 {
		i := w.rng.IntN(len(w.pending))
		idx := w.pending[i]
		w.pending = slices.Delete(w.pending, i, i+1)
		op := w.ops[idx]
		w.commit(&op)
		w.ops[idx] = op
	}
	inv := now - w.rng.Int64N(2500)
	var candidates []int
	for c := range w.clients {
		if w.free[c] < inv {
			candidates = append(candidates, c)
		}
	}
	if len(candidates) == 0 {
		return
	}
	work := w.works[w.rng.IntN(len(w.works))]
	kind := []history.Kind{history.Get, history.Get, history.Register, history.Transfer, history.Transfer}[w.rng.IntN(5)]
	client := candidates[w.rng.IntN(len(candidates))]
	if kind == history.Transfer && w.rng.IntN(5) > 0 {
		// Mostly by the owner, so that the work changes hands.
		for _, c := range candidates {
			if w.callerOf(c) == w.owner[work] {
				client = c
				break
			}
		}
	}
	op := history.Op{ID: int64(len(w.ops) + 1), Client: client, Caller: w.callerOf(client), Kind: kind, Work: work,
		Invoke: inv, Return: now + w.rng.Int64N(2500)}
	w.free[client] = op.Return
	switch kind {
	case history.Get:
		op.Outcome, op.Via = history.OK, "peer0.org1"
		op.SessionHeight = w.session[client]
		if w.rng.IntN(2) == 0 {
			op.Linearizable, op.ReadHeight = true, w.height
		} else {
			lo := max(op.SessionHeight, 1)
			op.ReadHeight = lo + w.rng.Uint64N(w.height-lo+1)
			op.MinHeight = w.rng.Uint64N(op.ReadHeight + 1)
		}
		op.Read = w.ownerAt(work, op.ReadHeight)
		op.Found = op.Read != ""
		w.session[client] = max(w.session[client], op.ReadHeight)
	default:
		op.Owner = op.Caller
		if kind == history.Transfer {
			op.Owner = w.callers[w.rng.IntN(len(w.callers))]
			if op.Owner == op.Caller {
				op.Owner = w.callers[(slices.Index(w.callers, op.Caller)+1)%len(w.callers)]
			}
		}
		op.TxID = fmt.Sprintf("tx%d", op.ID)
		legal := w.owner[work] == ""
		if kind == history.Transfer {
			legal = w.owner[work] == op.Caller
		}
		switch r := w.rng.IntN(10); {
		case r == 0: // unknown: in flight, applied at a later step or never
			op.Outcome = history.Unknown
			w.pending = append(w.pending, len(w.ops))
			w.unknown++
		case r == 1: // unknown, committed now (valid or not)
			op.Outcome = history.Unknown
			w.commit(&op)
			op.Block = 0
			w.unknown++
		case !legal: // the contract refuses it
			op.Outcome, op.Refused, op.TxID = history.Fail, true, ""
		case r == 2: // endorsed, then committed invalid
			op.Outcome, op.Error = history.Fail, "MVCC_READ_CONFLICT"
			w.txs = append(w.txs, history.ChainTx{TxID: op.TxID, Block: w.height, Code: "MVCC_READ_CONFLICT",
				Kind: kind, Work: work, Owner: op.Owner})
			w.height++
		default:
			op.Outcome = history.OK
			w.commit(&op)
			w.session[client] = max(w.session[client], op.Block+1)
		}
	}
	w.ops = append(w.ops, op)
}

func (w *world) chains(peers ...string) []history.PeerChain {
	var out []history.PeerChain
	for _, p := range peers {
		c := history.PeerChain{Peer: p, Height: w.height, StateRoots: map[uint64][]byte{},
			Txs: append([]history.ChainTx(nil), w.txs...)}
		for b := uint64(0); b < w.height; b++ {
			c.BlockHashes = append(c.BlockHashes, sum("block", b))
			if b+5 >= w.height {
				c.StateRoots[b] = sum("root", b)
			}
		}
		out = append(out, c)
	}
	return out
}

func generate(seed uint64, steps int) *world {
	w := newWorld(seed)
	for k := 1; k <= steps; k++ {
		w.step(k)
	}
	return w
}

func TestRandomLinearizableHistoriesPass(t *testing.T) {
	var ops, unknown int
	for seed := uint64(1); seed <= 40; seed++ {
		w := generate(seed, 120)
		r := All(w.ops, w.chains("p0", "p1", "p2"), Options{})
		if !r.OK() {
			var b strings.Builder
			_ = r.Summary(&b)
			t.Fatalf("seed %d: a linearizable history was flagged:\n%s", seed, b.String())
		}
		if r.Linearizability.Works != len(w.works) || r.Linearizability.PatchedUnknown != w.unknown {
			t.Fatalf("seed %d: linearizability %+v, want %d works and %d unknown writes patched",
				seed, r.Linearizability, len(w.works), w.unknown)
		}
		// Without the chain every unknown write stays pending to the end:
		// still linearizable.
		if l := All(w.ops, nil, Options{}).Linearizability; l.Result != ResultOK || l.PatchedUnknown != 0 {
			t.Fatalf("seed %d: without chains: %+v", seed, l)
		}
		ops += len(w.ops)
		unknown += w.unknown
	}
	if unknown == 0 {
		t.Fatal("the generator made no unknown writes")
	}
	t.Logf("%d ops (%d unknown writes) in 40 histories", ops, unknown)
}

// mutation breaks one operation of a generated history the way a buggy
// system would have; ok says whether it applied to the history.
type mutation struct {
	name  string
	apply func(w *world, rng *rand.Rand) bool
	// modelOnly: only the register model can see it (the chain does not
	// record callers), so porcupine itself must flag most.
	modelOnly bool
}

func pick(w *world, rng *rand.Rand, f func(op history.Op) bool) int {
	var idx []int
	for i, op := range w.ops {
		if f(op) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return -1
	}
	return idx[rng.IntN(len(idx))]
}

var mutations = []mutation{{
	name: "a read shows another owner",
	apply: func(w *world, rng *rand.Rand) bool {
		i := pick(w, rng, func(op history.Op) bool { return op.Kind == history.Get })
		if i < 0 {
			return false
		}
		// An owner the work never has: a read reports the height it
		// started at, so another owner it has later would be allowed.
		w.ops[i].Read = "nobody@Org9"
		w.ops[i].Found = true
		return true
	},
}, {
	name: "a refused register is acknowledged (and committed)",
	apply: func(w *world, rng *rand.Rand) bool {
		i := pick(w, rng, func(op history.Op) bool { return op.Kind == history.Register && op.Refused })
		if i < 0 {
			return false
		}
		op := &w.ops[i]
		op.Outcome, op.Refused, op.Error, op.TxID = history.OK, false, "", fmt.Sprintf("tx%d", op.ID)
		w.commit(op) // the chain records it (invalid: the work is registered)
		w.txs[len(w.txs)-1].Code = codeValid
		op.Block = w.height - 1
		return true
	},
}, {
	name:      "a transfer acknowledged to a caller who is not the owner",
	modelOnly: true,
	apply: func(w *world, rng *rand.Rand) bool {
		i := pick(w, rng, func(op history.Op) bool { return op.Kind == history.Transfer && op.Outcome == history.OK })
		if i < 0 {
			return false
		}
		op := &w.ops[i]
		for _, c := range w.callers {
			if c != op.Caller && c != op.Owner {
				op.Caller = c
				return true
			}
		}
		return false
	},
}, {
	name: "a read answered at a lower height",
	apply: func(w *world, rng *rand.Rand) bool {
		i := pick(w, rng, func(op history.Op) bool {
			return op.Kind == history.Get && op.ReadHeight > max(op.SessionHeight, op.MinHeight, 1) && max(op.SessionHeight, op.MinHeight) >= 2
		})
		if i < 0 {
			return false
		}
		// Just below what it was promised (its floor is at least 2, so
		// the height stays a valid one).
		op := &w.ops[i]
		op.ReadHeight = max(op.SessionHeight, op.MinHeight, 1) - 1
		op.Read = w.ownerAt(op.Work, op.ReadHeight)
		op.Found = op.Read != ""
		return true
	},
}, {
	name: "an acknowledged write missing on one peer",
	apply: func(w *world, rng *rand.Rand) bool {
		i := pick(w, rng, func(op history.Op) bool { return op.Kind != history.Get && op.Outcome == history.OK })
		if i < 0 {
			return false
		}
		w.ops[i].TxID += "-lost"
		return true
	},
}, {
	name: "a linearizable read moved after a write it does not see",
	apply: func(w *world, rng *rand.Rand) bool {
		// The read returns what it returned, but it was invoked after a
		// later owner change had been acknowledged.
		i := pick(w, rng, func(op history.Op) bool {
			if op.Kind != history.Get || !op.Linearizable {
				return false
			}
			for _, o := range w.ops {
				if o.Work == op.Work && o.Kind != history.Get && o.Outcome == history.OK && o.Block >= op.ReadHeight {
					return true
				}
			}
			return false
		})
		if i < 0 {
			return false
		}
		op := &w.ops[i]
		for _, o := range w.ops {
			if o.Work == op.Work && o.Kind != history.Get && o.Outcome == history.OK && o.Block >= op.ReadHeight {
				op.Invoke, op.Return = o.Return+1, o.Return+2
				return true
			}
		}
		return false
	},
}}

func TestRandomMutationsFlagged(t *testing.T) {
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			var tried, flagged, porcupineFlagged int
			for seed := uint64(1); seed <= 30; seed++ {
				w := generate(seed, 60)
				if !m.apply(w, rand.New(rand.NewPCG(seed, 7))) {
					continue
				}
				tried++
				r := All(w.ops, w.chains("p0", "p1"), Options{})
				if !r.OK() {
					flagged++
				} else if testing.Verbose() {
					t.Logf("seed %d: not flagged", seed)
				}
				if r.Linearizability.Result == ResultViolation {
					porcupineFlagged++
				}
			}
			t.Logf("%d of %d mutated histories flagged (%d by porcupine)", flagged, tried, porcupineFlagged)
			if tried < 10 {
				t.Fatalf("mutation applied to only %d histories", tried)
			}
			if flagged*10 < tried*8 {
				t.Errorf("only %d of %d mutated histories flagged", flagged, tried)
			}
			if m.modelOnly && porcupineFlagged*10 < tried*8 {
				t.Errorf("only %d of %d mutated histories flagged by porcupine", porcupineFlagged, tried)
			}
		})
	}
}
