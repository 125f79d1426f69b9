package contracttest

import (
	"fmt"
	"iter"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contract/abi"
)

// Context implements contract.Context over a Ledger for one call.
type Context struct {
	l        *Ledger
	call     Call
	txID     string
	ts       time.Time
	reads    map[string]*contract.Version
	writes   map[string]Write
	events   []Event
	logs     []string
	panicked bool
	resp     contract.Response
	// notBefore is the latest CommitNotBefore time (zero: none).
	notBefore time.Time
}

var _ contract.Context = (*Context)(nil)

// run runs the handler of the call through r; ns is the namespace the
// call named ("" for the ledger's).
func (c *Context) run(r *contract.Router, ns string) Result {
	if ns != "" && ns != c.l.namespace {
		c.resp = contract.BadRequest("", "contracttest: a call for namespace %q on the ledger of namespace %q", ns, c.l.namespace).Response()
		return c.Result()
	}
	c.resp, c.panicked = contract.Recover(r, c)
	// The host refuses these responses; the SDK then answers a bare 500.
	refused := func(format string, args ...any) contract.Response {
		return contract.Response{Status: 500, Message: "contract response refused: " + fmt.Sprintf(format, args...)}
	}
	switch resp := c.resp; {
	case resp.Status < abi.MinStatus || resp.Status > abi.MaxStatus:
		c.resp = refused("%v: status %d outside [%d, %d]", contract.ErrInvalidArgument, resp.Status, abi.MinStatus, abi.MaxStatus)
	case !utf8.ValidString(resp.Message):
		c.resp = refused("%v: response message is not valid UTF-8", contract.ErrInvalidArgument)
	case len(resp.Message)+len(resp.Payload) > MaxValueBytes:
		c.resp = refused("%v: response has %d bytes, limit %d", contract.ErrTooLarge, len(resp.Message)+len(resp.Payload), MaxValueBytes)
	}
	return c.Result()
}

// Result reports what the call did so far, with the response of run (or a
// zero Response if handlers were called directly).
func (c *Context) Result() Result {
	res := Result{TxID: c.txID, Response: c.resp, Panicked: c.panicked, Events: append([]Event(nil), c.events...), NotBefore: c.notBefore}
	for _, k := range sortedKeys(c.reads) {
		res.Reads = append(res.Reads, Read{Key: k, Version: c.reads[k]})
	}
	for _, k := range sortedKeys(c.writes) {
		res.Writes = append(res.Writes, c.writes[k])
	}
	return res
}

