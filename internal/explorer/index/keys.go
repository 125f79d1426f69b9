package index

import (
	"strings"

	"github.com/folio-ledger/folio/contracts/copyright"
	"github.com/folio-ledger/folio/internal/kv"
)

// formatVersion is the index's on-disk format. It only moves forward; an
// index written by a newer format is refused (rebuild it, or upgrade), one
// of an older format is emptied and rebuilt from the chain once.
// Format 2 added the latency records and Stats.OrgInvalid.
const formatVersion = 2

// workKeyPrefix is the copyright contract's record key of a work without
// the ID and terminator, taken from the contract itself so the two never
// drift apart.
var workKeyPrefix = func() string {
	k, err := copyright.WorkKey("x")
	if err != nil {
		panic("copyright.WorkKey refuses a plain ID: " + err.Error())
	}
	return strings.TrimSuffix(k, "x\x00")
}()

var (
	keyFormat = []byte("m\x00format")
	keyHeight = []byte("m\x00height")
	keyStats  = []byte("m\x00stats")
)

// Key prefixes of the record families (see doc.go).
const (
	pBlock   = 'b'
	pHash    = 'h'
	pTx      = 't'
	pWork    = 'w'
	pOwner   = 'o'
	pAuthor  = 'a'
	pCHash   = 'c'
	pProv    = 'p'
	pLatency = 'l'
)

func blockKey(n uint64) []byte { return kv.AppendUint64([]byte{pBlock}, n) }

func latencyKey(n uint64) []byte { return kv.AppendUint64([]byte{pLatency}, n) }

func hashKey(h []byte) []byte { return append([]byte{pHash}, h...) }

func txKey(id string) []byte { return append([]byte{pTx}, id...) }

func workKey(id string) []byte { return append([]byte{pWork}, id...) }

// secondaryKey is p <value> 0 <id>: works with one owner (author, hash)
// sort by ID under the prefix p <value> 0. Values and IDs never hold 0
// (indexable refuses them).
func secondaryKey(p byte, value, id string) []byte {
	k := make([]byte, 0, 2+len(value)+len(id))
	k = append(k, p)
	k = append(k, value...)
	k = append(k, 0)
	return append(k, id...)
}

func provKey(id string, block uint64, tx int) []byte {
	k := append([]byte{pProv}, id...)
	k = append(k, 0)
	k = kv.AppendUint64(k, block)
	return kv.AppendUint64(k, uint64(tx))
}

func provPrefix(id string) []byte { return append(append([]byte{pProv}, id...), 0) }

// maxIndexedBytes bounds an ID, owner, author or hash used in a key.
const maxIndexedBytes = 1024

// indexable says whether s may be part of a key: non-empty, bounded and
// free of the 0 separator. The contract enforces far stricter rules; this
// only keeps a record some other contract version wrote from breaking the
// key layout.
func indexable(s string) bool {
	return s != "" && len(s) <= maxIndexedBytes && strings.IndexByte(s, 0) < 0
}
