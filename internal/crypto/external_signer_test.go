package crypto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"math/big"
	"testing"
)

// opaqueSigner hides its key's type, as an HSM or KMS handle does: only
// crypto.Signer's two methods are visible. highS makes it answer the
// non-normalised twin (r, n-s) of every ECDSA signature, as some HSMs do;
// garbage makes it answer bytes that are no signature.
type opaqueSigner struct {
	key     crypto.Signer
	highS   bool
	garbage bool
}

func (o opaqueSigner) Public() crypto.PublicKey { return o.key.Public() }

func (o opaqueSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if o.garbage {
		return []byte("not a signature"), nil
	}
	sig, err := o.key.Sign(r, digest, opts)
	if err != nil || !o.highS {
		return sig, err
	}
	rr, s, err := parseDERLoose(sig)
	if err != nil {
		return nil, err
	}
	if s.Cmp(p256Half) <= 0 {
		s = new(big.Int).Sub(p256Order, s)
	}
	return marshalDER(rr, s), nil
}

func TestSignWithAnExternalSigner(t *testing.T) {
	ec, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const domain Domain = "folio/test/v1"
	msg := []byte("a message")
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{
		{"ecdsa", opaqueSigner{key: ec}},
		{"ecdsa answering high-S", opaqueSigner{key: ec, highS: true}},
		{"ed25519", opaqueSigner{key: ed}},
	} {
		for i := 0; i < 20; i++ { // high and low S both occur over a few signatures
			sig, err := Sign(tc.key, domain, msg)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if err := Verify(tc.key.Public(), domain, msg, sig); err != nil {
				t.Fatalf("%s: signature does not verify: %v", tc.name, err)
			}
			if err := Verify(tc.key.Public(), "folio/other/v1", msg, sig); err == nil {
				t.Fatalf("%s: signature verifies in another domain", tc.name)
			}
		}
	}
	if _, err := Sign(opaqueSigner{key: ec, garbage: true}, domain, msg); !errors.Is(err, ErrMalformedSignature) {
		t.Fatalf("garbage from the signer: %v", err)
	}
	other, _ := GenerateKey()
	if _, err := Sign(liar{pub: ec.Public(), signer: other}, domain, msg); err == nil {
		t.Fatal("a signature by another key was returned")
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(opaqueSigner{key: p384}, domain, msg); !errors.Is(err, ErrUnsupportedKey) {
		t.Fatalf("P-384 key: %v", err)
	}
}

// liar claims one public key and signs with another key.
type liar struct {
	pub    crypto.PublicKey
	signer crypto.Signer
}

func (l liar) Public() crypto.PublicKey { return l.pub }
func (l liar) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return l.signer.Sign(r, d, o)
}
