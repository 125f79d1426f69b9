package cache

import (
	"errors"
	"fmt"
)

// Options configure a Cache. EnsureDefaults fills unset fields with the
// defaults their comments state.
type Options struct {
	// MaxBytes bounds the sum of the costs of the entries. Default 64 MiB.
	MaxBytes int64
	// WindowPercent is the share of MaxBytes given to the admission
	// window. Default 1; at most 100.
	WindowPercent int
	// ProtectedPercent is the share of the main space (MaxBytes minus the
	// window) for the protected segment. Default 80; at most 100.
	ProtectedPercent int
	// ExpectedEntryBytes is the typical cost of an entry; the frequency
	// sketch gets one counter per row per MaxBytes/ExpectedEntryBytes
	// expected entries (a power of two, from 64 to 4Mi, 4 rows of 4 bits).
	// Default 512.
	ExpectedEntryBytes int
	// Seed perturbs the sketch's hash function. Default 0. The enclave
	// sets a random one so that nobody outside can craft keys that collide
	// in the sketch.
	Seed uint64
}

// Defaults.
const (
	DefaultMaxBytes           = 64 << 20
	DefaultWindowPercent      = 1
	DefaultProtectedPercent   = 80
	DefaultExpectedEntryBytes = 512
)

// ErrInvalidOptions is wrapped by Validate's errors.
var ErrInvalidOptions = errors.New("cache: invalid options")

// EnsureDefaults fills unset fields and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.WindowPercent == 0 {
		o.WindowPercent = DefaultWindowPercent
	}
	if o.ProtectedPercent == 0 {
		o.ProtectedPercent = DefaultProtectedPercent
	}
	if o.ExpectedEntryBytes == 0 {
		o.ExpectedEntryBytes = DefaultExpectedEntryBytes
	}
	return o
}

// Validate rejects unusable options.
func (o *Options) Validate() error {
	switch {
	case o.MaxBytes < 0:
		return fmt.Errorf("%w: MaxBytes %d is negative", ErrInvalidOptions, o.MaxBytes)
	case o.WindowPercent < 0 || o.WindowPercent > 100:
		return fmt.Errorf("%w: WindowPercent %d outside [0, 100]", ErrInvalidOptions, o.WindowPercent)
	case o.ProtectedPercent < 0 || o.ProtectedPercent > 100:
		return fmt.Errorf("%w: ProtectedPercent %d outside [0, 100]", ErrInvalidOptions, o.ProtectedPercent)
	case o.ExpectedEntryBytes < 0:
		return fmt.Errorf("%w: ExpectedEntryBytes %d is negative", ErrInvalidOptions, o.ExpectedEntryBytes)
	}
	return nil
}

// Stats are cumulative counters of a Cache.
type Stats struct {
	// Hits and Misses count Get calls.
	Hits, Misses uint64
	// Admitted counts new entries that reached the main space; Rejected
	// those the admission policy (or their size) turned away.
	Admitted, Rejected uint64
	// Evicted counts entries of the main space evicted for a candidate.
	Evicted uint64
}

// Cache is a byte-bounded W-TinyLFU cache (see the package comment). Not
// safe for concurrent use.
type Cache[V any] struct {
	maxBytes, maxWindow, maxMain, maxProtected int64
	seed                                       uint64

	data                       map[string]*entry[V]
	window, probation, protect list[V]
	sketch                     *sketch
	stats                      Stats
	// onEvict, if set, is told about every entry that leaves the cache
	// other than by Delete, Clear or replacement.
	onEvict func(key string, value V)
}

