package copyright

import (
	"encoding/json"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/folio-ledger/folio/contract"
)

// This file encodes and decodes the contract's few fixed JSON shapes by
// hand, because the contract runs as Go compiled to WebAssembly, where
// encoding/json's reflection and its byte-at-a-time scanner (an indirect
// call per byte) cost far more than natively. Measured by replacing this
// file with encoding/json (json.Marshal, json.Unmarshal and
// contract.BindJSON) in one session on the 2-core reference machine,
// medians (docs/enclave.md, "The copyright contract's JSON codec"):
//
//	per call in the VM (internal/enclave/vm, 6 interleaved runs)
//	  get        24.9 µs -> 79.7 µs   3.2x   (BenchmarkWasmCall)
//	  register   30.7 µs -> 58.1 µs   1.9x   (BenchmarkWasmRegister)
//	per simulated get through the enclave process, one client, warm tiers
//	  119 µs -> 215 µs, +80%                 (enclavebench BenchmarkSimulateGet/tiered)
//	natively: 2.6 µs -> 6.5 µs, 2.5x         (BenchmarkNativeGet)
//	copyright.wasm: 3,878,368 -> 3,825,230 bytes (-1.4%)
//
// The decoders are most of that; the encoders alone, replaced by
// json.Marshal, still cost 26-31% more per call in the VM (get 32.6 µs,
// register 38.7 µs) to save about 200 lines: they stay too.
//
// The output must stay byte-for-byte what encoding/json's json.Marshal
// produces, HTML escaping included (records are stored, hashed into the
// state trie and endorsed, so every peer and every build must write the
// same bytes), and every decoder only takes a fast path for the plain
// shape the contract and its clients produce, handing anything else to
// encoding/json so that odd input gets exactly encoding/json's result or
// error. codec_test.go checks both claims differentially, on edge cases
// and under `go test -fuzz` (corpus in testdata/fuzz).

// appendString appends s as a JSON string the way encoding/json does
// (with HTML escaping). Strings that need no escaping, the usual case,
// are copied; the others go to encoding/json rather than duplicating its
// escaping rules (\u00XX vs \n, \ufffd for invalid UTF-8, U+2028/9).
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return appendStringSlow(dst, s)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
			return appendStringSlow(dst, s)
		}
		i += size
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func appendStringSlow(dst []byte, s string) []byte {
	// Marshal of a string cannot fail: it only fails on unsupported types
	// or values, and on errors of Marshaler implementations.
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

// appendField appends `"name":` and the string v, preceded by a comma
// unless it opens the object (name is a literal with no escaping).
func appendField(dst []byte, name, v string) []byte {
	if dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, `":`...)
	return appendString(dst, v)
}

func appendUintField(dst []byte, name string, v uint64) []byte {
	if dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, `":`...)
	return strconv.AppendUint(dst, v, 10)
}

// recordSize is a guess of the encoded size of r, to allocate once.
func recordSize(r *Record) int {
	return 160 + len(r.ID) + len(r.Title) + len(r.Author) + len(r.Owner) + len(r.Type) + len(r.ContentHash) +
		len(r.RegisteredAt) + len(r.RegisteredBy) + len(r.Action) + len(r.UpdatedBy) + len(r.UpdatedAt) + len(r.Relation)
}

// appendRecordFields appends the members of r after an opening '{'.
func appendRecordFields(dst []byte, r *Record) []byte {
	dst = appendField(dst, "id", r.ID)
	dst = appendField(dst, "title", r.Title)
	dst = appendField(dst, "author", r.Author)
	dst = appendField(dst, "owner", r.Owner)
	dst = appendField(dst, "type", r.Type)
	dst = appendField(dst, "content_hash", r.ContentHash)
	dst = appendField(dst, "registered_at", r.RegisteredAt)
	dst = appendField(dst, "registered_by", r.RegisteredBy)
	dst = appendField(dst, "action", r.Action)
	dst = appendField(dst, "updated_by", r.UpdatedBy)
	dst = appendField(dst, "updated_at", r.UpdatedAt)
	if r.Relation != "" {
		dst = appendField(dst, "relation", r.Relation)
	}
	return dst
}

// AppendJSON appends the JSON encoding of r to dst: the bytes
// json.Marshal(r) produces, without reflection.
func (r Record) AppendJSON(dst []byte) []byte {
	return append(appendRecordFields(append(dst, '{'), &r), '}')
}

