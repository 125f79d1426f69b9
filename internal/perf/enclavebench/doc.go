// Package enclavebench is the enclave benchmark (`folio bench enclave`,
// and the Go benchmarks of this package that `make bench` runs): a
// workload of copyright reads and transfers over N registered works with
// Zipf-distributed work IDs, against a real enclave process and the real
// ledger (Pebble), in three configurations: no caches (every read crosses
// to the state database), the external cache only, and the full tiered
// cache.
//
// Per configuration it starts a fresh enclave process (cold caches),
// installs the copyright contract, runs the workload for a warm-up period
// (not measured) and then for the measured period, with closed-loop
// clients. Gets are read-only simulations; transfers are simulated,
// checked for read conflicts against the ledger (MVCC, as a validator
// would), committed to the ledger in blocks, and pushed through the
// tiers with Enclave.Commit, so the caches see the committed writes all
// along.
//
// docs/enclave.md has the figures and how to read them.
package enclavebench
