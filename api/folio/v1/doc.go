// Package foliov1 holds Folio's wire messages, generated from the protobuf
// schemas beside this file (`make proto`): transactions, blocks, channel
// configuration, identities, lifecycle and release records. What every
// signature and hash covers is fixed by internal/types
// (docs/wire-protocol.md).
package foliov1
