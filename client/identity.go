package client

import (
	"crypto"
	"crypto/x509"
	"errors"

	fcrypto "github.com/folio-ledger/folio/internal/crypto"
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
func (id *Identity) MSPID() string { return id.get().MSPID }

// Name is the enrolment name (the certificate's common name), e.g. "user1".
func (id *Identity) Name() string { return id.get().Name }

// Org is the organisation's name (the certificate's organisation), e.g. "Org1".
func (id *Identity) Org() string { return id.get().Org }

// Role is the role the certificate carries: client, admin, peer or orderer.
func (id *Identity) Role() string { return string(id.get().Role) }

// Label is the wallet label of the identity, "name@Org".
func (id *Identity) Label() string { return id.get().Label() }

// String describes the identity for messages and logs.
func (id *Identity) String() string { return id.get().String() }

// Certificate is the enrolment certificate. The caller must not modify it.
func (id *Identity) Certificate() *x509.Certificate { return id.get().Cert }

// Key is the private key (or the handle on it), also used as the TLS
// client key.
func (id *Identity) Key() crypto.Signer { return id.get().Key() }

// Serialized is the identity as signed messages name it (a
// SerializedIdentity: MSP ID and PEM certificate). The caller must not
// modify the returned slice.
func (id *Identity) Serialized() []byte { return id.get().Serialized() }

// signers adapts identities for the transaction builder.
func signers(ids []*Identity) []types.Signer {
	out := make([]types.Signer, len(ids))
	for i, id := range ids {
		out[i] = id.signer()
	}
	return out
}

// ErrNoIdentity is the error of signing with a nil or zero Identity (one
// not made by NewIdentity or wallet.Load).
var ErrNoIdentity = errors.New("no identity: make one with client.NewIdentity or wallet.Load")

// noSigner stands for a nil or zero Identity: it signs nothing.
type noSigner struct{}

func (noSigner) Serialized() []byte { return nil }

func (noSigner) Sign(fcrypto.Domain, []byte) ([]byte, error) { return nil, ErrNoIdentity }

// signer is the identity as the transaction builder signs with it; a nil
// or zero Identity fails every signature with ErrNoIdentity rather than
// crash the caller.
func (id *Identity) signer() types.Signer {
	if !id.valid() {
		return noSigner{}
	}
	return id.si
}

func (id *Identity) valid() bool { return id != nil && id.si != nil }

// get is the identity, or an empty one for a nil or zero Identity, whose
// accessors then return zero values.
func (id *Identity) get() *identity.SigningIdentity {
	if !id.valid() {
		return &identity.SigningIdentity{}
	}
	return id.si
}
