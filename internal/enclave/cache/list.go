package cache

// segment names the list an entry is on.
type segment uint8

const (
	window segment = iota
	probation
	protected
)

func (s segment) String() string {
	return [...]string{"window", "probation", "protected"}[s]
}

type entry[V any] struct {
	key        string
	value      V
	cost       int64
	hash       uint64
	seg        segment
	prev, next *entry[V]
}

// list is a circular doubly linked LRU list with a sentinel: front is the
// most recently used entry, back the least.
type list[V any] struct {
	root  entry[V]
	len   int
	bytes int64
}

func (l *list[V]) init() {
	l.root.prev, l.root.next = &l.root, &l.root
	l.len, l.bytes = 0, 0
}

func (l *list[V]) pushFront(e *entry[V]) {
	e.prev, e.next = &l.root, l.root.next
	l.root.next.prev = e
	l.root.next = e
	l.len++
	l.bytes += e.cost
}

func (l *list[V]) remove(e *entry[V]) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
	l.len--
	l.bytes -= e.cost
}

func (l *list[V]) moveToFront(e *entry[V]) {
	if l.root.next == e {
		return
	}
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = &l.root, l.root.next
	l.root.next.prev = e
	l.root.next = e
}

// back returns the least recently used entry, nil if the list is empty.
func (l *list[V]) back() *entry[V] {
	if l.len == 0 {
		return nil
	}
	return l.root.prev
}
