package crypto

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
)

func TestSignVerifyDomainSeparation(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, edk, _ := ed25519.GenerateKey(rand.Reader)
	for name, key := range map[string]crypto.Signer{"ecdsa": k, "ed25519": edk} {
		sig, err := Sign(key, "folio/test/v1", []byte("hello"))
		if err != nil {
			t.Fatal(name, err)
		}
		pub := key.Public()
		if err := Verify(pub, "folio/test/v1", []byte("hello"), sig); err != nil {
			t.Errorf("%s: own signature rejected: %v", name, err)
		}
		if err := Verify(pub, "folio/other/v1", []byte("hello"), sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: signature accepted under another domain: %v", name, err)
		}
		if err := Verify(pub, "folio/test/v1", []byte("hellO"), sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: signature accepted for another message: %v", name, err)
		}
	}
}

func TestSignProducesLowSAndHighSIsRejected(t *testing.T) {
	k, _ := GenerateKey()
	for i := 0; i < 64; i++ {
		sig, err := Sign(k, "d", []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		r, s, err := parseDER(sig)
		if err != nil {
			t.Fatal(err)
		}
		if s.Cmp(p256Half) > 0 {
			t.Fatalf("Sign produced high-S")
		}
		// The mirrored signature (r, n-s) is mathematically valid; Folio refuses it.
		mirrored := marshalDER(r, new(big.Int).Sub(p256Order, s))
		if err := Verify(&k.PublicKey, "d", []byte{byte(i)}, mirrored); !errors.Is(err, ErrHighS) {
			t.Fatalf("mirrored high-S signature: got %v, want ErrHighS", err)
		}
	}
}

func TestKeyFileModeAndRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key.pem")
	k, _ := GenerateKey()
	if err := WritePrivateKey(p, k); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key written with mode %04o", fi.Mode().Perm())
	}
	got, err := ReadPrivateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	id1, _ := KeyID(got.Public())
	id2, _ := KeyID(&k.PublicKey)
	if id1 != id2 || len(id1) != 64 {
		t.Fatalf("key id mismatch: %s vs %s", id1, id2)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPrivateKey(p); !errors.Is(err, ErrKeyFileExposed) {
		t.Fatalf("world-readable key: got %v, want ErrKeyFileExposed", err)
	}
	if _, err := ReadPrivateKey(filepath.Join(dir, "missing.pem")); err == nil {
		t.Fatal("missing key file accepted")
	}
	bad := filepath.Join(dir, "bad.pem")
	_ = os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := ReadPrivateKey(bad); err == nil {
		t.Fatal("garbage key file accepted")
	}
}

func TestSealerBindsAssociatedData(t *testing.T) {
	key, _ := DeriveKey([]byte("secret"), nil, "folio/test", 32)
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal(nil, []byte("value"), []byte("ns/key@1.0"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open(nil, sealed, []byte("ns/key@1.0")); err != nil || string(got) != "value" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := s.Open(nil, sealed, []byte("ns/key@2.0")); !errors.Is(err, ErrOpen) {
		t.Fatalf("opened under other associated data: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := s.Open(nil, sealed, []byte("ns/key@1.0")); !errors.Is(err, ErrOpen) {
		t.Fatalf("tampered value opened: %v", err)
	}
	if _, err := s.Open(nil, []byte{1, 2}, nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("short value: %v", err)
	}
}
