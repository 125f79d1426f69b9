package enclave

import (
	"sync"

	"github.com/folio-ledger/folio/internal/enclave/cache"
)

// ExternalCache is the host-side tier: sealed blobs of the enclave, by
// (namespace, key) encoded as one string. The host only stores and
// returns them; it cannot open them. Implementations must be safe for
// concurrent use. The default (NewExternalCache) is bounded by bytes with
// the same W-TinyLFU policy as the internal cache; tests wrap it to inject
// faults (enclavetest.TamperingCache).
type ExternalCache interface {
	// Get returns the blob of key. The caller does not modify it.
	Get(key string) ([]byte, bool)
	// Contains reports whether key is cached, without counting an access.
	Contains(key string) bool
	// Put stores blob (which the cache now owns) under key.
	Put(key string, blob []byte)
	// Delete removes key.
	Delete(key string)
	// Clear removes everything.
	Clear()
	// Len and Bytes report the number of entries and their bytes.
	Len() int
	Bytes() int64
}

// externalEntryOverhead is the bookkeeping cost of an external entry
// added to its key and blob bytes.
const externalEntryOverhead = 96

type externalCache struct {
	mu sync.Mutex
	c  *cache.Cache[[]byte] // guarded by mu
}

// NewExternalCache returns a W-TinyLFU cache of at most maxBytes (blob,
// key and about 96 bytes of bookkeeping per entry).
func NewExternalCache(maxBytes int64) (ExternalCache, error) {
	c, err := cache.New[[]byte](cache.Options{MaxBytes: maxBytes})
	if err != nil {
		return nil, err
	}
	return &externalCache{c: c}, nil
}

func (x *externalCache) Get(key string) ([]byte, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.c.Get(key)
}

func (x *externalCache) Contains(key string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.c.Contains(key)
}

func (x *externalCache) Put(key string, blob []byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.c.Set(key, blob, int64(len(key)+len(blob)+externalEntryOverhead))
}

func (x *externalCache) Delete(key string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.c.Delete(key)
}

func (x *externalCache) Clear() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.c.Clear()
}

func (x *externalCache) Len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.c.Len()
}

func (x *externalCache) Bytes() int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.c.Bytes()
}
