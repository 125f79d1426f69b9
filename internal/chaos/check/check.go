package check

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/folio-ledger/folio/internal/chaos/history"
)

// Options tune All. The zero value is usable (see EnsureDefaults).
type Options struct {
	// LinearizabilityTimeout is porcupine's total budget over all works
	// (works are checked one after another, each with what is left).
	// Works not decided within it make the result "unknown". Default 60s.
	LinearizabilityTimeout time.Duration
	// VisualizePath is where porcupine's HTML visualisation of the
	// violating works is written when there is a violation. "" writes none.
	VisualizePath string
	// MaxHeightSpread is how far apart (max - min) the healed peers'
	// heights may be. 0 (the default) means they must be equal.
	MaxHeightSpread uint64
	// MaxViolationsPerCheck bounds the Violations listed per check name
	// (the counts stay exact; Report.Suppressed says how many were left
	// out). Default 50.
	MaxViolationsPerCheck int
}

// EnsureDefaults fills the zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.LinearizabilityTimeout <= 0 {
		o.LinearizabilityTimeout = 60 * time.Second
	}
	if o.MaxViolationsPerCheck <= 0 {
		o.MaxViolationsPerCheck = 50
	}
}

// Names of the checks, as Violation.Check says them.
const (
	CheckHistory       = "history"        // a record the checkers cannot use
	CheckLinearizable  = "linearizable"   // porcupine found no linearization
	CheckReadValue     = "read-value"     // a read does not match the chain at its height
	CheckReadStale     = "read-stale"     // a read older than it was allowed to be
	CheckChainModel    = "chain-model"    // the chain itself registers a work twice
	CheckLostAck       = "lost-ack"       // an acknowledged tx missing or not VALID on a peer
	CheckWrongBlock    = "wrong-block"    // an acknowledged tx in another block than the client was told
	CheckAckContent    = "ack-content"    // an acknowledged tx writes another work or owner than asked
	CheckFailCommitted = "fail-committed" // a write the client was told failed is VALID on the chain
	CheckDuplicateTx   = "duplicate-tx"   // a tx committed twice (other than as DUPLICATE_TXID)
	CheckChainError    = "chain-error"    // a peer's chain could not be read (completely)
	CheckBlockHash     = "block-hash"     // peers disagree on a block
	CheckTxCode        = "tx-code"        // peers disagree on a tx's block or validation code
	CheckStateRoot     = "state-root"     // peers disagree on an attested state root
	CheckHeights       = "heights"        // heights did not converge
)

// Linearizability results.
const (
	ResultOK        = "ok"
	ResultViolation = "violation"
	ResultUnknown   = "unknown"
)

// Report is what All found. Counts are exact even when Violations is
// capped (Options.MaxViolationsPerCheck).
type Report struct {
	// Operations counts the history by kind, then outcome ("ok", "fail",
	// "unknown"); Refused counts the contract's refusals by kind.
	Operations map[history.Kind]map[history.Outcome]int `json:"operations"`
	Refused    map[history.Kind]int                     `json:"refused"`

	Linearizability Linearizability `json:"linearizability"`

	// ReferencePeer is the chain reads and unknown writes were checked
	// against: the highest chain read without error.
	ReferencePeer string `json:"reference_peer,omitempty"`
	// Heights are the peers' ledger heights after healing.
	Heights map[string]uint64 `json:"heights"`

	LostAcknowledged int             `json:"lost_acknowledged"`
	WrongBlock       int             `json:"wrong_block"`
	FailedCommitted  int             `json:"failed_committed"`
	DuplicateTxs     int             `json:"duplicate_txs"`
	DivergentBlocks  int             `json:"divergent_blocks"`
	DivergentCodes   int             `json:"divergent_codes"`
	DivergentRoots   int             `json:"divergent_roots"`
	StaleReads       int             `json:"stale_reads"`
	WrongReads       int             `json:"wrong_reads"`
	UnknownResolved  UnknownResolved `json:"unknown_resolved"`

	Violations []Violation `json:"violations"`
	// Suppressed counts violations left out of Violations, by check.
	Suppressed map[string]int `json:"suppressed,omitempty"`

	maxPerCheck int
	listed      map[string]int
}

