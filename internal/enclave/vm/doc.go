// Package vm runs Folio contracts: WebAssembly modules built with the
// contract SDK (package contract) and the standard Go toolchain, executed
// by wazero inside the enclave. Its one job is to turn a call (abi.Call,
// the one definition of a contract call) and a read-only view of committed
// state into a deterministic result: the contract's response, its read set
// (keys with the committed versions read, and scanned ranges), its write
// set, its commit_not_before assertion (ReadWriteSet.not_before_unix_nano)
// and its events. It never writes state and keeps no cache of it. It
// runs on the enclave side of the trust boundary (in the enclave process,
// or in the peer's process for the in-process enclave of unit tests and
// the endorser's VMExecutor).
//
// Call order:
//
//	rt, err := vm.NewRuntime(ctx, vm.Options{CacheDir: dir})  // once per process
//	m, err := rt.Load(ctx, "copyright", "1", wasm)             // once per installed version
//	res, err := rt.Invoke(ctx, m, call, state)                 // any number, concurrently
//	m.Close(ctx)                                               // when the version goes away
//	rt.Close(ctx)
//
// Load validates the module (it must be a WASI reactor exporting memory,
// _initialize, folio_abi_version and folio_invoke, importing only module
// "folio" host functions of the ABI in contract/abi and WASI functions),
// instruments its loops so calls can be interrupted cheaply and the Go
// scheduler is never locked out by a spinning guest (instrument.go), compiles it once per SHA-256 (and once per CacheDir
// across restarts), and checks the ABI version on a first instance.
//
// Invoke takes an instance from the Module's pool (or instantiates one),
// runs folio_invoke with the call's input, answers the guest's host calls
// from a simulator (sim.go, a deterministic core with no clock, goroutine
// or I/O), and returns the instance to the pool. An instance that trapped,
// panicked, ran out of memory, timed out or broke the ABI is discarded;
// the error (a *CallError) fails only that call.
//
// Determinism: each instance sees no filesystem, arguments, environment or
// network; its wall clock is the transaction timestamp (the Unix epoch
// while it initialises); its monotonic clock is virtual, advancing 1µs per
// reading and by the time slept (sleeps return at once); its randomness
// (WASI random_get, hence crypto/rand) is SHA-256 in counter mode seeded
// from the transaction ID. Equal calls on equal state give byte-identical
// results on fresh and pooled instances; contracts must still not depend
// on Go map iteration order or math/rand's global source, which come from
// the Go runtime's own state.
//
// The package starts no long-lived goroutines: each call arms a timer and
// a context watcher that raise the instance's interrupt, both stopped
// before Invoke returns.
package vm
