package check

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/chaos/history"
)

// Hand-written histories. Times are small integers; heights count blocks
// (block 0 is genesis, so a fresh ledger has height 1).

func reg(id int64, client int, caller, work string, inv, ret int64, out history.Outcome, block uint64) history.Op {
	return history.Op{ID: id, Client: client, Caller: caller, Kind: history.Register, Work: work, Owner: caller,
		Invoke: inv, Return: ret, Outcome: out, TxID: fmt.Sprintf("tx%d", id), Block: block}
}

func refusedReg(id int64, client int, caller, work string, inv, ret int64) history.Op {
	return history.Op{ID: id, Client: client, Caller: caller, Kind: history.Register, Work: work, Owner: caller,
		Invoke: inv, Return: ret, Outcome: history.Fail, Refused: true,
		Error: `copyright.register: work "` + work + `" is already registered (owner someone) (status 409)`}
}

func xfer(id int64, client int, caller, work, to string, inv, ret int64, out history.Outcome, block uint64) history.Op {
	return history.Op{ID: id, Client: client, Caller: caller, Kind: history.Transfer, Work: work, Owner: to,
		Invoke: inv, Return: ret, Outcome: out, TxID: fmt.Sprintf("tx%d", id), Block: block}
}

// get is an answered read of owner ("" = not registered) at height h.
func get(id int64, client int, work, owner string, inv, ret int64, h uint64, lin bool) history.Op {
	return history.Op{ID: id, Client: client, Caller: fmt.Sprintf("c%d@Org1", client), Kind: history.Get, Work: work,
		Invoke: inv, Return: ret, Outcome: history.OK, Read: owner, Found: owner != "", ReadHeight: h,
		Via: "peer0.org1", Linearizable: lin}
}

func sum(parts ...any) []byte {
	h := sha256.Sum256(fmt.Append(nil, parts...))
	return h[:]
}

// txOf is the chain's record of a write that committed with code.
func txOf(op history.Op, code string, block uint64) history.ChainTx {
	return history.ChainTx{TxID: op.TxID, Block: block, Code: code, Contract: "copyright",
		Function: string(op.Kind), Kind: op.Kind, Work: op.Work, Owner: op.Owner}
}

// chainsFor builds identical chains on peers: every acknowledged write
// VALID in its block, plus extra txs, up to height.
func chainsFor(ops []history.Op, extra []history.ChainTx, height uint64, peers ...string) []history.PeerChain {
	var txs []history.ChainTx
	for _, op := range ops {
		if op.Kind != history.Get && op.Outcome == history.OK {
			txs = append(txs, txOf(op, codeValid, op.Block))
		}
	}
	txs = append(txs, extra...)
	sort.SliceStable(txs, func(i, j int) bool { return txs[i].Block < txs[j].Block })
	var out []history.PeerChain
	for _, p := range peers {
		c := history.PeerChain{Peer: p, Height: height, StateRoots: map[uint64][]byte{}}
		for b := uint64(0); b < height; b++ {
			c.BlockHashes = append(c.BlockHashes, sum("block", b))
			c.StateRoots[b] = sum("root", b)
		}
		c.Txs = append([]history.ChainTx(nil), txs...)
		out = append(out, c)
	}
	return out
}

var twoPeers = []string{"peer0.org1", "peer0.org2"}

type checkCase struct {
	name   string
	ops    []history.Op
	chains func(ops []history.Op) []history.PeerChain
	opts   Options
	// want lists the checks that must report a violation (nil: the
	// report must be OK); verify checks the counts.
	want   []string
	verify func(t *testing.T, r Report)
}

func runCases(t *testing.T, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := All(tc.ops, tc.chains(tc.ops), tc.opts)
			var b strings.Builder
			if err := r.Summary(&b); err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, v := range r.Violations {
				got[v.Check] = true
			}
			if tc.want == nil {
				if !r.OK() {
					t.Fatalf("clean history flagged:\n%s", b.String())
				}
			} else {
				if r.OK() {
					t.Fatalf("want %v flagged, report OK:\n%s", tc.want, b.String())
				}
				for _, c := range tc.want {
					if !got[c] {
						t.Errorf("want a %s violation, got:\n%s", c, b.String())
					}
				}
			}
			if tc.verify != nil {
				tc.verify(t, r)
			}
		})
	}
}

