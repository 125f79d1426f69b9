package contract_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/contract"
	"github.com/folio-ledger/folio/contract/contracttest"
)

func TestCompositeKeys(t *testing.T) {
	k, err := contract.CreateCompositeKey("owner~id", "alice@Org1", "W1")
	if err != nil || k != "\x00owner~id\x00alice@Org1\x00W1\x00" {
		t.Fatalf("%q %v", k, err)
	}
	typ, attrs, err := contract.SplitCompositeKey(k)
	if err != nil || typ != "owner~id" || !reflect.DeepEqual(attrs, []string{"alice@Org1", "W1"}) {
		t.Fatalf("split: %q %q %v", typ, attrs, err)
	}
	if k, _ := contract.CreateCompositeKey("t"); k != "\x00t\x00" {
		t.Fatalf("no attrs: %q", k)
	}
	if _, attrs, _ := contract.SplitCompositeKey("\x00t\x00\x00"); !reflect.DeepEqual(attrs, []string{""}) {
		t.Fatalf("empty attribute: %q", attrs)
	}
	for _, bad := range [][]string{{""}, {"a\x00b"}, {"t", "x\x00"}, {"t", "\U0010FFFF"}, {"t", "\xff"}, {"t", strings.Repeat("x", 1100)}} {
		if _, err := contract.CreateCompositeKey(bad[0], bad[1:]...); !errors.Is(err, contract.ErrInvalidKey) {
			t.Errorf("create %q: %v", bad, err)
		}
	}
	for _, bad := range []string{"", "plain", "\x00", "\x00\x00", "\x00t"} {
		if _, _, err := contract.SplitCompositeKey(bad); !errors.Is(err, contract.ErrInvalidKey) {
			t.Errorf("split %q: %v", bad, err)
		}
	}
	start, end, err := contract.PartialCompositeKeyRange("owner~id", "alice@Org1")
	if err != nil || start != "\x00owner~id\x00alice@Org1\x00" || end != start+"\U0010FFFF" {
		t.Fatalf("partial range %q %q %v", start, end, err)
	}
	// Every full key with that prefix sorts inside the range; a longer
	// owner with the same prefix does not.
	if !(start <= k && k < end) {
		t.Error("key outside its partial range")
	}
	other, _ := contract.CreateCompositeKey("owner~id", "alice@Org10", "W1")
	if start <= other && other < end {
		t.Error("alice@Org10 inside alice@Org1's range")
	}
}

func TestSimpleKeyRange(t *testing.T) {
	s, e, err := contract.SimpleKeyRange("", "")
	if err != nil || s != "\x01" || e != "" {
		t.Fatalf("%q %q %v", s, e, err)
	}
	if _, _, err := contract.SimpleKeyRange("\x00a", ""); !errors.Is(err, contract.ErrInvalidKey) {
		t.Error(err)
	}
	if _, _, err := contract.SimpleKeyRange("b", "a"); !errors.Is(err, contract.ErrInvalidArgument) {
		t.Error(err)
	}
}

func FuzzCompositeKey(f *testing.F) {
	f.Add("owner~id", "alice@Org1", "W1")
	f.Add("t", "", "\U0010FFFF")
	f.Fuzz(func(t *testing.T, typ, a, b string) {
		k, err := contract.CreateCompositeKey(typ, a, b)
		if err != nil {
			if !errors.Is(err, contract.ErrInvalidKey) {
				t.Fatalf("error %v does not wrap ErrInvalidKey", err)
			}
			return
		}
		if contract.CheckKey(k) != nil {
			t.Fatalf("composite key %q is not a valid key", k)
		}
		gt, attrs, err := contract.SplitCompositeKey(k)
		if err != nil || gt != typ || !reflect.DeepEqual(attrs, []string{a, b}) {
			t.Fatalf("split(create(%q, %q, %q)) = %q %q %v", typ, a, b, gt, attrs, err)
		}
		start, end, err := contract.PartialCompositeKeyRange(typ, a)
		if err != nil || k < start || k >= end {
			t.Fatalf("key %q outside partial range [%q, %q): %v", k, start, end, err)
		}
	})
}

func FuzzSplitCompositeKey(f *testing.F) {
	f.Add("\x00owner~id\x00alice@Org1\x00W1\x00")
	f.Add("\x00\x00")
	f.Fuzz(func(t *testing.T, k string) {
		typ, attrs, err := contract.SplitCompositeKey(k)
		if err != nil {
			return
		}
		if again, err := contract.CreateCompositeKey(typ, attrs...); err == nil && again != k {
			t.Fatalf("create(split(%q)) = %q", k, again)
		}
	})
}

