// Command release is the timed-release contract as a wasm module. Build it
// with
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared \
//	    -o build/contracts/release.wasm ./contracts/release/cmd/release
//
// The module is a WASI reactor: main is empty, the VM calls the entry
// points exported by package contract.
package main

import (
	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contracts/release"
)

func init() { contract.Serve(release.New()) }

func main() {}
