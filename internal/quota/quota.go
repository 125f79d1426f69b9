// Package quota bounds how many of something (requests in flight, waits
// held open) a listener holds at once: in all, and per client, so that one
// client cannot take every slot. Its state is one counter per client that
// holds a slot, deleted when the client holds none, so it is itself
// bounded by the total.
package quota

import "sync"

// Reached says which bound refused a slot.
type Reached int

const (
	// None: the slot was granted.
	None Reached = iota
	// PerClient: the client holds its most.
	PerClient
	// Total: all clients together hold the most.
	Total
)

// Counter counts the slots held. Safe for concurrent use; mu guards the
// counts.
type Counter struct {
	max, perClient int
	mu             struct {
		sync.Mutex
		total int
		by    map[string]int // client -> slots held
	}
}

// New returns a counter of at most max slots, perClient of them per
// client.
func New(max, perClient int) *Counter {
	c := &Counter{max: max, perClient: perClient}
	c.mu.by = map[string]int{}
	return c
}

// Acquire takes a slot for client. When a bound is reached it returns a
// nil release, the bound, and how many slots the client (PerClient) or
// everyone (Total) holds. Release gives the slot back; calling it again
// does nothing.
func (c *Counter) Acquire(client string) (release func(), reached Reached, held int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.mu.by[client]; n >= c.perClient {
		return nil, PerClient, n
	}
	if c.mu.total >= c.max {
		return nil, Total, c.mu.total
	}
	c.mu.total++
	c.mu.by[client]++
	var once sync.Once
	return func() { once.Do(func() { c.release(client) }) }, None, 0
}

func (c *Counter) release(client string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.total--
	if c.mu.by[client]--; c.mu.by[client] <= 0 {
		delete(c.mu.by, client)
	}
}

// Held returns the slots held in all and the number of clients holding
// any.
func (c *Counter) Held() (total, clients int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.total, len(c.mu.by)
}
