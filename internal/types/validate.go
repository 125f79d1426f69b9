package types

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract/abi"
)

// ErrMalformed marks a message that is not well formed; errors.Is finds it
// under the specific description.
var ErrMalformed = errors.New("malformed message")

// Limits on wire messages.
const (
	// MaxMessageBytes bounds any single serialized wire message.
	MaxMessageBytes = 4 << 20
	// MinNonceBytes is the shortest transaction nonce accepted.
	MinNonceBytes = 24
	// MaxNonceBytes is the longest transaction nonce accepted.
	MaxNonceBytes = 64
	// MaxKeyBytes bounds a state key: the contract ABI's bound, one
	// definition for contracts, endorsers and validators.
	MaxKeyBytes = abi.MaxKeyBytes
	// MaxArgs bounds the number of contract arguments.
	MaxArgs = 64
)

var (
	channelPattern  = regexp.MustCompile(`^[a-z][a-z0-9.-]{0,248}$`)
	contractPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)
	functionPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`)
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// ValidateHeader checks a transaction header is well formed and its tx_id
// is derived from its nonce and creator.
func ValidateHeader(h *foliov1.TxHeader) error {
	if h == nil {
		return malformed("transaction header missing")
	}
	switch h.Type {
	case foliov1.TxType_TX_TYPE_CONFIG, foliov1.TxType_TX_TYPE_ENDORSER, foliov1.TxType_TX_TYPE_LIFECYCLE:
	default:
		return malformed("transaction header: unknown type %v", h.Type)
	}
	if !channelPattern.MatchString(h.ChannelId) {
		return malformed("transaction header: channel ID %q must be lowercase letters, digits, '.' or '-', starting with a letter", h.ChannelId)
	}
	if len(h.Creator) == 0 {
		return malformed("transaction header: creator missing")
	}
	if n := len(h.Nonce); n < MinNonceBytes || n > MaxNonceBytes {
		return malformed("transaction header: nonce is %d bytes, want %d to %d", n, MinNonceBytes, MaxNonceBytes)
	}
	if want := TxID(h.Nonce, h.Creator); h.TxId != want {
		return malformed("transaction header: tx_id %q is not SHA-256(nonce || creator) = %s", h.TxId, want)
	}
	if h.TimestampUnixNano <= 0 {
		return malformed("transaction header: timestamp missing")
	}
	return nil
}

// ValidateProposal checks a proposal is well formed.
func ValidateProposal(p *foliov1.Proposal) error {
	if err := ValidateHeader(p.GetHeader()); err != nil {
		return err
	}
	if p.Header.Type != foliov1.TxType_TX_TYPE_ENDORSER {
		return malformed("proposal: type %v, want TX_TYPE_ENDORSER", p.Header.Type)
	}
	inv := p.GetInvocation()
	if inv == nil {
		return malformed("proposal: invocation missing")
	}
	if !contractPattern.MatchString(inv.Contract) {
		return malformed("proposal: contract name %q must be 1-64 letters, digits, '_', '.' or '-', starting with a letter", inv.Contract)
	}
	if !functionPattern.MatchString(inv.Function) {
		return malformed("proposal: function name %q is not a valid identifier", inv.Function)
	}
	if len(inv.Args) > MaxArgs {
		return malformed("proposal: %d arguments, at most %d", len(inv.Args), MaxArgs)
	}
	return nil
}

// ParseSignedProposal decodes and validates the proposal inside a signed
// proposal. It does not check the signature (that needs the MSP).
func ParseSignedProposal(sp *foliov1.SignedProposal) (*foliov1.Proposal, error) {
	if sp == nil || len(sp.ProposalBytes) == 0 {
		return nil, malformed("signed proposal: proposal bytes missing")
	}
	if len(sp.Signature) == 0 {
		return nil, malformed("signed proposal: signature missing")
	}
	if len(sp.ProposalBytes) > MaxMessageBytes {
		return nil, malformed("signed proposal: %d bytes, limit %d", len(sp.ProposalBytes), MaxMessageBytes)
	}
	var p foliov1.Proposal
	if err := proto.Unmarshal(sp.ProposalBytes, &p); err != nil {
		return nil, malformed("proposal: %v", err)
	}
	if err := ValidateProposal(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ParseEnvelope decodes and validates an envelope's payload header. It does
// not check the signature.
func ParseEnvelope(env *foliov1.Envelope) (*foliov1.Payload, error) {
	if env == nil || len(env.Payload) == 0 {
		return nil, malformed("envelope: payload missing")
	}
	if len(env.Signature) == 0 {
		return nil, malformed("envelope: signature missing")
	}
	if len(env.Payload) > MaxMessageBytes {
		return nil, malformed("envelope: payload is %d bytes, limit %d", len(env.Payload), MaxMessageBytes)
	}
	var p foliov1.Payload
	if err := proto.Unmarshal(env.Payload, &p); err != nil {
		return nil, malformed("envelope payload: %v", err)
	}
	if err := ValidateHeader(p.Header); err != nil {
		return nil, err
	}
	if len(p.Data) == 0 {
		return nil, malformed("envelope payload: data missing")
	}
	return &p, nil
}

// EndorsedTransaction is an endorser transaction with its parts decoded.
type EndorsedTransaction struct {
	Header   *foliov1.TxHeader
	Tx       *foliov1.Transaction
	Proposal *foliov1.Proposal
	Response *foliov1.ProposalResponsePayload
}

// ParseEndorsedTransaction decodes an endorser transaction's payload and
// checks its parts agree: the proposal's header equals the envelope's, the
// response payload answers this proposal, and there is at least one
// endorsement. Signatures and policy are the validator's business.
func ParseEndorsedTransaction(p *foliov1.Payload) (*EndorsedTransaction, error) {
	if p.GetHeader().GetType() != foliov1.TxType_TX_TYPE_ENDORSER {
		return nil, malformed("transaction: type %v, want TX_TYPE_ENDORSER", p.GetHeader().GetType())
	}
	var tx foliov1.Transaction
	if err := proto.Unmarshal(p.Data, &tx); err != nil {
		return nil, malformed("transaction: %v", err)
	}
	var prop foliov1.Proposal
	if err := proto.Unmarshal(tx.ProposalBytes, &prop); err != nil {
		return nil, malformed("transaction proposal: %v", err)
	}
	if err := ValidateProposal(&prop); err != nil {
		return nil, err
	}
	if !proto.Equal(prop.Header, p.Header) {
		return nil, malformed("transaction %s: envelope header differs from the proposal's header", p.Header.TxId)
	}
	var resp foliov1.ProposalResponsePayload
	if err := proto.Unmarshal(tx.ResponsePayload, &resp); err != nil {
		return nil, malformed("transaction %s: response payload: %v", p.Header.TxId, err)
	}
	sum := sha256.Sum256(tx.ProposalBytes)
	if !bytes.Equal(resp.ProposalHash, sum[:]) {
		return nil, malformed("transaction %s: response payload answers another proposal", p.Header.TxId)
	}
	if resp.Action == nil || resp.Action.Contract == nil {
		return nil, malformed("transaction %s: response payload has no contract action", p.Header.TxId)
	}
	if resp.Action.Contract.Name != prop.Invocation.Contract {
		return nil, malformed("transaction %s: endorsed contract %q, proposal names %q", p.Header.TxId, resp.Action.Contract.Name, prop.Invocation.Contract)
	}
	if err := ValidateReadWriteSet(resp.Action.Rwset); err != nil {
		return nil, fmt.Errorf("transaction %s: %w", p.Header.TxId, err)
	}
	if len(tx.Endorsements) == 0 {
		return nil, malformed("transaction %s: no endorsements", p.Header.TxId)
	}
	for i, e := range tx.Endorsements {
		if len(e.Endorser) == 0 || len(e.Signature) == 0 {
			return nil, malformed("transaction %s: endorsement %d lacks endorser or signature", p.Header.TxId, i)
		}
	}
	return &EndorsedTransaction{Header: p.Header, Tx: &tx, Proposal: &prop, Response: &resp}, nil
}

// ValidateReadWriteSet checks namespaces are sorted and unique, keys are
// valid, non-empty UTF-8 within MaxKeyBytes, and reads and writes are each
// sorted by key without duplicates (so equal simulations encode equally).
func ValidateReadWriteSet(rw *foliov1.ReadWriteSet) error {
	if rw == nil {
		return nil
	}
	for i, ns := range rw.NsRwsets {
		if ns.Namespace == "" {
			return malformed("rwset: namespace %d has no name", i)
		}
		if i > 0 && rw.NsRwsets[i-1].Namespace >= ns.Namespace {
			return malformed("rwset: namespaces not sorted and unique at %q", ns.Namespace)
		}
		for j, r := range ns.Reads {
			if err := abi.ValidKey(r.Key); err != nil {
				return malformed("rwset %s read: %v", ns.Namespace, err)
			}
			if j > 0 && ns.Reads[j-1].Key >= r.Key {
				return malformed("rwset %s: reads not sorted and unique at %q", ns.Namespace, r.Key)
			}
		}
		for _, rr := range ns.RangeReads {
			for _, r := range rr.Reads {
				if err := abi.ValidKey(r.Key); err != nil {
					return malformed("rwset %s range read: %v", ns.Namespace, err)
				}
			}
		}
		for j, w := range ns.Writes {
			if err := abi.ValidKey(w.Key); err != nil {
				return malformed("rwset %s write: %v", ns.Namespace, err)
			}
			if j > 0 && ns.Writes[j-1].Key >= w.Key {
				return malformed("rwset %s: writes not sorted and unique at %q", ns.Namespace, w.Key)
			}
			if w.IsDelete && len(w.Value) > 0 {
				return malformed("rwset %s: delete of %q carries a value", ns.Namespace, w.Key)
			}
		}
	}
	return nil
}

// ValidateBlock checks a block's structure: header field sizes, the data
// hash over its envelopes, and that validation codes (if present) cover
// every envelope. It does not check signatures or chain linkage.
func ValidateBlock(b *foliov1.Block) error {
	if b == nil || b.Header == nil {
		return malformed("block: header missing")
	}
	if _, err := HeaderBytes(b.Header); err != nil {
		return malformed("%v", err)
	}
	envs := b.GetData().GetEnvelopes()
	if !bytes.Equal(DataHash(envs), b.Header.DataHash) {
		return malformed("block %d: data hash does not match its envelopes", b.Header.Number)
	}
	if codes := b.GetMetadata().GetValidationCodes(); len(codes) != 0 && len(codes) != len(envs) {
		return malformed("block %d: %d validation codes for %d envelopes", b.Header.Number, len(codes), len(envs))
	}
	return nil
}
