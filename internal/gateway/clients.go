package gateway

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/p2p"
)

// Host is the node's session layer (p2p.Host): it serves the endorse
// protocol to other gateways and carries the default EndorserClient,
// OrdererClient and SessionState. Implementations are safe for concurrent
// use.
type Host interface {
	// HandleCall registers a request/reply protocol.
	HandleCall(protocol string, handler p2p.CallHandler) error
	// Call sends one request to nodeID on protocol and returns the reply.
	Call(ctx context.Context, nodeID, protocol string, req []byte) ([]byte, error)
	// Sessions lists the node's sessions and their state.
	Sessions() []p2p.SessionInfo
}

// EndorserClient asks another peer to endorse a signed proposal. The
// default, built from Options.Host, sends it over the node sessions
// (protocol "endorse", answered by the peer's gateway). Implementations
// are safe for concurrent use.
type EndorserClient interface {
	// Endorse returns the peer's proposal response until ctx ends. A
	// contract refusal is a response with a non-2xx status, not an error.
	// An error is a *connect.Error: the peer's own code and message when
	// it answered with an error, CodeUnavailable when it could not be
	// reached or its reply was undecodable, CodeDeadlineExceeded or
	// CodeCanceled when ctx ended first. The message does not repeat the
	// peer's name (the caller adds it).
	Endorse(ctx context.Context, peer Node, sp *foliov1.SignedProposal) (*foliov1.ProposalResponse, error)
}

// OrdererClient hands a signed envelope to one orderer. The default,
// built from Options.Host, sends it over the node sessions (protocol
// "broadcast"). Implementations are safe for concurrent use.
type OrdererClient interface {
	// Broadcast returns nil once the orderer admitted env into its Raft
	// log. An error is a *connect.Error: the orderer's code and message
	// when it refused (CodeAlreadyExists: the transaction is ordered
	// already; CodeUnavailable: no Raft quorum or leader), CodeUnavailable
	// when it could not be reached, CodeDeadlineExceeded or CodeCanceled
	// when ctx ended first. The message does not repeat the orderer's name.
	Broadcast(ctx context.Context, orderer Node, env *foliov1.Envelope) error
}

// SessionState tells whether this node has a live session to another.
// Implementations are safe for concurrent use and cheap enough to ask for
// every candidate of every call.
type SessionState interface {
	// Up reports whether a session to nodeID is active (carries new
	// streams) now.
	Up(nodeID string) bool
}

var (
	_ EndorserClient = hostEndorser{}
	_ OrdererClient  = hostOrderer{}
	_ SessionState   = hostSessions{}
)

// hostEndorser is the EndorserClient over the node sessions.
type hostEndorser struct{ host Host }

func (c hostEndorser) Endorse(ctx context.Context, peer Node, sp *foliov1.SignedProposal) (*foliov1.ProposalResponse, error) {
	req, err := proto.Marshal(sp)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	raw, err := c.host.Call(ctx, peer.NodeID, EndorseProtocol, req)
	if err != nil {
		return nil, callError(ctx, err)
	}
	var reply foliov1.EndorseReply
	if err := proto.Unmarshal(raw, &reply); err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("undecodable endorse reply: %w", err))
	}
	if e := reply.GetError(); e != nil {
		return nil, connect.NewError(connect.Code(e.Code), errors.New(e.Message))
	}
	if reply.GetResponse() == nil {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("empty endorse reply"))
	}
	return reply.GetResponse(), nil
}

// hostOrderer is the OrdererClient over the node sessions.
type hostOrderer struct{ host Host }

func (c hostOrderer) Broadcast(ctx context.Context, orderer Node, env *foliov1.Envelope) error {
	req, err := proto.Marshal(env)
	if err != nil {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	raw, err := c.host.Call(ctx, orderer.NodeID, BroadcastProtocol, req)
	if err != nil {
		return callError(ctx, err)
	}
	var reply foliov1.BroadcastReply
	if err := proto.Unmarshal(raw, &reply); err != nil {
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("undecodable broadcast reply: %w", err))
	}
	if e := reply.GetError(); e != nil {
		return connect.NewError(connect.Code(e.Code), errors.New(e.Message))
	}
	return nil
}

// callError classifies an error of Host.Call: the caller's context ending,
// or the node being unreachable.
func callError(ctx context.Context, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	return connect.NewError(connect.CodeUnavailable, err)
}

// hostSessions is the SessionState of a p2p host.
type hostSessions struct{ host Host }

func (s hostSessions) Up(nodeID string) bool {
	for _, si := range s.host.Sessions() {
		if si.PeerID == nodeID && si.State == "active" {
			return true
		}
	}
	return false
}