func TestCleanHistories(t *testing.T) {
	runCases(t, []checkCase{{
		name: "concurrent registers, one refused",
		ops: []history.Op{
			reg(1, 0, "alice@Org1", "w1", 0, 100, history.OK, 1),
			refusedReg(2, 1, "bob@Org1", "w1", 10, 120),
			get(3, 2, "w1", "alice@Org1", 130, 150, 2, true),
			get(4, 3, "w1", "", 5, 8, 1, true),
		},
		chains: func(ops []history.Op) []history.PeerChain { return chainsFor(ops, nil, 2, twoPeers...) },
		verify: func(t *testing.T, r Report) {
			if l := r.Linearizability; l.Works != 1 || l.Checked != 1 || l.Ops != 4 {
				t.Errorf("linearizability = %+v, want 1 work, 4 ops", l)
			}
			if r.Operations[history.Register][history.OK] != 1 || r.Refused[history.Register] != 1 {
				t.Errorf("operations = %v, refused = %v", r.Operations, r.Refused)
			}
		},
	}, {
		name: "transfers with concurrent and stale reads",
		ops: []history.Op{
			reg(1, 0, "alice", "w1", 0, 10, history.OK, 1),
			xfer(2, 0, "alice", "w1", "bob", 200, 300, history.OK, 2),
			get(3, 1, "w1", "alice", 250, 260, 2, true), // concurrent with the transfer
			get(4, 1, "w1", "bob", 310, 320, 3, true),
			get(5, 2, "w1", "alice", 400, 410, 2, false), // stale but allowed: nothing of client 2 before
			get(6, 2, "w1", "bob", 420, 430, 3, false),
			xfer(7, 3, "bob", "w1", "carol", 500, 600, history.OK, 3),
			get(8, 2, "w1", "carol", 700, 710, 4, false),
		},
		chains: func(ops []history.Op) []history.PeerChain { return chainsFor(ops, nil, 4, twoPeers...) },
	}, {
		name: "unknown writes that did and did not happen",
		ops: []history.Op{
			reg(1, 0, "carol", "w2", 0, 50, history.Unknown, 0),
			get(2, 1, "w2", "", 60, 70, 1, true), // carol's register not yet ordered
			get(3, 1, "w2", "carol", 100, 110, 3, true),
			xfer(4, 0, "carol", "w2", "dave", 120, 130, history.Unknown, 0), // never happens
			get(5, 2, "w2", "carol", 140, 150, 3, true),
			reg(6, 3, "erin", "w3", 0, 10, history.Unknown, 0), // committed invalid
			get(7, 3, "w3", "", 200, 210, 3, true),
		},
		chains: func(ops []history.Op) []history.PeerChain {
			return chainsFor(ops, []history.ChainTx{
				txOf(ops[0], codeValid, 2),
				txOf(ops[5], "MVCC_READ_CONFLICT", 2),
			}, 3, twoPeers...)
		},
		verify: func(t *testing.T, r Report) {
			if u := r.UnknownResolved; u != (UnknownResolved{Committed: 1, Invalid: 1, Absent: 1}) {
				t.Errorf("unknown resolved = %+v, want 1/1/1", u)
			}
		},
	}, {
		name: "refused transfer from a lagging endorser and a second ordered copy",
		ops: []history.Op{
			reg(1, 0, "alice", "w1", 0, 10, history.OK, 1),
			{ID: 2, Client: 0, Caller: "alice", Kind: history.Transfer, Work: "w1", Owner: "bob", Invoke: 20, Return: 30,
				Outcome: history.Fail, Refused: true, Error: "work w1 is not registered"},
			get(3, 1, "w1", "alice", 40, 50, 2, true),
		},
		chains: func(ops []history.Op) []history.PeerChain {
			return chainsFor(ops, []history.ChainTx{txOf(ops[0], codeDuplicate, 2)}, 3, twoPeers...)
		},
	}})
}

