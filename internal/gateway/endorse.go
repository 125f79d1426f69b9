package gateway

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/endorse"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/policy"
	"github.com/folio-ledger/folio/internal/types"
)

// ProposalEndorser checks and endorses proposals on this peer
// (endorse.Endorser). Implementations are safe for concurrent use.
type ProposalEndorser interface {
	// Check verifies a signed proposal without running it: its form, its
	// creator and signature, and (query false) that it may be invoked
	// and is not committed yet. Errors wrap the endorse package's
	// sentinels (endorseCode maps them).
	Check(sp *foliov1.SignedProposal, query bool) (*endorse.Checked, error)
	// Endorse checks, simulates and, if the contract succeeded, signs. A
	// contract refusal is a response with a non-2xx status and no
	// endorsement, not an error.
	Endorse(ctx context.Context, sp *foliov1.SignedProposal) (*foliov1.ProposalResponse, error)
}

// EndorsementRules gives the endorsement policy of a contract
// (lifecycle.Registry). Implementations are safe for concurrent use.
type EndorsementRules interface {
	// EndorsementRule returns the policy and version in force for
	// transactions committing in block; the error wraps
	// lifecycle.ErrUnknownContract when the contract has none.
	EndorsementRule(contract string, block uint64) (*policy.Policy, string, error)
}

// Endorse collects the endorsements the contract's policy needs: one peer
// per required organisation, all organisations asked in parallel. Within
// an organisation the peers are asked this peer first, otherwise the least
// busy, peers without a session or that failed recently last; the next is
// asked as soon as one fails for a reason of its own or uses up its share
// of EndorseTimeout (firstEndorsement). It
// checks every endorser produced the same bytes and that the endorsers
// satisfy the policy, then returns the transaction payload for the client to
// sign. A contract refusal (e.g. 403, not the owner) is returned as an error
// with the contract's message.
func (g *Gateway) Endorse(ctx context.Context, req *connect.Request[foliov1.EndorseRequest]) (*connect.Response[foliov1.EndorseResponse], error) {
	sp := req.Msg.GetProposal()
	c, err := g.o.Endorser.Check(sp, false)
	if err != nil {
		return nil, connect.NewError(endorseCode(err), err)
	}
	inv := c.Proposal.Invocation
	pol, _, err := g.o.Contracts.EndorsementRule(inv.Contract, g.o.Height())
	if err != nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, err)
	}
	orgs, err := endorsingOrgs(req.Msg.GetEndorsingOrgs(), policyOrgs(pol.Principals()), inv.Contract)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	ctx, cancel := context.WithTimeout(ctx, g.o.EndorseTimeout)
	defer cancel()

	var (
		first        *endorsed
		endorsers    []*identity.Identity
		endorsements []*foliov1.Endorsement
		failures     []string
	)
	// Endorsers a block apart disagree (a peer that has not yet committed
	// the block another read from, or a contract version switch between
	// them); they converge within a block, so the gateway asks again
	// before giving up.
	for attempt := 0; ; attempt++ {
		results := g.collect(ctx, orgs, sp)
		var err error
		first, endorsers, endorsements, failures, err = g.checkEndorsed(results, inv)
		if err != nil && g.acceptedHere(ctx, orgs, results, sp) {
			err = connect.NewError(connect.CodeAborted, fmt.Errorf("the endorsers refuse %s.%s but %s, ahead of them, accepts it (they have not committed a block it read from yet; retry): %w",
				inv.Contract, inv.Function, g.o.Self.Name, err))
		}
		var ce *connect.Error
		if err == nil || !errors.As(err, &ce) || ce.Code() != connect.CodeAborted || attempt >= len(disagreementBackoff) {
			if err != nil {
				return nil, err
			}
			break
		}
		select {
		case <-time.After(disagreementBackoff[attempt]):
		case <-ctx.Done():
			return nil, err
		}
	}
	if first == nil {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("no endorsement: %s", strings.Join(failures, " | ")))
	}
	if err := pol.Evaluate(endorsers); err != nil {
		msg := err.Error()
		if len(failures) > 0 {
			msg += "; endorsers that failed: " + strings.Join(failures, " | ")
		}
		return nil, connect.NewError(connect.CodeUnavailable, errors.New(msg))
	}
	payload, err := types.AssembleTransaction(c.Proposal.Header, sp.ProposalBytes, first.resp.Payload, endorsements)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(payload)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	return connect.NewResponse(&foliov1.EndorseResponse{PreparedPayload: raw, Result: first.resp.Response}), nil
}

// acceptedHere reports whether every endorser refused a proposal that
// this peer, not one of them (its organisation is not asked), accepts:
// then the endorsers are behind this peer, not right. A client of an
// organisation outside the policy (one that joined the channel later)
// transfers a work this peer has just acknowledged registering; the
// endorsers of Org1 and Org2 may not have committed that block yet and
// answer "not registered". The local simulation is only evidence: its
// endorsement does not count (the policy does not name this peer).
func (g *Gateway) acceptedHere(ctx context.Context, orgs []string, results []endorsed, sp *foliov1.SignedProposal) bool {
	if slices.Contains(orgs, g.o.Self.MSPID) {
		return false // this peer was asked first (candidates), as an endorser
	}
	refused := 0
	for _, r := range results {
		if r.err != nil {
			continue
		}
		if st := r.resp.GetResponse().GetStatus(); st >= 200 && st <= 299 {
			return false
		}
		refused++
	}
	if refused == 0 {
		return false
	}
	resp, err := g.o.Endorser.Endorse(ctx, sp)
	if err != nil {
		return false
	}
	st := resp.GetResponse().GetStatus()
	return st >= 200 && st <= 299
}

