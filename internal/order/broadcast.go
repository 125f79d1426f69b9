package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/ledger/blocks"
	"github.com/folio-ledger/folio/internal/types"
)

// Errors of the broadcast front door, besides those of Node.Submit.
var (
	ErrTooLarge     = errors.New("envelope too large")
	ErrWrongChannel = errors.New("envelope for another channel")
	ErrNotMember    = errors.New("creator is not a valid consortium member")
	ErrBadSignature = errors.New("envelope signature does not verify")
)

// DefaultMaxEnvelopeBytes is the largest envelope an orderer admits unless
// configured otherwise.
const DefaultMaxEnvelopeBytes = 1 << 20

// MaxBlockMessageBytes is the largest message that carries a block of a
// channel whose batches cut at blockMaxBytes: a block holds up to that
// many bytes of envelopes plus the one envelope that did not fit, and its
// header, metadata and framing (under 64 KiB). Node sessions must carry
// it (limits.p2p_max_message_bytes).
func MaxBlockMessageBytes(blockMaxBytes int) int {
	return blockMaxBytes + DefaultMaxEnvelopeBytes + 64<<10
}

// Broadcaster admits envelopes into the order. It checks what an orderer can
// check without contract semantics: size, structure, channel, that the
// creator is a valid consortium member and signed the envelope, and that
// the transaction is not ordered already. Safe for concurrent use.
type Broadcaster struct {
	Node     *Node
	Verifier *identity.Verifier
	Blocks   *blocks.Store
	Channel  string
	// MaxBytes caps an envelope. Default DefaultMaxEnvelopeBytes.
	MaxBytes int
	// Timeout bounds the wait for the Raft commit. Default 10s.
	Timeout time.Duration
}

// Broadcast validates env and returns once it is committed in the Raft log.
func (b *Broadcaster) Broadcast(ctx context.Context, env *foliov1.Envelope) (string, error) {
	maxBytes := b.MaxBytes
	if maxBytes == 0 {
		maxBytes = DefaultMaxEnvelopeBytes
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(env)
	if err != nil {
		return "", fmt.Errorf("%w: %v", types.ErrMalformed, err)
	}
	if len(raw) > maxBytes {
		return "", fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(raw), maxBytes)
	}
	p, err := types.ParseEnvelope(env)
	if err != nil {
		return "", err
	}
	h := p.Header
	if h.ChannelId != b.Channel {
		return h.TxId, fmt.Errorf("%w: envelope %s is for channel %q, this orderer serves %q", ErrWrongChannel, h.TxId, h.ChannelId, b.Channel)
	}
	creator, err := b.Verifier.ValidateSerialized(h.Creator)
	if err == nil {
		err = b.Verifier.Admit(creator)
	}
	if err != nil {
		return h.TxId, fmt.Errorf("%w: %v", ErrNotMember, err)
	}
	if err := fcrypto.Verify(creator.Cert.PublicKey, types.DomainEnvelope, env.Payload, env.Signature); err != nil {
		return h.TxId, fmt.Errorf("%w: creator %s: %v", ErrBadSignature, creator.Label(), err)
	}
	if loc, err := b.Blocks.Tx(h.TxId); err == nil {
		return h.TxId, fmt.Errorf("%w: %s is in block %d", ErrAlreadyOrdered, h.TxId, loc.Block)
	}
	timeout := b.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return h.TxId, b.Node.Submit(ctx, h.TxId, raw)
}
