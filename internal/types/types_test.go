package types

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

func testHeader() *foliov1.TxHeader {
	nonce := bytes.Repeat([]byte{7}, MinNonceBytes)
	creator := []byte("creator-bytes")
	return &foliov1.TxHeader{
		Type: foliov1.TxType_TX_TYPE_ENDORSER, ChannelId: "folio", TxId: TxID(nonce, creator),
		Creator: creator, Nonce: nonce, TimestampUnixNano: time.Now().UnixNano(),
	}
}

func testProposal() *foliov1.Proposal {
	return &foliov1.Proposal{Header: testHeader(), Invocation: &foliov1.ContractInvocation{
		Contract: "copyright", Function: "register", Args: [][]byte{[]byte(`{"id":"w1"}`)},
	}}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTxIDIsHashOfNonceAndCreator(t *testing.T) {
	sum := sha256.Sum256([]byte("nonce" + "creator"))
	if got := TxID([]byte("nonce"), []byte("creator")); got != string(hexLower(sum[:])) {
		t.Fatalf("TxID = %s", got)
	}
}

func hexLower(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}

func TestHeaderBytesLayout(t *testing.T) {
	h := &foliov1.BlockHeader{Number: 0x0102030405060708, PreviousHash: bytes.Repeat([]byte{0xaa}, 32),
		DataHash: bytes.Repeat([]byte{0xbb}, 32), TimestampUnixNano: 1_700_000_000_123_456_789}
	b, err := HeaderBytes(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != HeaderSize || HeaderSize != 80 {
		t.Fatalf("header is %d bytes", len(b))
	}
	if binary.BigEndian.Uint64(b[:8]) != h.Number || !bytes.Equal(b[8:40], h.PreviousHash) ||
		!bytes.Equal(b[40:72], h.DataHash) || int64(binary.BigEndian.Uint64(b[72:])) != h.TimestampUnixNano {
		t.Fatalf("layout wrong: %x", b)
	}
	hash, _ := HeaderHash(h)
	if want := sha256.Sum256(b); !bytes.Equal(hash, want[:]) {
		t.Fatal("header hash is not SHA-256 of the canonical bytes")
	}
	h.DataHash = h.DataHash[:31]
	if _, err := HeaderBytes(h); err == nil {
		t.Fatal("short data hash accepted")
	}
}

// TestDataHashRFC6962 checks the tree shape against a direct transcription
// of RFC 6962 section 2.1 for small sizes.
func TestDataHashRFC6962(t *testing.T) {
	leaf := func(s string) []byte { h := sha256.Sum256(append([]byte{0}, s...)); return h[:] }
	node := func(l, r []byte) []byte { h := sha256.Sum256(append(append([]byte{1}, l...), r...)); return h[:] }
	empty := sha256.Sum256(nil)
	a, b, c, d, e := leaf("a"), leaf("b"), leaf("c"), leaf("d"), leaf("e")
	cases := []struct {
		in   []string
		want []byte
	}{
		{nil, empty[:]},
		{[]string{"a"}, a},
		{[]string{"a", "b"}, node(a, b)},
		{[]string{"a", "b", "c"}, node(node(a, b), c)},
		{[]string{"a", "b", "c", "d", "e"}, node(node(node(a, b), node(c, d)), e)},
	}
	for _, tc := range cases {
		envs := make([][]byte, len(tc.in))
		for i, s := range tc.in {
			envs[i] = []byte(s)
		}
		if got := DataHash(envs); !bytes.Equal(got, tc.want) {
			t.Errorf("DataHash(%v) = %x, want %x", tc.in, got, tc.want)
		}
	}
}

func TestParseSignedProposal(t *testing.T) {
	good := testProposal()
	sp := &foliov1.SignedProposal{ProposalBytes: mustMarshal(t, good), Signature: []byte{1}}
	if _, err := ParseSignedProposal(sp); err != nil {
		t.Fatalf("valid proposal rejected: %v", err)
	}
	mutations := map[string]func(p *foliov1.Proposal){
		"tx id not derived":  func(p *foliov1.Proposal) { p.Header.TxId = "00" },
		"short nonce":        func(p *foliov1.Proposal) { p.Header.Nonce = []byte{1} },
		"no creator":         func(p *foliov1.Proposal) { p.Header.Creator = nil },
		"bad channel":        func(p *foliov1.Proposal) { p.Header.ChannelId = "Bad Channel" },
		"config type":        func(p *foliov1.Proposal) { p.Header.Type = foliov1.TxType_TX_TYPE_CONFIG },
		"unknown type":       func(p *foliov1.Proposal) { p.Header.Type = 99 },
		"no timestamp":       func(p *foliov1.Proposal) { p.Header.TimestampUnixNano = 0 },
		"no invocation":      func(p *foliov1.Proposal) { p.Invocation = nil },
		"bad contract name":  func(p *foliov1.Proposal) { p.Invocation.Contract = "../etc" },
		"bad function":       func(p *foliov1.Proposal) { p.Invocation.Function = "" },
		"too many arguments": func(p *foliov1.Proposal) { p.Invocation.Args = make([][]byte, MaxArgs+1) },
	}
	for name, mutate := range mutations {
		p := proto.Clone(good).(*foliov1.Proposal)
		mutate(p)
		if name != "tx id not derived" {
			p.Header.TxId = TxID(p.Header.Nonce, p.Header.Creator)
		}
		_, err := ParseSignedProposal(&foliov1.SignedProposal{ProposalBytes: mustMarshal(t, p), Signature: []byte{1}})
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	if _, err := ParseSignedProposal(&foliov1.SignedProposal{ProposalBytes: []byte{0xff, 0xff}, Signature: []byte{1}}); !errors.Is(err, ErrMalformed) {
		t.Errorf("garbage bytes: %v", err)
	}
	if _, err := ParseSignedProposal(&foliov1.SignedProposal{ProposalBytes: sp.ProposalBytes}); !errors.Is(err, ErrMalformed) {
		t.Errorf("unsigned proposal: %v", err)
	}
}

func endorsedPayload(t testing.TB) *foliov1.Payload {
	prop := testProposal()
	propBytes := mustMarshal(t, prop)
	sum := sha256.Sum256(propBytes)
	resp := &foliov1.ProposalResponsePayload{ProposalHash: sum[:], Action: &foliov1.ContractAction{
		Contract: &foliov1.ContractRef{Name: "copyright", Version: "1"},
		Rwset: &foliov1.ReadWriteSet{NsRwsets: []*foliov1.NsReadWriteSet{{
			Namespace: "copyright",
			Writes:    []*foliov1.KVWrite{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}},
		}}},
		Response: &foliov1.Response{Status: 200},
	}}
	tx := &foliov1.Transaction{ProposalBytes: propBytes, ResponsePayload: mustMarshal(t, resp),
		Endorsements: []*foliov1.Endorsement{{Endorser: []byte("e"), Signature: []byte("s")}}}
	return &foliov1.Payload{Header: prop.Header, Data: mustMarshal(t, tx)}
}

func TestParseEndorsedTransaction(t *testing.T) {
	p := endorsedPayload(t)
	env := &foliov1.Envelope{Payload: mustMarshal(t, p), Signature: []byte{1}}
	parsed, err := ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseEndorsedTransaction(parsed); err != nil {
		t.Fatalf("valid transaction rejected: %v", err)
	}
	// The envelope header must equal the proposal's.
	other := proto.Clone(p).(*foliov1.Payload)
	other.Header.TimestampUnixNano++
	if _, err := ParseEndorsedTransaction(other); !errors.Is(err, ErrMalformed) {
		t.Fatalf("header mismatch: %v", err)
	}
	// Unsorted writes are refused so equal simulations encode equally.
	var tx foliov1.Transaction
	_ = proto.Unmarshal(p.Data, &tx)
	var resp foliov1.ProposalResponsePayload
	_ = proto.Unmarshal(tx.ResponsePayload, &resp)
	w := resp.Action.Rwset.NsRwsets[0].Writes
	w[0], w[1] = w[1], w[0]
	tx.ResponsePayload = mustMarshal(t, &resp)
	bad := &foliov1.Payload{Header: p.Header, Data: mustMarshal(t, &tx)}
	if _, err := ParseEndorsedTransaction(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unsorted writes: %v", err)
	}
}

func TestValidateBlock(t *testing.T) {
	envs := [][]byte{[]byte("e1"), []byte("e2")}
	b := &foliov1.Block{
		Header: &foliov1.BlockHeader{Number: 1, PreviousHash: GenesisPreviousHash(), DataHash: DataHash(envs), TimestampUnixNano: 1},
		Data:   &foliov1.BlockData{Envelopes: envs},
	}
	if err := ValidateBlock(b); err != nil {
		t.Fatal(err)
	}
	b.Data.Envelopes = [][]byte{[]byte("e1"), []byte("e3")}
	if err := ValidateBlock(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("tampered envelope: %v", err)
	}
	b.Data.Envelopes = envs
	b.Metadata = &foliov1.BlockMetadata{ValidationCodes: []byte{0}}
	if err := ValidateBlock(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short validation codes: %v", err)
	}
}
