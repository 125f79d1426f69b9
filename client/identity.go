package client

import (
	"crypto"
	"crypto/x509"

	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// Identity is an enrolled identity that signs: the organisation's MSP ID,
// the enrolment certificate its CA issued, and the matching private key.
//
// The key is any crypto.Signer, so it need not be in memory: a PKCS#11
// (HSM) or cloud KMS handle that implements crypto.Signer works as is.
// Folio signs ECDSA P-256 with SHA-256 over domain-separated messages
// (docs/sdk.md). An Identity is immutable and safe for concurrent use.
type Identity struct {
	// si is the same identity as the server side names it; its methods
	// sign in Folio's signature domains (internal/types).
	si *identity.SigningIdentity
}

// NewIdentity pairs a certificate with its private key for an
// organisation's MSP ID. It checks that the key is the certificate's and
// reads the name (subject CN), organisation (subject O) and role (subject
// OU) from the certificate; it does not check the certificate against any
// root (the network does).
func NewIdentity(mspID string, cert *x509.Certificate, key crypto.Signer) (*Identity, error) {
	si, err := identity.FromCertificate(mspID, cert, key)
	if err != nil {
		return nil, err
	}
	return &Identity{si: si}, nil
}

// MSPID is the identity's organisation MSP ID, e.g. "Org1MSP".
func (id *Identity) MSPID() string { return id.si.MSPID }

// Name is the enrolment name (the certificate's common name), e.g. "user1".
func (id *Identity) Name() string { return id.si.Name }

// Org is the organisation's name (the certificate's organisation), e.g. "Org1".
func (id *Identity) Org() string { return id.si.Org }

// Role is the role the certificate carries: client, admin, peer or orderer.
func (id *Identity) Role() string { return string(id.si.Role) }

// Label is the wallet label of the identity, "name@Org".
func (id *Identity) Label() string { return id.si.Label() }

// String describes the identity for messages and logs.
func (id *Identity) String() string { return id.si.String() }

// Certificate is the enrolment certificate. The caller must not modify it.
func (id *Identity) Certificate() *x509.Certificate { return id.si.Cert }

// Key is the private key (or the handle on it), also used as the TLS
// client key.
func (id *Identity) Key() crypto.Signer { return id.si.Key() }

// Serialized is the identity as signed messages name it (a
// SerializedIdentity: MSP ID and PEM certificate). The caller must not
// modify the returned slice.
func (id *Identity) Serialized() []byte { return id.si.Serialized() }

// signers adapts identities for the transaction builder.
func signers(ids []*Identity) []types.Signer {
	out := make([]types.Signer, len(ids))
	for i, id := range ids {
		out[i] = id.si
	}
	return out
}
