package abi

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// at is the time a decoder returns for n Unix nanoseconds.
func at(n int64) time.Time { return time.Unix(0, n).UTC() }

func sampleCall() Call {
	return Call{
		TxID: "abc", Timestamp: at(-5), ChannelID: "ch", Namespace: "copyright", Function: "register",
		Args:     [][]byte{[]byte(`{"id":"W1"}`), {}, []byte("x")},
		Creator:  Identity{MSPID: "Org1MSP", Org: "Org1", Name: "alice", Role: "client", CertPEM: []byte("-----BEGIN")},
		ReadOnly: true,
	}
}

func TestRoundTrips(t *testing.T) {
	c := sampleCall()
	var c2 Call
	if err := c2.Unmarshal(c.Marshal()); err != nil || !reflect.DeepEqual(c, c2) {
		t.Fatalf("call input: %v\n%+v\n%+v", err, c, c2)
	}
	for _, g := range []GetResult{{}, {Found: true, Value: []byte("pending")}, {Found: true, HasVersion: true, Version: KeyVersion{7, 3}, Value: []byte("v")}} {
		var g2 GetResult
		if err := g2.Unmarshal(g.Marshal()); err != nil || !reflect.DeepEqual(g, g2) {
			t.Fatalf("get result %+v: %v %+v", g, err, g2)
		}
	}
	p := RangePage{Entries: []KV{{Key: "a", Value: []byte("1"), Version: KeyVersion{1, 2}}, {Key: "b", Version: KeyVersion{3, 4}}}, More: true}
	var p2 RangePage
	if err := p2.Unmarshal(p.Marshal()); err != nil || !reflect.DeepEqual(p, p2) {
		t.Fatalf("range page: %v %+v", err, p2)
	}
	h := History{Entries: []HistoryEntry{{TxID: "t1", Version: KeyVersion{1, 0}, Timestamp: at(1e18), Value: []byte("v")}, {TxID: "t2", Timestamp: at(0), IsDelete: true}}}
	var h2 History
	if err := h2.Unmarshal(h.Marshal()); err != nil || !reflect.DeepEqual(h, h2) {
		t.Fatalf("history: %v %+v", err, h2)
	}
}

