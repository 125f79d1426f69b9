package endorse

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/identitytest"
	"github.com/folio-ledger/folio/internal/lifecycle"
	"github.com/folio-ledger/folio/internal/types"
)

func TestMain(m *testing.M) { vmtest.Main(m) }

type committed map[string]bool

func (c committed) HasTx(id string) (bool, error) { return c[id], nil }

type fixture struct {
	user, peer1, peer2 *identity.SigningIdentity
	e1, e2             *Endorser
	done               committed
	state              *vmtest.MemState
}

func newFixture(t *testing.T, installed bool) *fixture {
	o1, o2 := identitytest.NewOrg(t, "Org1"), identitytest.NewOrg(t, "Org2")
	msp, _ := identity.NewVerifier([]identity.Org{{Name: "Org1", MSPID: "Org1MSP", Root: o1.CA.Cert}, {Name: "Org2", MSPID: "Org2MSP", Root: o2.CA.Cert}}, nil)
	wasm := vmtest.BuildWasm(t, "github.com/folio-ledger/folio/contracts/copyright/cmd/copyright")
	sum := sha256.Sum256(wasm)
	dir := t.TempDir()
	if installed {
		_ = os.MkdirAll(filepath.Join(dir, "copyright"), 0o755)
		_ = os.WriteFile(filepath.Join(dir, "copyright", "1.wasm"), wasm, 0o644)
	}
	reg, err := lifecycle.New(dir, &foliov1.ChannelConfig{Contracts: []*foliov1.ContractDefinition{{Name: "copyright", Version: "1",
		EndorsementPolicy: "AND('Org1MSP.member','Org2MSP.member')", PackageHash: sum[:]}}})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := vm.NewRuntime(context.Background(), vm.Options{CacheDir: vmtest.CacheDir(t), ChannelOrgs: vmtest.SharedOrgs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	f := &fixture{user: o1.Member(t, "user1", identity.RoleClient), peer1: o1.Member(t, "peer0", identity.RolePeer),
		peer2: o2.Member(t, "peer0", identity.RolePeer), done: committed{}, state: vmtest.NewMemState()}
	exec := &VMExecutor{Runtime: rt, State: f.state}
	mk := func(self *identity.SigningIdentity) *Endorser {
		e, err := New(Options{ChannelID: "folio", Self: self, MSP: msp, Contracts: reg, Exec: exec, Committed: f.done,
			Height: func() uint64 { return 1 }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	f.e1, f.e2 = mk(f.peer1), mk(f.peer2)
	return f
}

func (f *fixture) proposal(t *testing.T, who *identity.SigningIdentity, fn string, args any) *foliov1.SignedProposal {
	b, _ := json.Marshal(args)
	sp, _, err := types.NewProposal(who, "folio", "copyright", fn, [][]byte{b})
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

var work = map[string]string{"id": "W1", "title": "T", "author": "A", "type": "audio", "content_hash": "sha256:" + string(bytes.Repeat([]byte("ab"), 32))}

func TestEndorsersOfBothOrgsSignTheSameBytes(t *testing.T) {
	f := newFixture(t, true)
	sp := f.proposal(t, f.user, "register", work)
	ctx := context.Background()
	r1, err := f.e1.Endorse(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := f.e2.Endorse(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Response.Status != 200 || !bytes.Equal(r1.Payload, r2.Payload) {
		t.Fatalf("status %d; payloads equal: %v", r1.Response.Status, bytes.Equal(r1.Payload, r2.Payload))
	}
	for _, r := range []*foliov1.ProposalResponse{r1, r2} {
		_, cert, _ := identity.Deserialize(r.Endorsement.Endorser)
		if err := fcrypto.Verify(cert.PublicKey, types.DomainEndorsement, types.EndorsementMessage(r.Payload, r.Endorsement.Endorser), r.Endorsement.Signature); err != nil {
			t.Fatalf("endorsement does not verify: %v", err)
		}
	}
	var prop foliov1.Proposal
	_ = proto.Unmarshal(sp.ProposalBytes, &prop)
	id := prop.Header.TxId
	sig := r1.Endorsement.Signature
	flipped := bytes.Clone(sig)
	flipped[len(flipped)/2] ^= 1
	if !f.e1.Endorsed(id, f.peer1.Serialized(), r1.Payload, sig) || f.e1.Endorsed(id, f.peer2.Serialized(), r1.Payload, sig) ||
		f.e1.Endorsed(id, f.peer1.Serialized(), append([]byte{1}, r1.Payload...), sig) || f.e1.Endorsed("other", f.peer1.Serialized(), r1.Payload, sig) {
		t.Fatal("Endorsed must recognise exactly what this endorser signed")
	}
	// The attack of a client that flips a byte of the gateway peer's own
	// endorsement signature: the shortcut must not apply.
	if f.e1.Endorsed(id, f.peer1.Serialized(), r1.Payload, flipped) || f.e1.Endorsed(id, f.peer1.Serialized(), r1.Payload, sig[:len(sig)-1]) {
		t.Fatal("Endorsed accepted signature bytes this endorser did not produce")
	}
	var pl foliov1.ProposalResponsePayload
	_ = proto.Unmarshal(r1.Payload, &pl)
	if pl.Action.Contract.Version != "1" || len(pl.Action.Rwset.NsRwsets) != 1 {
		t.Fatalf("action %v", pl.Action)
	}
	if sum := sha256.Sum256(sp.ProposalBytes); !bytes.Equal(pl.ProposalHash, sum[:]) {
		t.Fatal("payload answers another proposal")
	}
}

func TestEndorserRefusals(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	forged := f.proposal(t, f.user, "register", work)
	forged.Signature[len(forged.Signature)-3] ^= 1
	stale := func() *foliov1.SignedProposal {
		var p foliov1.Proposal
		sp := f.proposal(t, f.user, "register", work)
		_ = proto.Unmarshal(sp.ProposalBytes, &p)
		p.Header.TimestampUnixNano = time.Now().Add(-time.Hour).UnixNano()
		raw, _ := proto.Marshal(&p)
		sig, _ := f.user.Sign(types.DomainProposal, raw)
		return &foliov1.SignedProposal{ProposalBytes: raw, Signature: sig}
	}()
	replayed := f.proposal(t, f.user, "register", work)
	var rp foliov1.Proposal
	_ = proto.Unmarshal(replayed.ProposalBytes, &rp)
	f.done[rp.Header.TxId] = true
	unknown, _, _ := types.NewProposal(f.user, "folio", "other", "x", nil)
	for name, c := range map[string]struct {
		sp   *foliov1.SignedProposal
		want error
	}{
		"forged signature": {forged, ErrNotAuthorized},
		"stale timestamp":  {stale, ErrBadProposal},
		"replayed":         {replayed, ErrAlreadyCommitted},
		"a peer invoking":  {f.proposal(t, f.peer1, "register", work), ErrNotAuthorized},
		"unknown contract": {unknown, ErrUnavailable},
		"garbage proposal": {&foliov1.SignedProposal{ProposalBytes: []byte{0xff}, Signature: []byte{1}}, ErrBadProposal},
	} {
		if _, err := f.e1.Endorse(ctx, c.sp); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	// A contract refusal is answered but not endorsed.
	resp, err := f.e1.Endorse(ctx, f.proposal(t, f.user, "transfer", map[string]string{"id": "nope", "to": "user1@Org2"}))
	if err != nil || resp.Response.Status != 404 || resp.Endorsement != nil {
		t.Fatalf("transfer of an unknown work: %v %v", resp, err)
	}
}

func TestNotInstalledOrWrongPackage(t *testing.T) {
	f := newFixture(t, false)
	if _, err := f.e1.Endorse(context.Background(), f.proposal(t, f.user, "register", work)); !errors.Is(err, ErrUnavailable) || !errors.Is(err, lifecycle.ErrNotInstalled) {
		t.Fatalf("not installed: %v", err)
	}
}

// TestQueryAuthenticatedByTLS: a query whose creator is the TLS client of
// its connection skips the proposal signature; any other connection, or an
// invocation, still needs a valid signature.
func TestQueryAuthenticatedByTLS(t *testing.T) {
	f := newFixture(t, true)
	other := f.peer2 // a certificate that is not the creator's
	forged := f.proposal(t, f.user, "get", map[string]string{"id": "W1"})
	forged.Signature[len(forged.Signature)-3] ^= 1
	if _, err := f.e1.CheckQueryFrom(forged, f.user.Cert); err != nil {
		t.Fatalf("query over the creator's own TLS connection: %v", err)
	}
	for name, check := range map[string]func() error{
		"no connection":        func() error { _, err := f.e1.CheckQueryFrom(forged, nil); return err },
		"another's connection": func() error { _, err := f.e1.CheckQueryFrom(forged, other.Cert); return err },
		"Check(query)":         func() error { _, err := f.e1.Check(forged, true); return err },
		"Check(invoke)":        func() error { _, err := f.e1.Check(forged, false); return err },
	} {
		if err := check(); !errors.Is(err, ErrNotAuthorized) {
			t.Errorf("%s: forged signature accepted or wrong error: %v", name, err)
		}
	}
}
