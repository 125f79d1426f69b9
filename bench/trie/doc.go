// Package benchtrie compares Folio's Merkle Patricia trie with go-ethereum's
// on the same workloads, in one `go test -bench .` run, and cross-checks
// that both give the same roots and accept each other's proofs.
//
// It is a separate Go module so that go-ethereum is a dependency of this
// benchmark only, never of Folio itself. See docs/ledger-trie.md for the
// figures and the command that produced them.
package benchtrie
