package abi

import "time"

// KeyVersion is the version of a committed key: the block, and the index
// inside it of the transaction that last wrote the key. Contracts know it
// as contract.Version; the enclave seals it with cached values.
type KeyVersion struct {
	Block uint64
	Tx    uint64
}

// Identity is the caller of a contract as the host's MSP validated it.
// Contracts know it as contract.Identity.
type Identity struct {
	MSPID string
	// Org is the organisation name, e.g. "Org1".
	Org string
	// Name is the enrolment name, e.g. "user1".
	Name string
	// Role is "client", "admin", "peer" or "orderer".
	Role string
	// CertPEM is the caller's certificate.
	CertPEM []byte
}

// Label is the caller's "name@Org" label.
func (id Identity) Label() string { return id.Name + "@" + id.Org }

// IsAdminOf reports whether the identity is an admin of organisation org.
func (id Identity) IsAdminOf(org string) bool { return id.Role == "admin" && id.Org == org }

// Call is one contract invocation: everything a contract may know about
// it. It is the one definition of a call on every boundary it crosses:
// the endorser builds it, the enclave protocol carries it to the enclave
// process (package internal/enclave/wire, in that protocol's own framing),
// the VM runs it (internal/enclave/vm), call_input hands it to the guest
// (Marshal, Unmarshal), and contract/contracttest runs it natively.
type Call struct {
	// TxID is the transaction ID; it also seeds the contract's randomness.
	TxID string
	// Timestamp is the transaction timestamp chosen by the client and
	// checked by the endorser: the only clock a contract sees (time.Now in
	// the guest returns it). The VM refuses a zero Timestamp.
	Timestamp time.Time
	ChannelID string
	// Namespace is the contract's state namespace; "" means the name of
	// the contract that runs (the VM fills it in before the guest sees it).
	Namespace string
	Function  string
	Args      [][]byte
	// Creator is the validated identity that signed the proposal.
	Creator Identity
	// ReadOnly marks an evaluate call: writes and events are refused.
	ReadOnly bool
}

// Marshal encodes c: the result of call_input.
func (c *Call) Marshal() []byte {
	var e encoder
	e.Str(c.TxID)
	e.Varint(unixNano(c.Timestamp))
	e.Str(c.ChannelID)
	e.Str(c.Namespace)
	e.Str(c.Function)
	e.Uvarint(uint64(len(c.Args)))
	for _, a := range c.Args {
		e.Bytes(a)
	}
	e.Str(c.Creator.MSPID)
	e.Str(c.Creator.Org)
	e.Str(c.Creator.Name)
	e.Str(c.Creator.Role)
	e.Bytes(c.Creator.CertPEM)
	e.Bool(c.ReadOnly)
	return e.B
}

// Unmarshal decodes b into c.
func (c *Call) Unmarshal(b []byte) error {
	d := newDecoder(b)
	c.TxID = d.Str()
	c.Timestamp = fromUnixNano(d.Varint())
	c.ChannelID = d.Str()
	c.Namespace = d.Str()
	c.Function = d.Str()
	n := d.Count(1)
	c.Args = nil
	if n > 0 {
		c.Args = make([][]byte, n)
		for i := range c.Args {
			c.Args[i] = d.Bytes()
			if c.Args[i] == nil {
				c.Args[i] = []byte{}
			}
		}
	}
	c.Creator.MSPID = d.Str()
	c.Creator.Org = d.Str()
	c.Creator.Name = d.Str()
	c.Creator.Role = d.Str()
	c.Creator.CertPEM = d.Bytes()
	c.ReadOnly = d.Bool()
	return d.Finish("call input")
}

// GetResult is what state_get returns. Found is false when the key does
// not exist (or this call deleted it). HasVersion is false when the key
// is absent or the value is this call's own pending write.
type GetResult struct {
	Found      bool
	HasVersion bool
	Version    KeyVersion
	Value      []byte
}

// Marshal encodes g.
func (g *GetResult) Marshal() []byte {
	var e encoder
	e.Bool(g.Found)
	e.Bool(g.HasVersion)
	if g.HasVersion {
		e.Uvarint(g.Version.Block)
		e.Uvarint(g.Version.Tx)
	}
	e.Bytes(g.Value)
	return e.B
}

