package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/types"
)

// Gateway submits transactions and evaluates queries through the gateways
// of one or more peers (normally the peers of the signing identity's
// organisation), signing as one identity. Safe for concurrent use.
//
// Failover: every call starts at the preferred endpoint (the last one that
// answered; at first the first given) and moves to the next when a gateway
// is unreachable: connection refused or reset, a TLS failure, no
// connection within GatewayOptions.ConnectTimeout, no answer within
// AttemptTimeout, or connect.CodeUnavailable. Any other answer (a contract
// error, a refusal) is final. When no endpoint
// answers, the error is an *UnavailableError naming every endpoint tried
// and why it failed.
//
// No double submit: a transaction's ID is fixed by its signed proposal
// (txID = SHA-256(nonce || creator)), so one call endorses once and then
// only ever hands over that one signed envelope, to as many gateways as it
// takes: the orderers refuse a second copy (ErrAlreadyOrdered, which the
// gateway and this client count as submitted) and validation marks a
// duplicate tx ID invalid. A call never builds a new proposal once a
// submit may have happened, unless the first transaction's commit status
// proved it invalid (SubmitOptions retries).
type Gateway struct {
	id      *Identity
	channel string
	o       GatewayOptions
	eps     []endpoint
	// preferred is the index in eps of the endpoint that last answered.
	preferred atomic.Int32
	// height is the highest ledger height this client has seen: the
	// block after the last one a transaction it learnt the status of
	// committed in, or a peer's height when it answered a query; every
	// query asks at least this height (read-your-writes, monotonic reads).
	// Only ever raised (ObserveHeight).
	height atomic.Uint64
}

// Endpoint is one peer's gateway.
type Endpoint struct {
	// Name names the peer in errors, e.g. "peer0.org1". Default: Addr.
	Name string
	// Addr is the gateway's host:port.
	Addr string
}

// Endpoints makes unnamed endpoints of addresses (host:port).
func Endpoints(addrs ...string) []Endpoint {
	out := make([]Endpoint, len(addrs))
	for i, a := range addrs {
		out[i] = Endpoint{Addr: a}
	}
	return out
}

type endpoint struct {
	Endpoint
	svc foliov1connect.GatewayServiceClient
}

func (e *endpoint) name() string {
	if e.Name != "" {
		return e.Name
	}
	return e.Addr
}

// Defaults of GatewayOptions.
const (
	DefaultConnectTimeout = 3 * time.Second
	DefaultAttemptTimeout = 20 * time.Second
	DefaultCommitWait     = 30 * time.Second
)

// GatewayOptions configure a Gateway made by NewGatewayWithOptions.
type GatewayOptions struct {
	// Channel is the channel transactions are for. Required.
	Channel string
	// Endpoints are the gateways to use, in order of preference: normally
	// every peer of the signing identity's organisation. At least one.
	Endpoints []Endpoint
	// ConnectTimeout bounds how long one attempt at one endpoint may take
	// to get a connection (TCP and TLS, or a reused connection); when it
	// runs out the next endpoint is tried. It catches a stopped or wedged
	// peer fast. 0 means DefaultConnectTimeout (3s); negative means none.
	ConnectTimeout time.Duration
	// AttemptTimeout bounds one whole attempt of Evaluate, Endorse or
	// Submit at one endpoint; when it runs out the next endpoint is tried.
	// Keep it above the gateway's own budgets (endorse 10s, submit 15s by
	// default), within which a gateway fails over between endorsers and
	// orderers: cutting that short would only move the same wait to the
	// next gateway. 0 means DefaultAttemptTimeout (20s); negative means no
	// bound but the caller's context.
	AttemptTimeout time.Duration
	// CommitWait bounds one wait for a commit status at one endpoint; when
	// it runs out (or the peer is unreachable) the next endpoint is asked.
	// 0 means DefaultCommitWait (30s); negative means no bound but the
	// caller's context.
	CommitWait time.Duration
}

