// Package nemesis decides which faults a chaos run injects and when, from a
// seed, and injects them through a Target.
//
// Call order:
//
//  1. Plan(seed, d, nodes, kinds, opts) is a pure function: the same
//     arguments give the same schedule. It never targets a node a fault
//     does not apply to (see Applies), runs at most opts.MaxConcurrent
//     faults at once (default 1), and covers every enabled kind at least
//     once when d allows (a seeded round robin, then random kinds).
//  2. Run(ctx, plan, target, start, log) injects each fault at start+At,
//     heals it after its Duration, and measures the recovery (heal ->
//     Target.Recovered returns). One Event per fault started; one log line
//     per step. An error is recorded in its Event, never fatal. On ctx
//     cancellation it heals what is active and returns.
//
// Processes is the Target for a local network directory (internal/localnet):
// real signals to real processes, a clock file per node read by the
// FOLIO_TEST_CLOCK_FILE hook (internal/clock), a tmpfs per node for a real
// full disk (root only), and partitions through a Net (internal/chaos/lab,
// network namespaces, root only). Kinds a Processes cannot inject are listed
// by Unsupported, with why; leave them out of the plan.
package nemesis
