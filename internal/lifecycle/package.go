package lifecycle

import (
	"fmt"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// IdentityValidator validates serialized identities against the
// consortium's organisations (identity.Verifier). Implementations are safe
// for concurrent use.
type IdentityValidator interface {
	ValidateSerialized(b []byte) (*identity.Identity, error)
}

// OpenPackage decodes a signed contract package (types.ParsePackage) and
// checks its packager's identity against msp and the packager's signature
// over the package bytes. Errors wrap types.ErrBadPackage.
func OpenPackage(spkg *foliov1.SignedContractPackage, msp IdentityValidator) (*foliov1.ContractPackage, *identity.Identity, error) {
	pkg, err := types.ParsePackage(spkg)
	if err != nil {
		return nil, nil, err
	}
	id, err := msp.ValidateSerialized(pkg.Packager)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: packager: %v", types.ErrBadPackage, err)
	}
	if err := fcrypto.Verify(id.Cert.PublicKey, types.DomainPackage, spkg.Package, spkg.Signature); err != nil {
		return nil, nil, fmt.Errorf("%w: signature of packager %s: %v", types.ErrBadPackage, id.Label(), err)
	}
	return pkg, id, nil
}
