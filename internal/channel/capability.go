package channel

import (
	"fmt"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
)

// Capability levels version the validation rules (docs/transactions.md).
// Every rule that changes which transactions or blocks are valid is gated
// by the level in force at the block, so a chain replays under a newer
// binary exactly as it was validated when it was written.
const (
	// CapabilityV1 is the level of chains whose genesis predates levels:
	// any valid identity of an organisation satisfies its principals,
	// a block needs one signature of any orderer-role identity, and
	// activations carry no binding.
	CapabilityV1 uint32 = 1
	// CapabilityV2: counted endorsements come from peers that are nodes
	// of the channel, block signatures from the channel's orderers, and
	// activations bind channel, definition sequence and expiry.
	CapabilityV2 uint32 = 2
	// CapabilityV3: a transaction whose read/write set asserts a time
	// (ReadWriteSet.not_before_unix_nano, a contract's CommitNotBefore)
	// is TOO_EARLY in a block stamped before that time; a client or admin
	// certificate with the TLS server-auth usage (a CA's TLS certificate
	// as folio issued it before) is no identity (identity.ErrServerUsage).
	CapabilityV3 uint32 = 3
	// CapabilityV4: config updates may add and remove organisations,
	// peers and orderers (one orderer per update, Raft IDs explicit and
	// never reused) under the rules of checkMembership. Below it such
	// updates stay refused, as older binaries refused them.
	CapabilityV4 uint32 = 4
	// MaxCapability is the highest level this binary can validate.
	MaxCapability = CapabilityV4
)

// Level returns the capability level of a configuration (0 means 1).
func Level(c *foliov1.ChannelConfig) uint32 {
	if c.GetCapability() == 0 {
		return CapabilityV1
	}
	return c.GetCapability()
}

// UnsupportedCapabilityError says that the chain activated rules this
// binary does not have: the node must stop rather than validate under
// older rules and diverge.
type UnsupportedCapabilityError struct {
	Level uint32
	Block uint64
}

func (e *UnsupportedCapabilityError) Error() string {
	return fmt.Sprintf("the channel activates capability level %d at block %d, but this folio binary validates up to level %d: "+
		"upgrade folio on this node and restart it (it resumes from block %d)", e.Level, e.Block, MaxCapability, e.Block)
}
