package trie

import "sync"

// nodeCache is a least-recently-used cache of node encodings bounded by their
// total size. It is safe for concurrent use. Cached blobs are immutable.
type nodeCache struct {
	mu struct {
		sync.Mutex
		// entries indexes the list; the list runs from most to least
		// recently used, through sentinel.
		entries  map[cacheKey]*cacheEntry
		sentinel cacheEntry
		size     int // bytes accounted, see entryOverhead
	}
	capacity int
}

type cacheKey struct{ owner, hash Hash }

type cacheEntry struct {
	key        cacheKey
	blob       []byte
	prev, next *cacheEntry
}

// entryOverhead approximates the memory of an entry beyond its blob (the
// entry, its map slot and the key).
const entryOverhead = 160

func newNodeCache(capacity int) *nodeCache {
	c := &nodeCache{capacity: capacity}
	c.mu.entries = make(map[cacheKey]*cacheEntry)
	c.mu.sentinel.prev = &c.mu.sentinel
	c.mu.sentinel.next = &c.mu.sentinel
	return c
}

func (c *nodeCache) get(k cacheKey) ([]byte, bool) {
	if c.capacity <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.mu.entries[k]
	if !ok {
		return nil, false
	}
	c.unlink(e)
	c.pushFront(e)
	return e.blob, true
}

// add caches blob, which the cache now owns.
func (c *nodeCache) add(k cacheKey, blob []byte) {
	cost := len(blob) + entryOverhead
	if c.capacity <= 0 || cost > c.capacity {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.mu.entries[k]; ok {
		c.unlink(e)
		c.pushFront(e)
		return
	}
	e := &cacheEntry{key: k, blob: blob}
	c.mu.entries[k] = e
	c.pushFront(e)
	c.mu.size += cost
	for c.mu.size > c.capacity {
		last := c.mu.sentinel.prev
		c.unlink(last)
		delete(c.mu.entries, last.key)
		c.mu.size -= len(last.blob) + entryOverhead
	}
}

func (c *nodeCache) remove(k cacheKey) {
	if c.capacity <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.mu.entries[k]; ok {
		c.unlink(e)
		delete(c.mu.entries, k)
		c.mu.size -= len(e.blob) + entryOverhead
	}
}

// stats returns the number of entries and the bytes accounted.
func (c *nodeCache) stats() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mu.entries), c.mu.size
}

// unlink and pushFront require c.mu.
func (c *nodeCache) unlink(e *cacheEntry) {
	e.prev.next = e.next
	e.next.prev = e.prev
}

func (c *nodeCache) pushFront(e *cacheEntry) {
	e.prev = &c.mu.sentinel
	e.next = c.mu.sentinel.next
	e.prev.next = e
	e.next.prev = e
}
