package evidence

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// Health states of a peer (NodeInfo.health), from the least to the most
// severe. A peer's health only moves towards the more severe states by
// itself (NextHealth); only an operator's action (rebuilding the peer's
// ledger, which removes the persisted state) brings it back to ok.
const (
	// HealthOK: nothing found.
	HealthOK = "ok"
	// HealthDiverged: this peer's state root after a block differs from
	// the signed roots of every other peer that reported that block, and
	// those agree with each other and with this peer's block hash. Its
	// ledger is not to be trusted: it stops endorsing until rebuilt.
	HealthDiverged = "diverged"
	// HealthEquivocation: two different blocks, each carrying a valid
	// orderer signature, exist for one height (this peer's and one another
	// peer attested and served). The chain forked: the peer stops
	// endorsing and committing.
	HealthEquivocation = "equivocation"
)

// healthRank orders the states by severity.
func healthRank(state string) int {
	switch state {
	case HealthDiverged:
		return 1
	case HealthEquivocation:
		return 2
	}
	return 0
}

// Health is a peer's health as its state-root exchange judged it. The
// zero value is ok. It is what a peer persists (node), so its fields are
// plain data.
type Health struct {
	// State is HealthOK (also when empty), HealthDiverged or
	// HealthEquivocation.
	State string `json:"state"`
	// Detail says what was found (empty when ok).
	Detail string `json:"detail,omitempty"`
	// Block is the block whose statements showed it.
	Block uint64 `json:"block,omitempty"`
	// Peers are the peers whose signed statements showed it.
	Peers []string `json:"peers,omitempty"`
}

// OK reports whether h is the ok state.
func (h Health) OK() bool { return healthRank(h.State) == 0 }

// Report is another peer's answer in one round of the exchange, as the
// round judged it (Service.check).
type Report struct {
	Peer string
	// Result is ResultAgree, ResultDisagree, ResultInvalid or
	// ResultUnavailable. Only agree and disagree carry a valid signed
	// statement; invalid and unavailable answers count as not reported.
	Result string
	// BlockHash and StateRoot are the peer's verified signed statement of
	// the round's block (agree and disagree only).
	BlockHash, StateRoot []byte
	// Signed is set, for a statement naming another block hash than this
	// peer's, when the peer served that block and it carries a valid
	// orderer signature: two different blocks were signed for one height.
	Signed bool
	// Proof says what was checked of the other block, or why it could not
	// be (another block hash only).
	Proof string
}

// valid reports whether r carries a valid signed statement.
func (r *Report) valid() bool {
	return (r.Result == ResultAgree || r.Result == ResultDisagree) && len(r.BlockHash) > 0 && len(r.StateRoot) > 0
}

// Round is one round of the exchange: this peer's own statement of a
// block and the other peers' reports of the same block.
type Round struct {
	Block     uint64
	BlockHash []byte
	StateRoot []byte
	// Others is the number of other peers of the channel, whether they
	// answered or not.
	Others int
	// Reports has at most one report per other peer.
	Reports []Report
}

// Finding is what one round shows, whatever the health before it.
type Finding struct {
	// Diverged: a quorum of the other peers (Quorum) reported valid
	// statements, all alike, naming this peer's block hash and another
	// state root than this peer's.
	Diverged bool
	// Equivocation are the peers whose valid statements name another
	// block hash than this peer's and that served that block with a valid
	// orderer signature.
	Equivocation []string
	// Unproven are the peers whose valid statements name another block
	// hash than this peer's without an orderer-signed block to show for it
	// (a false statement, or a damaged block store): an alarm, not a
	// reason to stop.
	Unproven []string
	// Detail describes the finding (diverged, or equivocation when both).
	Detail string
}

// Quorum is how many of others other peers must report a block (valid
// signed statements, all alike) before this peer may judge itself
// diverged from them: a strict majority of the other peers. One peer that
// lies (signs a false root) therefore cannot make an honest peer mark
// itself diverged while the other peers are merely unreachable, and never
// while any other peer reports the honest peer's root. (With one other
// peer, that peer alone decides: two peers that differ cannot tell who is
// right; both stop endorsing.)
func Quorum(others int) int { return others/2 + 1 }

