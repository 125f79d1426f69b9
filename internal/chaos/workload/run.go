package workload

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/chaos/history"
	"github.com/folio-ledger/folio/internal/localnet"
)

// Contract is the contract the workload calls, and its functions, exactly
// as `folio work register|transfer|get` calls them.
const (
	Contract   = "copyright"
	fnRegister = "register"
	fnTransfer = "transfer"
	fnGet      = "get"
)

// Defaults of Config.
const (
	DefaultClients   = 8
	DefaultWorks     = 6
	DefaultOpTimeout = 10 * time.Second
)

// Config is one workload run.
type Config struct {
	// NetDir is the network directory (network.json, wallet). Required.
	NetDir string
	// Clients is the number of concurrent clients, each with its own
	// identity (Enroll) and gateway. 0: DefaultClients.
	Clients int
	// Works is the number of works the clients contend for. 0: DefaultWorks.
	Works int
	// Seed makes the clients' choices replayable (the interleaving with
	// the network is not).
	Seed uint64
	// OpTimeout bounds one operation. 0: DefaultOpTimeout.
	OpTimeout time.Duration
	// RunID names the run's works, "chaos-<RunID>-w<i>"; empty: a fresh
	// random one, so that a run never meets an earlier run's works.
	RunID string
	// Identities, when set, are the clients' identities (at least
	// Clients of them); otherwise Run enrolls them (Enroll).
	Identities []*client.Identity
	// Think is the mean pause of a client between two operations
	// (uniform in [0, 2*Think)). 0: DefaultThink. Without it a client
	// issues hundreds of reads a second, which starves the nodes on a
	// small machine and makes a long history expensive to check.
	Think time.Duration
	// WorkPeriod moves the works in play: during the k-th period of the
	// run the clients use works k .. k+Works-1, so registrations (each
	// work's first write) keep happening under faults all run long, and
	// each work's history stays short for the linearizability checker.
	// 0: DefaultWorkPeriod.
	WorkPeriod time.Duration
}

// DefaultThink and DefaultWorkPeriod are Config's defaults.
const (
	DefaultThink      = 25 * time.Millisecond
	DefaultWorkPeriod = 20 * time.Second
)

func (c *Config) ensureDefaults() {
	if c.Clients <= 0 {
		c.Clients = DefaultClients
	}
	if c.Works <= 0 {
		c.Works = DefaultWorks
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	if c.Think <= 0 {
		c.Think = DefaultThink
	}
	if c.WorkPeriod <= 0 {
		c.WorkPeriod = DefaultWorkPeriod
	}
	if c.RunID == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.RunID = hex.EncodeToString(b[:])
	}
}

// WorkID is the ID of work i (0-based) of run runID.
func WorkID(runID string, i int) string { return fmt.Sprintf("chaos-%s-w%d", runID, i) }

// Stats counts a run's operations.
type Stats struct {
	RunID string
	// Works are the work IDs the run used.
	Works []string
	// Clients are the clients' identity labels, by client number.
	Clients []string
	// Ops counts operations by kind and outcome.
	Ops map[history.Kind]map[history.Outcome]int
	// Refused counts the failed operations the contract refused.
	Refused int
}

// Total is the number of operations.
func (s Stats) Total() int {
	n := 0
	for _, m := range s.Ops {
		for _, c := range m {
			n += c
		}
	}
	return n
}

func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d operations by %d clients on %d works", s.Total(), len(s.Clients), len(s.Works))
	for _, k := range []history.Kind{history.Register, history.Transfer, history.Get} {
		m := s.Ops[k]
		fmt.Fprintf(&b, "; %s: %d ok, %d fail, %d unknown", k, m[history.OK], m[history.Fail], m[history.Unknown])
	}
	fmt.Fprintf(&b, "; %d refused by the contract", s.Refused)
	return b.String()
}

