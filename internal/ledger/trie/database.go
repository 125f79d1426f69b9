package trie

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/folio-ledger/folio/internal/kv"
)

// Options configures a Database. The zero value is valid: every field
// documents its default, applied by EnsureDefaults.
type Options struct {
	// Prefix starts every key the database writes, separating the trie's
	// records from other components sharing the store. It must not be a
	// prefix of, nor prefixed by, another component's keys. Default: "t".
	Prefix []byte

	// CacheBytes bounds the node cache: node encodings read or written
	// recently, least recently used evicted first, each counted as its
	// length plus about 160 bytes of overhead. Default: 64 MiB. A negative
	// value disables the cache.
	CacheBytes int
}

// Defaults applied by EnsureDefaults.
const (
	DefaultPrefix     = "t"
	DefaultCacheBytes = 64 << 20
)

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if len(o.Prefix) == 0 {
		o.Prefix = []byte(DefaultPrefix)
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultCacheBytes
	}
}

// Validate rejects unusable options.
func (o *Options) Validate() error {
	if len(o.Prefix) == 0 {
		return errors.New("trie: options: empty Prefix")
	}
	return nil
}

// Record kinds, the byte after the prefix. See docs/ledger-trie.md.
const (
	recNode    byte = 'n' // prefix 'n' owner hash -> version(8) ++ encoding
	recJournal byte = 'j' // prefix 'j' version(8) owner -> obsolete hashes, concatenated
	recVersion byte = 'v' // prefix 'v' -> latest written version(8)
)

// ErrVersionOrder is returned by Write for a version not above the last one
// written.
var ErrVersionOrder = errors.New("trie: versions must increase")

// Database stores trie nodes in a kv.Store, content-addressed by (owner,
// hash), with a node cache and the retention journal used by Prune. Reads
// (Node) are safe for concurrent use. Write and Prune change what is stored
// and must be called by one goroutine, the committer, never concurrently
// with each other; the batch Write fills must be committed before the next
// Prune.
type Database struct {
	store  kv.Store
	prefix []byte
	cache  *nodeCache
}

var _ NodeReader = (*Database)(nil)

// NewDatabase returns a Database over store.
func NewDatabase(store kv.Store, opts Options) (*Database, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Database{store: store, prefix: bytes.Clone(opts.Prefix), cache: newNodeCache(opts.CacheBytes)}, nil
}

// nodeKey appends the key of a node record to dst.
func (db *Database) nodeKey(dst []byte, owner, hash Hash) []byte {
	dst = append(dst, db.prefix...)
	dst = append(dst, recNode)
	dst = append(dst, owner[:]...)
	return append(dst, hash[:]...)
}

func (db *Database) journalKey(dst []byte, version uint64, owner Hash) []byte {
	dst = append(dst, db.prefix...)
	dst = append(dst, recJournal)
	dst = binary.BigEndian.AppendUint64(dst, version)
	return append(dst, owner[:]...)
}

func (db *Database) versionKey() []byte {
	return append(bytes.Clone(db.prefix), recVersion)
}

// Node returns the encoding of a stored node, from the cache or the store.
// A node read from the store is checked against its hash; a mismatch is a
// *kv.CorruptionError. The returned slice must not be modified.
func (db *Database) Node(owner, hash Hash) ([]byte, error) {
	k := cacheKey{owner, hash}
	if blob, ok := db.cache.get(k); ok {
		return blob, nil
	}
	rec, err := db.store.Get(db.nodeKey(nil, owner, hash))
	if err != nil {
		if errors.Is(err, kv.ErrNotFound) {
			return nil, &MissingNodeError{Owner: owner, Hash: hash, Err: err}
		}
		return nil, fmt.Errorf("trie: read node %s: %w", hash, err)
	}
	if len(rec) < 8 {
		return nil, &kv.CorruptionError{Op: "read trie node", Err: fmt.Errorf("node %s: %d-byte record", hash, len(rec))}
	}
	blob := rec[8:]
	if got := Keccak256(blob); got != hash {
		return nil, &kv.CorruptionError{Op: "read trie node", Err: fmt.Errorf("node %s: content hashes to %s", hash, got)}
	}
	db.cache.add(k, blob)
	return blob, nil
}

// CacheStats returns the number of cached nodes and the bytes they account.
func (db *Database) CacheStats() (nodes, bytes int) { return db.cache.stats() }

