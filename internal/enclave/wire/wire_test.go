package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/folio-ledger/folio/contract/abi"
)

// samples returns one filled value of every message type.
func samples() []Message {
	c := &Counters{Seq: 9, Height: 3, InternalHits: 1, InternalMisses: 2, BytesSealed: 300, Ocalls: 7}
	c.OcallLatency.Counts[3] = 5
	c.OcallLatency.Counts[100] = 1
	c.OcallLatency.Sum = 12 * time.Microsecond
	return []Message{
		&Init{ProtocolVersion: Version, Height: 12, InternalCacheBytes: -1, ExternalCache: true, DirectoryEntries: 1 << 20,
			MaxConcurrentCalls: 32, VM: VMOptions{CacheDir: "/tmp/x", MemoryLimitPages: 1024, CallTimeoutNanos: int64(time.Second),
				MaxArgBytes: 1 << 20, MaxValueBytes: 4 << 20, PoolSize: -1, Interpreter: true}},
		&InitReply{PID: 4242, HasStateKey: true, Anchor: []byte("anchor hash")},
		&Install{Name: "copyright", Version: "1", Confidential: true, Wasm: []byte("\x00asm\x01\x00\x00\x00")},
		&Install{Name: "copyright", Version: "2", Package: []byte("package bytes"), Signature: []byte("signature")},
		&Simulate{Height: 5, Name: "copyright", Version: "1", Call: abi.Call{TxID: "abc", Timestamp: time.Unix(0, -5).UTC(), ChannelID: "ch",
			Function: "get", Args: [][]byte{[]byte(`{"id":"W1"}`), {}, nil}, Creator: abi.Identity{MSPID: "Org1MSP", Org: "Org1",
				Name: "alice", Role: "client", CertPEM: []byte("pem")}, ReadOnly: true}},
		&SimulateReply{Action: []byte{1, 2, 3}, DurationNanos: 99, Fills: []Fill{{Namespace: "ns", Key: "k", Blob: []byte("b"), Height: 4}}},
		&Commit{Block: 7, Writes: []Write{{Namespace: "ns", Key: "a", Value: []byte("v"), Tx: 1, ExtPresent: true},
			{Namespace: "ns", Key: "b", Delete: true, Tx: 2}, {Namespace: "ns", Key: "c", Value: []byte{}, Tx: 3}}},
		&CommitReply{Fills: []Fill{{Namespace: "ns", Key: "a", Blob: []byte("sealed"), Height: 8}}},
		&Invalidate{Height: 77},
		&KeyRequest{Ecall: 3, Namespace: "ns", Key: "\x00work\x00W1\x00"},
		&LookupReply{ExtFound: true, Blob: []byte("blob")},
		&LookupReply{Found: true, Value: []byte{}, Version: abi.KeyVersion{Block: 3, Tx: 1}},
		&StateGetReply{Found: true, Value: []byte{}, Version: abi.KeyVersion{Block: 1, Tx: 2}},
		&RangeRequest{Ecall: 1, Namespace: "ns", Start: "a", End: "z", Limit: 256},
		&RangeReply{KVs: []abi.KV{{Key: "a", Value: []byte("1"), Version: abi.KeyVersion{Block: 1}}, {Key: "b", Value: []byte{}, Version: abi.KeyVersion{Block: 2, Tx: 1}}}, More: true},
		&HistoryReply{Entries: []abi.HistoryEntry{{TxID: "t1", Version: abi.KeyVersion{Block: 1}, Timestamp: time.Unix(1, 0).UTC(), Value: []byte("v")},
			{TxID: "t2", Version: abi.KeyVersion{Block: 2}, IsDelete: true}}},
		&Error{Codes: []Code{7, 13}, Kind: KindCall, Contract: "c", Version: "1", Function: "f", TxID: "t", Output: "panic: x", Message: "timed out"},
		c,
		&Empty{},
	}
}

func fresh(m Message) Message { return reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message) }

