package enclave_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/types"
)

// TestOnlySignedModulesRun plays the compromised host against a real
// enclave (in a process of its own, and in process): it hands over a
// module nobody signed, modules signed by a peer, a client and an admin of
// a CA the genesis block does not know, and a genuine package whose module
// it swapped. Before, Install ran any module under any contract name; now
// each is refused with ErrUntrustedModule and a reason the host sees, the
// contract stays uninstalled, and the admin-signed package runs.
func TestOnlySignedModulesRun(t *testing.T) {
	c := testConsortium(t)
	kv := vmtest_BuildWasm(t, kvPkg)
	leak := vmtest_BuildWasm(t, misbehavePkg) // stands for a module that leaks state
	org1 := c.Orgs[0]
	peer, client := org1.Peer, c.Orgs[1].Client
	stranger, err := enclavetest.NewConsortium(1) // its Org1 is not the genesis block's
	if err != nil {
		t.Fatal(err)
	}
	pkgBy := func(signer types.Signer, wasm []byte) enclave.Module {
		t.Helper()
		spkg, err := types.PackageContract(signer, "kv", "1", wasm, false)
		if err != nil {
			t.Fatal(err)
		}
		m, err := enclave.SignedModule(spkg)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	genuine := pkgBy(c.Admin(), kv)
	swapped := func() enclave.Module {
		var pkg foliov1.ContractPackage
		if err := proto.Unmarshal(genuine.Signed.Package, &pkg); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(leak)
		pkg.Wasm, pkg.WasmSha256 = leak, sum[:]
		raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pkg)
		if err != nil {
			t.Fatal(err)
		}
		m := genuine
		m.Signed = &foliov1.SignedContractPackage{Package: raw, Signature: genuine.Signed.Signature}
		return m
	}()

	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			st := enclavetest.NewVersionedState()
			e := newEnclave(t, m, enclave.Options{State: st}, nil)
			ctx := context.Background()
			for _, a := range []struct {
				name   string
				mod    enclave.Module
				reason string
			}{
				{"unsigned module", enclave.Module{Name: "kv", Version: "1", Wasm: leak}, "no signed package"},
				{"signed by a peer", pkgBy(peer, leak), "is a peer"},
				{"signed by a client", pkgBy(client, leak), "is a client"},
				{"signed by an admin under an unknown root", pkgBy(stranger.Admin(), leak), "not issued by the organisation's CA"},
				{"admin's package with its module swapped", swapped, "signature of packager"},
			} {
				err := e.Install(ctx, a.mod)
				if !errors.Is(err, enclave.ErrUntrustedModule) || !strings.Contains(err.Error(), a.reason) {
					t.Errorf("%s: got %v, want ErrUntrustedModule mentioning %q", a.name, err, a.reason)
				}
			}
			_, err := e.Simulate(ctx, "1", withNS("kv", call("get", "a")))
			if !errors.Is(err, enclave.ErrNotInstalled) {
				t.Fatalf("a refused module runs: %v", err)
			}
			if err := e.Install(ctx, genuine); err != nil {
				t.Fatalf("admin-signed package: %v", err)
			}
			if rs := getReads(t, simulate(t, e, "kv", call("get", "a"))); len(rs) != 1 || rs[0].Found {
				t.Fatalf("reads %+v", rs)
			}
			// The same version again with other, unsigned bytes: still refused
			// before the installed one is compared.
			if err := e.Install(ctx, enclave.Module{Name: "kv", Version: "1", Wasm: leak}); !errors.Is(err, enclave.ErrUntrustedModule) {
				t.Fatalf("unsigned reinstall: %v", err)
			}
		})
	}
}

// TestGenesisContractRunsUnsigned: a contract the genesis block defines
// (placed on the peers by `folio network up` without a package) runs
// because the block pins its module's hash; other bytes under its name do
// not.
func TestGenesisContractRunsUnsigned(t *testing.T) {
	kv := vmtest_BuildWasm(t, kvPkg)
	c, err := enclavetest.NewConsortium(1, enclavetest.GenesisContract{Name: "kv", Version: "1", Wasm: kv})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			e := newEnclave(t, m, enclave.Options{State: enclavetest.NewVersionedState(), Genesis: c.Genesis}, nil)
			ctx := context.Background()
			other := append(bytes.Clone(kv), 0) // one byte more: another module
			if err := e.Install(ctx, enclave.Module{Name: "kv", Version: "1", Wasm: other}); !errors.Is(err, enclave.ErrUntrustedModule) {
				t.Fatalf("other bytes under a genesis contract's name: %v", err)
			}
			if err := e.Install(ctx, enclave.Module{Name: "kv", Version: "1", Wasm: kv}); err != nil {
				t.Fatal(err)
			}
			simulate(t, e, "kv", call("get", "a"))
		})
	}
}

// TestSubstitutedAnchorCannotReadConfidentialState: the host controls the
// files an enclave starts with, so it can start one with a genesis block
// of its own making, whose CA issues it an admin, and have that enclave
// run a module of its choice. That enclave derives its sealing key from
// the state key bound to the block it was given, so it cannot open the
// channel's confidential state: the read fails as a forgery.
func TestSubstitutedAnchorCannotReadConfidentialState(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	st := enclavetest.NewVersionedState()
	honest := newEnclave(t, process, enclave.Options{State: st}, key)
	install(t, honest, "kv", kvPkg, true)
	r := simulate(t, honest, "kv", call("put", "secret-key", "the secret"))
	ws := writesOf(r, 0)
	b := st.Commit(ws)
	if err := honest.Commit(context.Background(), b, ws); err != nil {
		t.Fatal(err)
	}

	forged, err := enclavetest.NewConsortium(1)
	if err != nil {
		t.Fatal(err)
	}
	evil := newEnclave(t, process, enclave.Options{State: st, Genesis: forged.Genesis}, key)
	m, err := forged.Module("kv", "1", vmtest_BuildWasm(t, kvPkg), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := evil.Install(context.Background(), m); err != nil {
		t.Fatal(err) // the forged anchor's admin is trusted by that enclave...
	}
	_, err = evil.Simulate(context.Background(), "1", withNS("kv", call("get", "secret-key")))
	if !errors.Is(err, enclave.ErrSealedState) || !errors.Is(err, vm.ErrState) {
		t.Fatalf("...but the channel's sealed state must not open there: %v", err)
	}
}
