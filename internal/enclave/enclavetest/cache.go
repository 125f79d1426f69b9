package enclavetest

import (
	"sync"

	"github.com/folio-ledger/folio/internal/enclave"
)

// TamperingCache is an enclave.ExternalCache that a test controls like a
// malicious host would: it wraps a real one and can alter what it holds.
type TamperingCache struct {
	enclave.ExternalCache
	mu sync.Mutex // serialises the tampering methods
}

// NewTamperingCache wraps inner (nil: a default cache of maxBytes).
func NewTamperingCache(inner enclave.ExternalCache, maxBytes int64) (*TamperingCache, error) {
	if inner == nil {
		var err error
		if inner, err = enclave.NewExternalCache(maxBytes); err != nil {
			return nil, err
		}
	}
	return &TamperingCache{ExternalCache: inner}, nil
}

// Blob returns a copy of the blob held for (ns, key).
func (c *TamperingCache) Blob(ns, key string) ([]byte, bool) {
	b, ok := c.ExternalCache.Get(enclave.ExternalKey(ns, key))
	if !ok {
		return nil, false
	}
	return append([]byte(nil), b...), true
}

// Set stores blob for (ns, key), as a host serving anything it likes.
func (c *TamperingCache) Set(ns, key string, blob []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ExternalCache.Put(enclave.ExternalKey(ns, key), append([]byte(nil), blob...))
}

// Flip flips one bit of byte i (counted from the end if negative) of the
// blob held for (ns, key); false if there is none.
func (c *TamperingCache) Flip(ns, key string, i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := enclave.ExternalKey(ns, key)
	b, ok := c.ExternalCache.Get(k)
	if !ok || len(b) == 0 {
		return false
	}
	b = append([]byte(nil), b...)
	if i < 0 {
		i += len(b)
	}
	b[i%len(b)] ^= 0x01
	c.ExternalCache.Put(k, b)
	return true
}

// Swap exchanges the blobs of two keys; false unless both are held.
func (c *TamperingCache) Swap(ns, a, b string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ka, kb := enclave.ExternalKey(ns, a), enclave.ExternalKey(ns, b)
	ba, oka := c.ExternalCache.Get(ka)
	bb, okb := c.ExternalCache.Get(kb)
	if !oka || !okb {
		return false
	}
	c.ExternalCache.Put(ka, bb)
	c.ExternalCache.Put(kb, ba)
	return true
}
