package client

import (
	"crypto/rand"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// NewHeader returns a fresh transaction header for id: a random nonce, the
// tx ID derived from it, and the current time.
func NewHeader(id *identity.SigningIdentity, channel string, typ foliov1.TxType) (*foliov1.TxHeader, error) {
	nonce := make([]byte, types.MinNonceBytes)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	creator := id.Serialized()
	return &foliov1.TxHeader{Type: typ, ChannelId: channel, TxId: types.TxID(nonce, creator), Creator: creator, Nonce: nonce,
		TimestampUnixNano: time.Now().UnixNano()}, nil
}

// SignEnvelope serializes payload and signs it as id, making the envelope
// the orderers accept.
func SignEnvelope(id *identity.SigningIdentity, payload *foliov1.Payload) (*foliov1.Envelope, error) {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	sig, err := id.Sign(types.DomainEnvelope, raw)
	if err != nil {
		return nil, err
	}
	return &foliov1.Envelope{Payload: raw, Signature: sig}, nil
}

// NewProposal builds and signs a proposal to call contract.function(args)
// as id. It returns the signed proposal and its header (which carries the
// tx ID).
func NewProposal(id *identity.SigningIdentity, channel, contract, function string, args [][]byte) (*foliov1.SignedProposal, *foliov1.TxHeader, error) {
	h, err := NewHeader(id, channel, foliov1.TxType_TX_TYPE_ENDORSER)
	if err != nil {
		return nil, nil, err
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.Proposal{
		Header: h, Invocation: &foliov1.ContractInvocation{Contract: contract, Function: function, Args: args}})
	if err != nil {
		return nil, nil, fmt.Errorf("encode proposal: %w", err)
	}
	sig, err := id.Sign(types.DomainProposal, raw)
	if err != nil {
		return nil, nil, err
	}
	return &foliov1.SignedProposal{ProposalBytes: raw, Signature: sig}, h, nil
}
