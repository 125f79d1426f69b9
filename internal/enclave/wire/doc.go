// Package wire is the enclave boundary protocol: the frames and messages
// exchanged between the peer (host) and its enclave process over one
// stream (a Unix socketpair). docs/enclave.md describes it for readers;
// this package is the one definition. Both sides use it; it is a pure
// codec (no goroutines, no I/O beyond reading a frame from a reader):
// package link carries the frames.
//
// Values that are not the protocol's own are not redefined here: a
// contract call is contract/abi's Call, versions, range entries and
// history entries are abi's KeyVersion, KV and HistoryEntry. The protocol
// encodes them in its own framing (an argument or value keeps nil apart
// from empty; a zero timestamp crosses as 0), not the ABI's.
//
// Frame (all integers of the header big-endian):
//
//	length uint32   bytes that follow: 10 + len(payload), at most MaxFrameBytes
//	kind   uint8    KindEcall, KindEcallReply, KindOcall, KindOcallReply, KindCancel
//	op     uint8    the ecall (Op*) or ocall (Oc*) operation
//	id     uint64   request id, chosen by the side that sends the request,
//	                echoed by the reply (ecalls and ocalls have separate id spaces)
//	payload
//
// Requests run concurrently: replies come back in any order and are
// matched by id. An ocall carries, first in its payload, the id of the
// ecall it serves (the host answers it from that ecall's pinned state).
// A reply payload is a status byte (0 ok, 1 error), then the reply
// message or an Error; an ecall reply ends with the enclave's Counters.
// Cancel (host to enclave, empty payload) asks the enclave to abandon the
// ecall with that id; its reply still comes.
//
// Messages are encoded field by field in a fixed order, without tags:
// unsigned integers as uvarint, signed as zig-zag varint, strings and
// bytes as uvarint length + bytes, bools as one byte 0/1, lists as uvarint
// count + items. Decoders reject truncation, trailing bytes, bad bools and
// counts the input cannot hold; decoded byte slices and strings alias or
// copy the payload (payload buffers are never reused, so aliasing is
// safe). Every decoder is fuzzed (testdata/fuzz).
//
// The protocol version (Version) is checked in Init: both sides are the
// same binary in practice, but a mismatch is refused rather than
// misparsed.
package wire
