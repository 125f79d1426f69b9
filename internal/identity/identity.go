package identity

import (
	"crypto"
	"crypto/x509"
	"fmt"

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
type SigningIdentity struct {
	Identity
	key        crypto.Signer
	serialized []byte
}

// NewSigningIdentity pairs an identity with its private key, checking that
// the key belongs to the certificate.
func NewSigningIdentity(id Identity, key crypto.Signer) (*SigningIdentity, error) {
	kid, err := fcrypto.KeyID(key.Public())
	if err != nil {
		return nil, err
	}
	cid, err := fcrypto.KeyID(id.Cert.PublicKey)
	if err != nil {
		return nil, err
	}
	if kid != cid {
		return nil, fmt.Errorf("identity %s: private key does not match the certificate's public key", id.Label())
	}
	return &SigningIdentity{Identity: id, key: key, serialized: Serialize(id.MSPID, id.Cert)}, nil
}

// Sign signs msg for domain with the identity's key.
func (s *SigningIdentity) Sign(domain fcrypto.Domain, msg []byte) ([]byte, error) {
	return fcrypto.Sign(s.key, domain, msg)
}

// Serialized returns the identity's SerializedIdentity bytes. The caller
// must not modify the returned slice.
func (s *SigningIdentity) Serialized() []byte { return s.serialized }

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
