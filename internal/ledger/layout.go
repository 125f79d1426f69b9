package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/ledger/trie"
)

// FormatVersion is the ledger's on-disk layout version (docs/ledger.md):
// version 1 is the layout of packages blocks ("blk/"), state ("st/"),
// history ("hi/"), the trie node store ("t") and the ledger's own records
// ("lg/"). Formats only move forward: a newer binary upgrades an older store
// on open and rewrites the record; an older binary refuses a newer store
// with a *kv.FormatVersionError.
const FormatVersion uint32 = 1

// The ledger's own records.
var (
	// formatKey holds formatMagic followed by the format version (uint32).
	formatKey = []byte("lg/format")
	// rootPrefix + block number (8) holds the 32-byte state root after
	// that block.
	rootPrefix = []byte("lg/r/")
)

const formatMagic = "folio/ledger"

// triePrefix is the trie node store's prefix inside the ledger's store
// (trie.Options.Prefix): "tr/" 'n' ..., "tr/" 'j' ..., "tr/" 'v'.
var triePrefix = []byte("tr/")

func rootKey(num uint64) []byte { return kv.AppendUint64(append([]byte{}, rootPrefix...), num) }

func encodeFormat(v uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte(formatMagic), v)
}

// decodeFormat returns the version in a format record.
func decodeFormat(rec []byte) (uint32, error) {
	if len(rec) != len(formatMagic)+4 || string(rec[:len(formatMagic)]) != formatMagic {
		return 0, fmt.Errorf("malformed format record %x", rec)
	}
	v := binary.BigEndian.Uint32(rec[len(formatMagic):])
	if v == 0 {
		return 0, errors.New("format record holds version 0")
	}
	return v, nil
}

// decodeRoot checks a state root record.
func decodeRoot(num uint64, rec []byte) (trie.Hash, error) {
	if len(rec) != 32 {
		return trie.Hash{}, corrupt("read", "state root record of block %d is %d bytes, want 32", num, len(rec))
	}
	return trie.Hash(rec), nil
}
