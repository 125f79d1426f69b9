package installer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"

	"connectrpc.com/connect"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/commit"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/lifecycle"
)

type fakeCommitter struct{ height uint64 }

func (c fakeCommitter) Height() uint64 { return c.height }
func (fakeCommitter) Wait(context.Context, string) (commit.Status, error) {
	return commit.Status{}, fmt.Errorf("not committing")
}

// state is a committed lifecycle namespace for Registry.Load.
type state map[string]string

func (s state) Range(_, start, end string, limit int) ([]lifecycle.KV, bool, error) {
	var keys []string
	for k := range s {
		if k >= start && k < end {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]lifecycle.KV, len(keys))
	for i, k := range keys {
		out[i] = lifecycle.KV{Key: k, Value: []byte(s[k])}
	}
	return out, false, nil
}

// The status reports the definition's sequence and the sequence each
// activation created, derived for records written at capability level 1
// and read from those written at level 2; a contract whose first
// activation is pending has a status (its first activation was sequence 1).
func TestStatusReportsSequences(t *testing.T) {
	h1 := bytes.Repeat([]byte{1}, 32)
	cfg := &foliov1.ChannelConfig{ChannelId: "folio",
		Orgs:      []*foliov1.OrgConfig{{Name: "Org1", MspId: "Org1MSP"}},
		Peers:     []*foliov1.NodeEndpoint{{Name: "peer0.org1", Org: "Org1"}},
		Contracts: []*foliov1.ContractDefinition{{Name: "copyright", Version: "1", EndorsementPolicy: "OR('Org1MSP.peer')", PackageHash: h1}}}
	reg, err := lifecycle.New(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	def := func(name, version string, from uint64, hash string) string {
		return fmt.Sprintf(`{"name":%q,"version":%q,"policy":"OR('Org1MSP.peer')","confidential":false,"package_hash":%q,"from_block":%d}`, name, version, hash, from)
	}
	const hash1, hash2 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
	st := state{
		"def/copyright": "[" + def("copyright", "1", 1, hash1) + "," + def("copyright", "2", 5, hash2) + "," + def("copyright", "1", 9, hash1) + "]",
		// A level-1 record (no sequence), then a level-2 one.
		"activation/copyright/00000000000000000003/000000": `{"contract":"copyright","version":"2","package_hash":"` + hash2 + `","start_block":5,"block":3,"tx_id":"a","signers":["admin@Org1"]}`,
		"activation/copyright/00000000000000000007/000002": `{"contract":"copyright","version":"1","package_hash":"` + hash1 + `","start_block":9,"block":7,"tx_id":"b","signers":["admin@Org1"],"sequence":3}`,
		"def/newone": "[" + def("newone", "1", 30, hash2) + "]",
		"activation/newone/00000000000000000008/000000": `{"contract":"newone","version":"1","package_hash":"` + hash2 + `","start_block":30,"block":8,"tx_id":"c","signers":["admin@Org1"],"sequence":1}`,
	}
	if err := reg.Load(st); err != nil {
		t.Fatal(err)
	}
	in, err := New(Options{ChannelID: "folio", Self: &identity.SigningIdentity{}, MSP: &identity.Verifier{}, Contracts: reg, Enclave: &fakeEnclave{},
		Committer: fakeCommitter{height: 8}, Submit: func(context.Context, *foliov1.Envelope) error { return nil },
		Caller: func(context.Context) (*identity.Identity, bool) { return nil, false }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	resp, err := in.Status(ctx, connect.NewRequest(&foliov1.ContractStatusRequest{Name: "copyright"}))
	if err != nil {
		t.Fatal(err)
	}
	st0 := resp.Msg
	if st0.Sequence != 3 || st0.EffectiveVersion != "2" || st0.Next.GetVersion() != "1" || st0.Height != 8 {
		t.Fatalf("status: sequence %d, effective %s, next %v, height %d", st0.Sequence, st0.EffectiveVersion, st0.Next, st0.Height)
	}
	if len(st0.Activations) != 2 || st0.Activations[0].Sequence != 2 || st0.Activations[1].Sequence != 3 {
		t.Fatalf("activations: %v", st0.Activations)
	}

	resp, err = in.Status(ctx, connect.NewRequest(&foliov1.ContractStatusRequest{Name: "newone"}))
	if err != nil {
		t.Fatalf("a contract with its first activation pending: %v", err)
	}
	if m := resp.Msg; m.Sequence != 1 || m.EffectiveVersion != "" || m.Next.GetVersion() != "1" || m.Next.GetStartBlock() != 30 {
		t.Fatalf("pending new contract: %v", m)
	}
	if st0.EffectivePolicy != "OR('Org1MSP.peer')" || st0.Next.GetPolicy() != "OR('Org1MSP.peer')" {
		t.Fatalf("policies: effective %q, next %q", st0.EffectivePolicy, st0.Next.GetPolicy())
	}
	all, err := in.Contracts(ctx, connect.NewRequest(&foliov1.ContractsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if cs := all.Msg.Contracts; len(cs) != 2 || cs[0].Name != "copyright" || cs[1].Name != "newone" || cs[1].Next.GetPolicy() == "" {
		t.Fatalf("every contract: %v", cs)
	}

	if _, err := in.Status(ctx, connect.NewRequest(&foliov1.ContractStatusRequest{Name: "nope"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("unknown contract: %v", err)
	}
}

// A contract that is installed but was never activated has a status: its
// install records, sequence 0 and no version. `folio contract activate`
// without --package reads the package hash of a new contract from them
// (issue 19: the peer answered NotFound and the hash could not be found).
func TestStatusOfAnInstalledNewContract(t *testing.T) {
	cfg := &foliov1.ChannelConfig{ChannelId: "folio",
		Orgs:  []*foliov1.OrgConfig{{Name: "Org1", MspId: "Org1MSP"}},
		Peers: []*foliov1.NodeEndpoint{{Name: "peer0.org1", Org: "Org1"}, {Name: "peer1.org1", Org: "Org1"}}}
	reg, err := lifecycle.New(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	const hash = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=" // 32 bytes of 3
	if err := reg.Load(state{
		"install/licence/1/peer0.org1": `{"peer":"peer0.org1","contract":"licence","version":"1","package_hash":"` + hash + `","tx_id":"i1","block":4}`,
	}); err != nil {
		t.Fatal(err)
	}
	in, err := New(Options{ChannelID: "folio", Self: &identity.SigningIdentity{}, MSP: &identity.Verifier{}, Contracts: reg, Enclave: &fakeEnclave{},
		Committer: fakeCommitter{height: 5}, Submit: func(context.Context, *foliov1.Envelope) error { return nil },
		Caller: func(context.Context) (*identity.Identity, bool) { return nil, false }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := in.Status(context.Background(), connect.NewRequest(&foliov1.ContractStatusRequest{Name: "licence"}))
	if err != nil {
		t.Fatalf("status of an installed, never activated contract: %v", err)
	}
	m := resp.Msg
	if m.Sequence != 0 || m.EffectiveVersion != "" || m.Next != nil || m.Height != 5 || len(m.Activations) != 0 {
		t.Fatalf("status: %v", m)
	}
	var got []string
	for _, pi := range m.Installs {
		for i, v := range pi.Versions {
			got = append(got, fmt.Sprintf("%s:%s:%x", pi.Peer, v, pi.PackageHashes[i]))
		}
	}
	if want := fmt.Sprintf("peer0.org1:1:%x", bytes.Repeat([]byte{3}, 32)); len(got) != 1 || got[0] != want {
		t.Fatalf("installs %v, want [%s]", got, want)
	}
	// Installs of another contract whose name starts alike do not count.
	if _, err := in.Status(context.Background(), connect.NewRequest(&foliov1.ContractStatusRequest{Name: "lic"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("unknown contract: %v", err)
	}
}