// Run runs cfg.Clients clients until ctx ends and records every operation
// in rec. Each client is one goroutine with its own identity and its own
// SDK gateway over the peers of every organisation (in an order rotated
// per client, so that the clients spread over the peers and fail over
// between all of them), looping over
//
//   - register a random work, owned by itself, with a content hash unique
//     to the call (so that the hash index never refuses it: only the
//     work's ID conflicts);
//   - transfer a work it believes it owns (from its last read or write of
//     the work) to another workload identity, else a random work (which
//     the contract normally refuses: the model must see those too);
//   - get a random work, at random with Linearizable, with MinHeight set
//     to the highest height any client has seen, or with no option.
//
// An operation under way when ctx ends is finished (within OpTimeout)
// rather than cut short, so that the end of a run does not turn writes
// into unknowns. Run returns when every client has stopped; the error is
// about setting up, never about an operation (those are in the history).
func Run(ctx context.Context, cfg Config, rec *history.Recorder) (Stats, error) {
	cfg.ensureDefaults()
	stats := Stats{RunID: cfg.RunID, Ops: map[history.Kind]map[history.Outcome]int{}}
	net, err := localnet.Load(cfg.NetDir)
	if err != nil {
		return stats, fmt.Errorf("workload: %w", err)
	}
	roots, err := localnet.RootPool(cfg.NetDir, net)
	if err != nil {
		return stats, fmt.Errorf("workload: roots: %w", err)
	}
	var peers []client.Endpoint
	for _, nd := range net.Nodes {
		if nd.Role == "peer" {
			peers = append(peers, client.Endpoint{Name: nd.Name, Addr: nd.API})
		}
	}
	if len(peers) == 0 {
		return stats, fmt.Errorf("workload: %s: %w", cfg.NetDir, errNoPeers)
	}
	ids := cfg.Identities
	if len(ids) == 0 {
		if ids, err = Enroll(ctx, cfg.NetDir, cfg.Clients); err != nil {
			return stats, err
		}
	}
	if len(ids) < cfg.Clients {
		return stats, fmt.Errorf("workload: %d clients need %d identities, got %d", cfg.Clients, cfg.Clients, len(ids))
	}
	ids = ids[:cfg.Clients]
	labels := make([]string, len(ids))
	for i, id := range ids {
		if id.Role() != "client" {
			return stats, fmt.Errorf("workload: %s has role %s: the workload uses client identities only (an admin may transfer any work of its organisation)", id.Label(), id.Role())
		}
		labels[i] = id.Label()
	}
	stats.Clients = labels
	clients := make([]*worker, len(ids))
	shared := &sharedState{}
	for k, id := range ids {
		// Rotate the endpoints per client: client k starts at peer k.
		eps := append(append([]client.Endpoint(nil), peers[k%len(peers):]...), peers[:k%len(peers)]...)
		gw, err := client.NewGatewayWithOptions(client.HTTPClient(id, roots), id, client.GatewayOptions{Channel: net.Channel, Endpoints: eps})
		if err != nil {
			return stats, fmt.Errorf("workload: gateway of %s: %w", id.Label(), err)
		}
		clients[k] = &worker{k: k, label: id.Label(), gw: gw, cfg: &cfg, rec: rec, start: time.Now(), others: others(labels, k),
			rnd: mrand.New(mrand.NewPCG(cfg.Seed, uint64(k))), owns: map[string]string{}, shared: shared}
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.loop(ctx)
		}()
	}
	wg.Wait()
	used := map[string]bool{}
	for _, op := range rec.Ops() {
		if op.Client < 0 || op.Client >= len(labels) || op.Caller != labels[op.Client] {
			continue // another workload's operation in the same recorder
		}
		m := stats.Ops[op.Kind]
		if m == nil {
			m = map[history.Outcome]int{}
			stats.Ops[op.Kind] = m
		}
		m[op.Outcome]++
		if !used[op.Work] {
			used[op.Work] = true
			stats.Works = append(stats.Works, op.Work)
		}
		if op.Refused {
			stats.Refused++
		}
	}
	return stats, nil
}

func others(labels []string, k int) []string {
	var out []string
	for i, l := range labels {
		if i != k {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// sharedState is what the clients tell each other: the highest ledger
// height any of them has seen, which a MinHeight read asks for.
type sharedState struct {
	height atomic.Uint64
	calls  atomic.Uint64
}

func (s *sharedState) observe(h uint64) {
	for {
		cur := s.height.Load()
		if h <= cur || s.height.CompareAndSwap(cur, h) {
			return
		}
	}
}

// worker is one client. Only its own goroutine touches its fields.
type worker struct {
	k      int
	label  string
	gw     *client.Gateway
	cfg    *Config
	rec    *history.Recorder
	start  time.Time
	works  []string // the works in play now (pickWorks)
	others []string
	rnd    *mrand.Rand
	// owns maps a work to the owner this client last read or wrote
	// (absent: it does not know).
	owns   map[string]string
	shared *sharedState
}

func (w *worker) loop(ctx context.Context) {
	for ctx.Err() == nil {
		w.pickWorks()
		// The operation is not cut short by the end of the run (Run).
		octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.OpTimeout)
		switch p := w.rnd.IntN(100); {
		// Registers are few: once a work is registered every further one
		// is a (cheap, fast) refusal, which would crowd out the rest.
		case p < 10:
			w.register(octx)
		case p < 45 && (w.ownsAny() || w.rnd.IntN(4) == 0):
			// A transfer of a work it does not believe it owns is
			// refused in a millisecond: a quarter of them are enough.
			w.transfer(octx)
		default:
			w.get(octx)
		}
		cancel()
		w.shared.observe(w.gw.Height())
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(w.rnd.Int64N(int64(2 * w.cfg.Think)))):
		}
	}
}

