package contracttest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contract/abi"
)

// Epoch is the timestamp of the first call when Call.Timestamp is unset;
// each later call is one second later.
var Epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// MaxValueBytes is the value, event-payload and response limit the test
// Context applies (the VM's default).
const MaxValueBytes = 4 << 20

// Ledger is an in-memory committed state of one contract namespace. Not
// safe for concurrent use.
type Ledger struct {
	namespace string
	entries   map[string]entry
	keys      []string // sorted
	history   map[string][]contract.HistoryEntry
	height    uint64
	calls     int
	// orgs is what ChannelOrgs answers (nil: ErrUnavailable).
	orgs []string
}

type entry struct {
	value []byte
	ver   contract.Version
}

// NewLedger returns an empty ledger for namespace.
func NewLedger(namespace string) *Ledger {
	return &Ledger{namespace: namespace, entries: map[string]entry{}, history: map[string][]contract.HistoryEntry{}}
}

// Call describes one invocation: the contract call of the ABI, as the VM
// runs it (abi.Call), named here so that tests need not import the ABI.
// Unset fields get defaults: TxID the hex SHA-256 of the call's sequence
// number, Timestamp Epoch plus one second per call, ChannelID
// "testchannel", Namespace the ledger's. A Ledger holds the state of one
// namespace: Invoke and Simulate answer a call naming another one with a
// 400 response, without running the contract.
type Call = abi.Call

// Read is a recorded committed read; Version nil means the key was absent.
type Read struct {
	Key     string
	Version *contract.Version
}

// Write is a recorded write.
type Write struct {
	Key      string
	Value    []byte
	IsDelete bool
}

// Event is a recorded event.
type Event struct {
	Name    string
	Payload []byte
}

// Result is the outcome of a simulated call.
type Result struct {
	TxID     string
	Response contract.Response
	// Reads and Writes are sorted by key; Events keep their order.
	Reads  []Read
	Writes []Write
	Events []Event
	// Panicked reports a recovered panic (the Response is then a 500).
	Panicked bool
	// NotBefore is the latest time the call passed to CommitNotBefore
	// (zero: none).
	NotBefore time.Time
	// TooEarly reports a call that was not committed because its block's
	// timestamp was before NotBefore: validation marks such a
	// transaction TOO_EARLY.
	TooEarly bool
	// Block is the block the call was committed in, 0 if not committed.
	Block uint64
}

// JSON decodes the response payload into v.
func (r Result) JSON(v any) error { return json.Unmarshal(r.Response.Payload, v) }

// Invoke simulates c through r and commits the result as the next block if
// the status is 2xx and the call is not read-only. The block is stamped
// with the call's timestamp (an honest client, ordered at once); see
// InvokeAt for any other block time.
func (l *Ledger) Invoke(r *contract.Router, c Call) Result {
	return l.invoke(r, c, time.Time{})
}

// InvokeAt is Invoke with the block stamped at blockTime instead of the
// call's timestamp: a client whose clock runs ahead, or a transaction
// ordered late. As validation would, it refuses to commit a call whose
// CommitNotBefore time is after blockTime (Result.TooEarly).
func (l *Ledger) InvokeAt(r *contract.Router, c Call, blockTime time.Time) Result {
	if blockTime.IsZero() {
		// The zero time would mean "the call's timestamp" below.
		blockTime = time.Unix(0, 0)
	}
	return l.invoke(r, c, blockTime)
}

func (l *Ledger) invoke(r *contract.Router, c Call, blockTime time.Time) Result {
	ctx := l.NewContext(c)
	res := ctx.run(r, c.Namespace)
	if blockTime.IsZero() {
		blockTime = ctx.ts
	}
	if res.Response.Status >= 200 && res.Response.Status < 300 && !c.ReadOnly && !res.Panicked {
		if blockTime.Before(res.NotBefore) {
			res.TooEarly = true
			return res
		}
		res.Block = l.commit(res.Writes, ctx.txID, ctx.ts)
	}
	return res
}

// Simulate runs c through r without committing anything.
func (l *Ledger) Simulate(r *contract.Router, c Call) Result {
	return l.NewContext(c).run(r, c.Namespace)
}

// SetChannelOrgs sets the organisations Context.ChannelOrgs answers, as
// the VM answers channel_orgs from the channel's genesis configuration.
// Until it is called, ChannelOrgs fails with contract.ErrUnavailable, as
// on a host without the configuration.
func (l *Ledger) SetChannelOrgs(orgs ...string) {
	l.orgs = append([]string{}, orgs...)
	sort.Strings(l.orgs)
}

// Height is the last committed block (0 if none).
func (l *Ledger) Height() uint64 { return l.height }

// Get returns the committed value and version of key.
func (l *Ledger) Get(key string) ([]byte, contract.Version, bool) {
	e, ok := l.entries[key]
	return e.value, e.ver, ok
}

// Keys returns the committed keys in order.
func (l *Ledger) Keys() []string { return append([]string(nil), l.keys...) }

// Put sets key to value as a commit of its own block, with history.
func (l *Ledger) Put(key string, value []byte) {
	l.commit([]Write{{Key: key, Value: value}}, fmt.Sprintf("put-%d", l.height+1), Epoch)
}

func (l *Ledger) commit(ws []Write, txID string, ts time.Time) uint64 {
	l.height++
	ver := contract.Version{Block: l.height}
	for _, w := range ws {
		i := sort.SearchStrings(l.keys, w.Key)
		exists := i < len(l.keys) && l.keys[i] == w.Key
		h := contract.HistoryEntry{TxID: txID, Version: ver, Timestamp: ts, IsDelete: w.IsDelete}
		if w.IsDelete {
			if exists {
				delete(l.entries, w.Key)
				l.keys = append(l.keys[:i], l.keys[i+1:]...)
			}
		} else {
			l.entries[w.Key] = entry{value: clone(w.Value), ver: ver}
			if !exists {
				l.keys = append(l.keys, "")
				copy(l.keys[i+1:], l.keys[i:])
				l.keys[i] = w.Key
			}
			h.Value = clone(w.Value)
		}
		l.history[w.Key] = append(l.history[w.Key], h)
	}
	return l.height
}

// NewContext returns a Context for c to call handlers with directly; its
// Result method reports what they did. Nothing it does is committed. The
// Context reads and writes the ledger's namespace, whatever c.Namespace
// says.
func (l *Ledger) NewContext(c Call) *Context {
	l.calls++
	ctx := &Context{
		l:      l,
		call:   c,
		txID:   c.TxID,
		ts:     c.Timestamp,
		reads:  map[string]*contract.Version{},
		writes: map[string]Write{},
	}
	if ctx.txID == "" {
		sum := sha256.Sum256(fmt.Appendf(nil, "contracttest-%d", l.calls))
		ctx.txID = hex.EncodeToString(sum[:])
	}
	if ctx.ts.IsZero() {
		ctx.ts = Epoch.Add(time.Duration(l.calls-1) * time.Second)
	}
	if ctx.call.ChannelID == "" {
		ctx.call.ChannelID = "testchannel"
	}
	ctx.call.Namespace = l.namespace
	return ctx
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// Args turns strings into call arguments.
func Args(args ...string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

// JSONArgs encodes v as the single JSON argument of a call.
func JSONArgs(v any) [][]byte {
	b, err := json.Marshal(v)
	if err != nil {
		return [][]byte{[]byte(err.Error())}
	}
	return [][]byte{b}
}
