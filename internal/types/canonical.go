package types

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
)

// Signature domains. Each names exactly one kind of signed bytes; a tag is
// never reused for another meaning (a new meaning gets a new version).
const (
	DomainProposal     fcrypto.Domain = "folio/proposal/v1"          // SignedProposal.proposal_bytes
	DomainEndorsement  fcrypto.Domain = "folio/endorsement/v1"       // ProposalResponse.payload || endorser
	DomainEnvelope     fcrypto.Domain = "folio/envelope/v1"          // Envelope.payload
	DomainBlock        fcrypto.Domain = "folio/block/v1"             // 80-byte canonical block header
	DomainCommitStatus fcrypto.Domain = "folio/commit-status/v1"     // SignedCommitStatusRequest.request
	DomainDeliver      fcrypto.Domain = "folio/deliver/v1"           // SignedDeliverRequest.request
	DomainCARequest    fcrypto.Domain = "folio/ca-request/v1"        // SignedCARequest.request
	DomainHandshake    fcrypto.Domain = "folio/p2p-handshake/v1"     // node session handshake transcript
	DomainAttestation  fcrypto.Domain = "folio/state-attestation/v1" // (block number, state root) attestation
	DomainPackage      fcrypto.Domain = "folio/contract-package/v1"  // SignedContractPackage.package
	DomainActivation   fcrypto.Domain = "folio/activation/v1"        // LifecycleTx.request, signed by approving admins
	DomainConfig       fcrypto.Domain = "folio/config/v1"            // ConfigUpdateTx.update, signed by approving admins
)

// HashSize is the size of every Folio hash (SHA-256).
const HashSize = sha256.Size

// HeaderSize is the length of the canonical block header.
const HeaderSize = 8 + HashSize + HashSize + 8

// TxID returns the transaction ID: lowercase hex of SHA-256(nonce || creator),
// where creator is the SerializedIdentity bytes from the header.
func TxID(nonce, creator []byte) string {
	h := sha256.New()
	h.Write(nonce)
	h.Write(creator)
	return hex.EncodeToString(h.Sum(nil))
}

// HeaderBytes returns the canonical 80-byte block header:
//
//	number (uint64, big-endian) || previous_hash (32) || data_hash (32) ||
//	timestamp_unix_nano (int64, big-endian)
func HeaderBytes(h *foliov1.BlockHeader) ([]byte, error) {
	if h == nil {
		return nil, fmt.Errorf("block header: missing")
	}
	if len(h.PreviousHash) != HashSize || len(h.DataHash) != HashSize {
		return nil, fmt.Errorf("block %d header: previous_hash is %d bytes and data_hash %d bytes, both must be %d",
			h.Number, len(h.PreviousHash), len(h.DataHash), HashSize)
	}
	b := make([]byte, 0, HeaderSize)
	b = binary.BigEndian.AppendUint64(b, h.Number)
	b = append(b, h.PreviousHash...)
	b = append(b, h.DataHash...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.TimestampUnixNano))
	return b, nil
}

// HeaderHash returns SHA-256 of the canonical block header: the block's hash.
func HeaderHash(h *foliov1.BlockHeader) ([]byte, error) {
	b, err := HeaderBytes(h)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// DataHash returns the Merkle root of a block's envelopes: the RFC 6962
// (Certificate Transparency) tree over SHA-256, with leaf hash
// SHA-256(0x00 || envelope) and node hash SHA-256(0x01 || left || right).
// An empty block has root SHA-256("").
func DataHash(envelopes [][]byte) []byte {
	if len(envelopes) == 0 {
		sum := sha256.Sum256(nil)
		return sum[:]
	}
	level := make([][]byte, len(envelopes))
	for i, e := range envelopes {
		level[i] = LeafHash(e)
	}
	return merkleRoot(level)
}

// LeafHash is the RFC 6962 leaf hash of one envelope.
func LeafHash(data []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(data)
	return h.Sum(nil)
}

func nodeHash(l, r []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}

// merkleRoot follows RFC 6962 section 2.1: split at the largest power of two
// smaller than n.
func merkleRoot(leaves [][]byte) []byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return nodeHash(merkleRoot(leaves[:k]), merkleRoot(leaves[k:]))
}

// EndorsementMessage returns the bytes an endorser signs: the response
// payload followed by the endorser's SerializedIdentity bytes.
func EndorsementMessage(payload, endorser []byte) []byte {
	b := make([]byte, 0, len(payload)+len(endorser))
	b = append(b, payload...)
	return append(b, endorser...)
}

// GenesisPreviousHash is the previous_hash of block 0.
func GenesisPreviousHash() []byte { return make([]byte, HashSize) }

// AssembleTransaction builds the payload a creator signs to submit an
// endorsed transaction: the header of the proposal, and the proposal bytes,
// the response payload every endorser signed, and their endorsements.
func AssembleTransaction(header *foliov1.TxHeader, proposalBytes, responsePayload []byte, endorsements []*foliov1.Endorsement) (*foliov1.Payload, error) {
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.Transaction{
		ProposalBytes: proposalBytes, ResponsePayload: responsePayload, Endorsements: endorsements})
	if err != nil {
		return nil, fmt.Errorf("encode transaction: %w", err)
	}
	return &foliov1.Payload{Header: header, Data: data}, nil
}
