// Package vmtest has an in-memory vm.State for tests and benchmarks of the
// contract VM and of its users: a versioned world state with history that
// can apply a simulation's write set as a committed transaction, checking
// its read versions first (MVCC) like a validator would.
package vmtest
