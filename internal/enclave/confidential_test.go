package enclave_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
	"github.com/folio-ledger/folio/internal/enclave/vm"
)

// TestConfidential: a confidential contract's writes leave the enclave
// sealed under the provisioned state key, byte-identical across enclaves
// of different organisations (two processes with the same key file); the
// state database and external cache hold ciphertext only; reads see the
// plaintext; an enclave with another key cannot read them.
func TestConfidential(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	st := enclavetest.NewVersionedState()
	org1 := newEnclave(t, process, enclave.Options{State: st}, key)
	org2 := newEnclave(t, process, enclave.Options{State: st}, key)
	local := newEnclave(t, inProcess, enclave.Options{State: st}, key)
	for _, e := range []enclave.Enclave{org1, org2, local} {
		install(t, e, "kv", kvPkg, true)
	}
	c := call("put", "secret-key", "the secret", "other", "x")
	r1, r2, r3 := simulate(t, org1, "kv", c), simulate(t, org2, "kv", c), simulate(t, local, "kv", c)
	b1, _ := proto.MarshalOptions{Deterministic: true}.Marshal(r1.Action())
	b2, _ := proto.MarshalOptions{Deterministic: true}.Marshal(r2.Action())
	b3, _ := proto.MarshalOptions{Deterministic: true}.Marshal(r3.Action())
	if !bytes.Equal(b1, b2) || !bytes.Equal(b1, b3) {
		t.Fatal("endorsements of one call differ between enclaves with one state key")
	}
	if bytes.Contains(b1, []byte("the secret")) {
		t.Fatal("the write set carries the plaintext")
	}
	ws := writesOf(r1, 0)
	b := st.Commit(ws)
	for _, e := range []enclave.Enclave{org1, org2, local} {
		if err := e.Commit(context.Background(), b, ws); err != nil {
			t.Fatal(err)
		}
	}
	stored, _ := st.ValueAt("kv", "secret-key", b+1)
	if bytes.Contains(stored, []byte("the secret")) {
		t.Fatal("the state database holds the plaintext")
	}
	for i, e := range []enclave.Enclave{org1, org2, local} {
		for round := 0; round < 2; round++ { // from the state, then from a cache
			rs := getReads(t, simulate(t, e, "kv", call("get", "secret-key")))
			if rs[0].Value != "the secret" || rs[0].Block != b {
				t.Fatalf("enclave %d round %d read %+v", i, round, rs[0])
			}
		}
		if s := e.Stats(); s.BytesSealed == 0 || s.BytesUnsealed == 0 {
			t.Fatalf("enclave %d: nothing sealed or unsealed: %+v", i, s)
		}
	}

	// Another organisation's key cannot open them: the call fails, counted.
	other := newEnclave(t, inProcess, enclave.Options{State: st}, bytes.Repeat([]byte{8}, 32))
	install(t, other, "kv", kvPkg, true)
	_, err := other.Simulate(context.Background(), "1", withNS("kv", call("get", "secret-key")))
	if !errors.Is(err, enclave.ErrSealedState) || !errors.Is(err, vm.ErrState) {
		t.Fatalf("read under another key: %v", err)
	}
	if s := other.Stats(); s.TamperDetected != 1 {
		t.Fatalf("auth failure not counted: %+v", s)
	}

	// No key, no confidential contract; one flag per contract.
	nokey := newEnclave(t, process, enclave.Options{State: st}, nil)
	if err := nokey.Install(context.Background(), signed(t, "kv", "1", vmtest_BuildWasm(t, kvPkg), true)); !errors.Is(err, enclave.ErrNoStateKey) {
		t.Fatalf("confidential install without a key: %v", err)
	}
	if err := local.Install(context.Background(), signed(t, "kv", "2", vmtest_BuildWasm(t, kvPkg), false)); !errors.Is(err, enclave.ErrConfidentiality) {
		t.Fatalf("non-confidential version of a confidential contract: %v", err)
	}
	// Non-confidential contracts write plaintext.
	install(t, nokey, "plain", kvPkg, false)
	r := simulate(t, nokey, "plain", call("put", "k", "visible"))
	if string(r.RWSet.NsRwsets[0].Writes[0].Value) != "visible" {
		t.Fatal("a non-confidential write is not plaintext")
	}
}
