package release

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"
)

// Signature domains of the release protocol (docs/release.md). A Folio
// signature is over SHA-256(domain || 0x00 || message), ECDSA P-256, DER
// (internal/crypto).
const (
	// DomainKex: a key server's node key certifies its key-agreement key.
	DomainKex = "folio/release-kex/v1"
	// DomainShare: a key server states it released a share at a time.
	DomainShare = "folio/release-share/v1"
)

// Commitment tags (hash prefixes, not signature domains).
const (
	tagID          = "folio/release-id/v1"
	tagShareCommit = "folio/release-share-commit/v1"
	tagKeyCommit   = "folio/release-key-commit/v1"
)

// ReleaseID names a release: the first 16 bytes, in hex, of
// SHA-256(tag || 0x00 || work || 0x00 || owner). One owner has at most
// one release of a work.
func ReleaseID(work, owner string) string {
	h := sha256.New()
	h.Write([]byte(tagID))
	h.Write([]byte{0})
	h.Write([]byte(work))
	h.Write([]byte{0})
	h.Write([]byte(owner))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// ShareCommitment is SHA-256(tag || 0x00 || rid || 0x00 || index || share)
// with index as one byte. Shares are uniformly random, so the commitment
// reveals nothing of them; anyone holding a share can prove it is the one
// the owner committed to.
func ShareCommitment(rid string, index int, share []byte) []byte {
	h := sha256.New()
	h.Write([]byte(tagShareCommit))
	h.Write([]byte{0})
	h.Write([]byte(rid))
	h.Write([]byte{0, byte(index)})
	h.Write(share)
	return h.Sum(nil)
}

// KeyCommitment is SHA-256(tag || 0x00 || rid || 0x00 || key).
func KeyCommitment(rid string, key []byte) []byte {
	h := sha256.New()
	h.Write([]byte(tagKeyCommit))
	h.Write([]byte{0})
	h.Write([]byte(rid))
	h.Write([]byte{0})
	h.Write(key)
	return h.Sum(nil)
}

// KexStatement is what a key server's node key signs (DomainKex) to
// certify its key-agreement key:
//
//	u16 len(nodeID) | nodeID | u16 len(kexPub) | kexPub
//
// nodeID is the 64-character hex node ID, kexPub the uncompressed P-256
// point.
func KexStatement(nodeID string, kexPub []byte) []byte {
	b := appendBytes(nil, []byte(nodeID))
	return appendBytes(b, kexPub)
}

// ShareStatement is what a key server signs (DomainShare) when it releases
// a share:
//
//	u16 len(rid) | rid | u8 index | u16 len(share) | share |
//	i64 sentAtUnixNano (big-endian) | u16 len(nodeID) | nodeID
func ShareStatement(rid string, index int, share []byte, sentAt time.Time, nodeID string) []byte {
	b := appendBytes(nil, []byte(rid))
	b = append(b, byte(index))
	b = appendBytes(b, share)
	b = binary.BigEndian.AppendUint64(b, uint64(sentAt.UnixNano()))
	return appendBytes(b, []byte(nodeID))
}

func appendBytes(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

// ErrSignature means a signature does not verify.
var ErrSignature = errors.New("signature does not verify")

// VerifyP256 checks a Folio signature (SHA-256(domain || 0x00 || msg),
// ASN.1 DER) with an uncompressed P-256 public key.
func VerifyP256(pub []byte, domain string, msg, sig []byte) error {
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
	if err != nil {
		return err
	}
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write(msg)
	if !ecdsa.VerifyASN1(key, h.Sum(nil), sig) {
		return ErrSignature
	}
	return nil
}
