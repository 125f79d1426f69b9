package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

const (
	rid    = "0123456789abcdef0123456789abcdef"
	nodeID = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
)

func share() *ShareMsg {
	return &ShareMsg{Index: 2, Share: "02a1b2c3d4", SentAt: "2026-05-01T12:00:00.5Z", NodeID: nodeID, Sig: "3045022100aa"}
}

// messages returns a fresh value of every decodable message type.
func messages() []Validator {
	return []Validator{&ContentRequest{}, &KeysRequest{}, &ClockReply{}, &Report{}, &ScheduleReply{}, &Proposal{},
		&EarlyShare{}, &ShareMsg{}}
}

func TestDecodeValid(t *testing.T) {
	for _, m := range []Validator{
		&ContentRequest{Op: OpChunk, RID: rid, Index: 7},
		&KeysRequest{Op: OpShare, RID: rid, Share: share()},
		&KeysRequest{Op: OpCoord, RID: rid, Proposal: &Proposal{From: "peer0.org1", SendAt: 1, Ready: 1, Total: 2}},
		&KeysRequest{Op: OpClock, T0: 5},
		&KeysRequest{Op: OpEarly, RID: rid, LeadMS: 1000},
		&Report{Edge: "peer0.org1", Clients: []ClientPrediction{{Client: "user1@Org1/a", RateBps: 56e3, PredictedAt: 7}}},
		&EarlyShare{Index: 3, Share: "01ff"},
	} {
		raw := Encode(m)
		got := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Validator)
		if err := Decode(raw, got); err != nil {
			t.Fatalf("%T %s: %v", m, raw, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%T: round trip %+v, want %+v", m, got, m)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, c := range []struct {
		raw string
		v   Validator
	}{
		{`{"op":"chunk","rid":"` + rid + `","index":-1}`, &ContentRequest{}},
		{`{"op":"steal","rid":"` + rid + `"}`, &ContentRequest{}},
		{`{"op":"have","rid":"../../etc"}`, &ContentRequest{}},
		{`{"op":"share","rid":"` + rid + `"}`, &KeysRequest{}},
		{`{"op":"coord","rid":"` + rid + `"}`, &KeysRequest{}},
		{`{"op":"coord","rid":"` + rid + `","proposal":{"from":"p","send_at":1,"ready":3,"total":2}}`, &KeysRequest{}},
		{`{"op":"clock","t0":0}`, &KeysRequest{}},
		{`{"op":"early","rid":"` + rid + `","lead_ms":-5}`, &KeysRequest{}},
		{`{"op":"share","rid":"` + rid + `","share":{"index":0,"share":"0102","sent_at":"2026-05-01T12:00:00Z","node_id":"` + nodeID + `","sig":"30"}}`, &KeysRequest{}},
		{`{"index":1,"share":"zz"}`, &EarlyShare{}},
		{`{"index":0,"share":"0102"}`, &EarlyShare{}},
		{`{"edge":"a b","clients":[]}`, &Report{}},
		{`{"edge":"p","clients":[{"client":"u@O","rate_bps":-1}]}`, &Report{}},
		{`{"t1":5} {}`, &ClockReply{}},
		{`{"t1":5,"extra":1}`, &ClockReply{}},
		{`{"op":"have","rid":"` + rid + `"}` + strings.Repeat(" ", MaxMessageBytes), &ContentRequest{}},
	} {
		if err := Decode([]byte(c.raw), c.v); !errors.Is(err, ErrMalformed) {
			t.Errorf("%T %.80s: %v, want ErrMalformed", c.v, c.raw, err)
		}
	}
}

func TestParseReply(t *testing.T) {
	if b, err := ParseReply(Reply(StatusOK, []byte("x"))); err != nil || string(b) != "x" {
		t.Fatalf("ok reply: %q %v", b, err)
	}
	_, err := ParseReply(ReplyErr(StatusRefused, "no %s", "way"))
	var se *StatusError
	if !errors.As(err, &se) || se.Status != StatusRefused || se.Reason != "no way" {
		t.Fatalf("refused reply: %v", err)
	}
	for _, b := range [][]byte{nil, {9, 'x'}} {
		if _, err := ParseReply(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%v: %v", b, err)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to every message type's decoder: it
// never panics, and whatever it accepts validates, re-encodes and decodes
// to the same value.
func FuzzDecode(f *testing.F) {
	for _, m := range []Validator{
		&ContentRequest{Op: OpHave, RID: rid},
		&KeysRequest{Op: OpShare, RID: rid, Share: share()},
		&KeysRequest{Op: OpCoord, RID: rid, Proposal: &Proposal{From: "peer0.org1", SendAt: 9, Total: 1}},
		&Report{Edge: "peer0.org1", Clients: []ClientPrediction{{Client: "u@O", RateBps: 1}}},
		&ScheduleReply{SendAt: 3, Released: true, Reason: "why"},
	} {
		f.Add(Encode(m))
	}
	f.Add([]byte(`{"op":"clock","t0":1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, v := range messages() {
			if err := Decode(raw, v); err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%T: error %v is not ErrMalformed", v, err)
				}
				continue
			}
			if err := v.Validate(); err != nil {
				t.Fatalf("%T decoded but does not validate: %v", v, err)
			}
			again := reflect.New(reflect.TypeOf(v).Elem()).Interface().(Validator)
			if err := Decode(Encode(v), again); err != nil {
				t.Fatalf("%T: re-encoded value does not decode: %v", v, err)
			}
			if !reflect.DeepEqual(v, again) {
				t.Fatalf("%T: %+v re-decoded as %+v", v, v, again)
			}
		}
	})
}

// FuzzParseReply: any reply bytes give a body or an error, never a panic,
// and OK replies give back exactly the body.
func FuzzParseReply(f *testing.F) {
	f.Add(Reply(StatusOK, []byte("body")))
	f.Add(ReplyErr(StatusNotReady, "later"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := ParseReply(raw)
		if err == nil && (len(raw) == 0 || raw[0] != StatusOK || !bytes.Equal(b, raw[1:])) {
			t.Fatalf("%x accepted as %x", raw, b)
		}
	})
}

// TestEncodeNonFiniteMeasurements: a rate or skew that came out infinite
// or NaN is sent as 0 (unknown) instead of failing the encoding.
func TestEncodeNonFiniteMeasurements(t *testing.T) {
	for _, v := range []any{
		ClientPrediction{Client: "c1", RateBps: math.Inf(1), RTTMS: math.NaN()},
		Report{Edge: "p", Clients: []ClientPrediction{{Client: "c2", RateBps: math.Inf(-1)}}},
	} {
		b := Encode(v)
		if len(b) == 0 || bytes.Contains(b, []byte("Inf")) || bytes.Contains(b, []byte("NaN")) {
			t.Fatalf("Encode(%T) = %q", v, b)
		}
	}
	var p ClientPrediction
	if err := json.Unmarshal(Encode(ClientPrediction{Client: "c1", RateBps: 12.5}), &p); err != nil || p.RateBps != 12.5 {
		t.Fatalf("finite rate not kept: %+v %v", p, err)
	}
}
