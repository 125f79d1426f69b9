package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// ErrOpen means authenticated decryption failed: wrong key, tampered
// ciphertext, tag or associated data.
var ErrOpen = errors.New("authenticated decryption failed")

// NewGCM returns AES-GCM for a 16-, 24- or 32-byte key and the given nonce
// size in bytes. Folio itself seals with 32-byte keys and 12-byte nonces; other
// sizes exist so standard test vectors can be checked. A zero-length nonce is
// refused: GCM without a nonce has no security.
func NewGCM(key []byte, nonceSize int) (cipher.AEAD, error) {
	if nonceSize <= 0 {
		return nil, fmt.Errorf("AES-GCM: nonce size %d: must be positive", nonceSize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("AES-GCM: %w", err)
	}
	if nonceSize == 12 {
		return cipher.NewGCM(block)
	}
	return cipher.NewGCMWithNonceSize(block, nonceSize)
}

// Sealer encrypts with AES-256-GCM under one key, a fresh random 96-bit nonce
// per message. Sealed output is nonce || ciphertext || tag. Safe for
// concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("sealer: key is %d bytes, want 32 (AES-256)", len(key))
	}
	aead, err := NewGCM(key, 12)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Overhead is the number of bytes Seal adds to a plaintext.
func (s *Sealer) Overhead() int { return s.aead.NonceSize() + s.aead.Overhead() }

// Seal encrypts plaintext bound to aad, appending to dst.
func (s *Sealer) Seal(dst, plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	dst = append(dst, nonce...)
	return s.aead.Seal(dst, nonce, plaintext, aad), nil
}

// SealWithNonce encrypts with a caller-chosen nonce. The caller must never
// reuse a nonce under the same key; Folio uses it only where ciphertext must be
// deterministic and the nonce is derived from unique inputs.
func (s *Sealer) SealWithNonce(dst, nonce, plaintext, aad []byte) ([]byte, error) {
	if len(nonce) != s.aead.NonceSize() {
		return nil, fmt.Errorf("seal: nonce is %d bytes, want %d", len(nonce), s.aead.NonceSize())
	}
	dst = append(dst, nonce...)
	return s.aead.Seal(dst, nonce, plaintext, aad), nil
}

// Open authenticates and decrypts sealed (nonce || ciphertext || tag) bound
// to aad.
func (s *Sealer) Open(dst, sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, fmt.Errorf("%w: sealed value is %d bytes, shorter than nonce and tag", ErrOpen, len(sealed))
	}
	out, err := s.aead.Open(dst, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// DeriveKey derives length bytes from secret with HKDF-SHA-256 (RFC 5869).
// Use a distinct info string per purpose.
func DeriveKey(secret, salt []byte, info string, length int) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, secret, salt, info, length)
	if err != nil {
		return nil, fmt.Errorf("hkdf: %w", err)
	}
	return k, nil
}
