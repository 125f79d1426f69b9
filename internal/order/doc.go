// Package order is Folio's ordering service: a cluster of orderers that
// agree on one sequence of transactions with Raft (go.etcd.io/raft/v3) and
// cut it into signed blocks.
//
// The shape follows etcd's: a deterministic core driven by a thin loop.
//
//   - Chain is the block-cutting state machine. Every orderer applies the
//     committed Raft entries to its Chain in log order; entries carry
//     envelopes or cut requests, and the Chain cuts a block when the pending
//     envelopes reach the count or size limit, or when a cut request for the
//     next block arrives. Because blocks are a function of the log alone,
//     every orderer produces the identical block sequence.
//   - The driver owns a raft.RawNode and the Chain in one goroutine: it
//     ticks, steps incoming messages, proposes envelopes and cut requests,
//     persists Ready state (raftlog), sends messages, applies committed
//     entries, stores and signs the blocks, and calls Advance.
//
// See docs/ordering.md for parameters, failure behaviour and operation.
package order