// New returns an empty cache.
func New[V any](opts Options) (*Cache[V], error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c := &Cache[V]{maxBytes: opts.MaxBytes, seed: opts.Seed, data: map[string]*entry[V]{}}
	c.maxWindow = opts.MaxBytes * int64(opts.WindowPercent) / 100
	c.maxMain = opts.MaxBytes - c.maxWindow
	c.maxProtected = c.maxMain * int64(opts.ProtectedPercent) / 100
	c.window.init()
	c.probation.init()
	c.protect.init()
	counters := 64
	if opts.ExpectedEntryBytes > 0 {
		counters = int(min(opts.MaxBytes/int64(opts.ExpectedEntryBytes), 1<<22))
	}
	c.sketch = newSketch(counters, opts.Seed)
	return c, nil
}

// OnEvict sets a function called with every entry the policy evicts or
// rejects (not with entries removed by Delete, Clear or replaced by Set).
// It must not call back into the cache.
func (c *Cache[V]) OnEvict(f func(key string, value V)) { c.onEvict = f }

// Len returns the number of entries.
func (c *Cache[V]) Len() int { return len(c.data) }

// Bytes returns the sum of the costs of the entries.
func (c *Cache[V]) Bytes() int64 {
	return c.window.bytes + c.probation.bytes + c.protect.bytes
}

// MaxBytes returns the bound on Bytes.
func (c *Cache[V]) MaxBytes() int64 { return c.maxBytes }

// Stats returns the counters.
func (c *Cache[V]) Stats() Stats { return c.stats }

func (c *Cache[V]) listOf(s segment) *list[V] {
	switch s {
	case window:
		return &c.window
	case probation:
		return &c.probation
	}
	return &c.protect
}

// Get returns the value of key and records the access (hit or miss) in
// the frequency sketch and the entry's recency.
func (c *Cache[V]) Get(key string) (V, bool) {
	h := hashKey(c.seed, key)
	c.sketch.increment(h)
	e := c.data[key]
	if e == nil {
		c.stats.Misses++
		var zero V
		return zero, false
	}
	c.stats.Hits++
	c.touch(e)
	return e.value, true
}

// Peek returns the value of key without recording an access.
func (c *Cache[V]) Peek(key string) (V, bool) {
	if e := c.data[key]; e != nil {
		return e.value, true
	}
	var zero V
	return zero, false
}

// Contains reports whether key is cached, without recording an access.
func (c *Cache[V]) Contains(key string) bool { return c.data[key] != nil }

// touch moves an accessed entry: to the front of its LRU list, or from
// probation to protected.
func (c *Cache[V]) touch(e *entry[V]) {
	switch e.seg {
	case window:
		c.window.moveToFront(e)
	case protected:
		c.protect.moveToFront(e)
	case probation:
		c.probation.remove(e)
		e.seg = protected
		c.protect.pushFront(e)
		for c.protect.bytes > c.maxProtected && c.protect.len > 1 {
			d := c.protect.back()
			c.protect.remove(d)
			d.seg = probation
			c.probation.pushFront(d)
		}
	}
}

// Set inserts or replaces key with value of the given cost, and reports
// whether key is cached afterwards: a new entry enters the admission
// window and may be rejected when it leaves it, at once if the window is
// smaller than its cost; an entry costing more than MaxBytes is never
// cached (and a cached entry replaced by one is removed). Replacing keeps
// the entry's position and is not an access.
func (c *Cache[V]) Set(key string, value V, cost int64) bool {
	if cost < 0 {
		cost = 0
	}
	if e := c.data[key]; e != nil {
		if cost > c.maxBytes {
			c.Delete(key)
			return false
		}
		l := c.listOf(e.seg)
		l.bytes += cost - e.cost
		e.cost, e.value = cost, value
		c.maintain()
		return c.data[key] != nil
	}
	if cost > c.maxBytes {
		c.stats.Rejected++
		return false
	}
	e := &entry[V]{key: key, value: value, cost: cost, hash: hashKey(c.seed, key), seg: window}
	c.data[key] = e
	c.window.pushFront(e)
	c.maintain()
	return c.data[key] != nil
}

// Update replaces the value and cost of key if it is cached, and reports
// whether it was. It is not an access.
func (c *Cache[V]) Update(key string, value V, cost int64) bool {
	if c.data[key] == nil {
		return false
	}
	return c.Set(key, value, cost)
}

