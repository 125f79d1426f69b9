package rlp

import (
	"errors"
	"math/big"
)

// ErrNegativeInt is returned when asked to encode a negative integer: RLP
// integers are unsigned.
var ErrNegativeInt = errors.New("rlp: cannot encode a negative integer")

// StringSize returns the number of bytes AppendString(nil, s) appends.
func StringSize(s []byte) int {
	if len(s) == 1 && s[0] < 0x80 {
		return 1
	}
	return headerSize(len(s)) + len(s)
}

// ListSize returns the size of a list whose concatenated item encodings
// take contentSize bytes, header included.
func ListSize(contentSize int) int {
	return headerSize(contentSize) + contentSize
}

// headerSize is the size of a string or list header for a payload of n bytes.
func headerSize(n int) int {
	if n < 56 {
		return 1
	}
	return 1 + uintBytes(uint64(n))
}

// uintBytes returns how many bytes the minimal big-endian form of v takes
// (0 for v == 0).
func uintBytes(v uint64) int {
	n := 0
	for ; v != 0; v >>= 8 {
		n++
	}
	return n
}

// appendHeader appends a string (base 0x80) or list (base 0xc0) header for a
// payload of size bytes.
func appendHeader(dst []byte, base byte, size int) []byte {
	if size < 56 {
		return append(dst, base+byte(size))
	}
	n := uintBytes(uint64(size))
	dst = append(dst, base+55+byte(n))
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(uint64(size)>>(8*uint(i))))
	}
	return dst
}

// AppendString appends the encoding of the byte string s to dst.
func AppendString(dst, s []byte) []byte {
	if len(s) == 1 && s[0] < 0x80 {
		return append(dst, s[0])
	}
	dst = appendHeader(dst, 0x80, len(s))
	return append(dst, s...)
}

// AppendListHeader appends the header of a list whose concatenated item
// encodings take contentSize bytes. The caller appends the items after it.
func AppendListHeader(dst []byte, contentSize int) []byte {
	return appendHeader(dst, 0xc0, contentSize)
}

// AppendList appends a list whose items are already encoded and concatenated
// in content.
func AppendList(dst, content []byte) []byte {
	dst = appendHeader(dst, 0xc0, len(content))
	return append(dst, content...)
}

// AppendUint appends the canonical encoding of the unsigned integer v: its
// minimal big-endian bytes as a string, with 0 encoded as the empty string.
func AppendUint(dst []byte, v uint64) []byte {
	switch {
	case v == 0:
		return append(dst, 0x80)
	case v < 0x80:
		return append(dst, byte(v))
	}
	n := uintBytes(v)
	dst = append(dst, 0x80+byte(n))
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*uint(i))))
	}
	return dst
}

// AppendBigInt appends the canonical encoding of the non-negative integer v
// (minimal big-endian bytes as a string). A nil v encodes as zero.
func AppendBigInt(dst []byte, v *big.Int) ([]byte, error) {
	if v == nil {
		return append(dst, 0x80), nil
	}
	if v.Sign() < 0 {
		return dst, ErrNegativeInt
	}
	return AppendString(dst, v.Bytes()), nil
}

// AppendStringHeader appends the header of a byte string of size bytes; the
// caller appends the bytes after it. It must not be used for a one-byte
// string below 0x80, which is encoded as the byte itself with no header.
func AppendStringHeader(dst []byte, size int) []byte {
	return appendHeader(dst, 0x80, size)
}
