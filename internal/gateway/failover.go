package gateway

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

// Failover: which nodes a call asks, in which order, and how long each
// attempt may take (docs/transactions.md, "Failover in the gateway").

const (
	// healthBackoff is how long a node is tried last after one failure;
	// it doubles with every consecutive failure up to maxHealthBackoff.
	healthBackoff    = time.Second
	maxHealthBackoff = 30 * time.Second
)

// candidate is a node in the order a call tries it.
type candidate struct {
	node Node
	// late says why the node is tried after others ("" when it is not):
	// its session is down, or it failed recently.
	late string
}

// rank orders nodes for one call, keeping the caller's order within each
// class: first the nodes whose session is up and that are healthy or due
// a probe, then those backing off after failures (the soonest due first),
// then those without a session. Nothing is skipped for good: a node tried
// late is still tried when those before it fail.
func (g *Gateway) rank(nodes []Node, now time.Time) []candidate {
	type ranked struct {
		candidate
		class int
		until time.Time
	}
	rs := make([]ranked, len(nodes))
	up := make([]bool, len(nodes))
	for i, n := range nodes {
		up[i] = n.Name == g.o.Self.Name || g.o.Sessions.Up(n.NodeID)
	}
	g.mu.Lock()
	for i, n := range nodes {
		r := ranked{candidate: candidate{node: n}}
		st := g.mu.health.standing(n.Name, now)
		switch {
		case !up[i]:
			r.class, r.late = 2, "session down"
			if d := g.mu.health.describe(n.Name, now); d != "" {
				r.late += "; " + d
			}
		case st == backingOff:
			r.class, r.late = 1, g.mu.health.describe(n.Name, now)
			r.until = g.mu.health.nodes[n.Name].until
		}
		rs[i] = r
	}
	g.mu.Unlock()
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].class != rs[j].class {
			return rs[i].class < rs[j].class
		}
		return rs[i].class == 1 && rs[i].until.Before(rs[j].until)
	})
	out := make([]candidate, len(rs))
	for i, r := range rs {
		out[i] = r.candidate
	}
	return out
}

// attemptTimeout is the share of budget one of n attempts gets: budget/n,
// at least MinAttemptTimeout, at most budget.
func (g *Gateway) attemptTimeout(budget time.Duration, n int) time.Duration {
	d := budget / time.Duration(max(n, 1))
	return min(max(d, g.o.MinAttemptTimeout), budget)
}

// began, succeeded and failed feed the health tracker.
func (g *Gateway) began(n Node) {
	g.mu.Lock()
	g.mu.health.began(n.Name, g.now())
	g.mu.Unlock()
}

func (g *Gateway) succeeded(n Node) {
	g.mu.Lock()
	g.mu.health.succeeded(n.Name)
	g.mu.Unlock()
}

func (g *Gateway) failed(n Node, err error) {
	g.mu.Lock()
	g.mu.health.failed(n.Name, g.now(), shortReason(err))
	g.mu.Unlock()
}

// shortReason keeps a failure's reason short enough to repeat in errors.
func shortReason(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// nodeFault reports whether an error of a call says the node, not the
// request, is at fault, so that another node may well succeed: it is
// unreachable, slow, overloaded, cannot run the contract version in force
// (FailedPrecondition), or failed internally.
func nodeFault(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeFailedPrecondition,
		connect.CodeResourceExhausted, connect.CodeInternal, connect.CodeUnknown:
		return true
	}
	return false
}

// attemptError is one failed attempt, as errors name it:
// "peer0.org2: unavailable: ... (after 2s; tried late: session down)".
type attemptError struct {
	node Node
	err  error
	took time.Duration
	late string
}

func (a attemptError) String() string {
	s := fmt.Sprintf("%s: %v (after %s", a.node.Name, a.err, roundDuration(a.took))
	if a.late != "" {
		s += "; tried late: " + a.late
	}
	return s + ")"
}

func joinAttempts(as []attemptError, sep string) string {
	ss := make([]string, len(as))
	for i, a := range as {
		ss[i] = a.String()
	}
	return strings.Join(ss, sep)
}

