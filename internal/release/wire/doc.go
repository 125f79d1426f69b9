// Package wire defines the messages of the timed release's node-to-node
// protocols "content" and "keys" over the sessions of internal/p2p, and
// the checks of the client API's protobuf messages (ReleaseService,
// api/folio/v1/release.proto) beyond what their types say. The client API
// itself is generated code served with connect; docs/wire-protocol.md
// says why the session protocols are not. This package is the one
// definition of the session bytes and of the bounds on both.
//
// Every session message is one JSON object; decoders refuse unknown
// fields, trailing data and values outside the documented ranges, and are
// fuzzed (testdata/fuzz). Session replies carry a status byte before the
// body: 0 ok, 1 not available (yet), 2 refused, 3 error; the body of a
// non-zero status is a UTF-8 reason.
package wire