// Delete removes key.
func (c *Cache[V]) Delete(key string) {
	e := c.data[key]
	if e == nil {
		return
	}
	c.listOf(e.seg).remove(e)
	delete(c.data, key)
}

// Clear removes every entry and forgets all frequencies. Stats are kept.
func (c *Cache[V]) Clear() {
	c.data = map[string]*entry[V]{}
	c.window.init()
	c.probation.init()
	c.protect.init()
	c.sketch.reset()
}

// Each calls f for every entry until f returns false, in no set order.
func (c *Cache[V]) Each(f func(key string, value V) bool) {
	for k, e := range c.data {
		if !f(k, e.value) {
			return
		}
	}
}

func (c *Cache[V]) mainBytes() int64 { return c.probation.bytes + c.protect.bytes }

// maintain moves what overflows the window into the main space, through
// the admission policy, and evicts what overflows the main space.
func (c *Cache[V]) maintain() {
	for c.window.bytes > c.maxWindow {
		e := c.window.back()
		c.window.remove(e)
		c.admit(e)
	}
	for c.mainBytes() > c.maxMain {
		c.evict(c.victim())
	}
}

// victim is the entry of the main space to evict first: the least
// recently used of probation, else of protected.
func (c *Cache[V]) victim() *entry[V] {
	if v := c.probation.back(); v != nil {
		return v
	}
	return c.protect.back()
}

// admit puts a candidate leaving the window into probation, evicting
// less frequent victims to make room, or rejects it.
func (c *Cache[V]) admit(cand *entry[V]) {
	for c.mainBytes()+cand.cost > c.maxMain {
		v := c.victim()
		if v == nil || cand.cost > c.maxMain || c.sketch.frequency(cand.hash) <= c.sketch.frequency(v.hash) {
			delete(c.data, cand.key)
			c.stats.Rejected++
			if c.onEvict != nil {
				c.onEvict(cand.key, cand.value)
			}
			return
		}
		c.evict(v)
	}
	cand.seg = probation
	c.probation.pushFront(cand)
	c.stats.Admitted++
}

func (c *Cache[V]) evict(e *entry[V]) {
	c.listOf(e.seg).remove(e)
	delete(c.data, e.key)
	c.stats.Evicted++
	if c.onEvict != nil {
		c.onEvict(e.key, e.value)
	}
}

// check verifies the invariants; tests call it after every operation.
func (c *Cache[V]) check() error {
	n := 0
	for _, s := range []segment{window, probation, protected} {
		l := c.listOf(s)
		var bytes int64
		cnt := 0
		for e := l.root.next; e != &l.root; e = e.next {
			if e.seg != s {
				return fmt.Errorf("entry %q on the %v list says %v", e.key, s, e.seg)
			}
			if c.data[e.key] != e {
				return fmt.Errorf("entry %q on the %v list is not in the map", e.key, s)
			}
			if e.next.prev != e {
				return fmt.Errorf("broken links at %q", e.key)
			}
			bytes += e.cost
			cnt++
		}
		if bytes != l.bytes || cnt != l.len {
			return fmt.Errorf("%v list: %d entries / %d bytes counted, %d / %d recorded", s, cnt, bytes, l.len, l.bytes)
		}
		n += cnt
	}
	if n != len(c.data) {
		return fmt.Errorf("%d entries on lists, %d in the map", n, len(c.data))
	}
	if c.Bytes() > c.maxBytes {
		return fmt.Errorf("%d bytes cached, bound %d", c.Bytes(), c.maxBytes)
	}
	if c.window.bytes > c.maxWindow || c.mainBytes() > c.maxMain {
		return fmt.Errorf("window %d/%d, main %d/%d bytes", c.window.bytes, c.maxWindow, c.mainBytes(), c.maxMain)
	}
	return nil
}
