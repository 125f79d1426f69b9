package cache

import (
	"fmt"
	"testing"
)

// FuzzCache drives a cache with operations decoded from the input and
// checks it against a map (the reference): a hit returns exactly the
// value last set for the key, the invariants hold, the bound is kept.
func FuzzCache(f *testing.F) {
	f.Add([]byte{0, 1, 10, 1, 1, 0, 2, 1, 3, 1, 200})
	f.Add([]byte("the quick brown fox jumps over the lazy dog"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		c, err := New[string](Options{MaxBytes: 300, WindowPercent: 10, ExpectedEntryBytes: 8})
		if err != nil {
			t.Fatal(err)
		}
		ref := map[string]string{}
		for i := 0; i+2 < len(ops); i += 3 {
			op, key, arg := ops[i]%5, fmt.Sprint(ops[i+1]%32), ops[i+2]
			switch op {
			case 0, 1: // get, set on miss
				v, ok := c.Get(key)
				if ok && v != ref[key] {
					t.Fatalf("Get(%s) = %q, last set %q", key, v, ref[key])
				}
				if !ok && op == 1 {
					val := fmt.Sprintf("%s.%d", key, arg)
					ref[key] = val
					c.Set(key, val, int64(arg))
				}
			case 2: // set
				val := fmt.Sprintf("%s/%d", key, arg)
				ref[key] = val
				c.Set(key, val, int64(arg))
			case 3: // update
				val := fmt.Sprintf("%s+%d", key, arg)
				if c.Update(key, val, int64(arg%64)) {
					ref[key] = val
				}
			case 4:
				c.Delete(key)
			}
			if err := c.check(); err != nil {
				t.Fatal(err)
			}
		}
		c.Each(func(k, v string) bool {
			if ref[k] != v {
				t.Fatalf("entry %s = %q, last set %q", k, v, ref[k])
			}
			return true
		})
	})
}