// firstEndorsement asks cands, in order, for a response to sp and returns
// the first one, with hedging: the next candidate is asked as soon as the
// one before failed for a reason of its own (nodeFault) or has not
// answered within its share of the budget, while the slower ones may
// still answer; whichever answers first wins and the rest are cancelled.
// budget bounds the whole; ctx may end it earlier. An error that is the
// request's fault (e.g. a bad signature) ends the call: every peer would
// say the same. On failure it returns every attempt's error, in the order
// they were started; decisive, if set, is the request's fault.
func (g *Gateway) firstEndorsement(ctx context.Context, cands []candidate, sp *foliov1.SignedProposal, budget time.Duration) (winner Node, resp *foliov1.ProposalResponse, failures []attemptError, decisive error) {
	if len(cands) == 0 {
		return Node{}, nil, nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	share := g.attemptTimeout(budget, len(cands))
	type outcome struct {
		i    int
		resp *foliov1.ProposalResponse
		err  error
		took time.Duration
	}
	results := make(chan outcome, len(cands)) // every attempt sends once, never blocks
	started := make([]bool, len(cands))
	errs := make([]error, len(cands))
	took := make([]time.Duration, len(cands))
	begun := make([]time.Time, len(cands))
	marked := make([]bool, len(cands)) // counted as failed in the tracker already
	next, pending := 0, 0
	hedge := time.NewTimer(share)
	defer hedge.Stop()
	start := func() {
		i := next
		next++
		pending++
		started[i] = true
		c := cands[i]
		g.began(c.node)
		begun[i] = time.Now()
		hedge.Reset(share)
		go func() {
			t0 := time.Now()
			resp, err := g.endorseAt(ctx, c.node, sp)
			results <- outcome{i: i, resp: resp, err: err, took: time.Since(t0)}
		}()
	}
	report := func() []attemptError {
		var out []attemptError
		for i, c := range cands {
			if !started[i] {
				continue
			}
			err, d := errs[i], took[i]
			if err == nil { // still running
				why := errors.New("no answer yet, cancelled as another peer's answer decided")
				if cause := context.Cause(ctx); cause != nil {
					why = fmt.Errorf("no answer: %w", cause)
				}
				err, d = connect.NewError(connect.CodeDeadlineExceeded, why), time.Since(begun[i])
			}
			out = append(out, attemptError{node: c.node, err: err, took: d, late: c.late})
		}
		return out
	}
	start()
	for {
		select {
		case r := <-results:
			pending--
			c := cands[r.i]
			if r.err == nil {
				g.succeeded(c.node)
				return c.node, r.resp, nil, nil
			}
			errs[r.i], took[r.i] = r.err, r.took
			if ctx.Err() != nil {
				// The budget ended or the caller left: the error says
				// nothing about the node.
				if pending == 0 {
					return Node{}, nil, report(), nil
				}
				continue
			}
			if !nodeFault(r.err) {
				g.succeeded(c.node) // it answered: the node is fine
				return Node{}, nil, report(), r.err
			}
			if !marked[r.i] {
				g.failed(c.node, r.err)
			}
			if next < len(cands) {
				start()
			} else if pending == 0 {
				return Node{}, nil, report(), nil
			}
		case <-hedge.C:
			if next < len(cands) {
				// The slowest attempt keeps running; the node is marked
				// failed so the next calls try it late (an answer from it
				// first still resets it).
				g.failed(cands[next-1].node, fmt.Errorf("no answer within %s", roundDuration(share)))
				marked[next-1] = true
				start()
			}
		case <-ctx.Done():
			for drained := false; !drained; { // keep the errors that came in meanwhile
				select {
				case r := <-results:
					if r.err == nil {
						g.succeeded(cands[r.i].node)
						return cands[r.i].node, r.resp, nil, nil
					}
					errs[r.i], took[r.i] = r.err, r.took
				default:
					drained = true
				}
			}
			return Node{}, nil, report(), nil
		}
	}
}
