// Package p2pstorm is the simultaneous-dial stress test of the p2p session
// layer: N hosts on 127.0.0.1 (one shared IP) start at once, every node
// declares every other node after a random delay, and the run counts
// whether every pair converged on exactly one session that both ends
// name. `folio p2p storm` runs it; its tests are the storm acceptance
// tests of package p2p.
//
// It is a load tool, not part of a node: it mints a throw-away consortium
// (p2ptest) and observes hosts only through p2p's exported API (events,
// Sessions, AttemptsDone).
package p2pstorm