func TestFail(t *testing.T) {
	cases := []struct {
		err    error
		status int32
		code   string
	}{
		{contract.BadRequest("id", "bad id"), 400, "bad_request"},
		{fmt.Errorf("wrapped: %w", contract.Forbidden("no")), 403, "forbidden"},
		{contract.NotFound("none"), 404, "not_found"},
		{contract.Conflict("dup"), 409, "conflict"},
		{contract.Internal("oops"), 500, "internal"},
		{fmt.Errorf("put: %w", contract.ErrInvalidKey), 400, "bad_request"},
		{fmt.Errorf("put: %w", contract.ErrReadOnly), 400, "read_only"},
		{fmt.Errorf("put: %w", contract.ErrTooLarge), 413, "too_large"},
		{fmt.Errorf("event: %w", contract.ErrLimit), 429, "limit"},
		{errors.New("anything else"), 500, "internal"},
		{nil, 500, "internal"},
		{&contract.Error{Code: "x", Message: "no status"}, 500, "x"},
	}
	for _, c := range cases {
		r := contract.Fail(c.err)
		var e contract.Error
		if err := json.Unmarshal(r.Payload, &e); err != nil {
			t.Fatalf("%v: payload %q: %v", c.err, r.Payload, err)
		}
		if r.Status != c.status || e.Code != c.code || e.Message != r.Message || r.Message == "" {
			t.Errorf("Fail(%v) = %d %q %+v, want %d %s", c.err, r.Status, r.Message, e, c.status, c.code)
		}
	}
	if r := contract.BadRequest("id", "x").Response(); !strings.Contains(string(r.Payload), `"field":"id"`) {
		t.Errorf("field missing: %s", r.Payload)
	}
	if r := contract.JSON(map[string]int{"b": 2, "a": 1}); r.Status != 200 || string(r.Payload) != `{"a":1,"b":2}` {
		t.Errorf("JSON: %d %s", r.Status, r.Payload)
	}
	if r := contract.JSON(func() {}); r.Status != 500 {
		t.Errorf("JSON of a func: %d", r.Status)
	}
}

type args struct {
	ID    string `json:"id"`
	Limit int    `json:"limit"`
	Tags  []string
	Sub   struct{ X int } `json:"sub"`
}

func TestDecodeJSON(t *testing.T) {
	cases := []struct {
		in, field, fragment string
	}{
		{`{"id":"W1","limit":3}`, "", ""},
		{`  {"id":"W1"}  `, "", ""},
		{``, "", "empty"},
		{`{"id":`, "", "ends too early"},
		{`{"id":"W1"}x`, "", "unexpected data"},
		{`{"id":"W1"}{}`, "", "unexpected data"},
		{`nope`, "", "not valid JSON"},
		{`{"id":1}`, "id", `field "id" must be a string, not number`},
		{`{"limit":"3"}`, "limit", "must be an integer"},
		{`{"Tags":"x"}`, "Tags", "must be an array"},
		{`{"sub":{"X":"y"}}`, "sub.X", "must be an integer"},
		{`{"other":1}`, "other", `unknown field "other"`},
		{`[1]`, "", "must be a JSON object"},
		{`"str"`, "", "must be a JSON object"},
	}
	for _, c := range cases {
		var a args
		err := contract.DecodeJSON([]byte(c.in), &a)
		if c.fragment == "" {
			if err != nil {
				t.Errorf("%s: %v", c.in, err)
			}
			continue
		}
		var e *contract.Error
		if !errors.As(err, &e) || e.Status != 400 || e.Field != c.field || !strings.Contains(e.Message, c.fragment) {
			t.Errorf("%s: %#v, want field %q mentioning %q", c.in, err, c.field, c.fragment)
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"id":"W1","limit":3,"Tags":["a"],"sub":{"X":1}}`))
	f.Add([]byte(`{"id":`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a args
		err := contract.DecodeJSON(b, &a)
		var e *contract.Error
		if err != nil && (!errors.As(err, &e) || e.Status != 400) {
			t.Fatalf("error %v is not a 400 *Error", err)
		}
	})
}

func TestRouter(t *testing.T) {
	r := contract.NewRouter()
	r.Handle("b", func(ctx contract.Context) contract.Response { return contract.OK([]byte("b")) })
	r.Handle("a", func(ctx contract.Context) contract.Response { return contract.Response{} })
	r.Handle("p", func(ctx contract.Context) contract.Response { panic("boom") })
	if got := r.Functions(); !reflect.DeepEqual(got, []string{"a", "b", "p"}) {
		t.Fatal(got)
	}
	l := contracttest.NewLedger("ns")
	if res := l.Invoke(r, contracttest.Call{Function: "b"}); string(res.Response.Payload) != "b" {
		t.Fatal(res)
	}
	if res := l.Invoke(r, contracttest.Call{Function: "a"}); res.Response.Status != 500 || !strings.Contains(res.Response.Message, "without a status") {
		t.Fatal(res.Response)
	}
	if res := l.Invoke(r, contracttest.Call{Function: "zz"}); res.Response.Status != 400 || !strings.Contains(res.Response.Message, "(this contract has: a, b, p)") {
		t.Fatal(res.Response)
	}
	if res := l.Invoke(r, contracttest.Call{Function: "p"}); !res.Panicked || res.Response.Status != 500 || !strings.Contains(res.Response.Message, "contract panicked in p: boom") {
		t.Fatal(res)
	}
	for _, bad := range []func(){
		func() { r.Handle("", func(contract.Context) contract.Response { return contract.OK(nil) }) },
		func() { r.Handle("x", nil) },
		func() { r.Handle("a", func(contract.Context) contract.Response { return contract.OK(nil) }) },
		func() { contract.Serve(nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			bad()
		}()
	}
	contract.Serve(r)
	if contract.Served() != r {
		t.Fatal("Serve")
	}
	contract.Serve(contract.DefaultRouter)
}

func TestIdentity(t *testing.T) {
	id := contract.Identity{Org: "Org1", Name: "admin", Role: "admin"}
	if id.Label() != "admin@Org1" || !id.IsAdminOf("Org1") || id.IsAdminOf("Org2") {
		t.Fatal(id)
	}
	if (contract.Identity{Org: "Org1", Role: "client"}).IsAdminOf("Org1") {
		t.Fatal("client is admin")
	}
}
