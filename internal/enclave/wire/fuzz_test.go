package wire

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecode decodes arbitrary bytes as every message type: no panic, and
// whatever decodes re-encodes to bytes that decode to the same value.
func FuzzDecode(f *testing.F) {
	for i, m := range samples() {
		f.Add(uint8(i), Marshal(nil, m))
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		ms := samples()
		m := fresh(ms[int(which)%len(ms)])
		if err := Unmarshal(b, m); err != nil {
			return
		}
		again := fresh(m)
		if err := Unmarshal(Marshal(nil, m), again); err != nil {
			t.Fatalf("%s: re-encoding does not decode: %v", m.name(), err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("%s: unstable round trip\n%+v\n%+v", m.name(), m, again)
		}
	})
}

// FuzzReply decodes arbitrary bytes as an ecall reply.
func FuzzReply(f *testing.F) {
	f.Add(EncodeReply(nil, &SimulateReply{Action: []byte{1}}, nil, &Counters{Seq: 1}))
	f.Add(EncodeReply(nil, nil, &Error{Codes: []Code{2}, Message: "x"}, &Counters{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r SimulateReply
		var c Counters
		remote, err := DecodeReply(b, &r, &c)
		if err != nil {
			return
		}
		var again []byte
		if remote != nil {
			again = EncodeReply(nil, nil, remote, &c)
		} else {
			again = EncodeReply(nil, &r, nil, &c)
		}
		var r2 SimulateReply
		var c2 Counters
		remote2, err := DecodeReply(again, &r2, &c2)
		if err != nil || !reflect.DeepEqual(remote, remote2) || !reflect.DeepEqual(c, c2) || (remote == nil && !reflect.DeepEqual(r, r2)) {
			t.Fatalf("unstable reply round trip: %v", err)
		}
	})
}

// FuzzReadFrame reads frames from arbitrary bytes: no panic, and a frame
// that reads re-encodes to the bytes it came from.
func FuzzReadFrame(f *testing.F) {
	fr, _ := Finish(append(Begin(nil, KindOcall, OcStateGet, 7), "xyz"...))
	f.Add(fr)
	f.Add([]byte{0, 0, 0, 10, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		fr, err := ReadFrame(r)
		if err != nil {
			return
		}
		enc, err := Finish(append(Begin(nil, fr.Kind, fr.Op, fr.ID), fr.Payload...))
		if err != nil || !bytes.Equal(enc, b[:len(enc)]) {
			t.Fatalf("frame %+v re-encodes differently", fr)
		}
	})
}

// FuzzSplitBatch splits arbitrary bytes as a batch: no panic, and the
// frames found re-encode to the bytes they came from.
func FuzzSplitBatch(f *testing.F) {
	a, _ := Finish(append(Begin(nil, KindEcall, OpSimulate, 7), "xyz"...))
	b, _ := Finish(Begin(nil, KindEcall, OpPing, 8))
	f.Add(append(append([]byte(nil), a...), b...))
	f.Add(a[:len(a)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := SplitBatch(b, KindEcall)
		if err != nil {
			return
		}
		var enc []byte
		for _, fr := range fs {
			one, err := Finish(append(Begin(nil, fr.Kind, fr.Op, fr.ID), fr.Payload...))
			if err != nil {
				t.Fatal(err)
			}
			enc = append(enc, one...)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("%d frames re-encode differently", len(fs))
		}
	})
}
