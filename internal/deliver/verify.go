package deliver

import (
	"bytes"
	"errors"
	"fmt"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// ErrUnverified marks a delivered block that must not be accepted.
var ErrUnverified = errors.New("delivered block does not verify")

// VerifyBlock checks that b is block height of a chain whose last block has
// hash prevHash (nil before genesis) and timestamp prevTime (Unix ns), well
// formed, not earlier than that block (orderers keep block timestamps
// non-decreasing, so rules that need a time at validation can use them),
// and signed by at least one orderer as the channel configuration in force
// cfg counts them (from capability level 2: an orderer of the channel as
// recorded on chain). Everything it reads comes from the chain: no clock.
func VerifyBlock(cfg *channel.Config, b *foliov1.Block, height uint64, prevHash []byte, prevTime int64) error {
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
	if h.TimestampUnixNano < prevTime {
		return fmt.Errorf("%w: block %d has timestamp %d, earlier than block %d's %d", ErrUnverified, h.Number, h.TimestampUnixNano, h.Number-1, prevTime)
	}
	signers, refused := OrdererSigners(cfg.MSP(), cfg.CheckBlockSigner, b)
	if len(signers) > 0 {
		return nil
	}
	if len(refused) == 0 {
		refused = append(refused, "no signatures")
	}
	return fmt.Errorf("%w: block %d has no valid orderer signature (%v)", ErrUnverified, h.Number, refused)
}

// OrdererSigners checks a block's signatures: each must be by a valid
// identity of msp whose block signatures count (counts returns nil) and
// verify over the header in the block domain. It returns the labels of
// the signers that pass and why each other signature was refused.
func OrdererSigners(msp *identity.Verifier, counts func(*identity.Identity) error, b *foliov1.Block) (signers, refused []string) {
	hdr, err := types.HeaderBytes(b.GetHeader())
	if err != nil {
		return nil, []string{"header: " + err.Error()}
	}
	for _, s := range b.GetMetadata().GetSignatures() {
		id, err := msp.ValidateSerialized(s.Signer)
		if err != nil {
			refused = append(refused, err.Error())
			continue
		}
		if err := counts(id); err != nil {
			refused = append(refused, err.Error())
			continue
		}
		if err := fcrypto.Verify(id.Cert.PublicKey, types.DomainBlock, hdr, s.Signature); err != nil {
			refused = append(refused, id.Label()+": "+err.Error())
			continue
		}
		signers = append(signers, id.Label())
	}
	return signers, refused
}
