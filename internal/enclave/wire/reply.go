package wire

import (
	"fmt"
	"time"

	"github.com/folio-ledger/folio/internal/enclave/latency"
)

// Code names the sentinel an error wraps, so that the receiving side can
// rebuild an error that errors.Is recognises. The mapping to Go errors is
// package trusted's (ErrorCode, ErrorFromWire).
type Code uint8

// Error kinds: a plain error, a *vm.ModuleError, a *vm.CallError.
const (
	KindPlain  uint8 = 0
	KindModule uint8 = 1
	KindCall   uint8 = 2
)

// Error is a failure that crossed the boundary.
type Error struct {
	// Codes lists every sentinel the error matches (errors.Is), e.g. a
	// state failure that was a detected rollback.
	Codes                             []Code
	Kind                              uint8
	Contract, Version, Function, TxID string
	Output                            string
	// Message is the text of the error (for module and call errors: of
	// the error they wrap).
	Message string
}

func (m *Error) Error() string { return m.Message }

func (m *Error) name() string { return "Error" }
func (m *Error) encode(e *encoder) {
	e.Uvarint(uint64(len(m.Codes)))
	for _, c := range m.Codes {
		e.Uvarint(uint64(c))
	}
	e.Uvarint(uint64(m.Kind))
	e.Str(m.Contract)
	e.Str(m.Version)
	e.Str(m.Function)
	e.Str(m.TxID)
	e.Str(m.Output)
	e.Str(m.Message)
}
func (m *Error) decode(d *decoder) {
	if n := d.Count(1); n > 0 {
		m.Codes = make([]Code, n)
		for i := range m.Codes {
			c := d.Uvarint()
			if c > 255 {
				d.Fail("error code %d", c)
			}
			m.Codes[i] = Code(c)
		}
	}
	kind := d.Uvarint()
	if kind > uint64(KindCall) {
		d.Fail("error kind %d", kind)
	}
	m.Kind = uint8(kind)
	m.Contract = d.Str()
	m.Version = d.Str()
	m.Function = d.Str()
	m.TxID = d.Str()
	m.Output = d.Str()
	m.Message = d.Str()
}

// Counters are the enclave's statistics, sent at the end of every ecall
// reply. Seq orders snapshots (replies can arrive out of order).
type Counters struct {
	Seq                            uint64
	Height                         uint64
	InternalHits, InternalMisses   uint64
	InternalEntries, InternalBytes uint64
	ExternalHits, ExternalMisses   uint64
	Tampered, Stale, Rollbacks     uint64
	BytesSealed, BytesUnsealed     uint64
	Ocalls                         uint64
	VMCalls, VMErrors              uint64
	DirectoryEntries               uint64
	OcallLatency                   latency.Snapshot
}

func (m *Counters) name() string { return "Counters" }

func (m *Counters) fields() []*uint64 {
	return []*uint64{&m.Seq, &m.Height, &m.InternalHits, &m.InternalMisses, &m.InternalEntries, &m.InternalBytes,
		&m.ExternalHits, &m.ExternalMisses, &m.Tampered, &m.Stale, &m.Rollbacks, &m.BytesSealed, &m.BytesUnsealed,
		&m.Ocalls, &m.VMCalls, &m.VMErrors, &m.DirectoryEntries}
}

func (m *Counters) encode(e *encoder) {
	for _, f := range m.fields() {
		e.Uvarint(*f)
	}
	// The histogram, sparse: (index, count) for non-empty buckets.
	n := 0
	for _, c := range m.OcallLatency.Counts {
		if c != 0 {
			n++
		}
	}
	e.Uvarint(uint64(n))
	for i, c := range m.OcallLatency.Counts {
		if c != 0 {
			e.Uvarint(uint64(i))
			e.Uvarint(c)
		}
	}
	e.Varint(int64(m.OcallLatency.Sum))
}

func (m *Counters) decode(d *decoder) {
	for _, f := range m.fields() {
		*f = d.Uvarint()
	}
	n := d.Count(2)
	for range n {
		i, c := d.Uvarint(), d.Uvarint()
		if i >= latency.NumBuckets {
			d.Fail("histogram bucket %d", i)
			return
		}
		m.OcallLatency.Counts[i] = c
	}
	m.OcallLatency.Sum = time.Duration(d.Varint())
}

// Reply status bytes.
const (
	statusOK    = 0
	statusError = 1
)

// EncodeReply appends a reply payload to dst: status, then m (nil: no
// body) or e, then c when it is not nil (ecall replies).
func EncodeReply(dst []byte, m Message, e *Error, c *Counters) []byte {
	enc := encoder{B: dst}
	if e != nil {
		enc.B = append(enc.B, statusError)
		e.encode(&enc)
	} else {
		enc.B = append(enc.B, statusOK)
		if m != nil {
			m.encode(&enc)
		}
	}
	if c != nil {
		c.encode(&enc)
	}
	return enc.B
}

// DecodeReply decodes a reply payload. On status ok it fills m (nil: no
// body expected); on status error it returns the remote *Error as the
// first result. c, if not nil, receives the trailing counters (an ecall
// reply); err reports a payload that does not decode.
func DecodeReply(b []byte, m Message, c *Counters) (remote *Error, err error) {
	d := newDecoder(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("decode reply: %w: empty", ErrMalformed)
	}
	status := b[0]
	d.B = b[1:]
	what := "reply"
	switch status {
	case statusOK:
		if m != nil {
			m.decode(&d)
			what = m.name()
		}
	case statusError:
		remote = &Error{}
		remote.decode(&d)
		what = "error reply"
	default:
		return nil, fmt.Errorf("decode reply: %w: status %d", ErrMalformed, status)
	}
	if c != nil {
		c.decode(&d)
	}
	if err := d.Finish(what); err != nil {
		return nil, err
	}
	return remote, nil
}
