// Package kvtest is the conformance suite every kv.Store backend must pass.
//
// A backend's test calls RunSuite with a function that opens a fresh, empty
// store; the suite runs one subtest per property (ordering, bounds, snapshot
// isolation, batch atomicity and order, deletes, large values, the
// empty-key rule, lifecycle errors, concurrent readers) and closes each
// store itself. Run it under -race: several subtests read while another
// goroutine commits.
package kvtest
