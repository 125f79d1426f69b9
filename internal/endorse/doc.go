// Package endorse is a peer's endorser: it checks a signed proposal, runs the
// contract call against the latest committed state with the contract version
// in force, and signs the outcome.
//
// Checks, in order: the proposal is well formed and for this channel; the
// creator is a valid, unrevoked consortium member and signed it; its
// timestamp is within Options.TimeWindow of the peer's clock; its
// transaction is not already committed; the creator's role may call the
// function (clients and admins invoke; any member may query); the contract is
// defined and its effective version installed. The call runs through the
// Executor (the enclave, docs/enclave.md). Only a successful (2xx) outcome is
// endorsed: the endorser signs the deterministic ProposalResponsePayload
// followed by its own identity, so endorsers of different organisations that
// ran the same call on the same state sign identical bytes.
package endorse
