// Package wire defines the messages of the timed-release protocols and
// checks them before use (Validate): the client API a peer serves over
// HTTPS under /release/v1/, and the node-to-node protocols "content" and
// "keys" over the sessions of internal/p2p. docs/release.md describes the
// exchanges; this package is the one definition of the bytes.
//
// Every message is one JSON object; decoders refuse unknown fields,
// trailing data and values outside the documented ranges, and are fuzzed
// (testdata/fuzz). Session replies carry a status byte before the body:
// 0 ok, 1 not available (yet), 2 refused, 3 error; the body of a non-zero
// status is a UTF-8 reason.
package wire