// Judge is the pure judgement of one round. Only valid signed statements
// count; invalid and unavailable answers are as if the peer had not
// reported. The rules:
//
//   - Equivocation: a valid statement names another block hash for the
//     round's block, and the peer showed that block with a valid orderer
//     signature (Report.Signed). Without that proof the statement is
//     Unproven: a single peer could otherwise stop every other peer by
//     signing a made-up block hash.
//   - Diverged: at least Quorum(Others) valid statements, every one of
//     them naming this peer's block hash and one same state root, which
//     differs from this peer's. A single statement that agrees with this
//     peer, or that differs from the others, or names another block,
//     clears it: this peer is then not alone.
func Judge(r Round) Finding {
	var f Finding
	var valid []*Report
	for i := range r.Reports {
		rep := &r.Reports[i]
		if !rep.valid() {
			continue
		}
		valid = append(valid, rep)
		if !bytes.Equal(rep.BlockHash, r.BlockHash) {
			if rep.Signed {
				f.Equivocation = append(f.Equivocation, rep.Peer)
			} else {
				f.Unproven = append(f.Unproven, rep.Peer)
			}
		}
	}
	sort.Strings(f.Equivocation)
	sort.Strings(f.Unproven)
	if len(f.Equivocation) > 0 {
		var parts []string
		for _, rep := range valid {
			if rep.Signed && !bytes.Equal(rep.BlockHash, r.BlockHash) {
				parts = append(parts, fmt.Sprintf("%s holds %.8x (%s)", rep.Peer, rep.BlockHash, rep.Proof))
			}
		}
		sort.Strings(parts)
		f.Detail = fmt.Sprintf("two different orderer-signed blocks exist for block %d: this peer holds %.8x, %s", r.Block, r.BlockHash, strings.Join(parts, "; "))
		return f
	}
	if len(valid) == 0 || len(valid) < Quorum(r.Others) {
		return f
	}
	first := valid[0]
	for _, rep := range valid {
		if !bytes.Equal(rep.BlockHash, r.BlockHash) || !bytes.Equal(rep.BlockHash, first.BlockHash) || !bytes.Equal(rep.StateRoot, first.StateRoot) {
			return f
		}
	}
	if bytes.Equal(first.StateRoot, r.StateRoot) {
		return f
	}
	f.Diverged = true
	names := make([]string, len(valid))
	for i, rep := range valid {
		names[i] = rep.Peer
	}
	sort.Strings(names)
	f.Detail = fmt.Sprintf("state root after block %d is %.8x here, but every other peer that reported that block (%d of %d: %s) signed %.8x for the same block hash %.8x",
		r.Block, r.StateRoot, len(valid), r.Others, strings.Join(names, ", "), first.StateRoot, r.BlockHash)
	return f
}

// NextHealth is the pure transition of a peer's health by one round: the
// round's Finding, and the health after it. Equivocation outranks
// divergence; neither is ever left by NextHealth (the state is monotone
// in severity): a peer that diverged stays diverged until its ledger is
// rebuilt, even if a later block happens to bring the roots together
// again (its earlier roots, and the evidence it signed, stay wrong); a
// forked chain needs the consortium's decision.
func NextHealth(h Health, r Round) (Health, Finding) {
	f := Judge(r)
	switch {
	case h.State == HealthEquivocation:
		return h, f
	case len(f.Equivocation) > 0:
		return Health{State: HealthEquivocation, Detail: f.Detail, Block: r.Block, Peers: f.Equivocation}, f
	case h.State == HealthDiverged:
		return h, f
	case f.Diverged:
		var peers []string
		for _, rep := range r.Reports {
			if rep.valid() {
				peers = append(peers, rep.Peer)
			}
		}
		sort.Strings(peers)
		return Health{State: HealthDiverged, Detail: f.Detail, Block: r.Block, Peers: peers}, f
	}
	return Health{State: HealthOK}, f
}
