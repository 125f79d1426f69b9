package rlp

import (
	"bytes"
	"fmt"
)

// MaxDepth bounds list nesting in Decode so that hostile input cannot
// exhaust the stack. Trie nodes nest at most three levels.
const MaxDepth = 256

// Value is a decoded RLP value: a byte string (Kind String, Bytes set) or a
// list (Kind List, List set). Bytes alias the decoded input.
type Value struct {
	Kind  Kind
	Bytes []byte
	List  []Value
}

// Bytes returns a string Value.
func Bytes(b []byte) Value { return Value{Kind: String, Bytes: b} }

// ListOf returns a list Value.
func ListOf(items ...Value) Value { return Value{Kind: List, List: items} }

// Decode decodes exactly one canonical value from b; bytes after it are an
// error (ErrTrailingBytes). The result aliases b.
func Decode(b []byte) (Value, error) {
	v, rest, err := decodeValue(b, 0)
	if err != nil {
		return Value{}, err
	}
	if len(rest) != 0 {
		return Value{}, fmt.Errorf("%w: %d bytes", ErrTrailingBytes, len(rest))
	}
	return v, nil
}

func decodeValue(b []byte, depth int) (Value, []byte, error) {
	k, content, rest, err := Split(b)
	if err != nil {
		return Value{}, b, err
	}
	if k == String {
		return Value{Kind: String, Bytes: content}, rest, nil
	}
	if depth >= MaxDepth {
		return Value{}, b, ErrTooDeep
	}
	items := []Value{}
	for len(content) > 0 {
		var item Value
		item, content, err = decodeValue(content, depth+1)
		if err != nil {
			return Value{}, b, err
		}
		items = append(items, item)
	}
	return Value{Kind: List, List: items}, rest, nil
}

// Size returns the length of v's encoding.
func (v Value) Size() int {
	if v.Kind == String {
		return StringSize(v.Bytes)
	}
	return ListSize(v.contentSize())
}

func (v Value) contentSize() int {
	n := 0
	for _, it := range v.List {
		n += it.Size()
	}
	return n
}

// Append appends the encoding of v to dst.
func (v Value) Append(dst []byte) []byte {
	if v.Kind == String {
		return AppendString(dst, v.Bytes)
	}
	dst = AppendListHeader(dst, v.contentSize())
	for _, it := range v.List {
		dst = it.Append(dst)
	}
	return dst
}

// Encode returns the encoding of v.
func (v Value) Encode() []byte { return v.Append(make([]byte, 0, v.Size())) }

// Equal reports whether v and w are the same value.
func (v Value) Equal(w Value) bool {
	if v.Kind != w.Kind {
		return false
	}
	if v.Kind == String {
		return bytes.Equal(v.Bytes, w.Bytes)
	}
	if len(v.List) != len(w.List) {
		return false
	}
	for i := range v.List {
		if !v.List[i].Equal(w.List[i]) {
			return false
		}
	}
	return true
}
