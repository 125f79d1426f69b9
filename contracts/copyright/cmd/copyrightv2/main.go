// Command copyrightv2 is version 2 of the copyright contract as a wasm
// module: version 1 with one visible change, `get` adds
// "contract_version":"2" to the work it returns. It exists to exercise
// upgrades (docs/lifecycle.md): outputs of the two versions differ, so a
// block shows which version endorsed each transaction. Build it like
// version 1:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared \
//	    -o build/contracts/copyright-v2.wasm ./contracts/copyright/cmd/copyrightv2
package main

import (
	"bytes"

	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contracts/copyright"
)

func init() {
	v1 := copyright.New()
	r := contract.NewRouter()
	for _, fn := range v1.Functions() {
		if fn != copyright.FnGet {
			r.Handle(fn, v1.Invoke)
		}
	}
	r.Handle(copyright.FnGet, func(ctx contract.Context) contract.Response {
		resp := v1.Invoke(ctx)
		if resp.Status == 200 && bytes.HasPrefix(resp.Payload, []byte("{")) {
			resp.Payload = append([]byte(`{"contract_version":"2",`), resp.Payload[1:]...)
		}
		return resp
	})
	contract.Serve(r)
}

func main() {}
