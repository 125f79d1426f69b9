package copyright_test

import (
	"testing"

	"github.com/folio-ledger/folio/contract/contracttest"
	"github.com/folio-ledger/folio/contracts/copyright"
)

// BenchmarkNativeGet is the copyright `get` run natively through
// contracttest, to compare with the VM's BenchmarkWasmCall.
func BenchmarkNativeGet(b *testing.B) {
	l := contracttest.NewLedger("copyright")
	r := copyright.New()
	if res := l.Invoke(r, contracttest.Call{Function: copyright.FnRegister, Creator: alice, Args: jsonArgs(work("W1", "Ada"))}); res.Response.Status != 200 {
		b.Fatal(res.Response.Message)
	}
	c := contracttest.Call{Function: copyright.FnGet, Creator: alice, Args: jsonArgs(map[string]string{"id": "W1"}), ReadOnly: true}
	b.ReportAllocs()
	for b.Loop() {
		if res := l.Simulate(r, c); res.Response.Status != 200 {
			b.Fatal(res.Response.Message)
		}
	}
}
