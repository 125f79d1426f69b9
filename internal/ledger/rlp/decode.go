package rlp

import (
	"errors"
	"fmt"
	"math/big"
)

// Kind tells whether an encoded value is a byte string or a list.
type Kind uint8

const (
	// String is a byte string (including a single byte below 0x80).
	String Kind = iota
	// List is a list of values.
	List
)

// String returns "string" or "list".
func (k Kind) String() string {
	if k == List {
		return "list"
	}
	return "string"
}

// Sentinel errors returned (wrapped) by the decoder. Check with errors.Is.
var (
	// ErrTruncated: the input ends before the value it announces.
	ErrTruncated = errors.New("rlp: value truncated")
	// ErrNonCanonicalSize: a size is not written in its one canonical form.
	ErrNonCanonicalSize = errors.New("rlp: non-canonical size")
	// ErrNonCanonicalInt: an integer has leading zero bytes.
	ErrNonCanonicalInt = errors.New("rlp: non-canonical integer (leading zero bytes)")
	// ErrTrailingBytes: bytes remain after the value.
	ErrTrailingBytes = errors.New("rlp: trailing bytes after value")
	// ErrExpectedString: a list was found where a string was required.
	ErrExpectedString = errors.New("rlp: expected string, found list")
	// ErrExpectedList: a string was found where a list was required.
	ErrExpectedList = errors.New("rlp: expected list, found string")
	// ErrUintOverflow: an integer does not fit the requested width.
	ErrUintOverflow = errors.New("rlp: integer overflows uint64")
	// ErrTooDeep: lists are nested deeper than MaxDepth.
	ErrTooDeep = errors.New("rlp: lists nested too deeply")
)

// Split reads the first value of b and returns its kind, its payload (the
// string bytes, or the concatenated item encodings of a list) and the bytes
// after it. It enforces canonical headers. content and rest alias b.
func Split(b []byte) (k Kind, content, rest []byte, err error) {
	k, off, size, err := readHeader(b)
	if err != nil {
		return 0, nil, b, err
	}
	return k, b[off : off+size], b[off+size:], nil
}

// readHeader parses the header at the start of b, returning the kind, the
// header length and the payload size. It checks that the payload fits in b.
func readHeader(b []byte) (k Kind, off, size int, err error) {
	if len(b) == 0 {
		return 0, 0, 0, ErrTruncated
	}
	p := b[0]
	switch {
	case p < 0x80:
		return String, 0, 1, nil
	case p < 0xb8:
		size = int(p - 0x80)
		if size == 1 && len(b) > 1 && b[1] < 0x80 {
			return 0, 0, 0, fmt.Errorf("%w: single byte 0x%02x below 0x80 wrapped as a string", ErrNonCanonicalSize, b[1])
		}
		k, off = String, 1
	case p < 0xc0:
		k, off = String, 1+int(p-0xb7)
		if size, err = readLongSize(b, off-1); err != nil {
			return 0, 0, 0, err
		}
	case p < 0xf8:
		k, off, size = List, 1, int(p-0xc0)
	default:
		k, off = List, 1+int(p-0xf7)
		if size, err = readLongSize(b, off-1); err != nil {
			return 0, 0, 0, err
		}
	}
	if size > len(b)-off {
		return 0, 0, 0, fmt.Errorf("%w: payload of %d bytes, %d available", ErrTruncated, size, len(b)-off)
	}
	return k, off, size, nil
}

// readLongSize reads the n-byte big-endian size that follows the first byte of
// a long-form header and checks that it is canonical.
func readLongSize(b []byte, n int) (int, error) {
	if len(b) < 1+n {
		return 0, fmt.Errorf("%w: size field", ErrTruncated)
	}
	if b[1] == 0 {
		return 0, fmt.Errorf("%w: leading zero byte in size", ErrNonCanonicalSize)
	}
	var s uint64
	for _, c := range b[1 : 1+n] {
		s = s<<8 | uint64(c)
	}
	if s < 56 {
		return 0, fmt.Errorf("%w: long form for a %d-byte payload", ErrNonCanonicalSize, s)
	}
	// A payload bigger than the input is reported by the caller as
	// truncated; clamp here so the int conversion cannot overflow.
	if s > uint64(len(b)) {
		return len(b), nil
	}
	return int(s), nil
}

// SplitString reads a string value at the start of b and returns its bytes
// and the rest of b.
func SplitString(b []byte) (s, rest []byte, err error) {
	k, s, rest, err := Split(b)
	if err != nil {
		return nil, b, err
	}
	if k != String {
		return nil, b, ErrExpectedString
	}
	return s, rest, nil
}

// SplitList reads a list value at the start of b and returns its payload
// (the concatenated item encodings) and the rest of b.
func SplitList(b []byte) (content, rest []byte, err error) {
	k, content, rest, err := Split(b)
	if err != nil {
		return nil, b, err
	}
	if k != List {
		return nil, b, ErrExpectedList
	}
	return content, rest, nil
}

// SplitUint reads a canonical unsigned integer of at most 8 bytes.
func SplitUint(b []byte) (v uint64, rest []byte, err error) {
	s, rest, err := SplitString(b)
	if err != nil {
		return 0, b, err
	}
	if len(s) > 8 {
		return 0, b, ErrUintOverflow
	}
	if len(s) > 0 && s[0] == 0 {
		return 0, b, ErrNonCanonicalInt
	}
	for _, c := range s {
		v = v<<8 | uint64(c)
	}
	return v, rest, nil
}

// SplitBigInt reads a canonical unsigned integer of any width, at most
// maxBytes bytes long.
func SplitBigInt(b []byte, maxBytes int) (v *big.Int, rest []byte, err error) {
	s, rest, err := SplitString(b)
	if err != nil {
		return nil, b, err
	}
	if len(s) > maxBytes {
		return nil, b, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrUintOverflow, len(s), maxBytes)
	}
	if len(s) > 0 && s[0] == 0 {
		return nil, b, ErrNonCanonicalInt
	}
	return new(big.Int).SetBytes(s), rest, nil
}

// CountValues returns the number of encoded values in b, which must be a
// concatenation of complete values (for example a list payload).
func CountValues(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		_, off, size, err := readHeader(b)
		if err != nil {
			return 0, err
		}
		b = b[off+size:]
		n++
	}
	return n, nil
}
