package content

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/folio-ledger/folio/internal/types"
)

func TestMerkleRootMatchesBlockDataHash(t *testing.T) {
	for n := 0; n < 20; n++ {
		var chunks [][]byte
		var leaves [][32]byte
		for i := 0; i < n; i++ {
			c := []byte{byte(i), byte(n), 7}
			chunks = append(chunks, c)
			leaves = append(leaves, LeafHash(c))
		}
		got := MerkleRoot(leaves)
		if want := types.DataHash(chunks); !bytes.Equal(got[:], want) {
			t.Fatalf("%d leaves: root %x, block data hash %x", n, got, want)
		}
	}
}

func encrypt(t *testing.T, size, chunkSize int64) ([]byte, []byte, []byte, *Result) {
	t.Helper()
	plain := make([]byte, size)
	rand.Read(plain)
	key := make([]byte, 32)
	rand.Read(key)
	var ct bytes.Buffer
	res, err := Encrypt(bytes.NewReader(plain), &ct, key, "rid1", size, chunkSize)
	if err != nil {
		t.Fatal(err)
	}
	return plain, key, ct.Bytes(), res
}

func TestRoundTrip(t *testing.T) {
	for _, size := range []int64{1, 4095, 4096, 4097, 3*4096 + 5, 64 << 10} {
		plain, key, ct, res := encrypt(t, size, 4096)
		m := &res.Manifest
		if int64(len(ct)) != m.CipherSize() {
			t.Fatalf("size %d: ciphertext %d bytes, manifest says %d", size, len(ct), m.CipherSize())
		}
		sum := sha256.Sum256(plain)
		if res.PlainHash != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Fatal("plain hash")
		}
		var out bytes.Buffer
		h, err := Decrypt(bytes.NewReader(ct), &out, key, m)
		if err != nil {
			t.Fatal(err)
		}
		if h != res.PlainHash || !bytes.Equal(out.Bytes(), plain) {
			t.Fatalf("size %d: decrypt mismatch", size)
		}
		for i := int64(0); i < m.Chunks(); i++ {
			if err := m.VerifyChunk(i, ct[m.Offset(i):m.Offset(i)+m.CipherLen(i)]); err != nil {
				t.Fatal(err)
			}
		}
		raw, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Manifest
		if err := back.UnmarshalBinary(raw); err != nil || !Equal(&back, m) {
			t.Fatalf("manifest round trip: %v", err)
		}
	}
}

func TestTamperingIsDetected(t *testing.T) {
	_, key, ct, res := encrypt(t, 3*4096, 4096)
	m := &res.Manifest
	// A flipped bit in any chunk fails its leaf hash.
	bad := bytes.Clone(ct)
	bad[m.Offset(1)+10] ^= 1
	if err := m.VerifyChunk(1, bad[m.Offset(1):m.Offset(2)]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered chunk: %v", err)
	}
	if _, err := Decrypt(bytes.NewReader(bad), io.Discard, key, m); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("decrypt tampered: %v", err)
	}
	// Swapping two chunks and their leaves: the hashes match, the AEAD
	// position binding does not.
	swapped := bytes.Clone(ct)
	c0, c1 := bytes.Clone(ct[m.Offset(0):m.Offset(1)]), bytes.Clone(ct[m.Offset(1):m.Offset(2)])
	copy(swapped[m.Offset(0):], c1)
	copy(swapped[m.Offset(1):], c0)
	m2 := *m
	m2.Leaves = append([][32]byte(nil), m.Leaves...)
	m2.Leaves[0], m2.Leaves[1] = m.Leaves[1], m.Leaves[0]
	if _, err := Decrypt(bytes.NewReader(swapped), io.Discard, key, &m2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("decrypt swapped: %v", err)
	}
	// A wrong key fails authentication.
	other := make([]byte, 32)
	if _, err := Decrypt(bytes.NewReader(ct), io.Discard, other, m); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestEncryptRefusesSizeMismatch(t *testing.T) {
	key := make([]byte, 32)
	if _, err := Encrypt(bytes.NewReader(make([]byte, 10)), io.Discard, key, "r", 20, 4096); err == nil {
		t.Fatal("short plaintext accepted")
	}
	if _, err := Encrypt(bytes.NewReader(make([]byte, 30)), io.Discard, key, "r", 20, 4096); !errors.Is(err, ErrMalformed) {
		t.Fatalf("long plaintext: %v", err)
	}
}

// countingWriter counts bytes; used to check Encrypt's memory does not
// grow with the size of the input (it holds one chunk).
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestEncryptStreamsInConstantMemory(t *testing.T) {
	key := make([]byte, 32)
	size := int64(256 << 20)
	allocs := testing.AllocsPerRun(1, func() {
		var w countingWriter
		if _, err := Encrypt(io.LimitReader(zeroReader{}, size), &w, key, "big", size, 1<<20); err != nil {
			t.Fatal(err)
		}
	})
	// About 3 allocations per chunk (nonce, aad, leaf slice growth none):
	// the point is that nothing is proportional to the byte count.
	if allocs > 10*256 {
		t.Fatalf("%v allocations for 256 chunks", allocs)
	}
}

func FuzzManifest(f *testing.F) {
	res, err := Encrypt(bytes.NewReader(make([]byte, 9000)), io.Discard, make([]byte, 32), "seed", 9000, 4096)
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := res.Manifest.MarshalBinary()
	f.Add(raw)
	f.Add([]byte("FRM1\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Manifest
		if err := m.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := m.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("round trip changed the bytes: %v", err)
		}
	})
}
