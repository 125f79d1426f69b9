package wire

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/folio-ledger/folio/contract/abi"
)

// Message is a payload that encodes and decodes itself.
type Message interface {
	encode(e *encoder)
	decode(d *decoder)
	name() string
}

// Marshal appends the encoding of m to dst.
func Marshal(dst []byte, m Message) []byte {
	e := encoder{B: dst}
	m.encode(&e)
	return e.B
}

// Unmarshal decodes b into m; byte fields of m alias b.
func Unmarshal(b []byte, m Message) error {
	d := newDecoder(b)
	m.decode(&d)
	return d.Finish(m.name())
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
	e.Uvarint(m.ProtocolVersion)
	e.Uvarint(m.Height)
	e.Varint(m.InternalCacheBytes)
	e.Bool(m.ExternalCache)
	e.Varint(m.DirectoryEntries)
	e.Varint(m.MaxConcurrentCalls)
	e.Str(m.VM.CacheDir)
	e.Uvarint(m.VM.MemoryLimitPages)
	e.Varint(m.VM.CallTimeoutNanos)
	e.Varint(m.VM.MaxArgBytes)
	e.Varint(m.VM.MaxValueBytes)
	e.Varint(m.VM.PoolSize)
	e.Bool(m.VM.Interpreter)
}
func (m *Init) decode(d *decoder) {
	m.ProtocolVersion = d.Uvarint()
	m.Height = d.Uvarint()
	m.InternalCacheBytes = d.Varint()
	m.ExternalCache = d.Bool()
	m.DirectoryEntries = d.Varint()
	m.MaxConcurrentCalls = d.Varint()
	m.VM.CacheDir = d.Str()
	m.VM.MemoryLimitPages = d.Uvarint()
	m.VM.CallTimeoutNanos = d.Varint()
	m.VM.MaxArgBytes = d.Varint()
	m.VM.MaxValueBytes = d.Varint()
	m.VM.PoolSize = d.Varint()
	m.VM.Interpreter = d.Bool()
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
	// Anchor is the hash of the genesis block header the enclave was
	// provisioned with (its trust anchor): the host logs it and checks it
	// is its own chain's, to catch a misconfigured peer early. It proves
	// nothing to a host that lies.
	Anchor []byte
}

func (m *InitReply) name() string { return "InitReply" }
func (m *InitReply) encode(e *encoder) {
	e.Uvarint(m.PID)
	e.Bool(m.HasStateKey)
	e.Bytes(m.Anchor)
}
func (m *InitReply) decode(d *decoder) {
	m.PID = d.Uvarint()
	m.HasStateKey = d.Bool()
	m.Anchor = d.Bytes()
}

// Install loads a contract version in the enclave. The module comes one
// of two ways (docs/enclave.md, "Which modules run"):
//
//   - Package and Signature are a signed contract package's two fields
//     (foliov1.SignedContractPackage, as types.PackageContract signs it):
//     the enclave runs the package's module if an admin of an
//     organisation of its genesis block signed those bytes, and Name,
//     Version and Confidential agree with the package. Wasm is then empty:
//     the module is the package's, so no other bytes can ride beside a
//     valid signature.
//   - Package is empty and Wasm is a module that the enclave's genesis
//     block pins (a genesis contract: its name, version, SHA-256 and
//     confidentiality are in the genesis configuration).
type Install struct {
	Name, Version string
	Confidential  bool
	Wasm          []byte
	Package       []byte
	Signature     []byte
}

func (m *Install) name() string { return "Install" }
func (m *Install) encode(e *encoder) {
	e.Str(m.Name)
	e.Str(m.Version)
	e.Bool(m.Confidential)
	e.Bytes(m.Wasm)
	e.Bytes(m.Package)
	e.Bytes(m.Signature)
}
func (m *Install) decode(d *decoder) {
	m.Name = d.Str()
	m.Version = d.Str()
	m.Confidential = d.Bool()
	m.Wasm = d.Bytes()
	m.Package = d.Bytes()
	m.Signature = d.Bytes()
}

// Validate checks names and that the module comes exactly one way (the
// module itself is the VM's to judge, the signature the enclave's).
func (m *Install) Validate() error {
	if err := checkName("contract name", m.Name); err != nil {
		return err
	}
	if err := checkName("contract version", m.Version); err != nil {
		return err
	}
	switch {
	case len(m.Package) > 0 && len(m.Wasm) > 0:
		return fmt.Errorf("%w: install %s %s: a module beside a signed package (the package carries the module)", ErrMalformed, m.Name, m.Version)
	case len(m.Package) == 0 && len(m.Signature) > 0:
		return fmt.Errorf("%w: install %s %s: a signature without a package", ErrMalformed, m.Name, m.Version)
	case len(m.Package) == 0 && len(m.Wasm) == 0:
		return fmt.Errorf("%w: install %s %s: no module", ErrMalformed, m.Name, m.Version)
	}
	return nil
}