// EnsureDefaults fills zero fields with their defaults.
func (o *GatewayOptions) EnsureDefaults() {
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.CommitWait == 0 {
		o.CommitWait = DefaultCommitWait
	}
}

// Validate reports options a Gateway cannot work with.
func (o *GatewayOptions) Validate() error {
	if o.Channel == "" {
		return errors.New("gateway options: no channel")
	}
	if len(o.Endpoints) == 0 {
		return errors.New("gateway options: no endpoints")
	}
	for i, e := range o.Endpoints {
		if e.Addr == "" {
			return fmt.Errorf("gateway options: endpoint %d (%q) has no address", i, e.Name)
		}
	}
	return nil
}

// NewGateway connects to the gateway of the single peer at addr
// (host:port). It has nowhere to fail over to and puts no bound on an
// attempt but the caller's context (as before failover existed); use
// NewGatewayWithOptions to give several endpoints.
func NewGateway(hc *http.Client, addr, channel string, id *Identity) *Gateway {
	g, err := NewGatewayWithOptions(hc, id, GatewayOptions{Channel: channel, Endpoints: Endpoints(addr), ConnectTimeout: -1, AttemptTimeout: -1, CommitWait: -1})
	if err != nil {
		// Only an empty channel or address gets here; keep the old
		// behaviour of failing at the first call instead.
		g = &Gateway{id: id, channel: channel, o: GatewayOptions{ConnectTimeout: -1, AttemptTimeout: -1, CommitWait: -1},
			eps: []endpoint{{Endpoint: Endpoint{Addr: addr}, svc: foliov1connect.NewGatewayServiceClient(hc, "https://"+addr)}}}
	}
	return g
}

// NewGatewayWithOptions makes a gateway client that signs as id and talks
// to the endpoints of o in order of preference, failing over between them
// (see Gateway). hc is used for every endpoint.
func NewGatewayWithOptions(hc *http.Client, id *Identity, o GatewayOptions) (*Gateway, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if !id.valid() {
		return nil, fmt.Errorf("gateway options: %w", ErrNoIdentity)
	}
	o.Endpoints = slices.Clone(o.Endpoints)
	g := &Gateway{id: id, channel: o.Channel, o: o}
	for _, e := range o.Endpoints {
		g.eps = append(g.eps, endpoint{Endpoint: e, svc: foliov1connect.NewGatewayServiceClient(hc, "https://"+e.Addr)})
	}
	return g, nil
}

// Preferred returns the endpoint the next call starts with: the one that
// last answered.
func (g *Gateway) Preferred() Endpoint { return g.eps[g.start()].Endpoint }

func (g *Gateway) start() int { return int(g.preferred.Load()) }

func (g *Gateway) answered(i int) { g.preferred.Store(int32(i)) }

// Evaluate runs a query and returns the contract's response payload. The
// same signed proposal is sent to each endpoint tried. It is
// EvaluateWithOptions with no options: the read still reflects at least
// this client's own committed writes and earlier reads (see Height).
func (g *Gateway) Evaluate(ctx context.Context, contract, function string, args ...[]byte) ([]byte, error) {
	return g.EvaluateWithOptions(ctx, EvaluateOptions{}, contract, function, args...)
}

// EvaluateOptions make a query current (docs/sdk.md, "Current reads").
// Every query asks at least the client's Height, whatever the options.
type EvaluateOptions struct {
	// MinHeight is the least ledger height the answering peer must have:
	// it has committed blocks 0 .. MinHeight-1. To read a transaction
	// committed in block N, use N+1 (Result.Height). A peer below it waits
	// for the blocks (at most its limits.max_read_wait, 5s by default)
	// and else answers "behind", and the next endpoint is asked. 0: only
	// the client's own Height.
	MinHeight uint64
	// Linearizable makes the peer ask the ordering service for its chain
	// height first and wait until it has committed that height: the
	// answer reflects every transaction in a block the orderers had cut
	// when the read reached the peer, so every transaction whose commit
	// anyone had been told of before the call. It costs one round trip
	// from the peer to the orderers, plus the wait.
	Linearizable bool
}

