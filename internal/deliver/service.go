package deliver

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/ledger/blocks"
)

// Serve sends blocks [start, stop) of store (stop 0: no end) to send,
// waiting for new blocks when follow is set, until ctx is done.
func Serve(ctx context.Context, store *blocks.Store, start, stop uint64, follow bool, send func(*foliov1.Block) error) error {
	for n := start; stop == 0 || n < stop; n++ {
		if n >= store.Height() {
			if !follow {
				return nil
			}
			if err := store.WaitHeight(ctx, n+1); err != nil {
				return err
			}
		}
		b, err := store.Block(n)
		if err != nil {
			return err
		}
		if err := send(b); err != nil {
			return err
		}
	}
	return nil
}

// ChainService answers chain queries from a block store.
type ChainService struct {
	Blocks *blocks.Store
	// StateRoot, if set, returns the state root after the last block (peers).
	StateRoot func() []byte
	// ChannelConfig, if set, returns the channel configuration in force
	// and the first block it is in force for (peers).
	ChannelConfig func() (*foliov1.ChannelConfig, uint64)
}

// GetChannelConfig returns the channel configuration in force (peers only).
func (s *ChainService) GetChannelConfig(ctx context.Context, _ *connect.Request[foliov1.GetChannelConfigRequest]) (*connect.Response[foliov1.ChannelConfigInfo], error) {
	if s.ChannelConfig == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("this node does not track the channel configuration: ask a peer"))
	}
	cfg, from := s.ChannelConfig()
	return connect.NewResponse(&foliov1.ChannelConfigInfo{Config: cfg, FromBlock: from, Height: s.Blocks.Height()}), nil
}

var _ foliov1connect.ChainServiceHandler = (*ChainService)(nil)

// GetChainInfo returns the height and the last block's hash.
func (s *ChainService) GetChainInfo(ctx context.Context, _ *connect.Request[foliov1.GetChainInfoRequest]) (*connect.Response[foliov1.ChainInfo], error) {
	info := &foliov1.ChainInfo{Height: s.Blocks.Height(), CurrentBlockHash: s.Blocks.LastHash()}
	if info.Height > 0 {
		b, err := s.Blocks.Block(info.Height - 1)
		if err != nil {
			return nil, connectErr(err)
		}
		info.PreviousBlockHash = b.Header.PreviousHash
	}
	if s.StateRoot != nil {
		info.StateRoot = s.StateRoot()
	}
	return connect.NewResponse(info), nil
}

// GetBlock returns a block by number or hash.
func (s *ChainService) GetBlock(ctx context.Context, req *connect.Request[foliov1.GetBlockRequest]) (*connect.Response[foliov1.Block], error) {
	var b *foliov1.Block
	var err error
	switch sel := req.Msg.Selector.(type) {
	case *foliov1.GetBlockRequest_Number:
		b, err = s.Blocks.Block(sel.Number)
	case *foliov1.GetBlockRequest_Hash:
		b, err = s.Blocks.BlockByHash(sel.Hash)
	default:
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("give a block number or hash"))
	}
	if err != nil {
		return nil, connectErr(err)
	}
	return connect.NewResponse(b), nil
}

// GetTransaction returns a transaction with the block it is in and its code.
func (s *ChainService) GetTransaction(ctx context.Context, req *connect.Request[foliov1.GetTransactionRequest]) (*connect.Response[foliov1.ProcessedTransaction], error) {
	loc, err := s.Blocks.Tx(req.Msg.TxId)
	if err != nil {
		return nil, connectErr(err)
	}
	b, err := s.Blocks.Block(loc.Block)
	if err != nil {
		return nil, connectErr(err)
	}
	pt := &foliov1.ProcessedTransaction{BlockNumber: loc.Block, TxIndex: loc.Index, ValidationCode: foliov1.ValidationCode_NOT_VALIDATED}
	envs := b.GetData().GetEnvelopes()
	if int(loc.Index) >= len(envs) {
		return nil, connect.NewError(connect.CodeDataLoss, fmt.Errorf("tx index points past block %d", loc.Block))
	}
	var env foliov1.Envelope
	if err := proto.Unmarshal(envs[loc.Index], &env); err != nil {
		return nil, connect.NewError(connect.CodeDataLoss, err)
	}
	pt.Envelope = &env
	if codes := b.GetMetadata().GetValidationCodes(); int(loc.Index) < len(codes) {
		pt.ValidationCode = foliov1.ValidationCode(codes[loc.Index])
	}
	return connect.NewResponse(pt), nil
}

// StreamBlocks streams blocks from start, following new ones if asked.
func (s *ChainService) StreamBlocks(ctx context.Context, req *connect.Request[foliov1.StreamBlocksRequest], out *connect.ServerStream[foliov1.Block]) error {
	err := Serve(ctx, s.Blocks, req.Msg.Start, 0, req.Msg.Follow, out.Send)
	if err != nil && ctx.Err() == nil {
		return connectErr(err)
	}
	return nil
}

func connectErr(err error) error {
	if errors.Is(err, blocks.ErrNotFound) {
		return connect.NewError(connect.CodeNotFound, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}