func TestRoundTrip(t *testing.T) {
	for _, m := range samples() {
		b := Marshal(nil, m)
		got := fresh(m)
		if err := Unmarshal(b, got); err != nil {
			t.Fatalf("%s: %v", m.name(), err)
		}
		if !reflect.DeepEqual(m, got) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", m.name(), got, m)
		}
		// Every truncation fails, and so does a trailing byte.
		for i := 0; i < len(b); i++ {
			if err := Unmarshal(b[:i], fresh(m)); err == nil {
				t.Errorf("%s truncated to %d of %d bytes decoded", m.name(), i, len(b))
			}
		}
		if err := Unmarshal(append(b, 0), fresh(m)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s with a trailing byte: %v", m.name(), err)
		}
	}
}

// TestZeroTimestampStaysUnset: a call without a timestamp crosses as one
// (so that the VM in the enclave refuses it as it would in process), and
// any other timestamp crosses as the same instant, in UTC.
func TestZeroTimestampStaysUnset(t *testing.T) {
	local := time.Date(2025, 3, 4, 5, 6, 7, 8, time.FixedZone("X", 3600))
	for in, want := range map[time.Time]time.Time{{}: {}, local: local.UTC(), time.Unix(0, 1): time.Unix(0, 1).UTC()} {
		var got Simulate
		if err := Unmarshal(Marshal(nil, &Simulate{Call: abi.Call{Timestamp: in}}), &got); err != nil || got.Call.Timestamp != want {
			t.Errorf("%v crossed as %v (%v), want %v", in, got.Call.Timestamp, err, want)
		}
	}
}

func TestNilAndEmptyBytesSurvive(t *testing.T) {
	c := &Commit{Writes: []Write{{Namespace: "n", Key: "k", Value: []byte{}}, {Namespace: "n", Key: "d", Delete: true}}}
	var got Commit
	if err := Unmarshal(Marshal(nil, c), &got); err != nil {
		t.Fatal(err)
	}
	if got.Writes[0].Value == nil || got.Writes[1].Value != nil {
		t.Fatalf("empty value %v, delete value %v", got.Writes[0].Value, got.Writes[1].Value)
	}
}

func TestReplies(t *testing.T) {
	ctr := &Counters{Seq: 3, Tampered: 1}
	b := EncodeReply(nil, &InitReply{PID: 1}, nil, ctr)
	var r InitReply
	var c Counters
	remote, err := DecodeReply(b, &r, &c)
	if err != nil || remote != nil || r.PID != 1 || c.Seq != 3 || c.Tampered != 1 {
		t.Fatalf("ok reply: %v %v %+v %+v", remote, err, r, c)
	}
	b = EncodeReply(nil, nil, &Error{Codes: []Code{3}, Message: "no"}, nil)
	remote, err = DecodeReply(b, &r, nil)
	if err != nil || remote == nil || remote.Message != "no" || remote.Codes[0] != 3 {
		t.Fatalf("error reply: %v %v", remote, err)
	}
	if _, err := DecodeReply([]byte{9}, nil, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad status: %v", err)
	}
	if _, err := DecodeReply(nil, nil, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty: %v", err)
	}
}

func TestFrames(t *testing.T) {
	var stream bytes.Buffer
	f := Begin(nil, KindEcall, OpPing, 42)
	f = append(f, "payload"...)
	f, err := Finish(f)
	if err != nil {
		t.Fatal(err)
	}
	stream.Write(f)
	stream.Write(f)
	for i := 0; i < 2; i++ {
		got, err := ReadFrame(&stream)
		if err != nil || got.Kind != KindEcall || got.Op != OpPing || got.ID != 42 || string(got.Payload) != "payload" {
			t.Fatalf("frame %d: %+v %v", i, got, err)
		}
	}
	if _, err := ReadFrame(&stream); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader(f[:10])); err == nil || err == io.EOF {
		t.Fatalf("truncated header: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader(f[:len(f)-1])); err == nil {
		t.Fatal("truncated payload read")
	}
	huge := append([]byte{0xff, 0xff, 0xff, 0xff}, f[4:]...)
	if _, err := ReadFrame(bytes.NewReader(huge)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("huge frame: %v", err)
	}
	short := append([]byte{0, 0, 0, 2}, f[4:]...)
	if _, err := ReadFrame(bytes.NewReader(short)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short length: %v", err)
	}
	badKind := append([]byte(nil), f...)
	badKind[4] = 99
	if _, err := ReadFrame(bytes.NewReader(badKind)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad kind: %v", err)
	}
	if OpName(OpCommit) != "commit" || OcName(OcStateRange) != "state_range" || !strings.HasPrefix(OpName(99), "op") {
		t.Fatal("names")
	}
}

