// Package workload is the clients of a chaos run and the reading back of
// the peers' chains afterwards.
//
// Enroll gives the run its own client identities (never an admin: an
// admin may transfer any work of its organisation, which would break the
// "only the owner transfers" model the checker holds the register to).
// Run drives concurrent clients doing register, transfer and get on a
// small set of works through SDK gateways over every peer, recording each
// operation in a history.Recorder with an exact, conservative outcome.
// Collect reads every peer's whole chain, with validation codes, the works
// and owners its copyright transactions wrote, and the state roots the
// peer attests, for the post-heal checks.
package workload
