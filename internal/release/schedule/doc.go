// Package schedule is the deterministic core of a timed release: pure
// functions of their inputs, no clock, no I/O, no goroutines. The peer's
// driver (internal/release) gathers the inputs (edges' predictions, clock
// samples, rate observations), calls these functions and acts on the
// answers.
//
//   - Decide: a key server's proposed key send time S for a release with
//     release time T and end time E, from every subscribed client's
//     ciphertext completion (done, or predicted): T if every client will
//     have the ciphertext by T; otherwise when ReadyFraction of them will,
//     but never later than E minus the key's own delivery time D (the
//     slowest client's key transfer time plus a margin).
//   - Agree: the key send time key servers agree on from the proposals of
//     one coordination round: the latest proposal (a later time only lets
//     more clients be ready; every proposal is already bounded by E - D).
//   - StartAt and Pacer: when a trusted edge starts sending plaintext to
//     an edge-decrypt client, and how fast, so that the last byte leaves
//     at the target time and never earlier, whatever the client claims.
//   - Offset and Skew: NTP-style clock offset to a peer from one exchange,
//     and whether the median offset to the peers exceeds the bound.
//   - History: a client's observed transfer rates; Best is the highest
//     recent rate (the minimum expected transfer time), Recent the latest.
package schedule
