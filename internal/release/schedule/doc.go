// Package schedule is the deterministic core of a timed release: no
// clock, no I/O, no goroutines. The peer's drivers (internal/release)
// gather the inputs (edges' predictions, other key servers' proposals,
// clock samples, rate observations), pass the time with every input,
// and perform what the core decides.
//
//   - Coordinator: one key server's key send time agreement for one
//     release, a state machine. Tick at the wake time it asks for; it
//     answers with a Step: Gather (the edges' predictions, then
//     Gathered), Exchange (its proposal with the other key servers, then
//     Exchanged), Release (the share, then Released), or when to wake.
//     From T - Lead, every Interval, a round decides a proposal and
//     agrees on the latest of the round's proposals, never before T nor
//     after E; a round never runs into the freeze point of the last
//     agreement; once the agreed time is within Freeze plus a round it
//     is frozen, and at it (never before T) the share is released,
//     retried until E. Receive takes another key server's proposal.
//     Driver call order: NewCoordinator, Tick, then per Step: perform,
//     report (Gathered/Exchanged/Released) or sleep until Wake and Tick,
//     until Done.
//   - Decide: a key server's proposed key send time S for a release with
//     release time T and end time E, from every subscribed client's
//     ciphertext completion (done, or predicted): T if every client will
//     have the ciphertext by T; otherwise when ReadyFraction of them will,
//     but never later than E minus the key's own delivery time D (the
//     slowest client's key transfer time plus a margin).
//   - Agree: the key send time of a round's proposals: the latest (a
//     later time only lets more clients be ready; every honest proposal
//     is already bounded by E - D), clamped to [T, E], so that one key
//     server proposing a far-future time cannot stall the others.
//   - StartAt and Pacer: when a trusted edge starts sending plaintext to
//     an edge-decrypt client, and how fast, so that the last byte leaves
//     at the target time and never earlier, whatever the client claims.
//   - Offset and Skew: NTP-style clock offset to a peer from one exchange,
//     and whether the median offset to the peers exceeds the bound.
//   - History: a client's observed transfer rates; Best is the highest
//     recent rate (the minimum expected transfer time), Recent the latest.
package schedule
