package wire

import (
	"fmt"
	"unicode/utf8"
)

// Message is a payload that encodes and decodes itself.
type Message interface {
	encode(e *encoder)
	decode(d *decoder)
	name() string
}

// Marshal appends the encoding of m to dst.
func Marshal(dst []byte, m Message) []byte {
	e := encoder{b: dst}
	m.encode(&e)
	return e.b
}

// Unmarshal decodes b into m; byte fields of m alias b.
func Unmarshal(b []byte, m Message) error {
	d := decoder{b: b}
	m.decode(&d)
	return d.finish(m.name())
}

// Empty is a message without fields (Ping, Stats, their replies).
type Empty struct{}

func (*Empty) encode(*encoder) {}
func (*Empty) decode(*decoder) {}
func (*Empty) name() string    { return "empty" }
func (*Empty) Validate() error { return nil }

// Limits that Validate applies to what crosses the boundary.
const (
	MaxNameBytes = 256     // contract name, version, namespace
	MaxKeyBytes  = 1 << 12 // a state key
	MaxRangeRows = 1 << 20
)

func checkName(what, s string) error {
	if s == "" || len(s) > MaxNameBytes || !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s %q: want 1 to %d bytes of UTF-8", ErrMalformed, what, truncate(s), MaxNameBytes)
	}
	return nil
}