func TestValidate(t *testing.T) {
	bad := []interface{ Validate() error }{
		&Init{ProtocolVersion: 99},
		&Init{ProtocolVersion: Version, DirectoryEntries: -1},
		&Install{Name: "", Version: "1"},
		&Install{Name: "c", Version: strings.Repeat("v", 300)},
		&Install{Name: "c", Version: "1"},
		&Install{Name: "c", Version: "1", Wasm: []byte("\x00asm"), Package: []byte("p"), Signature: []byte("s")},
		&Install{Name: "c", Version: "1", Wasm: []byte("\x00asm"), Signature: []byte("s")},
		&Simulate{Name: "c", Version: ""},
		&Commit{Writes: []Write{{Namespace: "", Key: "k"}}},
		&Commit{Writes: []Write{{Namespace: "n", Key: "k", Delete: true, Value: []byte("v")}}},
		&Commit{Writes: []Write{{Namespace: "n", Key: strings.Repeat("k", MaxKeyBytes+1)}}},
		&KeyRequest{Key: strings.Repeat("k", MaxKeyBytes+1)},
		&RangeRequest{Limit: -1},
	}
	for _, m := range bad {
		if err := m.Validate(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%T %+v: %v", m, m, err)
		}
	}
	for _, m := range samples() {
		if v, ok := m.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				t.Errorf("%s sample: %v", m.name(), err)
			}
		}
	}
}

// TestSplitBatch: a batch splits into its frames; a truncated frame, a
// frame of the wrong kind or too many frames are refused.
func TestSplitBatch(t *testing.T) {
	frame := func(kind uint8, id uint64, payload string) []byte {
		f, err := Finish(append(Begin(nil, kind, OpSimulate, id), payload...))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	batch := append(frame(KindEcall, 1, "one"), frame(KindEcall, 2, "")...)
	fs, err := SplitBatch(batch, KindEcall)
	if err != nil || len(fs) != 2 || fs[0].ID != 1 || string(fs[0].Payload) != "one" || fs[1].ID != 2 || len(fs[1].Payload) != 0 {
		t.Fatalf("split: %+v, %v", fs, err)
	}
	if fs, err := SplitBatch(nil, KindEcallReply); err != nil || len(fs) != 0 {
		t.Fatalf("empty batch reply: %+v, %v", fs, err)
	}
	var many []byte
	for i := 0; i <= MaxBatchFrames; i++ {
		many = append(many, frame(KindEcall, uint64(i), "")...)
	}
	for name, b := range map[string][]byte{
		"truncated header":  batch[:len(batch)-2],
		"truncated payload": frame(KindEcall, 1, "one")[:16],
		"wrong kind":        append(frame(KindEcall, 1, ""), frame(KindOcall, 2, "")...),
		"short length":      {0, 0, 0, 3, KindEcall, OpSimulate, 0, 0, 0, 0, 0, 0, 0, 1},
		"too many frames":   many,
	} {
		if _, err := SplitBatch(b, KindEcall); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// BenchmarkSimulateCodec encodes and decodes the Simulate ecall of a
// copyright get, the protocol's most frequent message: what the codec
// costs a call on each side (docs/enclave.md, "Why a framed binary
// protocol").
func BenchmarkSimulateCodec(b *testing.B) {
	m := &Simulate{Height: 1234, Name: "copyright", Version: "1", Call: abi.Call{
		TxID: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Timestamp: time.Unix(1_700_000_000, 0),
		ChannelID: "folio", Namespace: "copyright", Function: "get", Args: [][]byte{[]byte(`{"id":"W000123"}`)}, ReadOnly: true,
		Creator: abi.Identity{MSPID: "Org1MSP", Org: "Org1", Name: "reader", Role: "client", CertPEM: bytes.Repeat([]byte("c"), 800)}}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = Marshal(buf[:0], m)
		var got Simulate
		if err := Unmarshal(buf, &got); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)+HeaderBytes), "frame-bytes")
}
