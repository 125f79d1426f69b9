// Package trusted is the inside of the enclave, everything that runs in
// the enclave process: the Service (the contract VM, the installed
// modules, the internal cache tier, the directory of committed versions,
// and the keys) and the process's serving loop (Serve, serve.go: the body
// of `folio enclave`). The Service also runs in the peer's own process in
// the in-process mode used by unit tests; either way it talks to the host
// only through ecalls (its methods) and ocalls (the Host a Simulate is
// given), whose messages are those of package wire. No host-side code
// lives here: the host's end of the boundary is package enclave, and the
// stream both ends share is package link.
//
// The enclave process:
//
//	conn, err := trusted.HostConn()                     // the socket on link.ChildFD
//	err = trusted.Serve(ctx, conn, trusted.ServeOptions{Genesis: g, StateKey: k})
//
// Serve reads its trust anchor (the genesis block, ParseAnchor: the roots
// whose admins may sign modules, and the genesis contracts it pins) from
// its options, never from an ecall, and answers Init first (which creates
// the Service and draws the sealing root key, which never leaves the
// process), then every other
// ecall concurrently, batches included, until the host closes the socket.
//
// Call order of the Service:
//
//	s, err := trusted.New(ctx, opts)           // opts from the Init ecall
//	err = s.Install(ctx, &wire.Install{...})   // any time; ErrUntrustedModule unless admin-signed or pinned (anchor.go)
//	reply, err := s.Simulate(ctx, &wire.Simulate{Height: h, ...}, host)
//	reply, err := s.Commit(ctx, &wire.Commit{Block: h, ...}) // after the ledger committed block h
//	s.Invalidate(h)                            // rollback: drop every tier
//	s.Close(ctx)
//
// Simulate and Commit may run concurrently with each other and
// themselves; Commit calls must come in block order (the host's committer
// serialises them).
//
// # Reads
//
// A Simulate runs at the height the host pinned (its committed state
// reader); every read returns the key's committed state at exactly that
// height. A read looks in the internal cache (plaintext, W-TinyLFU,
// package cache), then asks the host for the external-cache entry (an
// ocall; the blob is opened with the enclave's external-cache key and
// must carry the version the directory holds for the key), then asks the
// host for the committed value (an ocall to the ledger reader of that
// height). An entry serves height H only if it became the key's state at
// or before H (its validFrom); the caches hold the latest committed state
// as of the enclave's own height, which is never behind H.
//
// # The directory
//
// The directory maps a 128-bit keyed hash of (namespace, key) to the
// latest committed version the enclave knows for the key (from the commit
// stream, or first learnt from a read), with a digest of the stored bytes.
// It is bounded (Options.DirectoryEntries; two generations, the older
// dropped when the newer fills). It decides whether an external-cache
// blob is current (a blob of an older version authenticates but is
// rejected as stale, and so is a blob of a key the directory no longer
// holds), and it checks values the host reads from the database: for a
// key it knows at the read height, the database must return that version
// and those bytes, else the call fails with ErrRollback.
//
// # Commit
//
// Commit applies a committed block's writes: the directory learns each
// key's new version, internal-cache entries of written keys are replaced
// (keys not cached are not admitted), the height advances, and for every
// write whose key the host's external cache holds a sealed replacement is
// returned. Tier updates and the height move together under one lock, so
// no reader at the new height sees an entry of the old one.
//
// Reads fill the tiers only when the read height is the enclave's current
// height (a read at an older height may be older than a concurrent
// commit): the internal cache through its admission policy, the directory
// if it did not know the key, and the external cache through a sealed
// Fill returned with the reply, which the host stores only if its own
// height has not moved since.
package trusted
