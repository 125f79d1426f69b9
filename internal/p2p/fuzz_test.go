package p2p

import (
	"bytes"
	"testing"
)

// The fuzz targets feed arbitrary bytes to the wire decoders: they must
// never panic or allocate beyond their limits, and whatever they accept
// must re-encode to exactly the bytes they read (one encoding per value).
// Seed corpora live in testdata/fuzz.

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 4, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1024
		r := bytes.NewReader(data)
		body, err := readFrame(r, limit)
		if err != nil {
			return
		}
		if len(body) > limit {
			t.Fatalf("accepted a %d-byte frame over the %d limit", len(body), limit)
		}
		var again bytes.Buffer
		if err := writeFrame(&again, body); err != nil {
			t.Fatal(err)
		}
		consumed := len(data) - r.Len()
		if !bytes.Equal(again.Bytes(), data[:consumed]) {
			t.Fatalf("frame does not re-encode to the bytes read")
		}
	})
}

func FuzzParseHello(f *testing.F) {
	f.Add([]byte("FP2P\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHello(data)
		if err != nil {
			return
		}
		if err := h.validate(); err != nil {
			t.Fatalf("accepted an invalid Hello: %v", err)
		}
		again, err := h.marshal()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted Hello does not re-encode to its bytes: %v", err)
		}
	})
}

func FuzzParseProof(f *testing.F) {
	f.Add([]byte("FP2P\x01\x02\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseProof(data)
		if err != nil {
			return
		}
		again, err := p.marshal()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted Proof does not re-encode to its bytes: %v", err)
		}
	})
}

func FuzzReadStreamHeader(f *testing.F) {
	f.Add(marshalStreamHeader("raft"))
	f.Add(append(marshalStreamHeader(retireProtocol), byte(reasonSuperseded)))
	f.Fuzz(func(t *testing.T, data []byte) {
		name, err := readStreamHeader(bytes.NewReader(data))
		if err != nil {
			return
		}
		if name != retireProtocol && !validProtocol(name) {
			t.Fatalf("accepted protocol name %q", name)
		}
		if enc := marshalStreamHeader(name); !bytes.HasPrefix(data, enc) {
			t.Fatalf("header of %q does not re-encode to the bytes read", name)
		}
	})
}
