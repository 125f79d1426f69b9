// Package gateway is the client API of a peer (the Fabric Gateway model): a
// client talks to one peer, which evaluates queries, collects the
// endorsements a transaction's policy needs from peers of the required
// organisations (over the node sessions), checks they agree, forwards the
// signed transaction to the ordering service, and reports its commit status.
// One file per RPC.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/commit"
	"github.com/folio-ledger/folio/internal/endorse"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/quota"
)

// Session protocols of the gateway's node-to-node calls.
const (
	EndorseProtocol   = "endorse"
	BroadcastProtocol = "broadcast"
)

// Node is a peer or orderer the gateway may call.
type Node struct {
	Name   string
	MSPID  string
	NodeID string
}

// Options configure a Gateway.
type Options struct {
	ChannelID string
	// Self is this peer.
	Self Node
	// Caller, if set, returns the identity the TLS client certificate of a
	// request's connection proved; a query whose creator is that identity
	// skips the proposal signature check (endorse.CheckQueryFrom).
	Caller    func(ctx context.Context) (*identity.Identity, bool)
	Endorser  *endorse.Endorser
	Committer *commit.Committer
	Contracts *lifecycle.Registry
	MSP       *identity.Verifier
	Host      *p2p.Host
	// Peers lists every peer of the channel (this one included); Orderers
	// every orderer.
	Peers    []Node
	Orderers []Node
	// EndorseTimeout bounds the collection of endorsements. Default 10s.
	EndorseTimeout time.Duration
	// SubmitTimeout bounds the hand-over to the orderers. Default 15s.
	SubmitTimeout time.Duration
	// CommitWaiters bounds the CommitStatus calls held open at once, and
	// CommitWaitersPerClient those of one identity. Defaults 16384, 1024.
	CommitWaiters          int
	CommitWaitersPerClient int
	// MaxCommitWait bounds one CommitStatus wait, whatever the caller's
	// deadline. Default 5m.
	MaxCommitWait time.Duration
	// Refused, if set, is told the setting behind each refusal by a limit
	// (the node counts them).
	Refused func(setting string)
	Logger  *slog.Logger
}

// Gateway serves GatewayService. Safe for concurrent use.
type Gateway struct {
	o        Options
	waiters  *quota.Counter           // commit-status waits held open
	inFlight map[string]*atomic.Int64 // per peer: endorsement calls under way
	nextOrd  atomic.Uint64
}

var _ foliov1connect.GatewayServiceHandler = (*Gateway)(nil)

// New builds a gateway and registers the endorse protocol on the host so
// other gateways can ask this peer to endorse.
func New(o Options) (*Gateway, error) {
	if o.Endorser == nil || o.Committer == nil || o.Contracts == nil || o.MSP == nil || o.Host == nil || o.Logger == nil {
		return nil, errors.New("gateway: Endorser, Committer, Contracts, MSP, Host and Logger are required")
	}
	if o.EndorseTimeout == 0 {
		o.EndorseTimeout = 10 * time.Second
	}
	if o.SubmitTimeout == 0 {
		o.SubmitTimeout = 15 * time.Second
	}
	if o.CommitWaiters <= 0 {
		o.CommitWaiters = 16384
	}
	if o.CommitWaitersPerClient <= 0 {
		o.CommitWaitersPerClient = 1024
	}
	if o.MaxCommitWait <= 0 {
		o.MaxCommitWait = 5 * time.Minute
	}
	if o.Refused == nil {
		o.Refused = func(string) {}
	}
	g := &Gateway{o: o, inFlight: map[string]*atomic.Int64{}, waiters: quota.New(o.CommitWaiters, o.CommitWaitersPerClient)}
	for _, p := range o.Peers {
		g.inFlight[p.Name] = new(atomic.Int64)
	}
	if err := o.Host.HandleCall(EndorseProtocol, g.serveEndorse); err != nil {
		return nil, err
	}
	return g, nil
}