// Logs returns the lines the contract logged with Logf.
func (c *Context) Logs() []string { return append([]string(nil), c.logs...) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (c *Context) TxID() string         { return c.txID }
func (c *Context) Timestamp() time.Time { return c.ts.UTC() }
func (c *Context) ChannelID() string    { return c.call.ChannelID }
func (c *Context) Namespace() string    { return c.call.Namespace }
func (c *Context) Function() string     { return c.call.Function }
func (c *Context) Args() [][]byte {
	out := make([][]byte, len(c.call.Args))
	for i, a := range c.call.Args {
		out[i] = append([]byte{}, a...)
	}
	return out
}
func (c *Context) Creator() contract.Identity { return c.call.Creator }
func (c *Context) ReadOnly() bool             { return c.call.ReadOnly }

func (c *Context) GetState(key string) ([]byte, error) {
	v, _, err := c.GetStateVersion(key)
	return v, err
}

func (c *Context) GetStateVersion(key string) ([]byte, *contract.Version, error) {
	if err := contract.CheckKey(key); err != nil {
		return nil, nil, err
	}
	if w, ok := c.writes[key]; ok {
		if w.IsDelete {
			return nil, nil, nil
		}
		return clone(nonNil(w.Value)), nil, nil
	}
	e, ok := c.l.entries[key]
	if _, seen := c.reads[key]; !seen {
		if ok {
			v := e.ver
			c.reads[key] = &v
		} else {
			c.reads[key] = nil
		}
	}
	if !ok {
		return nil, nil, nil
	}
	v := e.ver
	return clone(nonNil(e.value)), &v, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (c *Context) PutState(key string, value []byte) error {
	if c.call.ReadOnly {
		return fmt.Errorf("put state %q: %w: cannot write %q in a read-only call", key, contract.ErrReadOnly, key)
	}
	if err := contract.CheckKey(key); err != nil {
		return err
	}
	if len(value) > MaxValueBytes {
		return fmt.Errorf("put state %q: %w: value has %d bytes, limit %d", key, contract.ErrTooLarge, len(value), MaxValueBytes)
	}
	c.writes[key] = Write{Key: key, Value: clone(value)}
	return nil
}

func (c *Context) DelState(key string) error {
	if c.call.ReadOnly {
		return fmt.Errorf("delete state %q: %w: cannot delete %q in a read-only call", key, contract.ErrReadOnly, key)
	}
	if err := contract.CheckKey(key); err != nil {
		return err
	}
	c.writes[key] = Write{Key: key, IsDelete: true}
	return nil
}

func (c *Context) GetStateRange(start, end string) iter.Seq2[contract.KV, error] {
	s, e, err := contract.SimpleKeyRange(start, end)
	if err != nil {
		return errSeq(err)
	}
	return c.scan(s, e)
}

func (c *Context) GetStateByPartialCompositeKey(objectType string, attrs ...string) iter.Seq2[contract.KV, error] {
	s, e, err := contract.PartialCompositeKeyRange(objectType, attrs...)
	if err != nil {
		return errSeq(err)
	}
	return c.scan(s, e)
}

// scan iterates committed keys in [start, end) over a snapshot of the key
// list, so writes during iteration do not disturb it.
func (c *Context) scan(start, end string) iter.Seq2[contract.KV, error] {
	keys := c.l.keys
	i := sort.SearchStrings(keys, start)
	j := len(keys)
	if end != "" {
		j = sort.SearchStrings(keys, end)
	}
	if j < i {
		j = i
	}
	snap := append([]string(nil), keys[i:j]...)
	return func(yield func(contract.KV, error) bool) {
		for _, k := range snap {
			e := c.l.entries[k]
			if !yield(contract.KV{Key: k, Value: clone(nonNil(e.value)), Version: e.ver}, nil) {
				return
			}
		}
	}
}

func errSeq(err error) iter.Seq2[contract.KV, error] {
	return func(yield func(contract.KV, error) bool) { yield(contract.KV{}, err) }
}

func (c *Context) GetHistoryForKey(key string) ([]contract.HistoryEntry, error) {
	if err := contract.CheckKey(key); err != nil {
		return nil, err
	}
	h := c.l.history[key]
	out := make([]contract.HistoryEntry, len(h))
	for i, e := range h {
		e.Value = clone(e.Value)
		e.Timestamp = e.Timestamp.UTC()
		out[i] = e
	}
	return out, nil
}

func (c *Context) SetEvent(name string, payload []byte) error {
	switch {
	case c.call.ReadOnly:
		return fmt.Errorf("set event %q: %w: cannot set event %q in a read-only call", name, contract.ErrReadOnly, name)
	case name == "" || len(name) > abi.MaxEventNameBytes || !utf8.ValidString(name):
		return fmt.Errorf("set event %q: %w: event name must be 1..%d bytes of UTF-8", name, contract.ErrInvalidArgument, abi.MaxEventNameBytes)
	case len(payload) > MaxValueBytes:
		return fmt.Errorf("set event %q: %w: payload has %d bytes, limit %d", name, contract.ErrTooLarge, len(payload), MaxValueBytes)
	case len(c.events) >= abi.MaxEvents:
		return fmt.Errorf("set event %q: %w: a call may set at most %d events", name, contract.ErrLimit, abi.MaxEvents)
	}
	c.events = append(c.events, Event{Name: name, Payload: clone(payload)})
	return nil
}

func (c *Context) Logf(format string, args ...any) {
	c.logs = append(c.logs, fmt.Sprintf(format, args...))
}

// CommitNotBefore records the assertion as the VM does (the latest time
// wins); Ledger.Invoke and InvokeAt then commit the call only in a block
// stamped at or after it.
func (c *Context) CommitNotBefore(t time.Time) error {
	if _, ok := abi.NotBeforeNanos(t); !ok {
		return fmt.Errorf("commit not before %s: %w: the time must be after the Unix epoch and before 2262", t.UTC().Format(time.RFC3339Nano), contract.ErrInvalidArgument)
	}
	if t.After(c.notBefore) {
		c.notBefore = t.UTC()
	}
	return nil
}

// ChannelOrgs answers what Ledger.SetChannelOrgs set; like the VM's
// channel_orgs it records no read.
func (c *Context) ChannelOrgs() ([]string, error) {
	if c.l.orgs == nil {
		return nil, fmt.Errorf("channel organisations: %w: the ledger was given none (Ledger.SetChannelOrgs)", contract.ErrUnavailable)
	}
	return append([]string(nil), c.l.orgs...), nil
}
