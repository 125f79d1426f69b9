// Package fieldcodec encodes and decodes the field-by-field binary format
// shared by the contract ABI (contract/abi) and the enclave boundary
// protocol (internal/enclave/wire): fields in a fixed order, no tags;
// unsigned integers as uvarint, signed as zig-zag varint, strings and
// bytes as uvarint length + bytes, bools as one byte 0/1, lists as a
// uvarint count + items. Decoders reject truncation, trailing bytes, bad
// bools and counts the input cannot hold; the first error sticks.
package fieldcodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is the default sentinel of decoding errors (see
// Decoder.Malformed).
var ErrMalformed = errors.New("malformed encoding")

// Encoder appends fields to B.
type Encoder struct{ B []byte }

func (e *Encoder) Uvarint(v uint64) { e.B = binary.AppendUvarint(e.B, v) }
func (e *Encoder) Varint(v int64)   { e.B = binary.AppendVarint(e.B, v) }
func (e *Encoder) Bytes(p []byte)   { e.Uvarint(uint64(len(p))); e.B = append(e.B, p...) }
func (e *Encoder) Str(s string)     { e.Uvarint(uint64(len(s))); e.B = append(e.B, s...) }
func (e *Encoder) Bool(v bool) {
	if v {
		e.B = append(e.B, 1)
	} else {
		e.B = append(e.B, 0)
	}
}

// NBytes writes a byte slice that may be nil, distinguishing nil from
// empty: 0 for nil, len+1 otherwise.
func (e *Encoder) NBytes(p []byte) {
	if p == nil {
		e.Uvarint(0)
		return
	}
	e.Uvarint(uint64(len(p)) + 1)
	e.B = append(e.B, p...)
}

// Decoder consumes fields from B; Err is the first error.
type Decoder struct {
	B   []byte
	Err error
	// Malformed is wrapped by every decoding error (each package names
	// its own); nil means ErrMalformed.
	Malformed error
	// Copy makes Bytes and NBytes return copies rather than slices of
	// the input, for values that outlive it.
	Copy bool
}

// Fail records a decoding error, unless one is recorded already.
func (d *Decoder) Fail(format string, args ...any) {
	if d.Err == nil {
		m := d.Malformed
		if m == nil {
			m = ErrMalformed
		}
		d.Err = fmt.Errorf("%w: "+format, append([]any{m}, args...)...)
	}
}

func (d *Decoder) Uvarint() uint64 {
	if d.Err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.B)
	if n <= 0 {
		d.Fail("bad uvarint")
		return 0
	}
	d.B = d.B[n:]
	return v
}

func (d *Decoder) Varint() int64 {
	if d.Err != nil {
		return 0
	}
	v, n := binary.Varint(d.B)
	if n <= 0 {
		d.Fail("bad varint")
		return 0
	}
	d.B = d.B[n:]
	return v
}

// take returns the next n bytes, aliasing the input.
func (d *Decoder) take(n uint64) []byte {
	if d.Err != nil {
		return nil
	}
	if n > uint64(len(d.B)) {
		d.Fail("length %d exceeds remaining %d bytes", n, len(d.B))
		return nil
	}
	p := d.B[:n:n]
	d.B = d.B[n:]
	return p
}

// Bytes reads a field written by Encoder.Bytes; empty is nil.
func (d *Decoder) Bytes() []byte {
	p := d.take(d.Uvarint())
	if len(p) == 0 {
		return nil
	}
	if d.Copy {
		return bytes.Clone(p)
	}
	return p
}

// NBytes reads a field written by Encoder.NBytes.
func (d *Decoder) NBytes() []byte {
	n := d.Uvarint()
	if n == 0 || d.Err != nil {
		return nil
	}
	p := d.take(n - 1)
	switch {
	case p == nil && d.Err == nil:
		return []byte{}
	case d.Copy:
		return bytes.Clone(p)
	}
	return p
}

func (d *Decoder) Str() string { return string(d.take(d.Uvarint())) }

func (d *Decoder) Bool() bool {
	if d.Err != nil {
		return false
	}
	if len(d.B) == 0 {
		d.Fail("truncated bool")
		return false
	}
	c := d.B[0]
	d.B = d.B[1:]
	if c > 1 {
		d.Fail("bool byte %d", c)
	}
	return c == 1
}

// Count reads a list length and checks it against the bytes left, given
// that every item takes at least minItem bytes, so a forged count cannot
// make the decoder allocate more than the input justifies.
func (d *Decoder) Count(minItem int) int {
	n := d.Uvarint()
	if d.Err != nil {
		return 0
	}
	if n > uint64(len(d.B)/minItem) {
		d.Fail("count %d exceeds what %d bytes can hold", n, len(d.B))
		return 0
	}
	return int(n)
}

// Finish fails on trailing bytes and returns the decoding error, if any,
// naming what was decoded.
func (d *Decoder) Finish(what string) error {
	if d.Err == nil && len(d.B) != 0 {
		d.Fail("%d trailing bytes after %s", len(d.B), what)
	}
	if d.Err != nil {
		return fmt.Errorf("decode %s: %w", what, d.Err)
	}
	return nil
}
