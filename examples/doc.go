// Package examples holds programs written only against Folio's public
// packages (client, client/wallet, contract), in a module of their own so
// that the compiler enforces it: Go refuses to import another module's
// internal packages.
//
//   - licence: a licence-tracking contract (compiled to wasm by cmd/licence)
//   - licenceapp: an application that grants, reads, lists and revokes
//     licences through the gateway SDK
//
// docs/sdk.md walks through deploying and running them.
package examples
