// Package abi is the single definition of the Folio contract ABI: the
// contract between a WebAssembly contract built with package contract (the
// guest) and the VM in internal/enclave/vm (the host). It holds the ABI
// version, the names of every import and export, the status codes host
// functions return, the limits both sides agree on, and the binary encoding
// of the structured values that cross the boundary.
//
// Both sides import this package, so they cannot disagree about a name or a
// byte layout. It is plain Go with no build tags, no I/O and no state, and
// it imports nothing beyond the standard library and the field codec: a
// contract compiled to wasm links it.
//
// # Calling convention (ABI versions 1 and 2)
//
// A contract is a WASI reactor (GOOS=wasip1, -buildmode=c-shared). It exports
// its linear memory "memory", "_initialize" (run once per instance),
// "folio_abi_version() -> i32" (returns Version) and "folio_invoke() -> i32"
// (runs one call). It may import any function of the module
// "wasi_snapshot_preview1" and the host functions of module "folio" listed
// in HostFunctions; nothing else.
//
// Inside folio_invoke the guest pulls its input with call_input, calls host
// functions, sets exactly one response with response_set and returns
// InvokeOK, or InvokePanicked if it recovered from a panic (the host then
// discards the instance).
//
// Every pointer and length is an i32 offset/size into the guest's memory.
// Host functions that produce data take a guest buffer (ptr, cap) and return
// the result length n >= 0. If n <= cap the result was written at ptr; if
// n > cap nothing was written and the result stays pending in the host until
// the next host call: the guest grows its buffer to n and calls result_take.
// A negative return is -Errno; the error message is then the pending result.
//
// Version 2 adds one host function, commit_not_before(lo, hi): the call
// asserts that its transaction may commit only in a block whose
// (orderer-signed) timestamp is at or after the signed Unix nanoseconds
// lo | hi<<32 (SplitNanos). The host records the latest such time in the
// read/write set (ReadWriteSet.not_before_unix_nano) and validation checks
// it against the block, so a time rule a contract checks against the
// client-chosen transaction timestamp can also hold at commit. A host runs
// modules of every version in [MinVersion, Version]; a module may import
// only the host functions of the version it reports.
//
// # Encoding
//
// Structured values (Call, GetResult, RangePage, History) use a fixed field
// order with no tags: unsigned integers as uvarint, signed integers as
// zig-zag varint, strings and byte slices as uvarint length then bytes,
// bools as one byte 0 or 1, lists as a uvarint count then the items,
// timestamps as signed Unix nanoseconds (0 for the zero time; decoded in
// UTC). Decoders reject trailing bytes, truncated input, non-canonical
// bools and lengths beyond the input; decoded values never alias the
// input.
//
// # One definition per value
//
// The values of this package are also the types the rest of Folio uses
// for them, so that no layer converts a call or a version field by field:
// Call is the contract call the endorser builds, the enclave protocol
// carries and the VM runs; KeyVersion, KV, HistoryEntry and Identity are
// what the contract SDK calls contract.Version, contract.KV,
// contract.HistoryEntry and contract.Identity (type aliases). Each boundary
// keeps its own encoding of them: this package's for the guest, the
// enclave protocol's (internal/enclave/wire) between host and enclave
// process.
package abi
