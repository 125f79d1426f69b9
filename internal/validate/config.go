package validate

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
)

// ConfigUpdates returns the configuration block b puts in force from the
// next block (nil: unchanged), deciding each of its config updates exactly
// as Block does: the same stateless checks (checkTx: channel, creator
// identity under the configuration in force, envelope signature), the same
// duplicate rule and the same channel.Config.Apply, in block order. An
// orderer, which holds no state, follows the channel's membership with it
// and reaches the verdicts the peers reach.
//
// Only config transactions are checked. Block also counts an earlier
// endorser or lifecycle transaction with the same ID as a duplicate of a
// config transaction; ConfigUpdates cannot without checking every
// transaction, and need not: the ordering service's Chain admits a
// transaction ID once (it drops an ID already pending, cut or in its block
// store), so no block it cuts holds an ID twice or one of an earlier block.
// o.Committed must answer for the blocks before b only.
func ConfigUpdates(b *foliov1.Block, o Options) (*channel.Config, error) {
	var next *channel.Config
	seen := map[string]bool{}
	for i, raw := range b.GetData().GetEnvelopes() {
		if !isConfigEnvelope(raw) {
			continue
		}
		// As in Block: the stateless checks use the configuration in force
		// for the whole block, Apply the one earlier updates of the block
		// made.
		t := checkTx(i, raw, b.Header, o)
		if t.Code != foliov1.ValidationCode_VALID || t.configData == nil {
			continue
		}
		if seen[t.TxID] {
			continue
		}
		seen[t.TxID] = true
		cur := o.Config
		if next != nil {
			cur = next
		}
		dup, err := o.Committed.HasTx(t.TxID)
		if err != nil {
			return nil, fmt.Errorf("config updates of block %d: %w", b.Header.Number, err)
		}
		if dup {
			continue
		}
		c, err := cur.Apply(t.Creator, t.configData, b.Header.Number)
		var unsupported *channel.UnsupportedCapabilityError
		if errors.As(err, &unsupported) {
			return nil, fmt.Errorf("config updates of block %d: %w", b.Header.Number, err)
		}
		if err != nil {
			continue // INVALID_CONFIG_TRANSACTION on every peer
		}
		next = c
	}
	return next, nil
}

// isConfigEnvelope reads only an envelope's header type.
func isConfigEnvelope(raw []byte) bool {
	var env foliov1.Envelope
	if proto.Unmarshal(raw, &env) != nil {
		return false
	}
	var p foliov1.Payload
	if proto.Unmarshal(env.Payload, &p) != nil || p.Header == nil {
		return false
	}
	return p.Header.Type == foliov1.TxType_TX_TYPE_CONFIG
}
