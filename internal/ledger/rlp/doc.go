// Package rlp encodes and strictly decodes Ethereum's Recursive Length Prefix
// (RLP) format, the canonical byte form of Merkle Patricia trie nodes and of
// the account records committed in Folio's state trie.
//
// Its one responsibility is the byte format: a value is either a byte string
// or a list of values, and each has exactly one valid encoding. The decoder
// accepts only that canonical encoding and rejects everything else:
//
//   - a length written with more bytes than needed, or with a leading zero
//     byte in the length field (ErrNonCanonicalSize);
//   - a long form (0xb8.., 0xf8..) used for a payload shorter than 56 bytes
//     (ErrNonCanonicalSize);
//   - a single byte below 0x80 wrapped as a one-byte string 0x81 XX
//     (ErrNonCanonicalSize);
//   - an integer with leading zero bytes (ErrNonCanonicalInt);
//   - a payload that runs past the input (ErrTruncated) and, for Decode,
//     bytes left after the value (ErrTrailingBytes).
//
// Encoding is append-style (AppendString, AppendUint, AppendListHeader, ...)
// so callers reuse buffers; decoding is split-style (Split, SplitString,
// SplitList, SplitUint) so callers walk an encoding without copying, or use
// Decode for a whole tree of Values. Returned slices alias the input.
// Nothing in this package panics on input; all functions are safe for
// concurrent use.
package rlp
