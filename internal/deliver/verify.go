package deliver

import (
	"bytes"
	"errors"
	"fmt"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// ErrUnverified marks a delivered block that must not be accepted.
var ErrUnverified = errors.New("delivered block does not verify")

// VerifyBlock checks that b is block height of a chain whose last hash is
// prevHash (nil before genesis), well formed, and signed by at least one
// valid orderer of the consortium.
func VerifyBlock(msp *identity.Verifier, b *foliov1.Block, height uint64, prevHash []byte) error {
	if err := types.ValidateBlock(b); err != nil {
		return fmt.Errorf("%w: %v", ErrUnverified, err)
	}
	h := b.Header
	if h.Number != height {
		return fmt.Errorf("%w: got block %d, expected %d", ErrUnverified, h.Number, height)
	}
	want := prevHash
	if height == 0 {
		want = types.GenesisPreviousHash()
	}
	if !bytes.Equal(h.PreviousHash, want) {
		return fmt.Errorf("%w: block %d does not link to block %d", ErrUnverified, h.Number, int64(height)-1)
	}
	if height == 0 {
		// The genesis block is trusted by configuration (every node is given
		// the same one), not by signature.
		return nil
	}
	hdr, _ := types.HeaderBytes(h)
	var reasons []string
	for _, s := range b.GetMetadata().GetSignatures() {
		id, err := msp.ValidateSerialized(s.Signer)
		if err != nil {
			reasons = append(reasons, err.Error())
			continue
		}
		if id.Role != identity.RoleOrderer {
			reasons = append(reasons, id.Label()+" is not an orderer")
			continue
		}
		if err := fcrypto.Verify(id.Cert.PublicKey, types.DomainBlock, hdr, s.Signature); err != nil {
			reasons = append(reasons, id.Label()+": "+err.Error())
			continue
		}
		return nil
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "no signatures")
	}
	return fmt.Errorf("%w: block %d has no valid orderer signature (%v)", ErrUnverified, h.Number, reasons)
}