// pickWorks sets the works in play now (Config.WorkPeriod).
func (w *worker) pickWorks() {
	base := int(time.Since(w.start) / w.cfg.WorkPeriod)
	if len(w.works) > 0 && w.works[0] == WorkID(w.cfg.RunID, base) {
		return
	}
	w.works = w.works[:0]
	for i := range w.cfg.Works {
		w.works = append(w.works, WorkID(w.cfg.RunID, base+i))
	}
}

func (w *worker) ownsAny() bool {
	for _, owner := range w.owns {
		if owner == w.label {
			return true
		}
	}
	return false
}

func (w *worker) randomWork() string { return w.works[w.rnd.IntN(len(w.works))] }

func (w *worker) begin(op history.Op) history.Op {
	op.Client, op.Caller = w.k, w.label
	op.SessionHeight = w.gw.Height()
	return w.rec.Begin(op)
}

func (w *worker) register(ctx context.Context) {
	work := w.randomWork()
	// A content hash unique to this call (run, client, call number).
	n := w.shared.calls.Add(1)
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d/%d", w.cfg.RunID, w.k, n))
	args, _ := json.Marshal(map[string]any{"id": work, "title": "chaos " + work, "author": w.label,
		"owner": w.label, "type": "", "content_hash": "sha256:" + hex.EncodeToString(sum[:])})
	op := w.begin(history.Op{Kind: history.Register, Work: work, Owner: w.label})
	res, err := w.gw.Submit(ctx, Contract, fnRegister, [][]byte{args}, client.SubmitOptions{})
	op = classifyWrite(op, res, err)
	w.rec.End(op)
	w.learnWrite(op)
}

func (w *worker) transfer(ctx context.Context) {
	var mine []string
	for _, work := range w.works {
		if w.owns[work] == w.label {
			mine = append(mine, work)
		}
	}
	work := w.randomWork()
	if len(mine) > 0 {
		work = mine[w.rnd.IntN(len(mine))]
	}
	to := w.label // a lone client: the contract refuses it (already owned), which is still an operation
	if len(w.others) > 0 {
		to = w.others[w.rnd.IntN(len(w.others))]
	}
	args, _ := json.Marshal(map[string]string{"id": work, "to": to})
	op := w.begin(history.Op{Kind: history.Transfer, Work: work, Owner: to})
	res, err := w.gw.Submit(ctx, Contract, fnTransfer, [][]byte{args}, client.SubmitOptions{})
	op = classifyWrite(op, res, err)
	w.rec.End(op)
	w.learnWrite(op)
}

// learnWrite updates what the client believes of the work's owner.
func (w *worker) learnWrite(op history.Op) {
	if op.Outcome == history.OK {
		w.owns[op.Work] = op.Owner
	} else {
		// Refused or unknown: the client does not know the owner now.
		delete(w.owns, op.Work)
	}
}

func (w *worker) get(ctx context.Context) {
	work := w.randomWork()
	var o client.EvaluateOptions
	switch w.rnd.IntN(3) {
	case 0:
		o.Linearizable = true
	case 1:
		o.MinHeight = w.shared.height.Load()
	}
	args, _ := json.Marshal(map[string]string{"id": work})
	op := w.begin(history.Op{Kind: history.Get, Work: work, MinHeight: o.MinHeight, Linearizable: o.Linearizable})
	a, err := w.gw.Query(ctx, o, Contract, fnGet, args)
	op = classifyRead(op, a, err)
	w.rec.End(op)
	if op.Outcome == history.OK {
		if op.Found {
			w.owns[work] = op.Read
		} else {
			delete(w.owns, work)
		}
	}
}

