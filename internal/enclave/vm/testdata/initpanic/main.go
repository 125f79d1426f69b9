// Command initpanic is a test contract whose initialisation panics: the VM
// must refuse to load it with a clear error.
package main

import "github.com/folio-ledger/folio/contract"

func init() {
	contract.Register("echo", func(ctx contract.Context) contract.Response { return contract.OK(nil) })
	panic("initpanic: refusing to start")
}

func main() {}
