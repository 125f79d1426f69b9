package types

import (
	"testing"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

// The fuzz targets feed arbitrary bytes to the decoders: they must never
// panic, and whatever they accept must survive a re-encode unchanged in
// meaning. Corpora live in testdata/fuzz.

func FuzzParseSignedProposal(f *testing.F) {
	f.Add(mustMarshal(f, testProposal()))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseSignedProposal(&foliov1.SignedProposal{ProposalBytes: data, Signature: []byte{1}})
		if err != nil {
			return
		}
		again, err := ParseSignedProposal(&foliov1.SignedProposal{ProposalBytes: mustMarshal(t, p), Signature: []byte{1}})
		if err != nil || !proto.Equal(p, again) {
			t.Fatalf("accepted proposal does not survive re-encoding: %v", err)
		}
	})
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add(mustMarshal(f, endorsedPayload(f)))
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseEnvelope(&foliov1.Envelope{Payload: data, Signature: []byte{1}})
		if err != nil {
			return
		}
		if err := ValidateHeader(p.Header); err != nil {
			t.Fatalf("accepted envelope has invalid header: %v", err)
		}
		_, _ = ParseEndorsedTransaction(p)
	})
}

func FuzzValidateBlock(f *testing.F) {
	envs := [][]byte{[]byte("a")}
	good := &foliov1.Block{Header: &foliov1.BlockHeader{Number: 3, PreviousHash: GenesisPreviousHash(), DataHash: DataHash(envs), TimestampUnixNano: 9},
		Data: &foliov1.BlockData{Envelopes: envs}}
	f.Add(mustMarshal(f, good))
	f.Fuzz(func(t *testing.T, data []byte) {
		var b foliov1.Block
		if err := proto.Unmarshal(data, &b); err != nil {
			return
		}
		if ValidateBlock(&b) == nil {
			if _, err := HeaderHash(b.Header); err != nil {
				t.Fatalf("valid block without a header hash: %v", err)
			}
		}
	})
}
