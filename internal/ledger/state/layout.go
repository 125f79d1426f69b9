package state

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/folio-ledger/folio/internal/kv"
)

// Key prefixes of the state (ledger format version 1).
var (
	// entryPrefix starts every state entry: entryPrefix ns 0x00 key.
	entryPrefix = []byte("st/k/")
	// heightKey holds the savepoint: the number of blocks applied.
	heightKey = []byte("st/h")
)

// versionBytes is the size of an encoded version.
const versionBytes = 16

// Prefix returns the kv prefix of the state, "st/": every key the package
// writes starts with it. Other components must not write under it.
func Prefix() []byte { return []byte("st/") }

// appendNamespacePrefix appends the kv prefix of ns's entries to dst.
func appendNamespacePrefix(dst []byte, ns string) []byte {
	dst = append(dst, entryPrefix...)
	dst = append(dst, ns...)
	return append(dst, 0)
}

// appendEntryKey appends the kv key of (ns, key) to dst.
func appendEntryKey(dst []byte, ns, key string) []byte {
	return append(appendNamespacePrefix(dst, ns), key...)
}

// appendVersion appends v as 16 big-endian bytes.
func appendVersion(dst []byte, v Version) []byte {
	dst = binary.BigEndian.AppendUint64(dst, v.Block)
	return binary.BigEndian.AppendUint64(dst, v.Tx)
}

// EncodeEntry returns the stored form of a value written at version v:
// version (16 bytes, big-endian block then tx) followed by the value.
func EncodeEntry(dst []byte, v Version, value []byte) []byte {
	return append(appendVersion(dst, v), value...)
}

// DecodeEntry splits a stored entry into its version and value. The value
// aliases rec. A record shorter than a version is ErrCorruption.
func DecodeEntry(rec []byte) (Version, []byte, error) {
	if len(rec) < versionBytes {
		return Version{}, nil, fmt.Errorf("%d-byte entry record, shorter than its %d-byte version", len(rec), versionBytes)
	}
	return Version{
		Block: binary.BigEndian.Uint64(rec),
		Tx:    binary.BigEndian.Uint64(rec[8:]),
	}, rec[versionBytes:], nil
}

// splitEntryKey splits a kv key under entryPrefix into namespace and key.
func splitEntryKey(k []byte) (ns, key string, ok bool) {
	if !bytes.HasPrefix(k, entryPrefix) {
		return "", "", false
	}
	rest := k[len(entryPrefix):]
	i := bytes.IndexByte(rest, 0)
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return string(rest[:i]), string(rest[i+1:]), true
}

// PrefixEnd returns the exclusive end of the key range holding every key that
// starts with prefix, for Range(ns, prefix, PrefixEnd(prefix), limit): a
// composite-key partial scan. It returns "" (unbounded) if prefix is empty
// or all 0xff bytes.
func PrefixEnd(prefix string) string {
	return string(kv.PrefixEnd([]byte(prefix)))
}

func corrupt(op, format string, args ...any) error {
	return &kv.CorruptionError{Op: "state " + op, Err: fmt.Errorf(format, args...)}
}
