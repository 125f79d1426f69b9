// Package types fixes the canonical bytes of Folio's wire messages: what
// every signature covers (domain tags), how transaction IDs, block header
// hashes and block data hashes are computed, and the Validate checks that
// reject malformed messages before anything else looks at them.
//
// The rule that makes canonical encoding simple: whatever is signed travels
// as the exact bytes that were signed (proposal_bytes, payload,
// response_payload). Receivers parse those bytes; nobody re-encodes a
// protobuf and hopes for the same bytes. The one structure hashed from
// fields rather than bytes is the block header, which has a fixed 80-byte
// layout. docs/wire-protocol.md is the reference; this package is its
// implementation.
package types
