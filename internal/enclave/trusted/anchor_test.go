package trusted

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/enclave/wire"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/identity/identitytest"
	"github.com/folio-ledger/folio/internal/types"
)

// testNet is a consortium for the anchor's tests: Org1 and Org2 with
// peers, an ordering organisation, and a genesis block naming them.
type testNet struct {
	org1, org2, ord *identitytest.Org
	genesis         []byte
}

// newTestNet makes the consortium; pinned are genesis contracts (name,
// version 1, module) the block defines.
func newTestNet(t *testing.T, pinned map[string][]byte) *testNet {
	t.Helper()
	n := &testNet{org1: identitytest.NewOrg(t, "Org1"), org2: identitytest.NewOrg(t, "Org2"), ord: identitytest.NewOrg(t, "OrdererOrg")}
	cfg := &foliov1.ChannelConfig{Format: channel.Format, ChannelId: "ch",
		Batch: &foliov1.BatchConfig{MaxTxCount: 10, MaxBytes: 1 << 20, TimeoutMs: 100}}
	for _, o := range []*identitytest.Org{n.org1, n.org2, n.ord} {
		cfg.Orgs = append(cfg.Orgs, &foliov1.OrgConfig{Name: o.Name, MspId: o.MSPID, RootCerts: [][]byte{fcrypto.EncodeCertificatePEM(o.CA.Cert.Raw)}})
		role, list := identity.RolePeer, &cfg.Peers
		if o == n.ord {
			role, list = identity.RoleOrderer, &cfg.Orderers
		}
		node := o.Member(t, "node."+o.Name, role)
		id, err := fcrypto.KeyID(node.Cert.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		*list = append(*list, &foliov1.NodeEndpoint{Name: node.Name, Org: o.Name, NodeId: id})
	}
	for name, wasm := range pinned {
		sum := sha256.Sum256(wasm)
		cfg.Contracts = append(cfg.Contracts, &foliov1.ContractDefinition{Name: name, Version: "1", EndorsementPolicy: "OR('Org1MSP.peer')", PackageHash: sum[:]})
	}
	b, err := channel.NewGenesis(cfg, n.ord.Member(t, "admin", identity.RoleAdmin), time.Unix(1_700_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if n.genesis, err = proto.Marshal(b); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *testNet) anchor(t *testing.T) *Anchor {
	t.Helper()
	a, err := ParseAnchor(n.genesis)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// signedInstall packages wasm as signer into the Install the host sends.
func signedInstall(t *testing.T, signer types.Signer, name, version string, wasm []byte, confidential bool) *wire.Install {
	t.Helper()
	spkg, err := types.PackageContract(signer, name, version, wasm, confidential)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.Install{Name: name, Version: version, Confidential: confidential, Package: spkg.Package, Signature: spkg.Signature}
}

// swapModule is the host's attack on a genuine package: it replaces the
// module (and, if fixHash, the hash beside it) and keeps the signature.
func swapModule(t *testing.T, m *wire.Install, wasm []byte, fixHash bool) *wire.Install {
	t.Helper()
	var pkg foliov1.ContractPackage
	if err := proto.Unmarshal(m.Package, &pkg); err != nil {
		t.Fatal(err)
	}
	pkg.Wasm = wasm
	if fixHash {
		sum := sha256.Sum256(wasm)
		pkg.WasmSha256 = sum[:]
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pkg)
	if err != nil {
		t.Fatal(err)
	}
	out := *m
	out.Package = raw
	return &out
}

// TestAnchorAdmitsOnlyAdminSignedModules is the enclave's rule for what
// runs. Before it, Install loaded whatever module the host sent under any
// contract name (the first case was accepted), so a compromised host
// could run a module that reads a confidential contract's state and
// returns it in plaintext. Now only a package an admin under the genesis
// block's roots signed runs, and exactly its module; or a module the
// genesis block pins.
func TestAnchorAdmitsOnlyAdminSignedModules(t *testing.T) {
	good := []byte("\x00asm the signed module")
	evil := []byte("\x00asm a module that leaks the state")
	pinned := []byte("\x00asm the genesis contract")
	n := newTestNet(t, map[string][]byte{"copyright": pinned})
	a := n.anchor(t)
	stranger := identitytest.NewOrg(t, "Org1") // a CA the genesis block does not know, issuing "Org1MSP" identities
	genuine := signedInstall(t, n.org1.Member(t, "admin", identity.RoleAdmin), "kv", "1", good, false)

	for _, c := range []struct {
		name   string
		m      *wire.Install
		reason string // "" = admitted
	}{
		{"admin of Org1", genuine, ""},
		{"admin of Org2", signedInstall(t, n.org2.Member(t, "admin", identity.RoleAdmin), "kv", "1", good, false), ""},
		{"genesis contract, unsigned and pinned", &wire.Install{Name: "copyright", Version: "1", Wasm: pinned}, ""},
		{"unsigned module", &wire.Install{Name: "kv", Version: "1", Wasm: evil}, "no signed package, and the genesis block defines no contract kv version 1"},
		{"unsigned module under a genesis contract's name", &wire.Install{Name: "copyright", Version: "1", Wasm: evil}, "the genesis block pins"},
		{"genesis contract under another version", &wire.Install{Name: "copyright", Version: "2", Wasm: pinned}, "defines no contract copyright version 2"},
		{"genesis contract marked confidential", &wire.Install{Name: "copyright", Version: "1", Wasm: pinned, Confidential: true}, "confidential false"},
		{"signed by a peer", signedInstall(t, n.org1.Member(t, "peer9", identity.RolePeer), "kv", "1", evil, false), "is a peer; only an admin's package runs"},
		{"signed by a client", signedInstall(t, n.org2.Member(t, "user1", identity.RoleClient), "kv", "1", evil, false), "is a client; only an admin's package runs"},
		{"signed by an admin under an unknown root", signedInstall(t, stranger.Member(t, "admin", identity.RoleAdmin), "kv", "1", evil, false), "not issued by the organisation's CA"},
		{"signed by an orderer node", signedInstall(t, n.ord.Member(t, "orderer9", identity.RoleOrderer), "kv", "1", evil, false), "is a orderer"},
		{"module swapped, hash kept", swapModule(t, genuine, evil, false), "SHA-256"},
		{"module and hash swapped", swapModule(t, genuine, evil, true), "signature of packager"},
		{"signature of another package", func() *wire.Install {
			m := *signedInstall(t, n.org1.Member(t, "admin2", identity.RoleAdmin), "kv", "1", evil, false)
			m.Signature = genuine.Signature
			return &m
		}(), "signature of packager"},
		{"signed package under another name", func() *wire.Install { m := *genuine; m.Name = "secret"; return &m }(), "the host asked for secret 1"},
		{"signed package under another version", func() *wire.Install { m := *genuine; m.Version = "2"; return &m }(), "the host asked for kv 2"},
		{"signed package marked confidential", func() *wire.Install { m := *genuine; m.Confidential = true; return &m }(), "(confidential true)"},
		{"not a package", &wire.Install{Name: "kv", Version: "1", Package: []byte("garbage"), Signature: genuine.Signature}, "bad contract package"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wasm, err := a.admit(c.m)
			if c.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if want := c.m.Wasm; c.m.Package != nil && string(wasm) != string(good) || c.m.Package == nil && string(wasm) != string(want) {
					t.Fatalf("admitted module %q", wasm)
				}
				return
			}
			if !errors.Is(err, ErrUntrustedModule) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("got %v, want ErrUntrustedModule mentioning %q", err, c.reason)
			}
			// The refusal crosses the boundary as itself.
			if back := ErrorFromWire(ErrorToWire(err)); !errors.Is(back, ErrUntrustedModule) {
				t.Fatalf("over the wire: %v", back)
			}
		})
	}
}

// TestServiceInstallRefusesUntrusted: a refused module is not loaded, and
// a Service cannot start without an anchor.
func TestServiceInstallRefusesUntrusted(t *testing.T) {
	ctx := context.Background()
	if _, err := New(ctx, Options{}); !errors.Is(err, ErrNoAnchor) {
		t.Fatalf("New without an anchor: %v", err)
	}
	if _, err := ParseAnchor(nil); !errors.Is(err, ErrNoAnchor) {
		t.Fatalf("ParseAnchor(nil): %v", err)
	}
	if _, err := ParseAnchor([]byte("not a block")); err == nil {
		t.Fatal("garbage accepted as a genesis block")
	}
	n := newTestNet(t, nil)
	s, err := New(ctx, Options{Anchor: n.anchor(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	err = s.Install(ctx, &wire.Install{Name: "kv", Version: "1", Wasm: []byte("\x00asm\x01\x00\x00\x00")})
	if !errors.Is(err, ErrUntrustedModule) {
		t.Fatalf("unsigned install: %v", err)
	}
	if _, ok := s.module("kv", "1"); ok {
		t.Fatal("a refused module was installed")
	}
}

// TestStateKeyBoundToAnchor: one state key, one genesis block: one
// sealing key on every peer; another genesis block (the host substituting
// the roots the enclave trusts) gives another key, so confidential state
// sealed on the channel does not open in that enclave.
func TestStateKeyBoundToAnchor(t *testing.T) {
	ctx := context.Background()
	key := make([]byte, 32)
	n1, n2 := newTestNet(t, nil), newTestNet(t, nil)
	seal := func(a *Anchor) []byte {
		s, err := New(ctx, Options{Anchor: a, StateKey: key, InternalCacheBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(ctx)
		out, err := s.state.Seal("tx1", "kv", "k", []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b, c := seal(n1.anchor(t)), seal(n1.anchor(t)), seal(n2.anchor(t))
	if string(a) != string(b) {
		t.Fatal("two enclaves with one key and one genesis block seal differently")
	}
	if string(a) == string(c) {
		t.Fatal("an enclave given another genesis block seals under the same key")
	}
}
