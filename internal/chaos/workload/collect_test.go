package workload

import (
	"crypto/sha256"
	"testing"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/chaos/history"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/identitytest"
	"github.com/folio-ledger/folio/internal/types"
)

// envelope builds an endorsed transaction calling contract.fn(args) as
// creator, as a block carries it (signatures are not checked here).
func envelope(t *testing.T, creator *identity.SigningIdentity, contract, fn string, args ...string) ([]byte, string) {
	t.Helper()
	var raw [][]byte
	for _, a := range args {
		raw = append(raw, []byte(a))
	}
	sp, h, err := types.NewProposal(creator, "ch", contract, fn, raw)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(sp.ProposalBytes)
	resp, err := proto.Marshal(&foliov1.ProposalResponsePayload{ProposalHash: sum[:],
		Action: &foliov1.ContractAction{Contract: &foliov1.ContractRef{Name: contract, Version: "1"}, Rwset: &foliov1.ReadWriteSet{}}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := types.AssembleTransaction(h, sp.ProposalBytes, resp, []*foliov1.Endorsement{{Endorser: []byte("e"), Signature: []byte("s")}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := types.SignEnvelope(creator, p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b, h.TxId
}

// blockTxs reads what each transaction of a block wrote, as the contract
// would decode it, and its validation code; it lists what it cannot
// decode rather than dropping it.
func TestBlockTxs(t *testing.T) {
	org := identitytest.NewOrg(t, "Org1")
	alice := org.Member(t, "alice", identity.RoleClient)
	reg, regID := envelope(t, alice, "copyright", "register", `{"id":"w1","title":"t","author":"a","owner":"bob@Org2","content_hash":"sha256:00"}`)
	regSelf, regSelfID := envelope(t, alice, "copyright", "register", `{"id":"w2","title":"t","author":"a","content_hash":"sha256:01"}`)
	tr, trID := envelope(t, alice, "copyright", "transfer", `{"id":"w1","to":"carol@Org1"}`)
	bad, badID := envelope(t, alice, "copyright", "transfer", `{"id":"w1","to":"carol@Org1","extra":1}`)
	get, getID := envelope(t, alice, "copyright", "get", `{"id":"w1"}`)
	other, otherID := envelope(t, alice, "release", "register", `{"id":"w1","owner":"x@Org1"}`)
	b := &foliov1.Block{Header: &foliov1.BlockHeader{Number: 4},
		Data:     &foliov1.BlockData{Envelopes: [][]byte{reg, regSelf, tr, bad, get, other, []byte("garbage")}},
		Metadata: &foliov1.BlockMetadata{ValidationCodes: []byte{0, 0, byte(foliov1.ValidationCode_MVCC_READ_CONFLICT), 0, 0, 0}}}
	got := blockTxs(b)
	want := []history.ChainTx{
		{TxID: regID, Block: 4, Code: "VALID", Contract: "copyright", Function: "register", Kind: history.Register, Work: "w1", Owner: "bob@Org2"},
		{TxID: regSelfID, Block: 4, Code: "VALID", Contract: "copyright", Function: "register", Kind: history.Register, Work: "w2", Owner: "alice@Org1"},
		{TxID: trID, Block: 4, Code: "MVCC_READ_CONFLICT", Contract: "copyright", Function: "transfer", Kind: history.Transfer, Work: "w1", Owner: "carol@Org1"},
		// The contract refuses unknown fields: it writes nothing.
		{TxID: badID, Block: 4, Code: "VALID", Contract: "copyright", Function: "transfer", Kind: history.Transfer},
		{TxID: getID, Block: 4, Code: "VALID", Contract: "copyright", Function: "get"},
		{TxID: otherID, Block: 4, Code: "VALID", Contract: "release", Function: "register"},
		{Block: 4, Code: "MISSING"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d transactions, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("tx %d: %+v\nwant %+v", i, got[i], want[i])
		}
	}
}
