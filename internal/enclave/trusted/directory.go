package trusted

import (
	"crypto/sha256"
	"encoding/binary"
	"hash/maphash"

	"github.com/folio-ledger/folio/contract/abi"
)

// dirKey is a 128-bit keyed hash of (namespace, key): two maphash values
// under seeds drawn at start, which the host never sees.
type dirKey [2]uint64

type hasher struct{ a, b maphash.Seed }

func newHasher() hasher { return hasher{a: maphash.MakeSeed(), b: maphash.MakeSeed()} }

func (h hasher) key(ns, key string) dirKey {
	var lp [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(lp[:], uint64(len(ns)))
	var x, y maphash.Hash
	x.SetSeed(h.a)
	y.SetSeed(h.b)
	for _, w := range []*maphash.Hash{&x, &y} {
		w.Write(lp[:n])
		w.WriteString(ns)
		w.WriteString(key)
	}
	return dirKey{x.Sum64(), y.Sum64()}
}

// known is what the directory knows of a key: its latest committed
// version, from which height that is the key's state, whether it is
// absent (deleted at ver, or never written: ver zero), and a digest of the
// bytes the database holds for it.
type known struct {
	ver       abi.KeyVersion
	validFrom uint64
	digest    uint64
	absent    bool
}

// digest is the first 8 bytes of the SHA-256 of a stored value.
func digest(stored []byte) uint64 {
	d := sha256.Sum256(stored)
	return binary.BigEndian.Uint64(d[:8])
}

// directory is a bounded map of known keys in two generations: lookups
// move entries from the old generation to the new, and when the new one
// holds max/2 entries it becomes the old one (the previous old one is
// dropped). Not safe for concurrent use: the Service's tier lock guards it.
type directory struct {
	max       int
	cur, prev map[dirKey]known
}

func newDirectory(max int) *directory {
	return &directory{max: max, cur: map[dirKey]known{}, prev: map[dirKey]known{}}
}

func (d *directory) get(k dirKey) (known, bool) {
	if v, ok := d.cur[k]; ok {
		return v, true
	}
	v, ok := d.prev[k]
	if ok {
		delete(d.prev, k)
		d.put(k, v)
	}
	return v, ok
}

func (d *directory) put(k dirKey, v known) {
	if d.max <= 0 {
		return
	}
	if _, ok := d.cur[k]; !ok && len(d.cur) >= max(d.max/2, 1) {
		d.prev, d.cur = d.cur, make(map[dirKey]known, len(d.cur))
	}
	delete(d.prev, k)
	d.cur[k] = v
}

func (d *directory) remove(k dirKey) {
	delete(d.cur, k)
	delete(d.prev, k)
}

func (d *directory) len() int { return len(d.cur) + len(d.prev) }

func (d *directory) clear() {
	d.cur, d.prev = map[dirKey]known{}, map[dirKey]known{}
}
