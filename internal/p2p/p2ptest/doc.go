// Package p2ptest is a test fake for package p2p: an in-memory consortium
// with its own root CAs that issues node identities and TLS certificates
// and revokes them, so tests and load tools can start p2p hosts without
// key files or a real certificate authority.
//
// Nothing touches disk and every key dies with the process; the CA keys
// sit in memory, so never use it outside tests and load tools.
//
// It depends on identity and crypto only, not on p2p, so that p2p's own
// (internal) tests can import it without an import cycle.
package p2ptest