// EvaluateWithOptions runs a query, as current as o asks, and returns the
// contract's response payload. A peer that cannot reach the height in
// time answers CodeUnavailable ("peer X is behind: ..."), and the next
// endpoint is asked; when none can, the error is an *UnavailableError
// whose attempts say how far behind each was.
func (g *Gateway) EvaluateWithOptions(ctx context.Context, o EvaluateOptions, contract, function string, args ...[]byte) ([]byte, error) {
	a, err := g.Query(ctx, o, contract, function, args...)
	if err != nil {
		return nil, err
	}
	return a.Payload, nil
}

// Answer is a query's response and where it was read.
type Answer struct {
	// Payload is the contract's response.
	Payload []byte
	// Height is the answering peer's ledger height when it started the
	// query: the answer reflects at least the blocks below it (blocks the
	// peer commits while the query runs may show too).
	Height uint64
	// Via names the endpoint that answered.
	Via string
}

// Query is EvaluateWithOptions that also says at which ledger height and
// by which endpoint the query was answered (a checker comparing answers
// with the chain needs both).
func (g *Gateway) Query(ctx context.Context, o EvaluateOptions, contract, function string, args ...[]byte) (*Answer, error) {
	sp, _, err := types.NewProposal(g.id.signer(), g.channel, contract, function, args)
	if err != nil {
		return nil, err
	}
	req := &foliov1.EvaluateRequest{Proposal: sp, MinHeight: max(o.MinHeight, g.Height()), Linearizable: o.Linearizable}
	var resp *connect.Response[foliov1.EvaluateResponse]
	i, _, err := g.round(ctx, "evaluate", g.start(), g.o.AttemptTimeout, Unreachable, func(ctx context.Context, ep *endpoint) error {
		var err error
		resp, err = ep.svc.Evaluate(ctx, connect.NewRequest(req))
		return err
	})
	if err != nil {
		return nil, err
	}
	g.answered(i)
	g.ObserveHeight(resp.Msg.GetHeight())
	return &Answer{Payload: resp.Msg.GetResult().GetPayload(), Height: resp.Msg.GetHeight(), Via: g.eps[i].name()}, nil
}

// Height returns the highest ledger height this client has seen: one more
// than the block of the latest commit status it received, or the height
// a peer answered a query at, whichever is higher. Every query of this
// client asks a peer at least this height, so that it reflects the
// client's own writes and is never older than its earlier reads. Pass it
// to another process (ObserveHeight there, or `folio --min-height`
// with Height()-1) to carry the guarantee along.
func (g *Gateway) Height() uint64 { return g.height.Load() }

// ObserveHeight raises the client's Height to h (a lower h changes
// nothing): its next queries ask at least h. Safe for concurrent use.
func (g *Gateway) ObserveHeight(h uint64) {
	for {
		cur := g.height.Load()
		if h <= cur || g.height.CompareAndSwap(cur, h) {
			return
		}
	}
}

// SubmitOptions tune Submit.
type SubmitOptions struct {
	// RetryConflicts resubmits the whole transaction this many times when
	// it loses an MVCC read conflict. Leave 0 for calls that must not run
	// twice (a retry is a new transaction).
	RetryConflicts int
}

// Result is a committed transaction.
type Result struct {
	TxID  string
	Block uint64
	Code  foliov1.ValidationCode
	// Reason says why the transaction is invalid (empty when valid).
	Reason string
	// Payload is the contract's response to the proposal.
	Payload []byte
	// Attempts is the number of transactions submitted (retries included).
	Attempts int
	// Via names the endpoint that reported the commit status.
	Via string
}

// Height is the least ledger height that includes the transaction (its
// block + 1): the EvaluateOptions.MinHeight that reads it.
func (r *Result) Height() uint64 { return r.Block + 1 }

// InvalidError reports a transaction that was ordered but did not commit
// as valid.
type InvalidError struct{ Result *Result }