// classifyWrite fills the outcome of a register or transfer from what
// Gateway.Submit returned. It must be exact and conservative: OK only for
// a commit status VALID, Fail only when the transaction certainly had no
// effect, Unknown for everything else. What Submit (client/gateway.go)
// guarantees, and so what each case rests on:
//
//   - err == nil: Submit returns no error only for a commit status VALID
//     (res.Block is its block): OK.
//   - *client.InvalidError: a commit status was learnt and it is not
//     VALID (MVCC conflict, endorsement policy failure, ...): the
//     transaction is in a block and had no effect: Fail, with its block.
//   - *client.UnknownOutcomeError: the signed envelope may have reached
//     the orderers and neither a hand-over nor a commit status was
//     confirmed: Unknown.
//   - res == nil with any other error: Submit (submitOnce) returns a nil
//     Result only when it failed before the envelope was signed (making
//     the proposal, endorsing, checking the prepared payload, signing);
//     after that, submitEnvelope always returns a Result with the TxID.
//     An endorsement is not a transaction: nothing can ever commit (and
//     when a contract-version retry came first, that earlier transaction
//     was committed INVALID). Fail; Refused when the contract itself
//     refused it (the gateway's "refused by the contract" with the
//     contract's status as the code: already registered, not the owner,
//     not registered, bad argument).
//   - res != nil with any other error: the envelope was signed and handed
//     to at least one gateway. That covers "submitted, commit status
//     unknown" (the hand-over succeeded, the status did not come: it may
//     well commit), the caller's context ending mid-submit, and a
//     submit that a gateway refused: Submit treats the last as final when
//     no earlier attempt was ambiguous. (A gateway that tried an orderer
//     that timed out, possibly ordering it, before another refused used
//     to pass the refusal on as final; it answers Unavailable now, which
//     the SDK treats as ambiguous.) Unknown.
func classifyWrite(op history.Op, res *client.Result, err error) history.Op {
	if res != nil {
		op.TxID = res.TxID
	}
	var inv *client.InvalidError
	var unk *client.UnknownOutcomeError
	switch {
	case err == nil && res != nil:
		op.Outcome, op.Block = history.OK, res.Block
	case errors.As(err, &inv) && inv.Result != nil:
		op.Outcome, op.Block, op.TxID = history.Fail, inv.Result.Block, inv.Result.TxID
		op.Error = firstLine(err.Error())
	case errors.As(err, &unk):
		op.Outcome, op.TxID = history.Unknown, unk.TxID
		op.Error = firstLine(err.Error())
	case err != nil && res == nil:
		op.Outcome, op.Refused = history.Fail, contractRefused(err)
		op.Error = firstLine(err.Error())
	default:
		op.Outcome = history.Unknown
		if err != nil {
			op.Error = firstLine(err.Error())
		}
	}
	return op
}

// contractRefused reports whether an endorsement error is the contract's
// own refusal: the gateway turns a contract's 4xx into the matching RPC
// code with the message "<contract>.<fn> refused by the contract on
// <peer>: ..." (internal/gateway endorse.go checkEndorsed, statusCode).
// Endorsers that disagree (one behind) are CodeAborted, not a refusal.
func contractRefused(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeAlreadyExists, connect.CodePermissionDenied, connect.CodeNotFound,
		connect.CodeInvalidArgument, connect.CodeFailedPrecondition:
		return strings.Contains(err.Error(), "refused by the contract")
	}
	return false
}

// classifyRead fills the outcome of a get: OK when a peer answered (the
// record's owner, or Found false when the contract says the work is not
// registered), Fail otherwise (a read has no effect either way).
func classifyRead(op history.Op, a *client.Answer, err error) history.Op {
	switch {
	case err == nil && a != nil:
		var rec struct {
			ID    string `json:"id"`
			Owner string `json:"owner"`
		}
		if jerr := json.Unmarshal(a.Payload, &rec); jerr != nil || rec.ID != op.Work || rec.Owner == "" {
			op.Outcome, op.Error = history.Fail, fmt.Sprintf("undecodable answer for %s: %.200q", op.Work, a.Payload)
			return op
		}
		op.Outcome, op.Found, op.Read, op.ReadHeight, op.Via = history.OK, true, rec.Owner, a.Height, a.Via
	case notRegistered(err):
		// The gateway returns no height with an error: ReadHeight stays
		// 0 (unknown); the read reflects at least the height it asked.
		op.Outcome, op.Found = history.OK, false
	default:
		op.Outcome = history.Fail
		if err != nil {
			op.Error = firstLine(err.Error())
		}
	}
	return op
}

// notRegistered reports the contract's answer that a work is not
// registered (404 "work %q is not registered"), as `folio work get`
// reports it.
func notRegistered(err error) bool {
	return err != nil && connect.CodeOf(err) == connect.CodeNotFound && strings.Contains(err.Error(), "is not registered")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 400 {
		s = s[:400]
	}
	return s
}