// marshal is json.Marshal(r), allocated once.
func (r *Record) marshal() []byte {
	return append(appendRecordFields(append(make([]byte, 0, recordSize(r)), '{'), r), '}')
}

// AppendJSON appends the JSON encoding of w to dst: the bytes
// json.Marshal(w) produces (the record's members, then version unless
// nil), without reflection.
func (w Work) AppendJSON(dst []byte) []byte {
	dst = appendRecordFields(append(dst, '{'), &w.Record)
	if w.Version != nil {
		dst = append(dst, `,"version":{`...)
		dst = appendUintField(dst, "block", w.Version.Block)
		dst = appendUintField(dst, "tx", w.Version.Tx)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// AppendJSON appends json.Marshal(e) to dst, without reflection.
func (e TransferEvent) AppendJSON(dst []byte) []byte {
	dst = appendField(append(dst, '{'), "id", e.ID)
	dst = appendField(dst, "from", e.From)
	dst = appendField(dst, "to", e.To)
	dst = appendField(dst, "by", e.By)
	return append(dst, '}')
}

// AppendJSON appends json.Marshal(a) to dst, without reflection.
func (a RegisterArgs) AppendJSON(dst []byte) []byte {
	dst = appendField(append(dst, '{'), "id", a.ID)
	dst = appendField(dst, "title", a.Title)
	dst = appendField(dst, "author", a.Author)
	if a.Owner != "" {
		dst = appendField(dst, "owner", a.Owner)
	}
	if a.Type != "" {
		dst = appendField(dst, "type", a.Type)
	}
	dst = appendField(dst, "content_hash", a.ContentHash)
	if a.Relation != "" {
		dst = appendField(dst, "relation", a.Relation)
	}
	if a.AllowDuplicate {
		dst = append(dst, `,"allow_duplicate":true`...)
	}
	return append(dst, '}')
}

// AppendJSON appends json.Marshal(a) to dst, without reflection.
func (a TransferArgs) AppendJSON(dst []byte) []byte {
	dst = appendField(append(dst, '{'), "id", a.ID)
	dst = appendField(dst, "to", a.To)
	return append(dst, '}')
}

// AppendJSON appends json.Marshal(a) to dst, without reflection.
func (a IDArgs) AppendJSON(dst []byte) []byte {
	return append(appendField(append(dst, '{'), "id", a.ID), '}')
}

// AppendJSON appends json.Marshal(a) to dst, without reflection.
func (a ListArgs) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	if a.Owner != "" {
		dst = appendField(dst, "owner", a.Owner)
	}
	if a.Author != "" {
		dst = appendField(dst, "author", a.Author)
	}
	if a.Hash != "" {
		dst = appendField(dst, "hash", a.Hash)
	}
	if a.Limit != 0 {
		if dst[len(dst)-1] != '{' {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(append(dst, `"limit":`...), int64(a.Limit), 10)
	}
	return append(dst, '}')
}

// AppendJSON appends json.Marshal(h) to dst, without reflection.
func (h HistoryResult) AppendJSON(dst []byte) []byte {
	dst = appendField(append(dst, '{'), "id", h.ID)
	if h.Entries == nil {
		return append(dst, `,"entries":null}`...)
	}
	dst = append(dst, `,"entries":[`...)
	for i := range h.Entries {
		e := &h.Entries[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendField(append(dst, '{'), "tx_id", e.TxID)
		dst = appendUintField(dst, "block", e.Block)
		dst = appendUintField(dst, "tx", e.Tx)
		dst = appendField(dst, "timestamp", e.Timestamp)
		dst = appendField(dst, "creator", e.Creator)
		dst = appendField(dst, "action", e.Action)
		dst = appendField(dst, "owner", e.Owner)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// AppendJSON appends json.Marshal(l) to dst, without reflection.
func (l ListResult) AppendJSON(dst []byte) []byte {
	if l.Works == nil {
		dst = append(dst, `{"works":null`...)
	} else {
		dst = append(dst, `{"works":[`...)
		for i := range l.Works {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = l.Works[i].AppendJSON(dst)
		}
		dst = append(dst, ']')
	}
	if l.More {
		dst = append(dst, `,"more":true`...)
	}
	return append(dst, '}')
}

// flatObject is a cursor over a JSON object whose values are strings or
// integers: the only shape the contract's fast decoders accept. Its
// methods report false on anything else, leaving the input to
// encoding/json.
type flatObject struct {
	b []byte
	// s is b as a string: plain string values are slices of it, so that
	// decoding an object allocates once, not once per member.
	s    string
	i    int
	n    int  // members read
	done bool // the closing '}' was read
}

func (d *flatObject) skipSpace() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// decodeFlat runs member on each member of the object b in order, with
// the member's key, for it to read the value with d.str or d.int. It
// reports whether b is an object of that shape and member accepted every
// member, with nothing but JSON whitespace around it.
func decodeFlat(b []byte, member func(d *flatObject, key []byte) bool) bool {
	d := flatObject{b: b, s: string(b)}
	d.skipSpace()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return false
	}
	d.i++
	for {
		key, ok := d.next()
		if !ok {
			break
		}
		if !member(&d, key) {
			return false
		}
	}
	if !d.done {
		return false
	}
	d.skipSpace()
	return d.i == len(d.b)
}

// next reads up to the next member's value and returns its key; false at
// the closing brace (d.done) or on unexpected input. Keys with escapes
// are refused: they never spell a field name verbatim, and encoding/json
// would match them after unescaping.
func (d *flatObject) next() ([]byte, bool) {
	d.skipSpace()
	if d.i >= len(d.b) {
		return nil, false
	}
	if d.b[d.i] == '}' {
		d.i++
		d.done = true
		return nil, false
	}
	if d.n > 0 {
		if d.b[d.i] != ',' {
			return nil, false
		}
		d.i++
		d.skipSpace()
	}
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	j := start
	for j < len(d.b) && d.b[j] != '"' {
		if d.b[j] == '\\' {
			return nil, false
		}
		j++
	}
	if j >= len(d.b) {
		return nil, false
	}
	key := d.b[start:j]
	d.i = j + 1
	d.skipSpace()
	if d.i >= len(d.b) || d.b[d.i] != ':' {
		return nil, false
	}
	d.i++
	d.skipSpace()
	d.n++
	return key, true
}

// str reads a string value into *p. It takes valid UTF-8 and the escapes
// \" \\ \/ \b \f \n \r \t and \uXXXX outside the surrogate range, and
// refuses the rest (invalid UTF-8 and lone or paired surrogates, which
// encoding/json turns into U+FFFD or combines; non-strings; malformed
// strings).
func (d *flatObject) str(p *string) bool {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return false
	}
	start := d.i + 1
	for j := start; j < len(d.b); {
		switch c := d.b[j]; {
		case c == '"':
			*p = d.s[start:j]
			d.i = j + 1
			return true
		case c == '\\':
			return d.strEscaped(p, start, j)
		case c < 0x20:
			return false
		case c < utf8.RuneSelf:
			j++
		default:
			r, size := utf8.DecodeRune(d.b[j:])
			if r == utf8.RuneError && size == 1 {
				return false
			}
			j += size
		}
	}
	return false
}

// strEscaped is str from the first backslash at j of a string starting
// at start.
func (d *flatObject) strEscaped(p *string, start, j int) bool {
	buf := make([]byte, 0, len(d.b)-start)
	buf = append(buf, d.b[start:j]...)
	for j < len(d.b) {
		c := d.b[j]
		switch {
		case c == '"':
			*p = string(buf)
			d.i = j + 1
			return true
		case c == '\\':
			if j+1 >= len(d.b) {
				return false
			}
			switch e := d.b[j+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := hex4(d.b[j+2:])
				if !ok || utf16.IsSurrogate(r) {
					return false
				}
				buf = utf8.AppendRune(buf, r)
				j += 4
			default:
				return false
			}
			j += 2
		case c < 0x20:
			return false
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			j++
		default:
			r, size := utf8.DecodeRune(d.b[j:])
			if r == utf8.RuneError && size == 1 {
				return false
			}
			buf = append(buf, d.b[j:j+size]...)
			j += size
		}
	}
	return false
}

// hex4 decodes the four hex digits starting b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// int reads an integer value into *p: JSON integer syntax with at most 9
// digits, so that it fits an int on every platform (encoding/json
// handles the rest, including its overflow errors).
func (d *flatObject) int(p *int) bool {
	j := d.i
	neg := j < len(d.b) && d.b[j] == '-'
	if neg {
		j++
	}
	start := j
	for j < len(d.b) && '0' <= d.b[j] && d.b[j] <= '9' {
		j++
	}
	if n := j - start; n == 0 || n > 9 || (n > 1 && d.b[start] == '0') {
		return false
	}
	v := 0
	for _, c := range d.b[start:j] {
		v = v*10 + int(c-'0')
	}
	if neg {
		v = -v
	}
	*p = v
	d.i = j
	return true
}

// unmarshalRecord is json.Unmarshal(b, r) for a zero r.
func unmarshalRecord(b []byte, r *Record) error {
	if decodeRecordFast(b, r) {
		return nil
	}
	return json.Unmarshal(b, r)
}

// decodeRecordFast decodes b into r and reports true if b has the shape
// of a stored record, else reports false leaving r untouched.
func decodeRecordFast(b []byte, r *Record) bool {
	var v Record
	if !decodeFlat(b, v.member) {
		return false
	}
	*r = v
	return true
}

// member reads the value of key into r. Only exact field names are
// taken: other spellings that encoding/json would match
// case-insensitively, and unknown keys that it would ignore (or refuse,
// for arguments), take the slow path.
func (r *Record) member(d *flatObject, key []byte) bool {
	switch string(key) {
	case "id":
		return d.str(&r.ID)
	case "title":
		return d.str(&r.Title)
	case "author":
		return d.str(&r.Author)
	case "owner":
		return d.str(&r.Owner)
	case "type":
		return d.str(&r.Type)
	case "content_hash":
		return d.str(&r.ContentHash)
	case "registered_at":
		return d.str(&r.RegisteredAt)
	case "registered_by":
		return d.str(&r.RegisteredBy)
	case "action":
		return d.str(&r.Action)
	case "updated_by":
		return d.str(&r.UpdatedBy)
	case "updated_at":
		return d.str(&r.UpdatedAt)
	case "relation":
		return d.str(&r.Relation)
	}
	return false
}

// argsDecoder is an argument struct with a fast decoder: decodeFast
// decodes b into the (zero) receiver like contract.DecodeJSON would and
// reports true, or reports false leaving the receiver untouched.
type argsDecoder interface {
	decodeFast(b []byte) bool
}

// bindArgs is contract.BindJSON(ctx, a) for a zero a.
func bindArgs(ctx contract.Context, a argsDecoder) error {
	args := ctx.Args()
	if len(args) != 1 {
		return contract.BindJSON(ctx, a) // for its error
	}
	return decodeArgs(args[0], a)
}

// decodeArgs is contract.DecodeJSON(b, a) for a zero a.
func decodeArgs(b []byte, a argsDecoder) error {
	if a.decodeFast(b) {
		return nil
	}
	return contract.DecodeJSON(b, a)
}

func (a *RegisterArgs) decodeFast(b []byte) bool {
	var v RegisterArgs
	if !decodeFlat(b, v.member) {
		return false
	}
	*a = v
	return true
}

func (a *RegisterArgs) member(d *flatObject, key []byte) bool {
	switch string(key) {
	case "id":
		return d.str(&a.ID)
	case "title":
		return d.str(&a.Title)
	case "author":
		return d.str(&a.Author)
	case "owner":
		return d.str(&a.Owner)
	case "type":
		return d.str(&a.Type)
	case "content_hash":
		return d.str(&a.ContentHash)
	case "relation":
		return d.str(&a.Relation)
	}
	// allow_duplicate, a boolean, takes encoding/json's path: it is rare.
	return false
}

func (a *TransferArgs) decodeFast(b []byte) bool {
	var v TransferArgs
	if !decodeFlat(b, v.member) {
		return false
	}
	*a = v
	return true
}

func (a *TransferArgs) member(d *flatObject, key []byte) bool {
	switch string(key) {
	case "id":
		return d.str(&a.ID)
	case "to":
		return d.str(&a.To)
	}
	return false
}

func (a *IDArgs) decodeFast(b []byte) bool {
	var v IDArgs
	if !decodeFlat(b, v.member) {
		return false
	}
	*a = v
	return true
}

func (a *IDArgs) member(d *flatObject, key []byte) bool {
	return string(key) == "id" && d.str(&a.ID)
}

func (a *ListArgs) decodeFast(b []byte) bool {
	var v ListArgs
	if !decodeFlat(b, v.member) {
		return false
	}
	*a = v
	return true
}

func (a *ListArgs) member(d *flatObject, key []byte) bool {
	switch string(key) {
	case "owner":
		return d.str(&a.Owner)
	case "author":
		return d.str(&a.Author)
	case "hash":
		return d.str(&a.Hash)
	case "limit":
		return d.int(&a.Limit)
	}
	return false
}
