package cache

import (
	clist "container/list"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func newCache(t testing.TB, maxBytes int64) *Cache[string] {
	t.Helper()
	c, err := New[string](Options{MaxBytes: maxBytes, ExpectedEntryBytes: 10})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustCheck(t testing.TB, c *Cache[string]) {
	t.Helper()
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
}

func TestSetGetDelete(t *testing.T) {
	c := newCache(t, 1000)
	if _, ok := c.Get("a"); ok {
		t.Fatal("hit in an empty cache")
	}
	if !c.Set("a", "1", 10) {
		t.Fatal("a not cached")
	}
	if v, ok := c.Get("a"); !ok || v != "1" {
		t.Fatalf("Get(a) = %q, %v", v, ok)
	}
	c.Set("a", "2", 20)
	if v, _ := c.Peek("a"); v != "2" || c.Bytes() != 20 || c.Len() != 1 {
		t.Fatalf("after replace: %q, %d bytes, %d entries", v, c.Bytes(), c.Len())
	}
	if c.Update("b", "x", 1) {
		t.Fatal("Update of an absent key")
	}
	c.Delete("a")
	if c.Contains("a") || c.Bytes() != 0 {
		t.Fatal("delete")
	}
	if c.Set("huge", "x", 1001) {
		t.Fatal("an entry larger than the cache was cached")
	}
	c.Set("a", "1", 10)
	if c.Set("a", "huge", 5000) || c.Contains("a") {
		t.Fatal("replacing with an oversize value kept the entry")
	}
	st := c.Stats()
	if st.Hits != 1 || st.Misses != 1 {
		t.Fatalf("stats %+v", st)
	}
	mustCheck(t, c)
	c.Set("z", "z", 1)
	c.Clear()
	if c.Len() != 0 || c.Bytes() != 0 {
		t.Fatal("clear")
	}
	mustCheck(t, c)
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{MaxBytes: -1}, {WindowPercent: 101}, {ProtectedPercent: -1}, {ExpectedEntryBytes: -5}} {
		if _, err := New[int](o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	o := (&Options{}).EnsureDefaults()
	if o.MaxBytes != DefaultMaxBytes || o.WindowPercent != 1 || o.ProtectedPercent != 80 || o.ExpectedEntryBytes != 512 {
		t.Errorf("defaults %+v", o)
	}
}

// TestByteBound fills the cache with entries of random sizes and checks
// the bound and the invariants after every operation.
func TestByteBound(t *testing.T) {
	c := newCache(t, 10_000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20_000; i++ {
		k := fmt.Sprint(r.IntN(3000))
		if _, ok := c.Get(k); !ok {
			c.Set(k, k, int64(1+r.IntN(400)))
		}
		if i%97 == 0 {
			mustCheck(t, c)
		}
	}
	mustCheck(t, c)
	if c.Bytes() < 9000 {
		t.Errorf("only %d of 10000 bytes used", c.Bytes())
	}
}

// TestFrequentKeysSurviveAScan: keys read often stay cached while a long
// scan of keys read once passes through; a plain LRU would lose them all.
func TestFrequentKeysSurviveAScan(t *testing.T) {
	c := newCache(t, 100*10)
	for round := 0; round < 20; round++ {
		for i := 0; i < 50; i++ {
			k := fmt.Sprintf("hot%d", i)
			if _, ok := c.Get(k); !ok {
				c.Set(k, k, 10)
			}
		}
	}
	for i := 0; i < 10_000; i++ {
		k := fmt.Sprintf("scan%d", i)
		if _, ok := c.Get(k); !ok {
			c.Set(k, k, 10)
		}
	}
	kept := 0
	for i := 0; i < 50; i++ {
		if c.Contains(fmt.Sprintf("hot%d", i)) {
			kept++
		}
	}
	if kept < 45 {
		t.Errorf("only %d of 50 hot keys survived the scan", kept)
	}
	mustCheck(t, c)
}

// zipf draws ranks 0..n-1 with P(i) proportional to 1/(i+1)^s.
func zipf(r *rand.Rand, n int, s float64) func() int {
	cdf := make([]float64, n)
	var sum float64
	for i := range cdf {
		sum += 1 / math.Pow(float64(i+1), s)
		cdf[i] = sum
	}
	return func() int {
		u := r.Float64() * sum
		lo, hi := 0, n-1
		for lo < hi {
			mid := (lo + hi) / 2
			if cdf[mid] < u {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return lo
	}
}

// lru is a reference LRU cache counted in entries.
type lru struct {
	cap int
	l   *clist.List
	m   map[int]*clist.Element
}

func (c *lru) get(k int) bool {
	if e, ok := c.m[k]; ok {
		c.l.MoveToFront(e)
		return true
	}
	c.m[k] = c.l.PushFront(k)
	if c.l.Len() > c.cap {
		b := c.l.Back()
		c.l.Remove(b)
		delete(c.m, b.Value.(int))
	}
	return false
}

// TestZipfBeatsLRU: on a Zipf workload the frequency-aware policy hits at
// least as often as LRU of the same size (it should do clearly better).
func TestZipfBeatsLRU(t *testing.T) {
	const n, size, ops = 100_000, 2_000, 300_000
	draw := zipf(rand.New(rand.NewPCG(7, 7)), n, 0.99)
	c := newCache(t, size*100)
	ref := &lru{cap: size, l: clist.New(), m: map[int]*clist.Element{}}
	var hits, refHits int
	for i := 0; i < ops; i++ {
		k := draw()
		key := fmt.Sprint(k)
		if _, ok := c.Get(key); ok {
			hits++
		} else {
			c.Set(key, key, 100)
		}
		if ref.get(k) {
			refHits++
		}
	}
	t.Logf("hit rate: W-TinyLFU %.3f, LRU %.3f", float64(hits)/ops, float64(refHits)/ops)
	if hits < refHits {
		t.Errorf("W-TinyLFU hits %d < LRU %d", hits, refHits)
	}
	mustCheck(t, c)
}

// TestDeterministic: equal sequences give equal contents.
func TestDeterministic(t *testing.T) {
	run := func() []string {
		c := newCache(t, 2000)
		r := rand.New(rand.NewPCG(3, 4))
		for i := 0; i < 5000; i++ {
			k := fmt.Sprint(r.IntN(500))
			if _, ok := c.Get(k); !ok {
				c.Set(k, k, int64(1+r.IntN(50)))
			}
		}
		var keys []string
		for _, l := range []*list[string]{&c.window, &c.probation, &c.protect} {
			for e := l.root.next; e != &l.root; e = e.next {
				keys = append(keys, e.key)
			}
		}
		return keys
	}
	a, b := run(), run()
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("two equal runs differ")
	}
}

func TestSketchAging(t *testing.T) {
	s := newSketch(64, 0)
	h := hashKey(0, "k")
	for i := 0; i < 20; i++ {
		s.increment(h)
	}
	if f := s.frequency(h); f != 15 {
		t.Fatalf("frequency %d, want saturated 15", f)
	}
	s.age()
	if f := s.frequency(h); f != 7 {
		t.Fatalf("after aging %d, want 7", f)
	}
	if f := s.frequency(hashKey(0, "other")); f > 7 {
		t.Fatalf("unseen key has frequency %d", f)
	}
}

func TestOnEvict(t *testing.T) {
	c := newCache(t, 100)
	evicted := map[string]bool{}
	c.OnEvict(func(k, _ string) { evicted[k] = true })
	for i := 0; i < 50; i++ {
		c.Set(fmt.Sprint(i), "v", 10)
	}
	for i := 0; i < 50; i++ {
		k := fmt.Sprint(i)
		if c.Contains(k) == evicted[k] {
			t.Fatalf("key %s: cached %v, evicted %v", k, c.Contains(k), evicted[k])
		}
	}
}

// TestHugeCandidate: an entry larger than the main space is rejected
// without evicting anything.
func TestHugeCandidate(t *testing.T) {
	c := newCache(t, 1000) // window 10 bytes, main 990
	for i := 0; i < 50; i++ {
		k := fmt.Sprint(i)
		c.Get(k)
		c.Set(k, k, 10)
	}
	n := c.Len()
	for i := 0; i < 20; i++ {
		c.Get("huge") // frequent, but too big
	}
	if c.Set("huge", "x", 995) {
		t.Fatal("an entry larger than the main space was cached")
	}
	if c.Len() != n {
		t.Fatalf("%d entries evicted for nothing", n-c.Len())
	}
	mustCheck(t, c)
}
