package release_test

import (
	"testing"
	"time"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/vm/vmtest"
)

func TestMain(m *testing.M) { vmtest.Main(m) }

// TestInVM runs create and publish_share in the wasm VM: the share
// statement's ECDSA signature is verified inside the contract.
func TestInVM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and compiles the wasm contract")
	}
	h := vmtest.Shared(t, "release", vmtest.BuildWasm(t, "github.com/folio-ledger/folio/contracts/release/cmd/release"))
	f := newFixture(t, "alice@Org1")
	T := t0.Add(time.Hour)
	res, _, err := h.Submit(abi.Call{TxID: "t1", Timestamp: t0, Function: "create", Args: arg(f.rec), Creator: alice})
	if err != nil || res.Response.Status != 200 {
		t.Fatalf("create: %v %v", err, res.Response)
	}
	res, _, err = h.Submit(abi.Call{TxID: "t2", Timestamp: T.Add(time.Second), Function: "publish_share", Args: arg(f.publish(t, 2, T)), Creator: bob})
	if err != nil || res.Response.Status != 200 {
		t.Fatalf("publish: %v %v", err, res.Response)
	}
	t.Logf("publish_share with signature check took %s in the VM", res.Duration)
	// The release time travels in the read/write set the endorsers sign,
	// for validation to check against the block timestamp.
	if got := res.RWSet.GetNotBeforeUnixNano(); got != T.UnixNano() {
		t.Fatalf("publish_share asserts not before %d, want the release time %d", got, T.UnixNano())
	}
	bad := f.publish(t, 1, T)
	bad.Sig = f.publish(t, 2, T).Sig
	res, _, err = h.Submit(abi.Call{TxID: "t3", Timestamp: T.Add(time.Second), Function: "publish_share", Args: arg(bad), Creator: bob})
	if err != nil || res.Response.Status != 403 {
		t.Fatalf("forged signature: %v %v", err, res.Response)
	}
}
