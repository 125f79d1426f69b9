package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/deliver"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/p2p"
	"github.com/folio-ledger/folio/internal/types"
)

// DeliverWindow bounds how far a signed deliver request's timestamp may be
// from the orderer's clock.
const DeliverWindow = 5 * time.Minute

// Service serves the OrdererService RPC API.
type Service struct {
	Broadcaster *Broadcaster
	Verifier    *identity.Verifier
}

var _ foliov1connect.OrdererServiceHandler = (*Service)(nil)

// Broadcast admits an envelope; it returns once the envelope is committed
// in the Raft log.
func (s *Service) Broadcast(ctx context.Context, req *connect.Request[foliov1.Envelope]) (*connect.Response[foliov1.BroadcastResponse], error) {
	txID, err := s.Broadcaster.Broadcast(ctx, req.Msg)
	if err != nil {
		return nil, connect.NewError(broadcastCode(err), err)
	}
	return connect.NewResponse(&foliov1.BroadcastResponse{TxId: txID}), nil
}

func broadcastCode(err error) connect.Code {
	switch {
	case errors.Is(err, ErrAlreadyOrdered):
		return connect.CodeAlreadyExists
	case errors.Is(err, ErrNoQuorum), errors.Is(err, ErrStopped):
		return connect.CodeUnavailable
	case errors.Is(err, ErrNotMember):
		return connect.CodePermissionDenied
	case errors.Is(err, ErrBadSignature):
		return connect.CodeUnauthenticated
	case errors.Is(err, ErrTooLarge):
		return connect.CodeResourceExhausted
	case errors.Is(err, ErrWrongChannel), errors.Is(err, types.ErrMalformed):
		return connect.CodeInvalidArgument
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return connect.CodeDeadlineExceeded
	}
	return connect.CodeInternal
}

// Deliver streams blocks to a consortium member whose signed request is
// fresh and names this channel.
func (s *Service) Deliver(ctx context.Context, req *connect.Request[foliov1.SignedDeliverRequest], out *connect.ServerStream[foliov1.Block]) error {
	var r foliov1.DeliverRequest
	if err := proto.Unmarshal(req.Msg.GetRequest(), &r); err != nil {
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("deliver request: %w", err))
	}
	id, err := s.Verifier.ValidateSerialized(r.Identity)
	if err == nil {
		err = s.Verifier.Admit(id)
	}
	if err != nil {
		return connect.NewError(connect.CodePermissionDenied, err)
	}
	if err := fcrypto.Verify(id.Cert.PublicKey, types.DomainDeliver, req.Msg.Request, req.Msg.Signature); err != nil {
		return connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("deliver request of %s: %w", id.Label(), err))
	}
	if d := time.Since(time.Unix(0, r.TimestampUnixNano)); d > DeliverWindow || d < -DeliverWindow {
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("deliver request is %s away from the orderer's clock (limit %s)", d.Round(time.Second), DeliverWindow))
	}
	if r.ChannelId != s.Broadcaster.Channel {
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("%w: channel %q (this orderer serves %q)", ErrWrongChannel, r.ChannelId, s.Broadcaster.Channel))
	}
	stop := uint64(0)
	if r.Stop != 0 {
		stop = r.Stop + 1
	}
	err = deliver.Serve(ctx, s.Broadcaster.Blocks, r.Start, stop, r.Follow, out.Send)
	if err != nil && ctx.Err() == nil {
		return connect.NewError(connect.CodeInternal, err)
	}
	return nil
}

// ServeSession answers a gateway's broadcast over the node sessions: the
// request is an Envelope, the reply a BroadcastReply.
func (s *Service) ServeSession(ctx context.Context, from p2p.PeerIdentity, req []byte) []byte {
	reply := &foliov1.BroadcastReply{}
	var env foliov1.Envelope
	if err := proto.Unmarshal(req, &env); err != nil {
		reply.Result = &foliov1.BroadcastReply_Error{Error: &foliov1.CallError{Code: uint32(connect.CodeInvalidArgument), Message: "undecodable envelope: " + err.Error()}}
	} else if txID, err := s.Broadcaster.Broadcast(ctx, &env); err != nil {
		reply.Result = &foliov1.BroadcastReply_Error{Error: &foliov1.CallError{Code: uint32(broadcastCode(err)), Message: err.Error()}}
	} else {
		reply.Result = &foliov1.BroadcastReply_Response{Response: &foliov1.BroadcastResponse{TxId: txID}}
	}
	out, _ := proto.Marshal(reply)
	return out
}
