package quota

import (
	"fmt"
	"sync"
	"testing"
)

// TestBoundsPerClientAndInAll: one client cannot hold more than its share,
// nor all clients together more than the total; released slots are
// reusable, a release twice frees one slot only, and the state of a
// client holding nothing is gone.
func TestBoundsPerClientAndInAll(t *testing.T) {
	c := New(10, 4)
	var held []func()
	for i := 0; i < 4; i++ {
		rel, r, _ := c.Acquire("user1@Org1")
		if r != None {
			t.Fatalf("slot %d refused: %v", i, r)
		}
		held = append(held, rel)
	}
	if rel, r, n := c.Acquire("user1@Org1"); rel != nil || r != PerClient || n != 4 {
		t.Fatalf("fifth slot of one client: %v held %d", r, n)
	}
	for i := 0; i < 6; i++ {
		rel, r, _ := c.Acquire(fmt.Sprintf("u%d@Org2", i))
		if r != None {
			t.Fatal(r)
		}
		held = append(held, rel)
	}
	if _, r, n := c.Acquire("fresh@Org2"); r != Total || n != 10 {
		t.Fatalf("slot beyond the total: %v held %d", r, n)
	}
	held[0]()
	held[0]() // twice: still one slot
	if _, r, _ := c.Acquire("fresh@Org2"); r != None {
		t.Fatalf("a released slot: %v", r)
	}
	if _, r, _ := c.Acquire("other@Org2"); r != Total {
		t.Fatal("a double release freed two slots")
	}
	for _, rel := range held[1:] {
		rel()
	}
	if total, clients := c.Held(); total != 1 || clients != 1 {
		t.Fatalf("after releases: %d slots, %d clients, want 1 and 1", total, clients)
	}
}

// TestConcurrentUseStaysWithinBounds runs acquire and release from many
// goroutines (with -race) and checks the bounds at every step against the
// counter's own state, and that everything is released at the end.
func TestConcurrentUseStaysWithinBounds(t *testing.T) {
	c := New(64, 8)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			client := fmt.Sprintf("c%d", g%4)
			for i := 0; i < 200; i++ {
				if rel, r, _ := c.Acquire(client); r == None {
					c.mu.Lock()
					over := c.mu.total > 64 || c.mu.by[client] > 8
					c.mu.Unlock()
					if over {
						t.Error("bound exceeded")
					}
					rel()
				}
			}
		}(g)
	}
	wg.Wait()
	if total, clients := c.Held(); total != 0 || clients != 0 {
		t.Fatalf("after all releases: %d slots, %d clients", total, clients)
	}
}
