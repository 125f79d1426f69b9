// Command copyright is the copyright contract as a wasm module. Build it
// with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared \
//	    -o build/contracts/copyright.wasm ./contracts/copyright/cmd/copyright
//
// The module is a WASI reactor: main is empty, the VM calls the entry
// points exported by package contract.
package main

import (
	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contracts/copyright"
)

func init() { contract.Serve(copyright.New()) }

func main() {}
