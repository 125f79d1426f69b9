package identity

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
)

// Identity is a certificate the MSP has validated: who it is, for which
// organisation, with which role.
type Identity struct {
	MSPID string
	Org   string
	// Name is the enrolment name (the certificate's common name), e.g. "user1"
	// or "peer0.org1".
	Name string
	Role Role
	Cert *x509.Certificate
}

// Label is the wallet label of the identity, "name@Org".
func (id *Identity) Label() string { return id.Name + "@" + id.Org }

// String describes the identity for error messages and logs.
func (id *Identity) String() string {
	return fmt.Sprintf("%s@%s (%s, %s)", id.Name, id.Org, id.MSPID, id.Role)
}

// Serialize returns the SerializedIdentity bytes of a certificate: the bytes
// that appear as creator, endorser or signer in signed messages.
func Serialize(mspID string, cert *x509.Certificate) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.SerializedIdentity{
		MspId:   mspID,
		CertPem: fcrypto.EncodeCertificatePEM(cert.Raw),
	})
	if err != nil {
		// Marshalling two scalar fields cannot fail.
		panic(fmt.Sprintf("marshal SerializedIdentity: %v", err))
	}
	return b
}

// Deserialize parses SerializedIdentity bytes into an MSP ID and certificate,
// without validating them (use Verifier.ValidateSerialized for that).
func Deserialize(b []byte) (string, *x509.Certificate, error) {
	var si foliov1.SerializedIdentity
	if err := proto.Unmarshal(b, &si); err != nil {
		return "", nil, fmt.Errorf("serialized identity: %w", err)
	}
	if si.MspId == "" {
		return "", nil, fmt.Errorf("serialized identity: empty MSP ID")
	}
	cert, err := fcrypto.ParseCertificatePEM(si.CertPem)
	if err != nil {
		return "", nil, fmt.Errorf("serialized identity of %s: %w", si.MspId, err)
	}
	return si.MspId, cert, nil
}

// SigningIdentity is an identity together with its private key. Safe for
// concurrent use.
//
// Its certificate can be renewed in place (Renew) for the same key, name,
// organisation and role: a running node swaps in a renewed certificate
// without a restart. The embedded Identity keeps what renewal cannot
// change (MSPID, Org, Name, Role); its Cert field is the certificate the
// identity was made with. Whatever presents or serializes the identity
// (handshakes, signed messages) must use Certificate and Serialized, which
// return the current one.
type SigningIdentity struct {
	Identity
	key crypto.Signer
	// cur is the current certificate and its serialized form, swapped as
	// one by Renew so a reader never pairs one certificate with the
	// other's bytes. Nil only in a zero SigningIdentity.
	cur atomic.Pointer[signingCert]
}

// signingCert is one certificate of a SigningIdentity and its
// SerializedIdentity bytes.
type signingCert struct {
	cert       *x509.Certificate
	serialized []byte
}

// ErrRenewal means a certificate cannot replace a signing identity's: it
// is for another key, name, organisation or role.
var ErrRenewal = errors.New("certificate is not a renewal of this identity")

// NewSigningIdentity pairs an identity with its private key, checking that
// the key belongs to the certificate.
func NewSigningIdentity(id Identity, key crypto.Signer) (*SigningIdentity, error) {
	if err := sameKey(key, id.Cert); err != nil {
		return nil, fmt.Errorf("identity %s: %w", id.Label(), err)
	}
	s := &SigningIdentity{Identity: id, key: key}
	s.cur.Store(&signingCert{cert: id.Cert, serialized: Serialize(id.MSPID, id.Cert)})
	return s, nil
}

// sameKey checks that cert is for key's public half.
func sameKey(key crypto.Signer, cert *x509.Certificate) error {
	kid, err := fcrypto.KeyID(key.Public())
	if err != nil {
		return err
	}
	cid, err := fcrypto.KeyID(cert.PublicKey)
	if err != nil {
		return err
	}
	if kid != cid {
		return errors.New("private key does not match the certificate's public key")
	}
	return nil
}