func (e *InvalidError) Error() string {
	return fmt.Sprintf("transaction %s is %s in block %d: %s", e.Result.TxID, e.Result.Code, e.Result.Block, e.Result.Reason)
}

// Submit proposes, collects endorsements, signs, submits and waits for the
// commit. A transaction that committed as invalid returns its Result and an
// *InvalidError. A transaction endorsed with a contract version that is no
// longer effective when it commits is re-endorsed once.
func (g *Gateway) Submit(ctx context.Context, contract, function string, args [][]byte, o SubmitOptions) (*Result, error) {
	versionRetry := 1
	var res *Result
	for attempt := 1; ; attempt++ {
		var err error
		res, err = g.submitOnce(ctx, contract, function, args)
		if err != nil {
			return res, err
		}
		res.Attempts = attempt
		switch {
		case res.Code == foliov1.ValidationCode_VALID:
			return res, nil
		case res.Code == foliov1.ValidationCode_MVCC_READ_CONFLICT && o.RetryConflicts > 0:
			o.RetryConflicts--
		case res.Code == foliov1.ValidationCode_CONTRACT_VERSION_NOT_EFFECTIVE && versionRetry > 0:
			versionRetry--
		default:
			return res, &InvalidError{Result: res}
		}
	}
}

func (g *Gateway) submitOnce(ctx context.Context, contract, function string, args [][]byte) (*Result, error) {
	sp, h, err := types.NewProposal(g.id.signer(), g.channel, contract, function, args)
	if err != nil {
		return nil, err
	}
	// Endorsing has no effect on the ledger: the same signed proposal may
	// go to each gateway tried.
	var end *connect.Response[foliov1.EndorseResponse]
	i, _, err := g.round(ctx, "endorse", g.start(), g.o.AttemptTimeout, Unreachable, func(ctx context.Context, ep *endpoint) error {
		var err error
		end, err = ep.svc.Endorse(ctx, connect.NewRequest(&foliov1.EndorseRequest{Proposal: sp}))
		return err
	})
	if err != nil {
		return nil, err
	}
	g.answered(i)
	var payload foliov1.Payload
	if err := proto.Unmarshal(end.Msg.PreparedPayload, &payload); err != nil {
		return nil, fmt.Errorf("gateway %s returned an undecodable payload: %w", g.eps[i].name(), err)
	}
	// Sign only what we proposed: a gateway must not slip in another transaction.
	if err := checkPrepared(&payload, h, sp.ProposalBytes); err != nil {
		return nil, fmt.Errorf("gateway %s: %w", g.eps[i].name(), err)
	}
	sig, err := g.id.signer().Sign(types.DomainEnvelope, end.Msg.PreparedPayload)
	if err != nil {
		return nil, err
	}
	env := &foliov1.Envelope{Payload: end.Msg.PreparedPayload, Signature: sig}
	// From here on this call only hands over env (see Gateway: no double
	// submit), starting with the gateway that endorsed it.
	res, err := g.submitEnvelope(ctx, env, h.TxId, i)
	if res != nil {
		res.Payload = end.Msg.GetResult().GetPayload()
	}
	return res, err
}

