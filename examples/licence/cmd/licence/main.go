// Command licence is the licence contract as a wasm module:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o licence.wasm ./licence/cmd/licence
//
// The module is a WASI reactor: main is empty, the VM calls the entry
// points exported by package contract.
package main

import (
	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/examples/licence"
)

func init() { contract.Serve(licence.New()) }

func main() {}