// serveEndorse answers another gateway's endorsement request.
func (g *Gateway) serveEndorse(ctx context.Context, from p2p.PeerIdentity, req []byte) []byte {
	var sp foliov1.SignedProposal
	reply := &foliov1.EndorseReply{}
	if err := proto.Unmarshal(req, &sp); err != nil {
		reply.Result = &foliov1.EndorseReply_Error{Error: &foliov1.CallError{Code: uint32(connect.CodeInvalidArgument), Message: "undecodable proposal: " + err.Error()}}
	} else if resp, err := g.o.Endorser.Endorse(ctx, &sp); err != nil {
		reply.Result = &foliov1.EndorseReply_Error{Error: &foliov1.CallError{Code: uint32(endorseCode(err)), Message: err.Error()}}
	} else {
		reply.Result = &foliov1.EndorseReply_Response{Response: resp}
	}
	out, _ := proto.Marshal(reply)
	return out
}

// endorseCode maps endorser errors to RPC codes.
func endorseCode(err error) connect.Code {
	switch {
	case errors.Is(err, endorse.ErrBadProposal):
		return connect.CodeInvalidArgument
	case errors.Is(err, endorse.ErrNotAuthorized):
		return connect.CodePermissionDenied
	case errors.Is(err, endorse.ErrAlreadyCommitted):
		return connect.CodeAlreadyExists
	case errors.Is(err, endorse.ErrUnavailable):
		return connect.CodeFailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		return connect.CodeDeadlineExceeded
	}
	return connect.CodeInternal
}

// statusCode maps a contract's HTTP-like status to an RPC code.
func statusCode(status int32) connect.Code {
	switch {
	case status == 400:
		return connect.CodeInvalidArgument
	case status == 401 || status == 403:
		return connect.CodePermissionDenied
	case status == 404:
		return connect.CodeNotFound
	case status == 409:
		return connect.CodeAlreadyExists
	case status >= 400 && status < 500:
		return connect.CodeFailedPrecondition
	}
	return connect.CodeInternal
}

// candidates returns the peers of an MSP in the order to try: this peer
// first, then the least busy.
func (g *Gateway) candidates(mspID string) []Node {
	var out []Node
	for _, p := range g.o.Peers {
		if p.MSPID == mspID {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if (out[i].Name == g.o.Self.Name) != (out[j].Name == g.o.Self.Name) {
			return out[i].Name == g.o.Self.Name
		}
		return g.inFlight[out[i].Name].Load() < g.inFlight[out[j].Name].Load()
	})
	return out
}

// endorseAt asks one peer (this one in-process, others over the sessions).
func (g *Gateway) endorseAt(ctx context.Context, p Node, sp *foliov1.SignedProposal) (*foliov1.ProposalResponse, error) {
	n := g.inFlight[p.Name]
	n.Add(1)
	defer n.Add(-1)
	if p.Name == g.o.Self.Name {
		resp, err := g.o.Endorser.Endorse(ctx, sp)
		if err != nil {
			return nil, connect.NewError(endorseCode(err), err)
		}
		return resp, nil
	}
	req, _ := proto.Marshal(sp)
	raw, err := g.o.Host.Call(ctx, p.NodeID, EndorseProtocol, req)
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("%s: %w", p.Name, err))
	}
	var reply foliov1.EndorseReply
	if err := proto.Unmarshal(raw, &reply); err != nil {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("%s: undecodable reply: %w", p.Name, err))
	}
	if e := reply.GetError(); e != nil {
		return nil, connect.NewError(connect.Code(e.Code), fmt.Errorf("%s: %s", p.Name, e.Message))
	}
	return reply.GetResponse(), nil
}

// parallel runs f for each item concurrently and waits.
func parallel[T any](items []T, f func(T)) {
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		go func(it T) {
			defer wg.Done()
			f(it)
		}(it)
	}
	wg.Wait()
}