// encodeCall encodes a contract call (the one definition, abi.Call) in
// this protocol's framing, which differs from the ABI's own: an argument
// keeps the difference between nil and empty, and a zero timestamp
// crosses as 0.
func encodeCall(e *encoder, c *abi.Call) {
	e.Str(c.TxID)
	putTime(e, c.Timestamp)
	e.Str(c.ChannelID)
	e.Str(c.Namespace)
	e.Str(c.Function)
	e.Uvarint(uint64(len(c.Args)))
	for _, a := range c.Args {
		e.NBytes(a)
	}
	e.Str(c.Creator.MSPID)
	e.Str(c.Creator.Org)
	e.Str(c.Creator.Name)
	e.Str(c.Creator.Role)
	e.Bytes(c.Creator.CertPEM)
	e.Bool(c.ReadOnly)
}

func decodeCall(d *decoder, c *abi.Call) {
	c.TxID = d.Str()
	c.Timestamp = getTime(d)
	c.ChannelID = d.Str()
	c.Namespace = d.Str()
	c.Function = d.Str()
	if n := d.Count(1); n > 0 {
		c.Args = make([][]byte, n)
		for i := range c.Args {
			c.Args[i] = d.NBytes()
		}
	}
	c.Creator.MSPID = d.Str()
	c.Creator.Org = d.Str()
	c.Creator.Name = d.Str()
	c.Creator.Role = d.Str()
	c.Creator.CertPEM = d.Bytes()
	c.ReadOnly = d.Bool()
}

// putTime writes a timestamp as signed Unix nanoseconds, 0 for the zero
// time (an unset timestamp, which the VM refuses in a call). The Unix
// epoch itself, which no endorser admits as a transaction's time, reads
// back as unset too.
func putTime(e *encoder, t time.Time) {
	if t.IsZero() {
		e.Varint(0)
		return
	}
	e.Varint(t.UnixNano())
}