func TestMustFlag(t *testing.T) {
	runCases(t, []checkCase{{
		name: "two acknowledged registers of one work",
		ops: []history.Op{
			reg(1, 0, "alice", "w1", 0, 100, history.OK, 1),
			reg(2, 1, "bob", "w1", 200, 300, history.OK, 2),
		},
		chains: func(ops []history.Op) []history.PeerChain { return chainsFor(ops, nil, 3, twoPeers...) },
		want:   []string{CheckLinearizable, CheckChainModel},
		verify: func(t *testing.T, r Report) {
			l := r.Linearizability
			if l.Result != ResultViolation || len(l.ViolatingWorks) != 1 || l.ViolatingWorks[0] != "w1" {
				t.Errorf("linearizability = %+v", l)
			}
			for _, v := range r.Violations {
				if v.Check == CheckLinearizable && !strings.Contains(v.Detail, "#2 register(bob) ok") {
					t.Errorf("description does not name the op that cannot be placed: %s", v.Detail)
				}
			}
		},
	}, {
		name: "concurrent acknowledged registers of one work",
		ops: []history.Op{
			reg(1, 0, "alice", "w1", 0, 100, history.OK, 1),
			reg(2, 1, "bob", "w1", 50, 150, history.OK, 1),
		},
		chains: func(ops []history.Op) []history.PeerChain { return chainsFor(ops, nil, 2, twoPeers...) },
		want:   []string{CheckLinearizable},
	}, {
		name: "acknowledged transfer by a non-owner",
		ops: []history.Op{
			reg(1, 0, "alice", "w1", 0, 10, history.OK, 1),
			xfer(2, 1, "bob", "w1", "carol", 20, 30, history.OK, 2),
		},
		chains: func(ops []history.Op) []history.PeerChain { return chainsFor(ops, nil, 3, twoPeers...) },
		want:   []string{CheckLinearizable},
	}, {
		name: "linearizable read of the old owner after a transfer returned",
		ops: []history.Op{
			reg(1, 0, "alice", "w1", 0, 10, history.OK, 1),
			xfer(2, 0, "alice", "w1", "bob", 20, 30, history.OK, 2),
			get(3, 1, "w1", "alice", 40, 50, 2, true),
		},
		chains: func(ops []history.Op) []history.PeerChain { return chainsFor(ops, nil, 3, twoPeers...) },
		want:   []string{CheckLinearizable, CheckReadStale},
		verify: func(t *testing.T, r Report) {
			if r.StaleReads != 1 || r.WrongReads != 0 {
				t.Errorf("stale %d wrong %d, want 1 0", r.StaleReads, r.WrongReads)
			}
		},
	}, {
		name: "an unknown transfer by a non-owner that committed VALID",
		ops: []history.Op{
			reg(1, 0, "alice", "w1", 0, 10, history.OK, 1),
			xfer(2, 1, "bob", "w1", "carol", 20, 30, history.Unknown, 0),
			get(3, 2, "w1", "carol", 40, 50, 3, true),
		},
		chains: func(ops []history.Op) []history.PeerChain {
			return chainsFor(ops, []history.ChainTx{txOf(ops[1], codeValid, 2)}, 3, twoPeers...)
		},
		want: []string{CheckLinearizable},
		verify: func(t *testing.T, r Report) {
			if r.UnknownResolved.Committed != 1 || r.Linearizability.PatchedUnknown != 1 {
				t.Errorf("unknown resolved %+v, patched %d", r.UnknownResolved, r.Linearizability.PatchedUnknown)
			}
		},
	}, {
		name: "lost acknowledged tx (missing on one peer)",
		ops: []history.Op{
			reg(1, 0, "alice", "w1", 0, 10, history.OK, 1),
			reg(2, 0, "alice", "w2", 20, 30, history.OK, 2),
		},
		chains: func(ops []history.Op) []history.PeerChain {
			cs := chainsFor(ops, nil, 3, twoPeers...)
			cs[1].Txs = cs[1].Txs[:1]
			return cs
		},
		want: []string{CheckLostAck},
		verify: func(t *testing.T, r Report) {
			if r.LostAcknowledged != 1 || r.WrongBlock != 0 {
				t.Errorf("lost %d wrong block %d, want 1 0", r.LostAcknowledged, r.WrongBlock)
			}
		},
	}, {
		name: "acknowledged tx committed invalid",
		ops:  []history.Op{reg(1, 0, "alice", "w1", 0, 10, history.OK, 1)},
		chains: func(ops []history.Op) []history.PeerChain {
			cs := chainsFor(ops, nil, 2, twoPeers...)
			for i := range cs {
				cs[i].Txs[0].Code = "MVCC_READ_CONFLICT"
			}
			return cs
		},
		want: []string{CheckLostAck},
	}, {
		name: "acknowledged tx in another block than the client was told",
		ops:  []history.Op{reg(1, 0, "alice", "w1", 0, 10, history.OK, 1)},
		chains: func(ops []history.Op) []history.PeerChain {
			cs := chainsFor(ops, nil, 3, twoPeers...)
			for i := range cs {
				cs[i].Txs[0].Block = 2
			}
			return cs
		},
		want: []string{CheckWrongBlock},
		verify: func(t *testing.T, r Report) {
			if r.WrongBlock != 1 || r.LostAcknowledged != 0 {
				t.Errorf("wrong block %d lost %d, want 1 0", r.WrongBlock, r.LostAcknowledged)
			}
		},
	}, {
		name: "a write in a block a read had shown before the write was invoked",
		ops: []history.Op{
			reg(1, 0, "alice", "w1", 0, 10, history.OK, 1),
			get(2, 1, "w1", "alice", 20, 30, 3, false),
			xfer(3, 0, "alice", "w1", "bob", 40, 50, history.OK, 2), // block 2 was committed by 30
		},
		chains: func(ops []history.Op) []history.PeerChain { return chainsFor(ops, nil, 3, twoPeers...) },
		want:   []string{CheckWrongBlock},
	}, {
		name: "a tx in two blocks",
		ops:  []history.Op{reg(1, 0, "alice", "w1", 0, 10, history.OK, 1)},
		chains: func(ops []history.Op) []history.PeerChain {
			return chainsFor(ops, []history.ChainTx{txOf(ops[0], codeValid, 2)}, 3, twoPeers...)
		},
		want: []string{CheckDuplicateTx, CheckChainModel},
		verify: func(t *testing.T, r Report) {
			if r.DuplicateTxs != 2 { // once per peer
				t.Errorf("duplicate txs %d, want 2", r.DuplicateTxs)
			}
		},
	}, {
		name: "different state roots at one height",
		ops:  []history.Op{reg(1, 0, "alice", "w1", 0, 10, history.OK, 1)},
		chains: func(ops []history.Op) []history.PeerChain {
			cs := chainsFor(ops, nil, 3, "p0", "p1", "p2")
			cs[2].StateRoots[1] = sum("another root")
			delete(cs[1].StateRoots, 2) // attesting fewer blocks is fine
			return cs
		},
		want: []string{CheckStateRoot},
		verify: func(t *testing.T, r Report) {
			if r.DivergentRoots != 1 {
				t.Errorf("divergent roots %d, want 1", r.DivergentRoots)
			}
		},
	}, {
		name: "different blocks and codes at one height",
		ops:  []history.Op{reg(1, 0, "alice", "w1", 0, 10, history.OK, 1)},
		chains: func(ops []history.Op) []history.PeerChain {
			cs := chainsFor(ops, []history.ChainTx{{TxID: "other", Block: 2, Code: codeValid}}, 3, twoPeers...)
			cs[1].BlockHashes[2] = sum("fork")
			cs[1].Txs[1].Code = "ENDORSEMENT_POLICY_FAILURE"
			return cs
		},
		want: []string{CheckBlockHash, CheckTxCode},
		verify: func(t *testing.T, r Report) {
			if r.DivergentBlocks != 1 || r.DivergentCodes != 1 {
				t.Errorf("divergent blocks %d codes %d, want 1 1", r.DivergentBlocks, r.DivergentCodes)
			}
		},
	}, {
		name: "a read whose value does not match the chain at its height",
		ops: []history.Op{
			reg(1, 0, "alice", "w1", 0, 10, history.OK, 1),
			xfer(2, 0, "alice", "w1", "bob", 20, 30, history.OK, 2),
			// alice at height 3 or later: the transfer to bob is in block 2,
			// so from height 3 on the owner is bob, and alice never again.
			// (A read reports the height it started at, so bob at height 2
			// would be allowed: the peer may have committed block 2 while
			// the query ran.)
			get(3, 1, "w1", "alice", 35, 38, 3, false),
		},
		chains: func(ops []history.Op) []history.PeerChain { return chainsFor(ops, nil, 3, twoPeers...) },
		want:   []string{CheckReadValue},
		verify: func(t *testing.T, r Report) {
			if r.WrongReads != 1 || r.StaleReads != 0 {
				t.Errorf("wrong %d stale %d, want 1 0", r.WrongReads, r.StaleReads)
			}
		},
	}, {
		name: "a read beyond every healed peer's chain",
		ops: []history.Op{
			reg(1, 0, "alice", "w1", 0, 10, history.OK, 1),
			get(2, 1, "w1", "alice", 20, 30, 5, false),
		},
		chains: func(ops []history.Op) []history.PeerChain { return chainsFor(ops, nil, 2, twoPeers...) },
		want:   []string{CheckReadValue},
	}, {
		name: "a read below its client's session height",
		ops: []history.Op{
			reg(1, 0, "alice", "w1", 0, 10, history.OK, 1),
			func() history.Op {
				op := get(2, 1, "w1", "", 20, 30, 1, false)
				op.SessionHeight = 2
				return op
			}(),
		},
		chains: func(ops []history.Op) []history.PeerChain { return chainsFor(ops, nil, 2, twoPeers...) },
		want:   []string{CheckReadStale},
	}, {
		name: "a read below its minimum height",
		ops: []history.Op{func() history.Op {
			op := get(1, 1, "w1", "", 20, 30, 1, false)
			op.MinHeight = 2
			return op
		}()},
		chains: func(ops []history.Op) []history.PeerChain { return chainsFor(ops, nil, 2, twoPeers...) },
		want:   []string{CheckReadStale},
	}, {
		name: "a read that does not see its client's own acknowledged write",
		ops: []history.Op{
			reg(1, 0, "alice", "w1", 0, 10, history.OK, 1),
			get(2, 0, "w1", "", 20, 30, 1, false),
		},
		chains: func(ops []history.Op) []history.PeerChain { return chainsFor(ops, nil, 2, twoPeers...) },
		want:   []string{CheckReadStale},
	}, {
		name: "a client's reads going back in time",
		ops: []history.Op{
			reg(1, 0, "alice", "w1", 0, 10, history.OK, 1),
			get(2, 1, "w1", "alice", 20, 30, 2, false),
			get(3, 1, "w1", "", 40, 50, 1, false),
		},
		chains: func(ops []history.Op) []history.PeerChain { return chainsFor(ops, nil, 2, twoPeers...) },
		want:   []string{CheckReadStale},
	}, {
		name: "a failed write that is VALID on the chain",
		ops: []history.Op{func() history.Op {
			op := reg(1, 0, "alice", "w1", 0, 10, history.Fail, 0)
			op.Error = "MVCC_READ_CONFLICT"
			return op
		}()},
		chains: func(ops []history.Op) []history.PeerChain {
			return chainsFor(ops, []history.ChainTx{txOf(ops[0], codeValid, 1)}, 2, twoPeers...)
		},
		want: []string{CheckFailCommitted},
	}, {
		name: "an unreadable chain and heights apart",
		ops:  []history.Op{reg(1, 0, "alice", "w1", 0, 10, history.OK, 1)},
		chains: func(ops []history.Op) []history.PeerChain {
			cs := chainsFor(ops, nil, 2, "p0", "p1")
			cs = append(cs, chainsFor(ops, nil, 5, "p2")...)
			cs[1].Error = "dial peer: connection refused"
			return cs
		},
		opts: Options{MaxHeightSpread: 2},
		want: []string{CheckChainError, CheckHeights},
		verify: func(t *testing.T, r Report) {
			if r.ReferencePeer != "p2" || r.Heights["p1"] != 2 {
				t.Errorf("reference %q heights %v", r.ReferencePeer, r.Heights)
			}
		},
	}, {
		name:   "no chains at all",
		ops:    []history.Op{reg(1, 0, "alice", "w1", 0, 10, history.OK, 1)},
		chains: func([]history.Op) []history.PeerChain { return nil },
		want:   []string{CheckChainError},
	}, {
		name:   "an acknowledged write without a tx id",
		ops:    []history.Op{func() history.Op { op := reg(1, 0, "alice", "w1", 0, 10, history.OK, 1); op.TxID = ""; return op }()},
		chains: func(ops []history.Op) []history.PeerChain { return chainsFor(nil, nil, 2, twoPeers...) },
		want:   []string{CheckHistory},
	}})
}

