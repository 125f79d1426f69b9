package kv

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// AppendUint64 appends v as 8 big-endian bytes, the key form of numbers
// (heights, versions, indexes) so that keys sort numerically.
func AppendUint64(dst []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(dst, v)
}

// PrefixEnd returns the smallest key greater than every key that starts with
// prefix: the exclusive upper bound of the range holding the prefix. It
// returns nil (unbounded) when no such key exists (prefix empty or all
// 0xff).
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// CheckKey returns ErrEmptyKey for an empty key. Backends call it.
func CheckKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	return nil
}

// CheckRange validates a half-open range; requireUpper demands a non-empty
// upper bound (DeleteRange). Backends call it.
func CheckRange(lower, upper []byte, requireUpper bool) error {
	if requireUpper && len(upper) == 0 {
		return fmt.Errorf("%w: an upper bound is required", ErrInvalidRange)
	}
	if len(lower) > 0 && len(upper) > 0 && bytes.Compare(lower, upper) > 0 {
		return fmt.Errorf("%w: lower %x > upper %x", ErrInvalidRange, lower, upper)
	}
	return nil
}