// LastVersion returns the last version written and committed, and false if
// none was.
func (db *Database) LastVersion() (uint64, bool, error) {
	v, err := db.store.Get(db.versionKey())
	if errors.Is(err, kv.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if len(v) != 8 {
		return 0, false, &kv.CorruptionError{Op: "read trie version", Err: fmt.Errorf("%d-byte record", len(v))}
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// Write adds to b the nodes of the sets committed at version, one set per
// trie (owners must differ), and the retention journal: for each set, the
// stored nodes that became unreachable at this version. It also records
// version as the latest. Versions must increase from one committed Write to
// the next (ErrVersionOrder); pass every set of a version in one call.
// Nothing is visible until b commits. Written nodes enter the cache.
func (db *Database) Write(b kv.Batch, version uint64, sets ...*NodeSet) error {
	last, ok, err := db.LastVersion()
	if err != nil {
		return err
	}
	if ok && version <= last {
		return fmt.Errorf("%w: writing version %d after %d", ErrVersionOrder, version, last)
	}
	owners := make(map[Hash]bool, len(sets))
	for _, s := range sets {
		if s == nil {
			continue
		}
		if owners[s.Owner] {
			return fmt.Errorf("trie: two node sets for owner %s in version %d", s.Owner, version)
		}
		owners[s.Owner] = true
	}
	var key, val []byte
	for _, s := range sets {
		if s == nil {
			continue
		}
		for i := 0; i < s.Len(); i++ {
			hash, blob := s.Node(i)
			key = db.nodeKey(key[:0], s.Owner, hash)
			val = binary.BigEndian.AppendUint64(val[:0], version)
			val = append(val, blob...)
			if err := b.Set(key, val); err != nil {
				return err
			}
			db.cache.add(cacheKey{s.Owner, hash}, bytes.Clone(blob))
		}
		if len(s.Obsolete) > 0 {
			val = val[:0]
			for _, h := range s.Obsolete {
				val = append(val, h[:]...)
			}
			if err := b.Set(db.journalKey(key[:0], version, s.Owner), val); err != nil {
				return err
			}
		}
	}
	return b.Set(db.versionKey(), binary.BigEndian.AppendUint64(nil, version))
}

// PruneStats reports what Prune did.
type PruneStats struct {
	Journals int // journal records consumed (one per trie and version)
	Deleted  int // nodes deleted
	Kept     int // obsolete nodes kept because a later version wrote them again
}

// pruneBatchBytes is the batch size at which Prune commits and starts a new
// batch.
const pruneBatchBytes = 4 << 20

// Prune deletes every stored node that no trie of version keepFrom or later
// needs: the nodes journaled as unreachable at versions <= keepFrom, unless
// a later version wrote the same node again (its record then carries that
// later version). Tries committed at versions < keepFrom become incomplete.
// To keep the last n versions after committing version v, call
// Prune(v-n+1). Prune commits its own batches; it is idempotent, so an
// interrupted Prune is completed by the next.
func (db *Database) Prune(keepFrom uint64, o kv.WriteOptions) (PruneStats, error) {
	var stats PruneStats
	snap, err := db.store.NewSnapshot()
	if err != nil {
		return stats, err
	}
	defer snap.Close()
	lower := db.journalKey(nil, 0, Hash{})[:len(db.prefix)+1]
	upper := db.journalKey(nil, 0, Hash{})[:len(db.prefix)+1]
	if keepFrom == ^uint64(0) {
		upper = kv.PrefixEnd(upper)
	} else {
		upper = binary.BigEndian.AppendUint64(upper, keepFrom+1)
	}
	it, err := snap.NewIter(&kv.IterOptions{Lower: lower, Upper: upper})
	if err != nil {
		return stats, err
	}
	defer it.Close()
	b := db.store.NewBatch()
	defer func() { b.Close() }()
	var key []byte
	for ok := it.First(); ok; ok = it.Next() {
		jk, jv := it.Key(), it.Value()
		if len(jk) != len(db.prefix)+1+8+32 || len(jv)%32 != 0 {
			return stats, &kv.CorruptionError{Op: "prune", Err: fmt.Errorf("malformed journal record %x", jk)}
		}
		version := binary.BigEndian.Uint64(jk[len(db.prefix)+1:])
		var owner Hash
		copy(owner[:], jk[len(db.prefix)+9:])
		for off := 0; off < len(jv); off += 32 {
			var hash Hash
			copy(hash[:], jv[off:off+32])
			key = db.nodeKey(key[:0], owner, hash)
			rec, err := snap.Get(key)
			if errors.Is(err, kv.ErrNotFound) {
				continue // already pruned
			}
			if err != nil {
				return stats, err
			}
			if len(rec) < 8 {
				return stats, &kv.CorruptionError{Op: "prune", Err: fmt.Errorf("node %s: %d-byte record", hash, len(rec))}
			}
			if binary.BigEndian.Uint64(rec) > version {
				stats.Kept++ // written again after it became unreachable
				continue
			}
			if err := b.Delete(key); err != nil {
				return stats, err
			}
			db.cache.remove(cacheKey{owner, hash})
			stats.Deleted++
		}
		if err := b.Delete(jk); err != nil {
			return stats, err
		}
		stats.Journals++
		if b.Size() >= pruneBatchBytes {
			if err := b.Commit(o); err != nil {
				return stats, err
			}
			b = db.store.NewBatch()
		}
	}
	if err := it.Error(); err != nil {
		return stats, err
	}
	return stats, b.Commit(o)
}
