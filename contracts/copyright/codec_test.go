package copyright

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/contract"
)

// The hand-written codec (codec.go) and validators (record.go) must
// behave exactly like encoding/json and the regular expressions they
// replace; these tests compare them differentially, on tables of edge
// cases and under `go test -fuzz`.

// The patterns the validators replace.
var (
	idRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)
	ownerRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9._-]*$`)
	hashRE  = regexp.MustCompile(`^sha256:[0-9a-fA-F]{64}$`)
)

const testHash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// edgeStrings need every kind of escaping encoding/json does, or none.
var edgeStrings = []string{
	"", "W1", "Ode to Ledgers", "alice@Org1", "2025-01-02T03:04:05.123456789Z",
	`<b>&amp;</b>`, `"quoted" \ back\slash /`, "\x00\x01\x1f\x7f", "\n\r\t\b\f",
	"\u2028 \u2029", "\xff", "a\xc3", "\xed\xa0\x80", "\ufffd", "\xef\xbf\xbd",
	"Élégie 日本 🎉", "\U0010ffff", "\xf4\x90\x80\x80", "tab\there", "a<", ">", "&",
}

func TestEncodersMatchEncodingJSON(t *testing.T) {
	for _, a := range edgeStrings {
		for _, b := range []string{"", "x", "é<"} {
			checkEncoders(t, a, b, a+b, 7, 1<<63+5, -3)
			checkEncoders(t, b, a, "", 0, 0, 0)
		}
	}
}

// checkEncoders compares every encoder with json.Marshal on values made
// of a, b and c.
func checkEncoders(t *testing.T, a, b, c string, n1, n2 uint64, limit int) {
	t.Helper()
	rec := Record{ID: a, Title: b, Author: c, Owner: a + "@" + b, Type: c, ContentHash: b + c,
		RegisteredAt: a, RegisteredBy: c + a, Action: b, UpdatedBy: a + b + c, UpdatedAt: c}
	same := func(what string, got []byte, v any) {
		t.Helper()
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s of %#v:\n got %s\nwant %s", what, v, got, want)
		}
		// Appending keeps what dst holds.
		if got2 := appendWith(v, []byte("prefix")); !bytes.Equal(got2, append([]byte("prefix"), want...)) {
			t.Fatalf("%s appended to a prefix: %s", what, got2)
		}
	}
	same("Record", rec.AppendJSON(nil), rec)
	same("Record.marshal", rec.marshal(), rec)
	related := rec
	related.Relation = b + a
	same("Record+relation", related.AppendJSON(nil), related)
	same("Work", Work{Record: rec}.AppendJSON(nil), Work{Record: rec})
	w := Work{Record: rec, Version: &RecordVersion{Block: n1, Tx: n2}}
	same("Work+version", w.AppendJSON(nil), w)
	ev := TransferEvent{ID: a, From: b, To: c, By: a}
	same("TransferEvent", ev.AppendJSON(nil), ev)
	for _, r := range []RegisterArgs{
		{ID: a, Title: b, Author: c, Owner: a, Type: b, ContentHash: c},
		{ID: a, Title: b, Author: c, ContentHash: c},
		{ID: a, Title: b, Author: c, ContentHash: c, Relation: a + b, AllowDuplicate: true},
		{ID: a, AllowDuplicate: true},
		{},
	} {
		same("RegisterArgs", r.AppendJSON(nil), r)
	}
	same("TransferArgs", TransferArgs{ID: a, To: b}.AppendJSON(nil), TransferArgs{ID: a, To: b})
	same("IDArgs", IDArgs{ID: a}.AppendJSON(nil), IDArgs{ID: a})
	for _, l := range []ListArgs{{Owner: a, Author: b, Limit: limit}, {Author: c}, {Limit: limit}, {Hash: a, Owner: b}, {}} {
		same("ListArgs", l.AppendJSON(nil), l)
	}
	entries := []WorkChange{
		{TxID: a, Block: n1, Tx: n2, Timestamp: b, Creator: c, Action: a, Owner: b},
		{},
	}
	for _, h := range []HistoryResult{{ID: a}, {ID: b, Entries: []WorkChange{}}, {ID: c, Entries: entries}} {
		same("HistoryResult", h.AppendJSON(nil), h)
	}
	for _, l := range []ListResult{{}, {Works: []Work{}}, {Works: []Work{w, {Record: rec}}, More: true}, {Works: []Work{w}}} {
		same("ListResult", l.AppendJSON(nil), l)
	}

	// What the contract encodes, its decoders read back on the fast path
	// (encoding/json never writes the escapes they leave to it).
	var got, want Record
	if !decodeRecordFast(rec.marshal(), &got) {
		t.Fatalf("the fast decoder refused the encoding of %#v: %s", rec, rec.marshal())
	}
	if err := json.Unmarshal(rec.marshal(), &want); err != nil || got != want {
		t.Fatalf("decoded %#v, encoding/json %#v (%v)", got, want, err)
	}
	var args RegisterArgs
	if enc := (RegisterArgs{ID: a, Title: b, Author: c, Owner: a, Type: b, ContentHash: c}).AppendJSON(nil); !args.decodeFast(enc) {
		t.Fatalf("the fast decoder refused %s", enc)
	}
}

// appendWith calls v's AppendJSON with dst.
func appendWith(v any, dst []byte) []byte {
	return v.(interface{ AppendJSON([]byte) []byte }).AppendJSON(dst)
}

// decodeInputs are objects of every shape the decoders must either read
// on their fast path or hand to encoding/json.
var decodeInputs = []string{
	`{"id":"W1","title":"T","author":"A","owner":"alice@Org1","type":"text","content_hash":"` + testHash + `","registered_at":"2025-01-01T00:00:00Z","registered_by":"alice@Org1","action":"register","updated_by":"alice@Org1","updated_at":"2025-01-01T00:00:00Z"}`,
	`{"id":"W1","title":"T","author":"A","content_hash":"` + testHash + `"}`,
	`{"id":"W1","title":"T","author":"A","owner":"bob@Org2","type":"image","content_hash":"` + testHash + `"}`,
	`{"id":"W1","to":"bob@Org1"}`,
	`{"id":"W1"}`,
	`{"owner":"alice@Org1","author":"Ada","limit":1}`,
	` {"id" : "W1" ,	"to":"x@y"}` + "\n\r\t ",
	`{}`, `{ }`, ` {}`, `{}  `, `[]`, `null`, `""`, ``, ` `, `1`, `"x"`, `{`, `}`, `{"id"`, `{"id":`, `{"id":"W1"`, `{"id":"W1",}`,
	`{,"id":"W1"}`, `{"id":"W1" "to":"x"}`, `{"id":"W1"}x`, `{"id":"W1"}{}`, `{"id":"W1"} ` + "\u00a0", `{"id":"W1"}` + "\x85",
	`{"id":"a","id":"b"}`, `{"ID":"a"}`, `{"Id":"a","id":"b"}`, `{"id":"a","ID":"b"}`, `{"ıd":"a"}`, `{"content_haſh":"a"}`,
	`{"\u0069d":"a"}`, `{"i\"d":"a"}`, `{"x":"a"}`, `{"id":"a","x":1}`, `{"version":{"block":1,"tx":2}}`,
	`{"id":null}`, `{"id":1}`, `{"id":true}`, `{"id":{}}`, `{"id":[]}`, `{"id":"a","title":null}`,
	`{"id":"a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u2028\u00E9"}`, `{"id":"\u003cb\u003e \u0026"}`, `{"id":"\u0000"}`,
	`{"id":"\ud83c\udf89"}`, `{"id":"\ud800"}`, `{"id":"\udc00x"}`, `{"id":"\ud800\u0041"}`,
	`{"id":"\x"}`, `{"id":"\u12"}`, `{"id":"\u12"}"`, `{"id":"\uZZZZ"}`, `{"id":"\`, `{"id":"a\`, `{"id":"\u00`,
	"{\"id\":\"\xff\"}", "{\"id\":\"a\xc3\"}", "{\"id\":\"\xed\xa0\x80\"}", "{\"id\":\"\xef\xbf\xbd\"}", "{\"id\":\"a\nb\"}",
	"{\"id\":\"a\x7fb\"}", "{\"id\":\"\\n\xff\"}", "{\"id\":\"Élégie 日本 🎉\"}", "{\"id\xff\":\"a\"}",
	`{"limit":5}`, `{"limit":0}`, `{"limit":-0}`, `{"limit":-5}`, `{"limit":01}`, `{"limit":1.5}`, `{"limit":1e2}`,
	`{"limit":-}`, `{"limit":123456789}`, `{"limit":1000000000}`, `{"limit":99999999999999999999}`, `{"limit":"5"}`,
	`{"limit":5 }`, `{"limit":null}`, `{"limit":5,"limit":6}`, `{"limit":5x}`, `{"limit":true}`,
	`{"owner":1}`, `{"author":"a","owner":"b","limit":-2}`,
	`{"id":"W2","title":"T","author":"A","content_hash":"` + testHash + `","relation":"derivative-of:W1"}`,
	`{"id":"W2","title":"T","author":"A","content_hash":"` + testHash + `","allow_duplicate":true}`,
	`{"id":"W1","title":"T","author":"A","owner":"alice@Org1","type":"text","content_hash":"` + testHash + `","registered_at":"2025-01-01T00:00:00Z","registered_by":"alice@Org1","action":"register","updated_by":"alice@Org1","updated_at":"2025-01-01T00:00:00Z","relation":"duplicate-of:W0"}`,
	`{"hash":"` + testHash + `","limit":3}`,
}

func TestDecodersMatchEncodingJSON(t *testing.T) {
	for _, in := range decodeInputs {
		checkDecoders(t, []byte(in))
	}
}

// TestFastPathTaken makes sure the fast decoders do accept the usual
// shapes, not just hand everything to encoding/json.
func TestFastPathTaken(t *testing.T) {
	var r Record
	if !decodeRecordFast([]byte(decodeInputs[0]), &r) || r.ID != "W1" || r.UpdatedAt == "" {
		t.Errorf("record: %+v", r)
	}
	var reg RegisterArgs
	var tr TransferArgs
	var id IDArgs
	var l ListArgs
	if !reg.decodeFast([]byte(decodeInputs[2])) || reg.Owner != "bob@Org2" ||
		!tr.decodeFast([]byte(decodeInputs[3])) || tr.To != "bob@Org1" ||
		!id.decodeFast([]byte(decodeInputs[4])) || id.ID != "W1" ||
		!l.decodeFast([]byte(decodeInputs[5])) || l.Limit != 1 {
		t.Errorf("args: %+v %+v %+v %+v", reg, tr, id, l)
	}
	var rel RegisterArgs
	var lh ListArgs
	if !rel.decodeFast([]byte(`{"id":"W2","title":"T","author":"A","content_hash":"`+testHash+`","relation":"derivative-of:W1"}`)) || rel.Relation != "derivative-of:W1" ||
		!lh.decodeFast([]byte(`{"hash":"`+testHash+`"}`)) || lh.Hash != testHash {
		t.Errorf("relation, hash: %+v %+v", rel, lh)
	}
	if !id.decodeFast([]byte(`{"id":"\u003cb\u003e \u0026 \"x\""}`)) || id.ID != `<b> & "x"` {
		t.Errorf("escapes: %+v", id)
	}
	// Decoded strings must not alias the input: the SDK reuses its
	// buffers between host calls.
	in := []byte(`{"id":"W1"}`)
	var r2 Record
	if !decodeRecordFast(in, &r2) {
		t.Fatal("refused")
	}
	copy(in, "xxxxxxxxxxx")
	if r2.ID != "W1" {
		t.Errorf("the decoded record changed with its input: %+v", r2)
	}
}

// checkDecoders compares every decoder with encoding/json on b: the same
// value and the same error.
func checkDecoders(t *testing.T, b []byte) {
	t.Helper()
	var got, want Record
	gerr, werr := unmarshalRecord(b, &got), json.Unmarshal(b, &want)
	if got != want || errString(gerr) != errString(werr) {
		t.Fatalf("Record from %q:\n got %#v %v\nwant %#v %v", b, got, gerr, want, werr)
	}
	checkArgs[RegisterArgs](t, b)
	checkArgs[TransferArgs](t, b)
	checkArgs[IDArgs](t, b)
	checkArgs[ListArgs](t, b)
}

func checkArgs[T any, P interface {
	*T
	argsDecoder
}](t *testing.T, b []byte) {
	t.Helper()
	var got, want T
	gerr, werr := decodeArgs(b, P(&got)), contract.DecodeJSON(b, &want)
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gerr, werr) {
		t.Fatalf("%T from %q:\n got %#v %v\nwant %#v %v", got, b, got, gerr, want, werr)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

var validatorInputs = []string{
	"", "a", "A", "0", "W1", "-a", ".a", "_a", ":a", "a-", "a.b_c:d-e", "a b", "a\n", "\na", "a\x00", "é", "aé", "a\xff",
	"a@b", "a@", "@b", "@", "a@b@c", "a@.b", "a.@b", "a_b.c-d@Org-1.x_y", "a:b@c", "a@b:c", "alice@Org1\n", "a@é",
	testHash, strings.ToUpper(testHash), "sha256:" + strings.ToUpper(testHash[7:]), testHash[:70], testHash + "0",
	testHash + "\n", "sha256:" + strings.Repeat("g", 64), "sha256:" + strings.Repeat("F", 64), " " + testHash[1:],
	"sha256:" + strings.Repeat("é", 32), "sha512:" + testHash[7:],
}

func TestValidatorsMatchRegexps(t *testing.T) {
	for _, s := range validatorInputs {
		checkValidators(t, s)
	}
}

func checkValidators(t *testing.T, s string) {
	t.Helper()
	if got, want := validID(s), idRE.MatchString(s); got != want {
		t.Fatalf("validID(%q) = %v, regexp %v", s, got, want)
	}
	if got, want := validOwner(s), ownerRE.MatchString(s); got != want {
		t.Fatalf("validOwner(%q) = %v, regexp %v", s, got, want)
	}
	if got, want := validHash(s), hashRE.MatchString(s); got != want {
		t.Fatalf("validHash(%q) = %v, regexp %v", s, got, want)
	}
	// normHash returned "sha256:" + lowercased hex digits.
	if h, err := normHash("h", s); err == nil && h != "sha256:"+strings.ToLower(s[7:]) {
		t.Fatalf("normHash(%q) = %q", s, h)
	}
}

func FuzzCodecEncode(f *testing.F) {
	for _, s := range edgeStrings {
		f.Add(s, "x", "", uint64(1), uint64(0), 100)
	}
	f.Fuzz(func(t *testing.T, a, b, c string, n1, n2 uint64, limit int) {
		checkEncoders(t, a, b, c, n1, n2, limit)
	})
}

func FuzzCodecDecode(f *testing.F) {
	for _, in := range decodeInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecoders(t, b)
		// b as a string's contents, a number and members, where random
		// bytes rarely get on their own.
		for _, w := range [][2]string{{`{"id":"`, `"}`}, {`{"title":"x","limit":`, `}`}, {`{"id":"W1",`, `}`}} {
			checkDecoders(t, append(append([]byte(w[0]), b...), w[1]...))
		}
	})
}

func FuzzValidators(f *testing.F) {
	for _, s := range validatorInputs {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkValidators(t, s)
	})
}

// TestCodecCoversAllFields fails when a field is added to a type that
// codec.go encodes or decodes by hand: the hand-written code must learn
// it too (an omitempty field would otherwise slip past the differential
// tests, which leave new fields zero).
func TestCodecCoversAllFields(t *testing.T) {
	for _, c := range []struct {
		v      any
		fields int
	}{
		{Record{}, 12}, {Work{}, 2}, {RecordVersion{}, 2}, {TransferEvent{}, 4}, {RegisterArgs{}, 8},
		{TransferArgs{}, 2}, {IDArgs{}, 1}, {ListArgs{}, 4}, {WorkChange{}, 7}, {HistoryResult{}, 2}, {ListResult{}, 2},
	} {
		if n := reflect.TypeOf(c.v).NumField(); n != c.fields {
			t.Errorf("%T has %d fields, codec.go knows %d: update its encoder and decoder", c.v, n, c.fields)
		}
	}
}
