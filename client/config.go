package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/api/folio/v1/foliov1connect"
	"github.com/folio-ledger/folio/internal/types"
)

// DefaultConfigUpdateExpiry is how many blocks after the current height a
// config update built by NewConfigUpdate may still commit.
const DefaultConfigUpdateExpiry = 100

// ChannelConfig asks a peer (its ChainService at addr, https://host:port)
// for the channel configuration in force and its height.
func ChannelConfig(ctx context.Context, hc *http.Client, addr string) (*foliov1.ChannelConfigInfo, error) {
	res, err := foliov1connect.NewChainServiceClient(hc, addr).GetChannelConfig(ctx, connect.NewRequest(&foliov1.GetChannelConfigRequest{}))
	if err != nil {
		return nil, fmt.Errorf("channel configuration from %s: %w", addr, err)
	}
	if res.Msg.Config == nil {
		return nil, errors.New("the peer returned no channel configuration")
	}
	return res.Msg, nil
}

// NewConfigUpdate proposes next as the configuration after the one in
// force (info, from ChannelConfig): it gets the next sequence and may
// commit until expiry blocks after the peer's height (0: the default).
// next must be a modified copy of info.Config.
func NewConfigUpdate(info *foliov1.ChannelConfigInfo, next *foliov1.ChannelConfig, expiry uint64) *foliov1.ConfigUpdate {
	if expiry == 0 {
		expiry = DefaultConfigUpdateExpiry
	}
	next.Sequence = info.Config.Sequence + 1
	return &foliov1.ConfigUpdate{ChannelId: info.Config.ChannelId, Sequence: next.Sequence, Config: next, ExpiresAtBlock: info.Height + expiry}
}

// NewConfigEnvelope signs a config update into a TX_TYPE_CONFIG envelope
// by creator, with the approvals of approvers (admins) over the update's
// bytes. The creator counts as an approver when it is an admin the
// channel's policy names.
func NewConfigEnvelope(creator *Identity, u *foliov1.ConfigUpdate, approvers []*Identity) (*foliov1.Envelope, string, error) {
	return types.NewConfigEnvelope(creator.signer(), u, signers(approvers))
}
