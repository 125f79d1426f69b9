package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/ledger/state"
)

// MaxTxIDBytes is the longest transaction ID an entry can hold (Folio's are
// 64 hex characters).
const MaxTxIDBytes = 255

// ErrInvalidTxID: a transaction ID longer than MaxTxIDBytes.
var ErrInvalidTxID = errors.New("history: invalid transaction ID")

// entryPrefix starts every history entry.
var entryPrefix = []byte("hi/")

// Prefix returns the kv prefix of the history index, "hi/".
func Prefix() []byte { return []byte("hi/") }

const (
	flagDelete   byte = 1 << 0
	headerBytes       = 1 + 8 + 1 // flags, timestamp, txID length
	keySuffixLen      = 1 + 16    // 0xff, version
)

// appendKeyPrefix appends the prefix of (ns, key)'s entries.
func appendKeyPrefix(dst []byte, ns, key string) []byte {
	dst = append(dst, entryPrefix...)
	dst = append(dst, ns...)
	dst = append(dst, 0)
	dst = append(dst, key...)
	return append(dst, 0xff)
}

// appendEntryKey appends the kv key of the change of (ns, key) at v.
func appendEntryKey(dst []byte, ns, key string, v state.Version) []byte {
	dst = appendKeyPrefix(dst, ns, key)
	dst = binary.BigEndian.AppendUint64(dst, v.Block)
	return binary.BigEndian.AppendUint64(dst, v.Tx)
}

// Record is the stored value of one history entry.
type Record struct {
	TxID      string
	Timestamp int64 // Unix nanoseconds
	IsDelete  bool
	Value     []byte // empty for a delete
}

// EncodeRecord appends the stored form of rec to dst. A transaction ID
// longer than MaxTxIDBytes is ErrInvalidTxID; a delete carrying a value is
// refused too.
func EncodeRecord(dst []byte, rec Record) ([]byte, error) {
	if len(rec.TxID) > MaxTxIDBytes {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidTxID, len(rec.TxID), MaxTxIDBytes)
	}
	if rec.IsDelete && len(rec.Value) > 0 {
		return nil, errors.New("history: a delete carries no value")
	}
	var flags byte
	if rec.IsDelete {
		flags |= flagDelete
	}
	dst = append(dst, flags)
	dst = binary.BigEndian.AppendUint64(dst, uint64(rec.Timestamp))
	dst = append(dst, byte(len(rec.TxID)))
	dst = append(dst, rec.TxID...)
	return append(dst, rec.Value...), nil
}

// DecodeRecord decodes a stored record. Value aliases b. Any malformation
// (short record, unknown flag bits, a delete with a value) is an error; the
// Reader reports it as kv.ErrCorruption.
func DecodeRecord(b []byte) (Record, error) {
	if len(b) < headerBytes {
		return Record{}, fmt.Errorf("%d-byte record, shorter than its %d-byte header", len(b), headerBytes)
	}
	flags := b[0]
	if flags&^flagDelete != 0 {
		return Record{}, fmt.Errorf("unknown flags %#02x", flags)
	}
	n := int(b[9])
	if len(b) < headerBytes+n {
		return Record{}, fmt.Errorf("record of %d bytes truncated inside its %d-byte transaction ID", len(b), n)
	}
	rec := Record{
		TxID:      string(b[headerBytes : headerBytes+n]),
		Timestamp: int64(binary.BigEndian.Uint64(b[1:9])),
		IsDelete:  flags&flagDelete != 0,
		Value:     b[headerBytes+n:],
	}
	if rec.IsDelete && len(rec.Value) > 0 {
		return Record{}, fmt.Errorf("delete record carries a %d-byte value", len(rec.Value))
	}
	return rec, nil
}

// entry turns a decoded record into the caller's HistoryEntry, copying.
func entry(v state.Version, rec Record) state.HistoryEntry {
	e := state.HistoryEntry{
		TxID:      rec.TxID,
		Version:   v.Proto(),
		Timestamp: time.Unix(0, rec.Timestamp).UTC(),
		IsDelete:  rec.IsDelete,
	}
	if !rec.IsDelete {
		e.Value = append([]byte{}, rec.Value...)
	}
	return e
}

func corrupt(op, format string, args ...any) error {
	return &kv.CorruptionError{Op: "history " + op, Err: fmt.Errorf(format, args...)}
}