// Renew replaces the identity's certificate with cert, a renewal: a
// certificate for the same public key, with the same name (subject CN),
// organisation (subject O) and role (subject OU) as the identity. It
// refuses anything else with ErrRenewal and keeps the current certificate;
// a new key is a new identity (for an orderer: a remove and an add, since
// the node ID is the key's). Renew does not validate cert against the
// organisation's root, expiry or revocation list: the caller asks the MSP
// (Verifier.Validate) first. Signatures made before Renew returns may carry
// either certificate; both are valid for the same key.
func (s *SigningIdentity) Renew(cert *x509.Certificate) error {
	if cert == nil {
		return fmt.Errorf("renew %s: %w: no certificate", s.Label(), ErrRenewal)
	}
	if s.key == nil {
		return fmt.Errorf("renew: %w: the identity has no key (make it with NewSigningIdentity)", ErrRenewal)
	}
	if err := sameKey(s.key, cert); err != nil {
		return fmt.Errorf("renew %s: %w: %v; a new key is a new identity (for an orderer: `folio orderer remove` and `folio orderer add`, for a peer: a new peer)",
			s.Label(), ErrRenewal, err)
	}
	var org string
	if len(cert.Subject.Organization) > 0 {
		org = cert.Subject.Organization[0]
	}
	role, _ := certRole(cert) // an unparsable role is "", which differs from any identity's
	if cert.Subject.CommonName != s.Name || org != s.Org || role != s.Role {
		return fmt.Errorf("renew %s: %w: the certificate is for %s@%s with role %q", s.Label(), ErrRenewal, cert.Subject.CommonName, org, role)
	}
	s.cur.Store(&signingCert{cert: cert, serialized: Serialize(s.MSPID, cert)})
	return nil
}

// Certificate returns the identity's current certificate (the one it was
// made with, or the last Renew's). The caller must not modify it.
func (s *SigningIdentity) Certificate() *x509.Certificate {
	if c := s.cur.Load(); c != nil {
		return c.cert
	}
	return s.Cert
}

// Sign signs msg for domain with the identity's key.
func (s *SigningIdentity) Sign(domain fcrypto.Domain, msg []byte) ([]byte, error) {
	return fcrypto.Sign(s.key, domain, msg)
}

// Serialized returns the identity's SerializedIdentity bytes, for its
// current certificate. The caller must not modify the returned slice.
func (s *SigningIdentity) Serialized() []byte {
	if c := s.cur.Load(); c != nil {
		return c.serialized
	}
	return nil
}

// Key returns the private key, for building TLS certificates.
func (s *SigningIdentity) Key() crypto.Signer { return s.key }

// ID returns the hex SHA-256 of the identity's public key (the node ID of a
// node's signing identity).
func (s *SigningIdentity) ID() string {
	id, _ := fcrypto.KeyID(s.key.Public()) // keys here were already accepted by KeyID
	return id
}

// FromCertificate pairs a certificate with its private key for an
// organisation's MSP ID, reading the name (subject CN), organisation
// (subject O) and role (subject OU) from the certificate. It checks only
// that the key is the certificate's; the MSP validates the certificate.
// A certificate without a role in its OU gets an empty Role.
func FromCertificate(mspID string, cert *x509.Certificate, key crypto.Signer) (*SigningIdentity, error) {
	if mspID == "" {
		return nil, fmt.Errorf("identity: empty MSP ID")
	}
	if cert == nil || key == nil {
		return nil, fmt.Errorf("identity: a certificate and a key are required")
	}
	id := Identity{MSPID: mspID, Name: cert.Subject.CommonName, Cert: cert}
	if len(cert.Subject.Organization) > 0 {
		id.Org = cert.Subject.Organization[0]
	}
	if r, err := certRole(cert); err == nil {
		id.Role = r
	}
	return NewSigningIdentity(id, key)
}
