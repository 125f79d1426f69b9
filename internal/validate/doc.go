// Package validate decides, for every transaction of a block, whether it
// commits and, if not, exactly why (a ValidationCode and a reason).
//
// Checks, in order, per transaction: the envelope decodes and its header is
// well formed and for this channel; the creator is a valid consortium
// member, not revoked by the revocation lists on chain, and signed the
// envelope; the transaction ID is derived from nonce and creator and not
// already committed (or earlier in the block); the endorsed payload answers
// the proposal; every endorsement is by a valid identity (from capability
// level 2, a peer that is a node of the channel) and verifies; the
// endorsers satisfy the contract's endorsement policy; the contract version the endorsers ran is the one
// effective at this block; (capability level 3) the block's timestamp is
// not before the time the contract asserted with CommitNotBefore
// (ReadWriteSet.not_before_unix_nano), else TOO_EARLY; and (MVCC) every key read is still at the version
// read, and every range read returns the same keys, counting writes by
// earlier valid transactions of the same block.
//
// Lifecycle transactions and config updates are applied in block order; a
// config update is in force from the next block (docs/transactions.md).
//
// The stateless checks run in parallel across cores; MVCC runs in block
// order. Validate is a deterministic function of the block, the
// configuration in force and the committed state it is given, all of which
// the chain defines: no clock is read, and every peer computes the same
// codes.
package validate
