package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/types"
)

// Submit hands a signed transaction to the ordering service, trying the
// orderers in turn while they are unavailable. A transaction already ordered
// counts as submitted (submitting is idempotent).
func (g *Gateway) Submit(ctx context.Context, req *connect.Request[foliov1.SubmitRequest]) (*connect.Response[foliov1.SubmitResponse], error) {
	env := req.Msg.GetEnvelope()
	p, err := types.ParseEnvelope(env)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	if id := req.Msg.GetTxId(); id != "" && id != p.Header.TxId {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("tx_id %s does not match the envelope's %s", id, p.Header.TxId))
	}
	if len(g.o.Orderers) == 0 {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("the channel has no orderers"))
	}
	ctx, cancel := context.WithTimeout(ctx, g.o.SubmitTimeout)
	defer cancel()
	data, _ := proto.Marshal(env)
	start := g.nextOrd.Add(1)
	var errs []string
	for i := range g.o.Orderers {
		o := g.o.Orderers[(int(start)+i)%len(g.o.Orderers)]
		raw, err := g.o.Host.Call(ctx, o.NodeID, BroadcastProtocol, data)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", o.Name, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		var reply foliov1.BroadcastReply
		if err := proto.Unmarshal(raw, &reply); err != nil {
			errs = append(errs, fmt.Sprintf("%s: undecodable reply", o.Name))
			continue
		}
		e := reply.GetError()
		if e == nil || connect.Code(e.Code) == connect.CodeAlreadyExists {
			return connect.NewResponse(&foliov1.SubmitResponse{}), nil
		}
		if connect.Code(e.Code) != connect.CodeUnavailable {
			return nil, connect.NewError(connect.Code(e.Code), fmt.Errorf("%s refused the transaction: %s", o.Name, e.Message))
		}
		errs = append(errs, fmt.Sprintf("%s: %s", o.Name, e.Message))
	}
	return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("no orderer accepted transaction %s: %s", p.Header.TxId, strings.Join(errs, " | ")))
}
