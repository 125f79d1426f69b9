// Package contracttest runs contract handlers natively, without wasm,
// against an in-memory ledger, the way Hyperledger Fabric's shimtest
// MockStub does, so contract logic is unit-tested fast with `go test`.
//
// A Ledger holds committed state (with versions and history) for one
// namespace. Invoke simulates a call through a contract.Router with a
// Context that follows the same rules as the VM (internal/enclave/vm):
// GetState sees the call's own writes, range queries and history see
// committed state only, writes and events are refused in read-only calls,
// keys and limits are checked the same way, a panic becomes a 500. A 2xx
// result of a non-read-only call is then committed as the next block, so
// the next call sees it, unless the block's time (the call's timestamp, or
// the time given to InvokeAt) is before the call's CommitNotBefore time,
// as validation would refuse it (Result.TooEarly).
//
// The VM's own tests run the same contract scenarios through the real wasm
// runtime to keep the two in step.
package contracttest
