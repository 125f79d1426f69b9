// Package contract is the SDK contract authors import to write Folio
// contracts: ordinary Go packages compiled with the standard toolchain to a
// WebAssembly reactor (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared) and run
// by the VM in Folio's enclave (internal/enclave/vm).
//
// A contract registers one Handler per function and leaves main empty:
//
//	func init() {
//		contract.Register("register", register)
//		contract.Register("get", get)
//	}
//
//	func main() {}
//
//	func get(ctx contract.Context) contract.Response {
//		v, err := ctx.GetState("work/" + string(ctx.Args()[0]))
//		if err != nil {
//			return contract.Fail(err)
//		}
//		return contract.OK(v)
//	}
//
// For each call the host runs the exported entry point folio_invoke, which
// builds a Context from the call input (transaction ID and timestamp,
// caller identity, function, args), dispatches to the handler registered
// for the function and hands its Response back. A panic in a handler
// becomes a 500 response and the host discards the instance.
//
// Context is an interface so that contract logic runs unchanged outside
// wasm: package contract/contracttest implements it in memory for fast
// native unit tests. The wasm implementation and the ABI it speaks live in
// files built only for wasip1; the ABI itself is defined in contract/abi.
//
// State semantics (the same in wasm and in contracttest): GetState sees the
// call's own earlier writes; range queries and history see committed state
// only; the last write of a key wins; nothing is committed unless the
// transaction is endorsed, ordered and validated. Contracts must be
// deterministic: the only clock is Context.Timestamp (time.Now returns it
// too), randomness is seeded from the transaction ID, and Go map iteration
// order must not influence results.
package contract
