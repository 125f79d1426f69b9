package abi

// Version of a committed key: the block and the transaction index inside it.
type KeyVersion struct {
	Block uint64
	Tx    uint64
}

// Identity is the caller of a contract as the host's MSP validated it.
type Identity struct {
	MSPID   string
	Org     string
	Name    string
	Role    string
	CertPEM []byte
}

// CallInput is what call_input returns: everything the guest may know
// about the call.
type CallInput struct {
	TxID string
	// TimestampUnixNano is the transaction timestamp chosen by the client
	// and checked by the endorser; the only clock a contract sees.
	TimestampUnixNano int64
	ChannelID         string
	Namespace         string
	Function          string
	Args              [][]byte
	Creator           Identity
	ReadOnly          bool
}

// Marshal encodes c.
func (c *CallInput) Marshal() []byte {
	var e encoder
	e.str(c.TxID)
	e.varint(c.TimestampUnixNano)
	e.str(c.ChannelID)
	e.str(c.Namespace)
	e.str(c.Function)
	e.uvarint(uint64(len(c.Args)))
	for _, a := range c.Args {
		e.bytes(a)
	}
	e.str(c.Creator.MSPID)
	e.str(c.Creator.Org)
	e.str(c.Creator.Name)
	e.str(c.Creator.Role)
	e.bytes(c.Creator.CertPEM)
	e.bool(c.ReadOnly)
	return e.b
}

// Unmarshal decodes b into c.
func (c *CallInput) Unmarshal(b []byte) error {
	d := decoder{b: b}
	c.TxID = d.str()
	c.TimestampUnixNano = d.varint()
	c.ChannelID = d.str()
	c.Namespace = d.str()
	c.Function = d.str()
	n := d.count(1)
	c.Args = nil
	if n > 0 {
		c.Args = make([][]byte, n)
		for i := range c.Args {
			c.Args[i] = d.bytes()
			if c.Args[i] == nil {
				c.Args[i] = []byte{}
			}
		}
	}
	c.Creator.MSPID = d.str()
	c.Creator.Org = d.str()
	c.Creator.Name = d.str()
	c.Creator.Role = d.str()
	c.Creator.CertPEM = d.bytes()
	c.ReadOnly = d.bool()
	return d.finish("call input")
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
	e.bool(g.Found)
	e.bool(g.HasVersion)
	if g.HasVersion {
		e.uvarint(g.Version.Block)
		e.uvarint(g.Version.Tx)
	}
	e.bytes(g.Value)
	return e.b
}

// Unmarshal decodes b into g.
func (g *GetResult) Unmarshal(b []byte) error {
	d := decoder{b: b}
	g.Found = d.bool()
	g.HasVersion = d.bool()
	g.Version = KeyVersion{}
	if g.HasVersion {
		g.Version.Block = d.uvarint()
		g.Version.Tx = d.uvarint()
	}
	g.Value = d.bytes()
	if d.err == nil && !g.Found && (g.HasVersion || len(g.Value) > 0) {
		d.fail("absent key with a version or value")
	}
	return d.finish("get result")
}

// KV is one entry of a range page.
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
	e.uvarint(uint64(len(p.Entries)))
	for _, kv := range p.Entries {
		e.str(kv.Key)
		e.bytes(kv.Value)
		e.uvarint(kv.Version.Block)
		e.uvarint(kv.Version.Tx)
	}
	e.bool(p.More)
	return e.b
}

// Unmarshal decodes b into p.
func (p *RangePage) Unmarshal(b []byte) error {
	d := decoder{b: b}
	n := d.count(4)
	p.Entries = nil
	if n > 0 {
		p.Entries = make([]KV, n)
		for i := range p.Entries {
			p.Entries[i] = KV{Key: d.str(), Value: d.bytes(), Version: KeyVersion{Block: d.uvarint(), Tx: d.uvarint()}}
		}
	}
	p.More = d.bool()
	return d.finish("range page")
}

// HistoryEntry is one committed change of a key.
type HistoryEntry struct {
	TxID              string
	Version           KeyVersion
	TimestampUnixNano int64
	IsDelete          bool
	Value             []byte
}

// History is what the history host function returns, oldest first.
type History struct {
	Entries []HistoryEntry
}

// Marshal encodes h.
func (h *History) Marshal() []byte {
	var e encoder
	e.uvarint(uint64(len(h.Entries)))
	for _, x := range h.Entries {
		e.str(x.TxID)
		e.uvarint(x.Version.Block)
		e.uvarint(x.Version.Tx)
		e.varint(x.TimestampUnixNano)
		e.bool(x.IsDelete)
		e.bytes(x.Value)
	}
	return e.b
}

// Unmarshal decodes b into h.
func (h *History) Unmarshal(b []byte) error {
	d := decoder{b: b}
	n := d.count(6)
	h.Entries = nil
	if n > 0 {
		h.Entries = make([]HistoryEntry, n)
		for i := range h.Entries {
			x := &h.Entries[i]
			x.TxID = d.str()
			x.Version.Block = d.uvarint()
			x.Version.Tx = d.uvarint()
			x.TimestampUnixNano = d.varint()
			x.IsDelete = d.bool()
			x.Value = d.bytes()
			if d.err == nil && x.IsDelete && len(x.Value) > 0 {
				d.fail("history delete entry %d carries a value", i)
			}
		}
	}
	return d.finish("history")
}