// hardHistory has no linearization, but porcupine can only tell after
// trying every subset of 40 unknown transfers (each always steps): far
// beyond any budget a test gives it.
func hardHistory() []history.Op {
	ops := []history.Op{reg(1, 0, "alice", "w1", 0, 1, history.OK, 1)}
	owners := []string{"alice", "bob", "carol"}
	for i := range 40 {
		from, to := owners[i%3], owners[(i+1)%3]
		ops = append(ops, xfer(int64(i+2), i+1, from, "w1", to, int64(10+i), int64(11+i), history.Unknown, 0))
	}
	return append(ops, get(100, 50, "w1", "mallory", 100, 110, 2, true))
}

func TestTimedOutCheckIsUnknown(t *testing.T) {
	// Without chains nothing settles the unknown writes.
	r := All(hardHistory(), nil, Options{LinearizabilityTimeout: 100 * time.Millisecond})
	l := r.Linearizability
	if l.Result != ResultUnknown || l.Checked != 0 || len(l.UndecidedWorks) != 1 || len(l.ViolatingWorks) != 0 || l.PatchedUnknown != 0 {
		t.Fatalf("linearizability = %+v, want unknown with w1 undecided", l)
	}
	// Without the missing chains' violation, the undecided check alone
	// must keep the report not OK.
	var others []Violation
	for _, v := range r.Violations {
		if v.Check != CheckChainError {
			others = append(others, v)
		}
	}
	r.Violations = others
	if len(others) != 0 || r.OK() {
		t.Fatalf("a timed-out check passed, or other violations: %+v", others)
	}
}