// Linearizability is the outcome of check 1.
type Linearizability struct {
	// Works is how many works the history touches with operations in the
	// model; Checked how many porcupine decided (ok or violation) within
	// the budget; Ops how many operations were in the model.
	Works   int `json:"works"`
	Checked int `json:"checked"`
	Ops     int `json:"ops"`
	// PatchedUnknown counts the unknown writes the reference chain
	// settled (see modelOps): left out when not VALID there, an ordinary
	// write returning by the first proof of their block when VALID.
	PatchedUnknown int `json:"patched_unknown"`
	// Result is "ok", "violation" (some work has none) or "unknown"
	// (no violation found, but some work was not decided in time).
	Result         string   `json:"result"`
	ViolatingWorks []string `json:"violating_works,omitempty"`
	UndecidedWorks []string `json:"undecided_works,omitempty"`
	// Visualization is the HTML file written for the violating works.
	Visualization      string `json:"visualization,omitempty"`
	VisualizationError string `json:"visualization_error,omitempty"`
}

// UnknownResolved says what became of the writes whose outcome the client
// did not learn, according to the reference chain.
type UnknownResolved struct {
	Committed int `json:"committed"` // committed VALID
	Invalid   int `json:"invalid"`   // committed with another code
	Absent    int `json:"absent"`    // not on the chain (may still be pending)
}

// Violation is one broken promise.
type Violation struct {
	Check  string `json:"check"`
	Work   string `json:"work,omitempty"`
	Op     int64  `json:"op,omitempty"`
	Peer   string `json:"peer,omitempty"`
	Detail string `json:"detail"`
}

// OK reports whether every check ran to the end and found nothing.
func (r Report) OK() bool {
	return len(r.Violations) == 0 && len(r.Suppressed) == 0 && r.Linearizability.Result == ResultOK
}

func (r *Report) add(v Violation) {
	if r.listed == nil {
		r.listed = map[string]int{}
	}
	if r.maxPerCheck > 0 && r.listed[v.Check] >= r.maxPerCheck {
		if r.Suppressed == nil {
			r.Suppressed = map[string]int{}
		}
		r.Suppressed[v.Check]++
		return
	}
	r.listed[v.Check]++
	r.Violations = append(r.Violations, v)
}

// All runs every check over a run's history and the peers' chains read
// after healing. It does not modify ops or chains.
func All(ops []history.Op, chains []history.PeerChain, o Options) Report {
	o.EnsureDefaults()
	r := Report{
		Operations:  map[history.Kind]map[history.Outcome]int{},
		Refused:     map[history.Kind]int{},
		Heights:     map[string]uint64{},
		Violations:  []Violation{},
		maxPerCheck: o.MaxViolationsPerCheck,
	}
	for _, op := range ops {
		if r.Operations[op.Kind] == nil {
			r.Operations[op.Kind] = map[history.Outcome]int{}
		}
		r.Operations[op.Kind][op.Outcome]++
		if op.Refused {
			r.Refused[op.Kind]++
		}
		if err := validOp(op); err != nil {
			r.add(Violation{Check: CheckHistory, Work: op.Work, Op: op.ID, Detail: err.Error()})
		}
	}
	views := checkChains(chains, o, &r)
	var ref *history.PeerChain
	if len(views) > 0 {
		ref = views[0].c
		r.ReferencePeer = ref.Peer
		checkLinearizable(ops, &views[0], o, &r)
	} else {
		checkLinearizable(ops, nil, o, &r)
	}
	checkReads(ops, ref, &r)
	checkWrites(ops, views, &r)
	return r
}

