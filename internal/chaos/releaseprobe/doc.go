// Package releaseprobe checks that the timed release keeps its promises
// while a chaos run injects faults (docs/release.md, "Early access,
// precisely" and "Trust").
//
// Start registers a work, creates its timed release (as `folio release
// create` does) and runs three kinds of client until after the end time
// E: key clients (ciphertext ahead, key at T, the SDK's Fetch), edge-decrypt
// clients (Fetch with EdgeDecrypt) and an adversary that, before T, asks
// every peer's ReleaseService for whatever it can get early (shares,
// plaintext, the tail key) through every RPC a client may call. What the
// honest clients receive is observed on the wire, between the SDK and its
// HTTP transport (tap.go), so that a share or a clear byte counts the
// moment the client holds it, not when the SDK reports it.
//
// Every item obtained is an Observation (who, from which peer, by which
// RPC, when by the probe's clock); Evaluate, a pure function, judges them
// against the rules of docs/release.md with exactly the clock tolerance
// the document grants (rules.go). Failing to open is not a violation
// (faults may prevent it; it is reported in Errors); opening or holding
// anything early is.
package releaseprobe