// disagreementBackoff are the pauses before asking endorsers again after
// they disagreed.
// A peer trails another by at most a block's delivery and commit, which
// under load can take a second.
var disagreementBackoff = []time.Duration{20 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond, 1000 * time.Millisecond}

// endorsed is one organisation's answer: a peer's response or the errors
// of every peer tried.
type endorsed struct {
	node Node
	resp *foliov1.ProposalResponse
	err  error
}

// collect asks one peer per organisation, in parallel; within an
// organisation the peers are asked in the order of candidates, hedged and
// failing over while the error is not the proposal's fault
// (firstEndorsement). The organisation's error names every peer tried and
// why each failed.
func (g *Gateway) collect(ctx context.Context, orgs []string, sp *foliov1.SignedProposal) []endorsed {
	budget := g.o.EndorseTimeout
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl))
	}
	var mu sync.Mutex
	var results []endorsed
	parallel(orgs, func(mspID string) {
		r := g.endorseOrg(ctx, mspID, sp, budget)
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	})
	sort.Slice(results, func(i, j int) bool { return results[i].node.Name < results[j].node.Name })
	return results
}

// endorseOrg gets one endorsement from a peer of mspID within budget.
func (g *Gateway) endorseOrg(ctx context.Context, mspID string, sp *foliov1.SignedProposal, budget time.Duration) endorsed {
	cands := g.candidates(mspID)
	if len(cands) == 0 {
		return endorsed{err: fmt.Errorf("%s: no peer of this organisation in the channel", mspID)}
	}
	node, resp, failures, _ := g.firstEndorsement(ctx, cands, sp, budget)
	if resp != nil {
		return endorsed{node: node, resp: resp}
	}
	return endorsed{err: fmt.Errorf("%s: %s", mspID, joinAttempts(failures, "; "))}
}

// checkEndorsed checks the answers agree and carry valid endorsements. A
// contract refusal is returned as the contract's error; a disagreement as
// CodeAborted.
func (g *Gateway) checkEndorsed(results []endorsed, inv *foliov1.ContractInvocation) (first *endorsed, endorsers []*identity.Identity, endorsements []*foliov1.Endorsement, failures []string, err error) {
	// One endorser accepting what another refuses is a disagreement too
	// (typically the refusing one has not committed the block that made
	// the call valid yet), not a refusal: it is retried like one.
	var refused, accepted *endorsed
	for i := range results {
		if r := &results[i]; r.err == nil {
			if st := r.resp.GetResponse().GetStatus(); st < 200 || st > 299 {
				refused = cmp.Or(refused, r)
			} else {
				accepted = cmp.Or(accepted, r)
			}
		}
	}
	if refused != nil && accepted != nil {
		return nil, nil, nil, nil, connect.NewError(connect.CodeAborted, fmt.Errorf("endorsers disagree: %s accepts %s.%s, %s refuses it: %s (status %d) (their committed state differs, e.g. one is behind; retry)",
			accepted.node.Name, inv.Contract, inv.Function, refused.node.Name, refused.resp.Response.Message, refused.resp.Response.Status))
	}
	for i := range results {
		r := &results[i]
		if r.err != nil {
			failures = append(failures, r.err.Error())
			continue
		}
		if st := r.resp.GetResponse().GetStatus(); st < 200 || st > 299 {
			return nil, nil, nil, nil, connect.NewError(statusCode(st), fmt.Errorf("%s.%s refused by the contract on %s: %s (status %d)", inv.Contract, inv.Function, r.node.Name, r.resp.Response.Message, st))
		}
		if first == nil {
			first = r
		} else if !bytes.Equal(first.resp.Payload, r.resp.Payload) {
			return nil, nil, nil, nil, connect.NewError(connect.CodeAborted, fmt.Errorf("endorsers disagree: %s and %s produced different results for %s.%s (their committed state differs, e.g. one is behind; retry)",
				first.node.Name, r.node.Name, inv.Contract, inv.Function))
		}
		e := r.resp.GetEndorsement()
		if e == nil {
			return nil, nil, nil, nil, connect.NewError(connect.CodeInternal, fmt.Errorf("%s returned a response without an endorsement", r.node.Name))
		}
		id, err := g.o.MSP.ValidateSerialized(e.Endorser)
		if err != nil {
			return nil, nil, nil, nil, connect.NewError(connect.CodeInternal, fmt.Errorf("endorsement from %s: %w", r.node.Name, err))
		}
		endorsers = append(endorsers, id)
		endorsements = append(endorsements, e)
	}
	return first, endorsers, endorsements, failures, nil
}

// policyOrgs lists the distinct MSP IDs a policy names, in order.
// endorsingOrgs checks the organisations a client asks to endorse: each
// must be named by the contract's endorsement policy (an endorsement of
// another organisation can never count), and each is asked once, so one
// request fans out to at most one endorser per organisation of the policy.
// None given means every organisation of the policy.
func endorsingOrgs(asked, inPolicy []string, contract string) ([]string, error) {
	if len(asked) == 0 {
		return inPolicy, nil
	}
	allowed := map[string]bool{}
	for _, o := range inPolicy {
		allowed[o] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, o := range asked {
		if !allowed[o] {
			return nil, fmt.Errorf("endorsing organisation %q is not named by the endorsement policy of %s (%v): its endorsement could not count", truncate(o, 64), contract, inPolicy)
		}
		if !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func policyOrgs(ps []identity.Principal) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range ps {
		if !seen[p.MSPID] {
			seen[p.MSPID] = true
			out = append(out, p.MSPID)
		}
	}
	return out
}