func TestChainSettlesUnknownWrites(t *testing.T) {
	// The same history with a chain on which none of the unknown
	// transfers committed: porcupine decides at once.
	ops := hardHistory()
	r := All(ops, chainsFor(ops, nil, 2, twoPeers...), Options{LinearizabilityTimeout: time.Minute})
	if l := r.Linearizability; l.Result != ResultViolation || l.PatchedUnknown != 40 || l.Ops != 2 {
		t.Fatalf("linearizability = %+v, want a violation over 2 ops with 40 unknown writes patched", l)
	}
}

func TestUnknownWritesWithoutChain(t *testing.T) {
	ops := []history.Op{
		reg(1, 0, "carol", "w2", 0, 50, history.Unknown, 0),
		get(2, 1, "w2", "", 60, 70, 1, true),
		get(3, 1, "w2", "carol", 100, 110, 3, true),
		xfer(4, 0, "carol", "w2", "dave", 120, 130, history.Unknown, 0),
		get(5, 2, "w2", "carol", 140, 150, 3, true),
		xfer(6, 0, "carol", "w2", "erin", 160, 170, history.Unknown, 0),
		get(7, 2, "w2", "erin", 500, 510, 4, true),
	}
	r := All(ops, nil, Options{})
	if l := r.Linearizability; l.Result != ResultOK || l.PatchedUnknown != 0 || l.Ops != 7 {
		t.Fatalf("linearizability = %+v, want ok over 7 ops, none patched", l)
	}
	ops[4].Read = "dave" // carol, then dave, then carol again: never
	r = All(ops, nil, Options{})
	if l := r.Linearizability; l.Result != ResultViolation {
		t.Fatalf("linearizability = %+v, want a violation", l)
	}
}

func TestVisualizationWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lin.html")
	ops := []history.Op{
		reg(1, 0, "alice", "w1", 0, 10, history.OK, 1),
		xfer(2, 1, "bob", "w1", "carol", 20, 30, history.OK, 2),
		reg(3, 0, "alice", "w2", 0, 10, history.OK, 1), // a clean work stays out of the picture
	}
	r := All(ops, chainsFor(ops, nil, 3, twoPeers...), Options{VisualizePath: path})
	if r.Linearizability.Visualization != path || r.Linearizability.VisualizationError != "" {
		t.Fatalf("linearizability = %+v", r.Linearizability)
	}
	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(html, []byte("#2 transfer(bob-")) || bytes.Contains(html, []byte("#3 register")) {
		t.Errorf("visualisation does not show exactly the violating work (%d bytes)", len(html))
	}
}

func TestReportJSON(t *testing.T) {
	ops := []history.Op{reg(1, 0, "alice", "w1", 0, 10, history.OK, 1)}
	r := All(ops, chainsFor(ops, nil, 2, twoPeers...), Options{})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"operations", "linearizability", "violations", "lost_acknowledged", "divergent_roots",
		"duplicate_txs", "stale_reads", "unknown_resolved"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON report lacks %q: %s", k, b)
		}
	}
}

func TestViolationsCapped(t *testing.T) {
	var ops []history.Op
	for i := range 10 {
		ops = append(ops, reg(int64(i+1), 0, "alice", fmt.Sprintf("w%d", i), int64(i*10), int64(i*10+5), history.OK, uint64(i+1)))
	}
	r := All(ops, chainsFor(nil, nil, 12, twoPeers...), Options{MaxViolationsPerCheck: 3})
	if r.LostAcknowledged != 10 || r.listed[CheckLostAck] != 3 || r.Suppressed[CheckLostAck] != 7 || r.OK() {
		t.Fatalf("lost %d listed %d suppressed %v", r.LostAcknowledged, r.listed[CheckLostAck], r.Suppressed)
	}
}