// getTime reads a timestamp written by putTime, in UTC.
func getTime(d *decoder) time.Time {
	n := d.Varint()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Simulate runs a call at a pinned height.
type Simulate struct {
	Height        uint64
	Name, Version string
	Call          abi.Call
}

func (m *Simulate) name() string { return "Simulate" }
func (m *Simulate) encode(e *encoder) {
	e.Uvarint(m.Height)
	e.Str(m.Name)
	e.Str(m.Version)
	encodeCall(e, &m.Call)
}
func (m *Simulate) decode(d *decoder) {
	m.Height = d.Uvarint()
	m.Name = d.Str()
	m.Version = d.Str()
	decodeCall(d, &m.Call)
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
	e.Str(f.Namespace)
	e.Str(f.Key)
	e.Bytes(f.Blob)
	e.Uvarint(f.Height)
}

func (f *Fill) decode(d *decoder) {
	f.Namespace = d.Str()
	f.Key = d.Str()
	f.Blob = d.Bytes()
	f.Height = d.Uvarint()
}

func encodeFills(e *encoder, fs []Fill) {
	e.Uvarint(uint64(len(fs)))
	for i := range fs {
		fs[i].encode(e)
	}
}

func decodeFills(d *decoder) []Fill {
	n := d.Count(4)
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
	e.Bytes(m.Action)
	e.Varint(m.DurationNanos)
	encodeFills(e, m.Fills)
}
func (m *SimulateReply) decode(d *decoder) {
	m.Action = d.Bytes()
	m.DurationNanos = d.Varint()
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
	e.Uvarint(m.Block)
	e.Uvarint(uint64(len(m.Writes)))
	for i := range m.Writes {
		w := &m.Writes[i]
		e.Str(w.Namespace)
		e.Str(w.Key)
		e.NBytes(w.Value)
		e.Bool(w.Delete)
		e.Uvarint(w.Tx)
		e.Bool(w.ExtPresent)
	}
}
func (m *Commit) decode(d *decoder) {
	m.Block = d.Uvarint()
	if n := d.Count(7); n > 0 {
		m.Writes = make([]Write, n)
		for i := range m.Writes {
			w := &m.Writes[i]
			w.Namespace = d.Str()
			w.Key = d.Str()
			w.Value = d.NBytes()
			w.Delete = d.Bool()
			w.Tx = d.Uvarint()
			w.ExtPresent = d.Bool()
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
func (m *Invalidate) encode(e *encoder) { e.Uvarint(m.Height) }
func (m *Invalidate) decode(d *decoder) { m.Height = d.Uvarint() }

// KeyRequest is an ocall about one key: Lookup, StateGet, StateHistory.
type KeyRequest struct {
	Ecall          uint64 // the ecall this ocall serves
	Namespace, Key string
}

func (m *KeyRequest) name() string { return "KeyRequest" }
func (m *KeyRequest) encode(e *encoder) {
	e.Uvarint(m.Ecall)
	e.Str(m.Namespace)
	e.Str(m.Key)
}
func (m *KeyRequest) decode(d *decoder) {
	m.Ecall = d.Uvarint()
	m.Namespace = d.Str()
	m.Key = d.Str()
}

// Validate bounds the key.
func (m *KeyRequest) Validate() error { return checkKey(m.Key) }

// LookupReply answers the Lookup ocall: the external cache's blob of the
// key if the host holds one (ExtFound), else the committed value at the
// ecall's height (Found: the key exists), in one crossing.
type LookupReply struct {
	ExtFound bool
	Blob     []byte
	Found    bool
	Value    []byte
	Version  abi.KeyVersion
}

func (m *LookupReply) name() string { return "LookupReply" }
func (m *LookupReply) encode(e *encoder) {
	e.Bool(m.ExtFound)
	e.Bytes(m.Blob)
	e.Bool(m.Found)
	e.NBytes(m.Value)
	putVersion(e, m.Version)
}
func (m *LookupReply) decode(d *decoder) {
	m.ExtFound = d.Bool()
	m.Blob = d.Bytes()
	m.Found = d.Bool()
	m.Value = d.NBytes()
	m.Version = getVersion(d)
}

// StateGetReply is a committed value at the ecall's height.
type StateGetReply struct {
	Found   bool
	Value   []byte
	Version abi.KeyVersion
}

func (m *StateGetReply) name() string { return "StateGetReply" }
func (m *StateGetReply) encode(e *encoder) {
	e.Bool(m.Found)
	e.NBytes(m.Value)
	putVersion(e, m.Version)
}
func (m *StateGetReply) decode(d *decoder) {
	m.Found = d.Bool()
	m.Value = d.NBytes()
	m.Version = getVersion(d)
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
	e.Uvarint(m.Ecall)
	e.Str(m.Namespace)
	e.Str(m.Start)
	e.Str(m.End)
	e.Varint(m.Limit)
}
func (m *RangeRequest) decode(d *decoder) {
	m.Ecall = d.Uvarint()
	m.Namespace = d.Str()
	m.Start = d.Str()
	m.End = d.Str()
	m.Limit = d.Varint()
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

// RangeReply is a page of a range: entries as stored (sealed for a
// confidential contract).
type RangeReply struct {
	KVs  []abi.KV
	More bool
}

func (m *RangeReply) name() string { return "RangeReply" }
func (m *RangeReply) encode(e *encoder) {
	e.Uvarint(uint64(len(m.KVs)))
	for i := range m.KVs {
		kv := &m.KVs[i]
		e.Str(kv.Key)
		e.NBytes(kv.Value)
		putVersion(e, kv.Version)
	}
	e.Bool(m.More)
}
func (m *RangeReply) decode(d *decoder) {
	if n := d.Count(4); n > 0 {
		m.KVs = make([]abi.KV, n)
		for i := range m.KVs {
			kv := &m.KVs[i]
			kv.Key = d.Str()
			kv.Value = d.NBytes()
			kv.Version = getVersion(d)
		}
	}
	m.More = d.Bool()
}

// HistoryReply is every committed change of a key, oldest first, values
// as stored.
type HistoryReply struct {
	Entries []abi.HistoryEntry
}

func (m *HistoryReply) name() string { return "HistoryReply" }
func (m *HistoryReply) encode(e *encoder) {
	e.Uvarint(uint64(len(m.Entries)))
	for i := range m.Entries {
		h := &m.Entries[i]
		e.Str(h.TxID)
		putVersion(e, h.Version)
		putTime(e, h.Timestamp)
		e.Bool(h.IsDelete)
		e.NBytes(h.Value)
	}
}
func (m *HistoryReply) decode(d *decoder) {
	if n := d.Count(6); n > 0 {
		m.Entries = make([]abi.HistoryEntry, n)
		for i := range m.Entries {
			h := &m.Entries[i]
			h.TxID = d.Str()
			h.Version = getVersion(d)
			h.Timestamp = getTime(d)
			h.IsDelete = d.Bool()
			h.Value = d.NBytes()
		}
	}
}

// putVersion writes a key's version: block, then transaction, as uvarints.
func putVersion(e *encoder, v abi.KeyVersion) {
	e.Uvarint(v.Block)
	e.Uvarint(v.Tx)
}

func getVersion(d *decoder) abi.KeyVersion {
	return abi.KeyVersion{Block: d.Uvarint(), Tx: d.Uvarint()}
}