// submitEnvelope hands the signed envelope env of transaction txID to the
// ordering service through the gateways, starting with endpoint start, and
// waits for its commit status. It returns a Result whenever a status was
// learnt (whatever the code), else a Result with only TxID and an error.
//
// The rule that keeps a transaction from applying twice: only this one
// envelope is ever sent, never a re-endorsed copy. When a submit attempt
// fails in a way that may have reached the orderers (a reset, a timeout,
// CodeUnavailable from a gateway that may have forwarded it), the same
// envelope goes to the next gateway: if it was ordered, that gateway
// answers "already ordered" (CodeAlreadyExists, or success, since the
// gateway counts ErrAlreadyOrdered as submitted), which counts as
// submitted here too. If no gateway takes it and one attempt was
// ambiguous, the commit status is asked once (each wait bounded by
// statusProbe)
// and, without an answer, the error is an *UnknownOutcomeError: the caller
// must ask the status again rather than send the call as a new
// transaction.
func (g *Gateway) submitEnvelope(ctx context.Context, env *foliov1.Envelope, txID string, start int) (*Result, error) {
	i, attempts, err := g.round(ctx, "submit", start, g.o.AttemptTimeout, Unreachable, func(ctx context.Context, ep *endpoint) error {
		_, err := ep.svc.Submit(ctx, connect.NewRequest(&foliov1.SubmitRequest{TxId: txID, Envelope: env}))
		if connect.CodeOf(err) == connect.CodeAlreadyExists {
			return nil // ordered before, by an earlier attempt: submitted
		}
		return err
	})
	if err != nil {
		if !ambiguous(attempts) {
			// Nothing reached a gateway, or the first gateway that got
			// it refused it outright: it will never commit.
			return &Result{TxID: txID}, err
		}
		// An earlier attempt may have handed it over. Did it commit?
		if g.o.AttemptTimeout > 0 && ctx.Err() == nil {
			if res, serr := g.commitResult(ctx, txID, start, min(statusProbe, g.o.AttemptTimeout)); serr == nil {
				return res, nil
			}
		}
		return &Result{TxID: txID}, &UnknownOutcomeError{TxID: txID, Err: err}
	}
	g.answered(i)
	res, err := g.commitResult(ctx, txID, i, g.o.CommitWait)
	if err != nil {
		return &Result{TxID: txID}, fmt.Errorf("transaction %s submitted, commit status unknown: %w", txID, err)
	}
	return res, nil
}

// statusProbe bounds a commit-status wait that only checks whether an
// envelope no gateway confirmed was ordered after all.
const statusProbe = 5 * time.Second

// CommitStatus waits for the commit status of transaction txID, asking
// the gateways in turn (each wait bounded by CommitWait). It has no effect
// on the ledger: use it to learn the outcome of an *UnknownOutcomeError.
// A transaction committed as invalid returns its Result and no error.
func (g *Gateway) CommitStatus(ctx context.Context, txID string) (*Result, error) {
	return g.commitResult(ctx, txID, g.start(), g.o.CommitWait)
}

func (g *Gateway) commitResult(ctx context.Context, txID string, start int, wait time.Duration) (*Result, error) {
	req, err := proto.Marshal(&foliov1.CommitStatusRequest{TxId: txID, Identity: g.id.Serialized()})
	if err != nil {
		return nil, err
	}
	sig, err := g.id.signer().Sign(types.DomainCommitStatus, req)
	if err != nil {
		return nil, err
	}
	// A peer that has not committed the transaction within its wait
	// (CodeDeadlineExceeded) may lag behind: ask the next one.
	retry := func(err error) bool { return Unreachable(err) || connect.CodeOf(err) == connect.CodeDeadlineExceeded }
	var st *foliov1.CommitStatusResponse
	i, _, err := g.round(ctx, "commit status", start, wait, retry, func(ctx context.Context, ep *endpoint) error {
		resp, err := ep.svc.CommitStatus(ctx, connect.NewRequest(&foliov1.SignedCommitStatusRequest{Request: req, Signature: sig}))
		if err == nil {
			st = resp.Msg
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	g.answered(i)
	// The block is committed on that peer, valid transaction or not: later
	// reads must not see a ledger without it.
	g.ObserveHeight(st.BlockNumber + 1)
	return &Result{TxID: txID, Block: st.BlockNumber, Code: st.Result, Reason: st.Reason, Via: g.eps[i].name()}, nil
}

func checkPrepared(p *foliov1.Payload, h *foliov1.TxHeader, proposal []byte) error {
	if !proto.Equal(p.Header, h) {
		return errors.New("gateway returned a payload for another transaction header; refusing to sign")
	}
	var tx foliov1.Transaction
	if err := proto.Unmarshal(p.Data, &tx); err != nil || !bytes.Equal(tx.ProposalBytes, proposal) {
		return errors.New("gateway returned a payload that does not carry our proposal; refusing to sign")
	}
	return nil
}
