// Command kv is the enclave tests' contract: plain state operations that
// answer JSON, so tests can compare every value and version a call read
// with the ledger's. Built by the tests with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared.
package main

import (
	"encoding/json"

	"github.com/folio-ledger/folio/contract"
)

// Read is one key as the call saw it.
type Read struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Found bool   `json:"found"`
	Block uint64 `json:"block"`
	Tx    uint64 `json:"tx"`
}

func init() {
	// get k1 k2 ...: the value and committed version of every key.
	contract.Register("get", func(ctx contract.Context) contract.Response {
		out := []Read{}
		for _, a := range ctx.Args() {
			v, ver, err := ctx.GetStateVersion(string(a))
			if err != nil {
				return contract.Fail(err)
			}
			r := Read{Key: string(a), Value: string(v), Found: v != nil}
			if ver != nil {
				r.Block, r.Tx = ver.Block, ver.Tx
			}
			out = append(out, r)
		}
		return contract.JSON(out)
	})
	// put k1 v1 k2 v2 ...
	contract.Register("put", func(ctx contract.Context) contract.Response {
		args := ctx.Args()
		for i := 0; i+1 < len(args); i += 2 {
			if err := ctx.PutState(string(args[i]), args[i+1]); err != nil {
				return contract.Fail(err)
			}
		}
		return contract.OK(nil)
	})
	// del k1 k2 ...
	contract.Register("del", func(ctx contract.Context) contract.Response {
		for _, a := range ctx.Args() {
			if err := ctx.DelState(string(a)); err != nil {
				return contract.Fail(err)
			}
		}
		return contract.OK(nil)
	})
	// range start end: the committed entries in [start, end).
	contract.Register("range", func(ctx contract.Context) contract.Response {
		out := []Read{}
		for kv, err := range ctx.GetStateRange(string(ctx.Args()[0]), string(ctx.Args()[1])) {
			if err != nil {
				return contract.Fail(err)
			}
			out = append(out, Read{Key: kv.Key, Value: string(kv.Value), Found: true, Block: kv.Version.Block, Tx: kv.Version.Tx})
		}
		return contract.JSON(out)
	})
	// history k: every committed value of k, oldest first.
	contract.Register("history", func(ctx contract.Context) contract.Response {
		h, err := ctx.GetHistoryForKey(string(ctx.Args()[0]))
		if err != nil {
			return contract.Fail(err)
		}
		b, _ := json.Marshal(h)
		return contract.OK(b)
	})
}

func main() {}
