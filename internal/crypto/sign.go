package crypto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Domain tags what a signature is for. Tags are listed in
// docs/wire-protocol.md; a tag never changes meaning.
type Domain string

var (
	// ErrBadSignature means a signature does not verify.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrHighS means an ECDSA signature has s > n/2; Folio accepts only the
	// low-S form so signatures are not malleable.
	ErrHighS = errors.New("ECDSA signature is not low-S normalised")
	// ErrMalformedSignature means the signature bytes are not a strict DER
	// (or P1363) encoding of (r, s).
	ErrMalformedSignature = errors.New("malformed signature encoding")
	// ErrUnsupportedKey means a key type other than ECDSA P-256 or Ed25519.
	ErrUnsupportedKey = errors.New("unsupported key type (want ECDSA P-256 or Ed25519)")
)

var (
	p256      = elliptic.P256()
	p256Order = p256.Params().N
	p256Half  = new(big.Int).Rsh(p256Order, 1)
)

// Digest returns SHA-256(domain || 0x00 || msg), the digest an ECDSA
// signature of msg for domain covers.
func Digest(domain Domain, msg []byte) []byte {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write(msg)
	return h.Sum(nil)
}

// Sign signs msg for domain with an ECDSA P-256 or Ed25519 key. The key
// may be any crypto.Signer (a PKCS#11 HSM or a cloud KMS handle): only
// its public key's type decides the scheme. ECDSA signatures are
// DER-encoded and low-S normalised whoever produced them, and checked
// against the public key before they are returned, so a faulty external
// signer cannot put an unverifiable signature on the wire.
func Sign(key crypto.Signer, domain Domain, msg []byte) ([]byte, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return SignECDSADigest(k, Digest(domain, msg))
	case ed25519.PrivateKey:
		return ed25519.Sign(k, separated(domain, msg)), nil
	}
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != p256 {
			return nil, fmt.Errorf("sign: %w: ECDSA curve %s", ErrUnsupportedKey, pub.Curve.Params().Name)
		}
		digest := Digest(domain, msg)
		der, err := key.Sign(rand.Reader, digest, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("ecdsa sign: %w", err)
		}
		r, s, err := parseDERLoose(der)
		if err != nil {
			return nil, fmt.Errorf("ecdsa sign: the signer returned %w", err)
		}
		if s.Cmp(p256Half) > 0 {
			s.Sub(p256Order, s)
		}
		sig := marshalDER(r, s)
		if err := VerifyECDSADigest(pub, digest, sig); err != nil {
			return nil, fmt.Errorf("ecdsa sign: the signer's signature does not verify with its public key: %w", err)
		}
		return sig, nil
	case ed25519.PublicKey:
		sig, err := key.Sign(rand.Reader, separated(domain, msg), crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("ed25519 sign: %w", err)
		}
		if !ed25519.Verify(pub, separated(domain, msg), sig) {
			return nil, errors.New("ed25519 sign: the signer's signature does not verify with its public key")
		}
		return sig, nil
	default:
		return nil, fmt.Errorf("sign: %w: %T", ErrUnsupportedKey, key.Public())
	}
}

// parseDERLoose reads (r, s) from an external signer's DER signature,
// which need not be low-S (Sign normalises it).
func parseDERLoose(sig []byte) (r, s *big.Int, err error) {
	r, s = new(big.Int), new(big.Int)
	in := cryptobyte.String(sig)
	var inner cryptobyte.String
	if !in.ReadASN1(&inner, asn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(r) || !inner.ReadASN1Integer(s) || !inner.Empty() ||
		r.Sign() <= 0 || s.Sign() <= 0 {
		return nil, nil, fmt.Errorf("%w: not a DER ECDSA signature", ErrMalformedSignature)
	}
	return r, s, nil
}

// Verify checks sig over msg for domain with an ECDSA P-256 or Ed25519
// public key.
func Verify(pub crypto.PublicKey, domain Domain, msg, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != p256 {
			return fmt.Errorf("verify: %w: ECDSA curve %s", ErrUnsupportedKey, k.Curve.Params().Name)
		}
		return VerifyECDSADigest(k, Digest(domain, msg), sig)
	case ed25519.PublicKey:
		return VerifyEd25519(k, separated(domain, msg), sig)
	default:
		return fmt.Errorf("verify: %w: %T", ErrUnsupportedKey, pub)
	}
}

func separated(domain Domain, msg []byte) []byte {
	b := make([]byte, 0, len(domain)+1+len(msg))
	b = append(b, domain...)
	b = append(b, 0)
	return append(b, msg...)
}

// SignECDSADigest signs a 32-byte digest and returns a low-S DER signature.
func SignECDSADigest(key *ecdsa.PrivateKey, digest []byte) ([]byte, error) {
	r, s, err := ecdsa.Sign(rand.Reader, key, digest)
	if err != nil {
		return nil, fmt.Errorf("ecdsa sign: %w", err)
	}
	if s.Cmp(p256Half) > 0 {
		s.Sub(p256Order, s)
	}
	return marshalDER(r, s), nil
}

// VerifyECDSADigest verifies a strict-DER, low-S ECDSA P-256 signature over
// a digest.
func VerifyECDSADigest(pub *ecdsa.PublicKey, digest, sig []byte) error {
	r, s, err := parseDER(sig)
	if err != nil {
		return err
	}
	return verifyRS(pub, digest, r, s)
}

// VerifyECDSAP1363Digest verifies a P1363 (fixed-width r || s) ECDSA P-256
// signature over a digest, applying the same low-S rule as DER signatures.
func VerifyECDSAP1363Digest(pub *ecdsa.PublicKey, digest, sig []byte) error {
	if len(sig) != 64 {
		return fmt.Errorf("%w: P1363 signature is %d bytes, want 64", ErrMalformedSignature, len(sig))
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return verifyRS(pub, digest, r, s)
}

func verifyRS(pub *ecdsa.PublicKey, digest []byte, r, s *big.Int) error {
	if r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(p256Order) >= 0 || s.Cmp(p256Order) >= 0 {
		return fmt.Errorf("%w: r or s out of range", ErrMalformedSignature)
	}
	if s.Cmp(p256Half) > 0 {
		return ErrHighS
	}
	if !ecdsa.Verify(pub, digest, r, s) {
		return ErrBadSignature
	}
	return nil
}

// VerifyEd25519 verifies a pure Ed25519 signature (RFC 8032) over msg.
func VerifyEd25519(pub ed25519.PublicKey, msg, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: Ed25519 public key is %d bytes", ErrUnsupportedKey, len(pub))
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: Ed25519 signature is %d bytes, want 64", ErrMalformedSignature, len(sig))
	}
	if !ed25519.Verify(pub, msg, sig) {
		return ErrBadSignature
	}
	return nil
}

// parseDER decodes SEQUENCE { INTEGER r, INTEGER s } accepting only the
// minimal DER encoding and nothing after it.
func parseDER(sig []byte) (*big.Int, *big.Int, error) {
	var inner cryptobyte.String
	input := cryptobyte.String(sig)
	r, s := new(big.Int), new(big.Int)
	if !input.ReadASN1(&inner, asn1.SEQUENCE) || !input.Empty() ||
		!inner.ReadASN1Integer(r) || !inner.ReadASN1Integer(s) || !inner.Empty() {
		return nil, nil, ErrMalformedSignature
	}
	return r, s, nil
}

func marshalDER(r, s *big.Int) []byte {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.BytesOrPanic()
}

// GenerateKey returns a fresh ECDSA P-256 private key, Folio's default.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(p256, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate P-256 key: %w", err)
	}
	return k, nil
}
