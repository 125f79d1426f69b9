// Package check checks a chaos run's client history and the peers' chains
// against what Folio promises. It is pure: functions over history.Op and
// history.PeerChain, no network, no clock except porcupine's time budget.
//
// All runs four checks and gathers them in one Report:
//
//  1. Linearizability (porcupine) of each work's operations against a
//     model of the copyright register: a work is registered once, and
//     transferred only by its current owner. Writes whose outcome is
//     unknown may or may not have happened, so they are treated as etcd's
//     robustness models treat them: they return after every other
//     operation, and take effect only if legal where they are placed;
//     when the reference chain settles one (not VALID: left out; VALID:
//     an ordinary write returning by the first proof of its block), the
//     history is patched with it, as etcd does with persisted requests.
//     Linearizable reads are part of the model; other reads are not.
//  2. Reads against the committed chain: every answered read shows the
//     owner the chain had at the height it was answered at, that height is
//     at least the read's minimum height, the client's session height, its
//     own acknowledged writes and its earlier reads; a linearizable read is
//     also at least as new as everything anyone had been told before it.
//  3. Acknowledged writes: committed once, VALID, in the block the client
//     was told, on every peer; failed writes never committed VALID;
//     unknown writes resolved against the chain.
//  4. Chains: the peers agree on block hashes, validation codes and
//     attested state roots wherever they overlap, and their heights
//     converged.
//
// A check that could not finish (porcupine's budget ran out, a peer's
// chain could not be read) makes the Report not OK: nothing is passed
// for lack of evidence.
package check