// TestTimestamps: a timestamp crosses as Unix nanoseconds, in UTC, and
// the zero time as 0 (which the guest then sees as the Unix epoch).
func TestTimestamps(t *testing.T) {
	local := time.Date(2025, 3, 4, 5, 6, 7, 8, time.FixedZone("X", 3600))
	for in, want := range map[time.Time]time.Time{local: local.UTC(), {}: at(0), at(-1): at(-1)} {
		c := Call{Timestamp: in}
		var got Call
		if err := got.Unmarshal(c.Marshal()); err != nil || got.Timestamp != want {
			t.Errorf("%v crossed as %v (%v), want %v", in, got.Timestamp, err, want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good := sampleCall()
	enc := good.Marshal()
	cases := map[string][]byte{
		"empty":      nil,
		"truncated":  enc[:len(enc)-1],
		"trailing":   append(append([]byte(nil), enc...), 0),
		"bad bool":   append(append([]byte(nil), enc[:len(enc)-1]...), 2),
		"huge len":   {0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad varint": {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
	}
	for name, b := range cases {
		var c Call
		if err := c.Unmarshal(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A forged count cannot make the decoder allocate.
	var p RangePage
	if err := p.Unmarshal([]byte{0xff, 0xff, 0xff, 0xff, 0x07, 0}); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "count") {
		t.Errorf("forged count: %v", err)
	}
	var g GetResult
	if err := g.Unmarshal((&GetResult{HasVersion: true}).Marshal()); !errors.Is(err, ErrMalformed) {
		t.Errorf("absent with version: %v", err)
	}
	var h History
	if err := h.Unmarshal((&History{Entries: []HistoryEntry{{IsDelete: true, Value: []byte("x")}}}).Marshal()); !errors.Is(err, ErrMalformed) {
		t.Errorf("delete with value: %v", err)
	}
}

func TestDecodedValuesDoNotAlias(t *testing.T) {
	c := sampleCall()
	b := c.Marshal()
	var c2 Call
	if err := c2.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if string(c2.Args[0]) != `{"id":"W1"}` || string(c2.Creator.CertPEM) != "-----BEGIN" {
		t.Fatal("decoded value aliases the input")
	}
}

func TestValidKey(t *testing.T) {
	for _, k := range []string{"", strings.Repeat("k", MaxKeyBytes+1), "\xff"} {
		if ValidKey(k) == nil {
			t.Errorf("key %q accepted", k)
		}
	}
	for _, k := range []string{"a", "\x00work\x00W1\x00", strings.Repeat("k", MaxKeyBytes)} {
		if err := ValidKey(k); err != nil {
			t.Errorf("key %q: %v", k, err)
		}
	}
}

func TestHostFunctionsUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range HostFunctions {
		if seen[f.Name] || f.Name == "" || f.Results > 1 || f.Since < MinVersion || f.Since > Version {
			t.Errorf("host function %+v", f)
		}
		seen[f.Name] = true
	}
}

// TestNotBeforeNanos checks what commit_not_before can carry and that its
// two i32 halves rebuild the time exactly, high bit included.
func TestNotBeforeNanos(t *testing.T) {
	for _, c := range []struct {
		t  time.Time
		ok bool
	}{
		{time.Time{}, false},
		{time.Unix(0, 0), false},
		{time.Unix(0, -1), false},
		{time.Unix(0, 1), true},
		{time.Date(2026, 5, 1, 13, 0, 0, 5, time.UTC), true},
		{time.Unix(0, math.MaxInt64), true},
		{time.Unix(0, math.MaxInt64).Add(time.Nanosecond), false},
		{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), false},
	} {
		n, ok := NotBeforeNanos(c.t)
		if ok != c.ok || (ok && n != c.t.UnixNano()) {
			t.Errorf("%v: %d %v, want ok %v", c.t, n, ok, c.ok)
		}
	}
	for _, n := range []int64{0, 1, -1, math.MaxInt64, math.MinInt64, 1 << 32, 1<<32 - 1, time.Date(2026, 5, 1, 13, 0, 0, 5, time.UTC).UnixNano()} {
		if got := JoinNanos(SplitNanos(n)); got != n {
			t.Errorf("split and join %d: %d", n, got)
		}
	}
}

func TestErrnoStrings(t *testing.T) {
	for e := Errno(1); e <= ErrnoLimit; e++ {
		if strings.HasPrefix(e.String(), "errno") {
			t.Errorf("errno %d has no name", e)
		}
	}
	if Errno(99).String() != "errno 99" {
		t.Error(Errno(99).String())
	}
}

// Fuzz targets: every decoder must reject or accept without panicking, and
// what it accepts must re-encode to bytes that decode to the same value.

func FuzzCallInput(f *testing.F) {
	c := sampleCall()
	f.Add(c.Marshal())
	f.Add((&Call{}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		var v Call
		if v.Unmarshal(b) != nil {
			return
		}
		var w Call
		if err := w.Unmarshal(v.Marshal()); err != nil || !reflect.DeepEqual(v, w) {
			t.Fatalf("re-decode: %v\n%+v\n%+v", err, v, w)
		}
	})
}

func FuzzGetResult(f *testing.F) {
	f.Add((&GetResult{Found: true, HasVersion: true, Version: KeyVersion{1, 2}, Value: []byte("v")}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		var v GetResult
		if v.Unmarshal(b) != nil {
			return
		}
		var w GetResult
		if err := w.Unmarshal(v.Marshal()); err != nil || !reflect.DeepEqual(v, w) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzRangePage(f *testing.F) {
	f.Add((&RangePage{Entries: []KV{{Key: "a", Value: []byte("1"), Version: KeyVersion{1, 2}}}, More: true}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		var v RangePage
		if v.Unmarshal(b) != nil {
			return
		}
		var w RangePage
		if err := w.Unmarshal(v.Marshal()); err != nil || !reflect.DeepEqual(v, w) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzHistory(f *testing.F) {
	f.Add((&History{Entries: []HistoryEntry{{TxID: "t", Version: KeyVersion{1, 0}, Timestamp: at(5), Value: []byte("v")}, {TxID: "u", IsDelete: true}}}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		var v History
		if v.Unmarshal(b) != nil {
			return
		}
		enc := v.Marshal()
		var w History
		if err := w.Unmarshal(enc); err != nil || !reflect.DeepEqual(v, w) || !bytes.Equal(enc, w.Marshal()) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
