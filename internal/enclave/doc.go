// Package enclave is the host side of the peer's trust boundary
// (DESIGN.md 5.1, docs/enclave.md): the Enclave interface the endorser
// and the committer call, its two implementations, the external cache
// tier, and the host's end of the boundary protocol. Nothing in this
// package runs inside the enclave process: that is package trusted.
//
//   - New runs the enclave as a separate process (`folio enclave`, or any
//     binary whose main calls trusted.Serve), connected by a Unix
//     socketpair and supervised: if it dies, the call at hand fails with
//     ErrCrashed and a new process starts cold, with every contract
//     installed again. childProcess is the host's handle on one such
//     process.
//   - NewInProcess links the enclave code (package trusted) into the
//     caller's process: for unit tests only. It is the one reason this
//     package imports trusted beyond the error sentinels and codes the
//     boundary carries (trusted.ErrorFromWire).
//
// Call order (the peer):
//
//	e, err := enclave.New(ctx, enclave.Options{State: enclave.LedgerSource(l), GenesisFile: g, StateKeyFile: f, ...})
//	m, err := enclave.SignedModule(spkg)                   // an admin's signed package
//	err = e.Install(ctx, m)                               // any time; ErrUntrustedModule unless signed or pinned
//	res, err := e.Simulate(ctx, "1", call)                // endorser, concurrently; call.Namespace = "copyright"
//	err = e.Commit(ctx, block, writes)                    // committer, after ledger.Commit(block)
//	s := e.Stats()
//	e.Close()
//
// Tiers: a read inside the enclave looks in the internal cache
// (plaintext, in the enclave), then asks the host for the external
// cache's sealed entry (an ocall), then for the committed value at the
// simulation's height (an ocall to the ledger). Commit pushes a block's
// writes through all of them before the height Simulate reads at moves,
// so no tier serves a value older than the ledger's at that height.
//
// The host keeps, for each Simulate, the ledger reader of the height it
// runs at (a pin, reference counted): the state source must give readers
// of one consistent height (StateSource), the committer must call Commit
// once per block, in order, right after the ledger committed the block.
//
// Packages of the boundary, by side:
//
//	host     enclave (this package)   what the peer runs
//	both     enclave/wire             the messages and frames (one definition)
//	both     enclave/link             the stream that carries them (Endpoint)
//	enclave  enclave/trusted          the enclave itself and its process (Serve)
//	enclave  enclave/vm, cache, seal  the contract VM, internal cache, sealing
//
// A contract call is contract/abi's Call on every side: the endorser
// builds it, wire carries it, the VM runs it.
package enclave