// validOp rejects records the checkers cannot interpret; such an op is
// left out of the checks it cannot take part in, and reported.
func validOp(op history.Op) error {
	switch op.Kind {
	case history.Register, history.Transfer, history.Get:
	default:
		return fmt.Errorf("op %d: unknown kind %q", op.ID, op.Kind)
	}
	switch op.Outcome {
	case history.OK, history.Fail, history.Unknown:
	default:
		return fmt.Errorf("op %d: unknown outcome %q", op.ID, op.Outcome)
	}
	if op.Work == "" {
		return fmt.Errorf("op %d: no work", op.ID)
	}
	if op.Return < op.Invoke {
		return fmt.Errorf("op %d: returns (%d) before it is invoked (%d)", op.ID, op.Return, op.Invoke)
	}
	if op.Outcome != history.OK {
		return nil
	}
	if op.Kind == history.Get {
		// The gateway answers "not registered" as the contract's error,
		// without the height it read at: such a read has only its
		// client's session and minimum heights as a lower bound.
		if op.ReadHeight == 0 && op.Found {
			return fmt.Errorf("op %d: an answered read without the height it was answered at", op.ID)
		}
		if op.Found && op.Read == "" {
			return fmt.Errorf("op %d: a read that found the work but no owner", op.ID)
		}
		return nil
	}
	if op.TxID == "" {
		return fmt.Errorf("op %d: an acknowledged %s without a tx id", op.ID, op.Kind)
	}
	if op.Owner == "" {
		return fmt.Errorf("op %d: an acknowledged %s without the owner it writes", op.ID, op.Kind)
	}
	return nil
}

// Summary writes the report as text, one finding a line.
func (r Report) Summary(w io.Writer) error {
	var b strings.Builder
	verdict := "OK"
	if !r.OK() {
		verdict = "NOT OK"
	}
	fmt.Fprintf(&b, "check: %s\n", verdict)
	kinds := make([]string, 0, len(r.Operations))
	for k := range r.Operations {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		m := r.Operations[history.Kind(k)]
		fmt.Fprintf(&b, "  %-9s ok %d, fail %d (refused %d), unknown %d\n", k,
			m[history.OK], m[history.Fail], r.Refused[history.Kind(k)], m[history.Unknown])
	}
	l := r.Linearizability
	fmt.Fprintf(&b, "  linearizability: %s (%d/%d works decided, %d ops)", l.Result, l.Checked, l.Works, l.Ops)
	if len(l.UndecidedWorks) > 0 {
		fmt.Fprintf(&b, "; undecided in time: %s", strings.Join(l.UndecidedWorks, ", "))
	}
	if l.Visualization != "" {
		fmt.Fprintf(&b, "; visualisation: %s", l.Visualization)
	}
	if l.VisualizationError != "" {
		fmt.Fprintf(&b, "; visualisation failed: %s", l.VisualizationError)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  lost acknowledged %d, wrong block %d, failed but committed %d, duplicate txs %d\n",
		r.LostAcknowledged, r.WrongBlock, r.FailedCommitted, r.DuplicateTxs)
	fmt.Fprintf(&b, "  divergent blocks %d, divergent codes %d, divergent roots %d\n",
		r.DivergentBlocks, r.DivergentCodes, r.DivergentRoots)
	fmt.Fprintf(&b, "  stale reads %d, wrong reads %d\n", r.StaleReads, r.WrongReads)
	u := r.UnknownResolved
	fmt.Fprintf(&b, "  unknown writes: %d committed, %d invalid, %d absent (may still be pending)\n",
		u.Committed, u.Invalid, u.Absent)
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "  VIOLATION %s", v.Check)
		if v.Work != "" {
			fmt.Fprintf(&b, " work=%s", v.Work)
		}
		if v.Op != 0 {
			fmt.Fprintf(&b, " op=%d", v.Op)
		}
		if v.Peer != "" {
			fmt.Fprintf(&b, " peer=%s", v.Peer)
		}
		fmt.Fprintf(&b, ": %s\n", v.Detail)
	}
	checks := make([]string, 0, len(r.Suppressed))
	for c := range r.Suppressed {
		checks = append(checks, c)
	}
	sort.Strings(checks)
	for _, c := range checks {
		fmt.Fprintf(&b, "  ... and %d more %s violations\n", r.Suppressed[c], c)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