func checkKey(key string) error {
	if len(key) > MaxKeyBytes {
		return fmt.Errorf("%w: key of %d bytes, limit %d", ErrMalformed, len(key), MaxKeyBytes)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// VMOptions are the vm.Options the host chooses for the enclave.
type VMOptions struct {
	CacheDir         string
	MemoryLimitPages uint64
	CallTimeoutNanos int64
	MaxArgBytes      int64
	MaxValueBytes    int64
	PoolSize         int64
	Interpreter      bool
}

// Init is the first ecall of a process: configuration and the height the
// enclave starts at (its caches are empty).
type Init struct {
	ProtocolVersion    uint64
	Height             uint64
	InternalCacheBytes int64 // < 0: no internal cache
	ExternalCache      bool  // the host keeps an external cache
	DirectoryEntries   int64
	MaxConcurrentCalls int64
	VM                 VMOptions
}

func (m *Init) name() string { return "Init" }
func (m *Init) encode(e *encoder) {
	e.uvarint(m.ProtocolVersion)
	e.uvarint(m.Height)
	e.varint(m.InternalCacheBytes)
	e.bool(m.ExternalCache)
	e.varint(m.DirectoryEntries)
	e.varint(m.MaxConcurrentCalls)
	e.str(m.VM.CacheDir)
	e.uvarint(m.VM.MemoryLimitPages)
	e.varint(m.VM.CallTimeoutNanos)
	e.varint(m.VM.MaxArgBytes)
	e.varint(m.VM.MaxValueBytes)
	e.varint(m.VM.PoolSize)
	e.bool(m.VM.Interpreter)
}
func (m *Init) decode(d *decoder) {
	m.ProtocolVersion = d.uvarint()
	m.Height = d.uvarint()
	m.InternalCacheBytes = d.varint()
	m.ExternalCache = d.bool()
	m.DirectoryEntries = d.varint()
	m.MaxConcurrentCalls = d.varint()
	m.VM.CacheDir = d.str()
	m.VM.MemoryLimitPages = d.uvarint()
	m.VM.CallTimeoutNanos = d.varint()
	m.VM.MaxArgBytes = d.varint()
	m.VM.MaxValueBytes = d.varint()
	m.VM.PoolSize = d.varint()
	m.VM.Interpreter = d.bool()
}

// Validate rejects an Init the enclave cannot work with.
func (m *Init) Validate() error {
	switch {
	case m.ProtocolVersion != Version:
		return fmt.Errorf("%w: protocol version %d, this enclave speaks %d", ErrMalformed, m.ProtocolVersion, Version)
	case m.DirectoryEntries < 0 || m.MaxConcurrentCalls < 0:
		return fmt.Errorf("%w: negative limits in Init", ErrMalformed)
	case m.VM.MemoryLimitPages > 65536:
		return fmt.Errorf("%w: memory limit %d pages", ErrMalformed, m.VM.MemoryLimitPages)
	}
	return nil
}

// InitReply tells the host who the enclave is.
type InitReply struct {
	PID         uint64
	HasStateKey bool
}

func (m *InitReply) name() string { return "InitReply" }
func (m *InitReply) encode(e *encoder) {
	e.uvarint(m.PID)
	e.bool(m.HasStateKey)
}
func (m *InitReply) decode(d *decoder) {
	m.PID = d.uvarint()
	m.HasStateKey = d.bool()
}

// Install loads a contract version in the enclave.
type Install struct {
	Name, Version string
	Confidential  bool
	Wasm          []byte
}

func (m *Install) name() string { return "Install" }
func (m *Install) encode(e *encoder) {
	e.str(m.Name)
	e.str(m.Version)
	e.bool(m.Confidential)
	e.bytes(m.Wasm)
}
func (m *Install) decode(d *decoder) {
	m.Name = d.str()
	m.Version = d.str()
	m.Confidential = d.bool()
	m.Wasm = d.bytes()
}

// Validate checks names (the module itself is the VM's to judge).
func (m *Install) Validate() error {
	if err := checkName("contract name", m.Name); err != nil {
		return err
	}
	return checkName("contract version", m.Version)
}

// Creator is the identity that signed the proposal.
type Creator struct {
	MSPID, Org, Name, Role string
	CertPEM                []byte
}

// Call is a vm.Call on the wire.
type Call struct {
	TxID              string
	TimestampUnixNano int64
	ChannelID         string
	Namespace         string
	Function          string
	Args              [][]byte
	Creator           Creator
	ReadOnly          bool
}

func (c *Call) encode(e *encoder) {
	e.str(c.TxID)
	e.varint(c.TimestampUnixNano)
	e.str(c.ChannelID)
	e.str(c.Namespace)
	e.str(c.Function)
	e.uvarint(uint64(len(c.Args)))
	for _, a := range c.Args {
		e.nbytes(a)
	}
	e.str(c.Creator.MSPID)
	e.str(c.Creator.Org)
	e.str(c.Creator.Name)
	e.str(c.Creator.Role)
	e.bytes(c.Creator.CertPEM)
	e.bool(c.ReadOnly)
}

func (c *Call) decode(d *decoder) {
	c.TxID = d.str()
	c.TimestampUnixNano = d.varint()
	c.ChannelID = d.str()
	c.Namespace = d.str()
	c.Function = d.str()
	if n := d.count(1); n > 0 {
		c.Args = make([][]byte, n)
		for i := range c.Args {
			c.Args[i] = d.nbytes()
		}
	}
	c.Creator.MSPID = d.str()
	c.Creator.Org = d.str()
	c.Creator.Name = d.str()
	c.Creator.Role = d.str()
	c.Creator.CertPEM = d.bytes()
	c.ReadOnly = d.bool()
}

// Simulate runs a call at a pinned height.
type Simulate struct {
	Height        uint64
	Name, Version string
	Call          Call
}

func (m *Simulate) name() string { return "Simulate" }
func (m *Simulate) encode(e *encoder) {
	e.uvarint(m.Height)
	e.str(m.Name)
	e.str(m.Version)
	m.Call.encode(e)
}
func (m *Simulate) decode(d *decoder) {
	m.Height = d.uvarint()
	m.Name = d.str()
	m.Version = d.str()
	m.Call.decode(d)
}

// Validate checks the names; the call is the VM's to judge.
func (m *Simulate) Validate() error {
	if err := checkName("contract name", m.Name); err != nil {
		return err
	}
	return checkName("contract version", m.Version)
}

// Fill is a sealed external-cache entry the host is to store.
type Fill struct {
	Namespace, Key string
	Blob           []byte
	// Height is the enclave height the blob was sealed at; the host drops
	// fills older than its own height (a commit may have changed the key).
	Height uint64
}

func (f *Fill) encode(e *encoder) {
	e.str(f.Namespace)
	e.str(f.Key)
	e.bytes(f.Blob)
	e.uvarint(f.Height)
}

func (f *Fill) decode(d *decoder) {
	f.Namespace = d.str()
	f.Key = d.str()
	f.Blob = d.bytes()
	f.Height = d.uvarint()
}

func encodeFills(e *encoder, fs []Fill) {
	e.uvarint(uint64(len(fs)))
	for i := range fs {
		fs[i].encode(e)
	}
}

func decodeFills(d *decoder) []Fill {
	n := d.count(4)
	if n == 0 {
		return nil
	}
	fs := make([]Fill, n)
	for i := range fs {
		fs[i].decode(d)
	}
	return fs
}

// SimulateReply is a call's outcome: the deterministically encoded
// foliov1.ContractAction, how long the VM took, and sealed entries for
// the external cache.
type SimulateReply struct {
	Action        []byte
	DurationNanos int64
	Fills         []Fill
}

func (m *SimulateReply) name() string { return "SimulateReply" }
func (m *SimulateReply) encode(e *encoder) {
	e.bytes(m.Action)
	e.varint(m.DurationNanos)
	encodeFills(e, m.Fills)
}
func (m *SimulateReply) decode(d *decoder) {
	m.Action = d.bytes()
	m.DurationNanos = d.varint()
	m.Fills = decodeFills(d)
}

// Write is one committed write pushed through the tiers.
type Write struct {
	Namespace, Key string
	Value          []byte // as committed (sealed for confidential contracts)
	Delete         bool
	Tx             uint64 // version (Commit.Block, Tx)
	// ExtPresent: the host's external cache holds the key; the enclave
	// returns a replacement.
	ExtPresent bool
}

// Commit pushes the writes of one committed block.
type Commit struct {
	Block  uint64
	Writes []Write
}

func (m *Commit) name() string { return "Commit" }
func (m *Commit) encode(e *encoder) {
	e.uvarint(m.Block)
	e.uvarint(uint64(len(m.Writes)))
	for i := range m.Writes {
		w := &m.Writes[i]
		e.str(w.Namespace)
		e.str(w.Key)
		e.nbytes(w.Value)
		e.bool(w.Delete)
		e.uvarint(w.Tx)
		e.bool(w.ExtPresent)
	}
}
func (m *Commit) decode(d *decoder) {
	m.Block = d.uvarint()
	if n := d.count(7); n > 0 {
		m.Writes = make([]Write, n)
		for i := range m.Writes {
			w := &m.Writes[i]
			w.Namespace = d.str()
			w.Key = d.str()
			w.Value = d.nbytes()
			w.Delete = d.bool()
			w.Tx = d.uvarint()
			w.ExtPresent = d.bool()
		}
	}
}

// Validate checks every write: a namespace, a bounded key, no value on a
// delete, a value on a put.
func (m *Commit) Validate() error {
	for i := range m.Writes {
		w := &m.Writes[i]
		if err := checkName("namespace", w.Namespace); err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
		if err := checkKey(w.Key); err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
		if w.Delete && len(w.Value) > 0 {
			return fmt.Errorf("%w: write %d: a delete with a value", ErrMalformed, i)
		}
	}
	return nil
}

// CommitReply carries the replacements for external-cache entries.
type CommitReply struct {
	Fills []Fill
}

func (m *CommitReply) name() string      { return "CommitReply" }
func (m *CommitReply) encode(e *encoder) { encodeFills(e, m.Fills) }
func (m *CommitReply) decode(d *decoder) { m.Fills = decodeFills(d) }

// Invalidate drops the enclave's caches and moves it to Height.
type Invalidate struct {
	Height uint64
}

func (m *Invalidate) name() string      { return "Invalidate" }
func (m *Invalidate) encode(e *encoder) { e.uvarint(m.Height) }
func (m *Invalidate) decode(d *decoder) { m.Height = d.uvarint() }

// KeyRequest is an ocall about one key: Lookup, StateGet, StateHistory.
type KeyRequest struct {
	Ecall          uint64 // the ecall this ocall serves
	Namespace, Key string
}

func (m *KeyRequest) name() string { return "KeyRequest" }
func (m *KeyRequest) encode(e *encoder) {
	e.uvarint(m.Ecall)
	e.str(m.Namespace)
	e.str(m.Key)
}
func (m *KeyRequest) decode(d *decoder) {
	m.Ecall = d.uvarint()
	m.Namespace = d.str()
	m.Key = d.str()
}

// Validate bounds the key.
func (m *KeyRequest) Validate() error { return checkKey(m.Key) }

// LookupReply answers the Lookup ocall: the external cache's blob of the
// key if the host holds one (ExtFound), else the committed value at the
// ecall's height (Found: the key exists), in one crossing.
type LookupReply struct {
	ExtFound  bool
	Blob      []byte
	Found     bool
	Value     []byte
	Block, Tx uint64
}

func (m *LookupReply) name() string { return "LookupReply" }
func (m *LookupReply) encode(e *encoder) {
	e.bool(m.ExtFound)
	e.bytes(m.Blob)
	e.bool(m.Found)
	e.nbytes(m.Value)
	e.uvarint(m.Block)
	e.uvarint(m.Tx)
}
func (m *LookupReply) decode(d *decoder) {
	m.ExtFound = d.bool()
	m.Blob = d.bytes()
	m.Found = d.bool()
	m.Value = d.nbytes()
	m.Block = d.uvarint()
	m.Tx = d.uvarint()
}

// StateGetReply is a committed value at the ecall's height.
type StateGetReply struct {
	Found     bool
	Value     []byte
	Block, Tx uint64
}

func (m *StateGetReply) name() string { return "StateGetReply" }
func (m *StateGetReply) encode(e *encoder) {
	e.bool(m.Found)
	e.nbytes(m.Value)
	e.uvarint(m.Block)
	e.uvarint(m.Tx)
}
func (m *StateGetReply) decode(d *decoder) {
	m.Found = d.bool()
	m.Value = d.nbytes()
	m.Block = d.uvarint()
	m.Tx = d.uvarint()
}

// RangeRequest is the StateRange ocall: up to Limit entries in [Start, End).
type RangeRequest struct {
	Ecall      uint64
	Namespace  string
	Start, End string
	Limit      int64
}

func (m *RangeRequest) name() string { return "RangeRequest" }
func (m *RangeRequest) encode(e *encoder) {
	e.uvarint(m.Ecall)
	e.str(m.Namespace)
	e.str(m.Start)
	e.str(m.End)
	e.varint(m.Limit)
}
func (m *RangeRequest) decode(d *decoder) {
	m.Ecall = d.uvarint()
	m.Namespace = d.str()
	m.Start = d.str()
	m.End = d.str()
	m.Limit = d.varint()
}

// Validate bounds the bounds and the limit.
func (m *RangeRequest) Validate() error {
	if err := checkKey(m.Start); err != nil {
		return err
	}
	if err := checkKey(m.End); err != nil {
		return err
	}
	if m.Limit < 0 || m.Limit > MaxRangeRows {
		return fmt.Errorf("%w: range limit %d", ErrMalformed, m.Limit)
	}
	return nil
}

// KV is one entry of a range.
type KV struct {
	Key       string
	Value     []byte
	Block, Tx uint64
}

// RangeReply is a page of a range.
type RangeReply struct {
	KVs  []KV
	More bool
}

func (m *RangeReply) name() string { return "RangeReply" }
func (m *RangeReply) encode(e *encoder) {
	e.uvarint(uint64(len(m.KVs)))
	for i := range m.KVs {
		kv := &m.KVs[i]
		e.str(kv.Key)
		e.nbytes(kv.Value)
		e.uvarint(kv.Block)
		e.uvarint(kv.Tx)
	}
	e.bool(m.More)
}
func (m *RangeReply) decode(d *decoder) {
	if n := d.count(4); n > 0 {
		m.KVs = make([]KV, n)
		for i := range m.KVs {
			kv := &m.KVs[i]
			kv.Key = d.str()
			kv.Value = d.nbytes()
			kv.Block = d.uvarint()
			kv.Tx = d.uvarint()
		}
	}
	m.More = d.bool()
}

// HistoryEntry is one committed change of a key.
type HistoryEntry struct {
	TxID              string
	Block, Tx         uint64
	TimestampUnixNano int64
	IsDelete          bool
	Value             []byte
}

// HistoryReply is every committed change of a key, oldest first.
type HistoryReply struct {
	Entries []HistoryEntry
}

func (m *HistoryReply) name() string { return "HistoryReply" }
func (m *HistoryReply) encode(e *encoder) {
	e.uvarint(uint64(len(m.Entries)))
	for i := range m.Entries {
		h := &m.Entries[i]
		e.str(h.TxID)
		e.uvarint(h.Block)
		e.uvarint(h.Tx)
		e.varint(h.TimestampUnixNano)
		e.bool(h.IsDelete)
		e.nbytes(h.Value)
	}
}
func (m *HistoryReply) decode(d *decoder) {
	if n := d.count(6); n > 0 {
		m.Entries = make([]HistoryEntry, n)
		for i := range m.Entries {
			h := &m.Entries[i]
			h.TxID = d.str()
			h.Block = d.uvarint()
			h.Tx = d.uvarint()
			h.TimestampUnixNano = d.varint()
			h.IsDelete = d.bool()
			h.Value = d.nbytes()
		}
	}
}