// Unmarshal decodes b into g.
func (g *GetResult) Unmarshal(b []byte) error {
	d := newDecoder(b)
	g.Found = d.Bool()
	g.HasVersion = d.Bool()
	g.Version = KeyVersion{}
	if g.HasVersion {
		g.Version.Block = d.Uvarint()
		g.Version.Tx = d.Uvarint()
	}
	g.Value = d.Bytes()
	if d.Err == nil && !g.Found && (g.HasVersion || len(g.Value) > 0) {
		d.Fail("absent key with a version or value")
	}
	return d.Finish("get result")
}

// KV is one committed entry of a range, with its version. Contracts know
// it as contract.KV.
type KV struct {
	Key     string
	Value   []byte
	Version KeyVersion
}

// RangePage is what state_range returns: entries in key order and whether
// more entries follow in the requested range.
type RangePage struct {
	Entries []KV
	More    bool
}

// Marshal encodes p.
func (p *RangePage) Marshal() []byte {
	var e encoder
	e.Uvarint(uint64(len(p.Entries)))
	for _, kv := range p.Entries {
		e.Str(kv.Key)
		e.Bytes(kv.Value)
		e.Uvarint(kv.Version.Block)
		e.Uvarint(kv.Version.Tx)
	}
	e.Bool(p.More)
	return e.B
}

// Unmarshal decodes b into p.
func (p *RangePage) Unmarshal(b []byte) error {
	d := newDecoder(b)
	n := d.Count(4)
	p.Entries = nil
	if n > 0 {
		p.Entries = make([]KV, n)
		for i := range p.Entries {
			p.Entries[i] = KV{Key: d.Str(), Value: d.Bytes(), Version: KeyVersion{Block: d.Uvarint(), Tx: d.Uvarint()}}
		}
	}
	p.More = d.Bool()
	return d.Finish("range page")
}

// HistoryEntry is one committed change of a key: the transaction that
// made it, its version, the transaction timestamp and the value written.
// Contracts know it as contract.HistoryEntry.
type HistoryEntry struct {
	TxID      string
	Version   KeyVersion
	Timestamp time.Time
	IsDelete  bool
	// Value is the value written (nil for a delete).
	Value []byte
}

// History is what the history host function returns, oldest first.
type History struct {
	Entries []HistoryEntry
}

// Marshal encodes h.
func (h *History) Marshal() []byte {
	var e encoder
	e.Uvarint(uint64(len(h.Entries)))
	for _, x := range h.Entries {
		e.Str(x.TxID)
		e.Uvarint(x.Version.Block)
		e.Uvarint(x.Version.Tx)
		e.Varint(unixNano(x.Timestamp))
		e.Bool(x.IsDelete)
		e.Bytes(x.Value)
	}
	return e.B
}

// Unmarshal decodes b into h.
func (h *History) Unmarshal(b []byte) error {
	d := newDecoder(b)
	n := d.Count(6)
	h.Entries = nil
	if n > 0 {
		h.Entries = make([]HistoryEntry, n)
		for i := range h.Entries {
			x := &h.Entries[i]
			x.TxID = d.Str()
			x.Version.Block = d.Uvarint()
			x.Version.Tx = d.Uvarint()
			x.Timestamp = fromUnixNano(d.Varint())
			x.IsDelete = d.Bool()
			x.Value = d.Bytes()
			if d.Err == nil && x.IsDelete && len(x.Value) > 0 {
				d.Fail("history delete entry %d carries a value", i)
			}
		}
	}
	return d.Finish("history")
}

// OrgList is what channel_orgs returns: the names of the channel's
// organisations ("Org1", as in Identity.Org), sorted.
type OrgList struct {
	Orgs []string
}

// Marshal encodes l.
func (l *OrgList) Marshal() []byte {
	var e encoder
	e.Uvarint(uint64(len(l.Orgs)))
	for _, o := range l.Orgs {
		e.Str(o)
	}
	return e.B
}

// Unmarshal decodes b into l.
func (l *OrgList) Unmarshal(b []byte) error {
	d := newDecoder(b)
	n := d.Count(1)
	l.Orgs = nil
	if n > 0 {
		l.Orgs = make([]string, n)
		for i := range l.Orgs {
			l.Orgs[i] = d.Str()
		}
	}
	return d.Finish("organisation list")
}

// unixNano is how a timestamp crosses the ABI: Unix nanoseconds, 0 for
// the zero time (a time outside 1678..2262 does not fit).
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano is the time a guest sees for n: in UTC, so that it prints
// the same on every peer.
func fromUnixNano(n int64) time.Time { return time.Unix(0, n).UTC() }
