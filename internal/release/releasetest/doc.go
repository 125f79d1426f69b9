// Package releasetest runs timed releases in one process for tests and
// experiments: a throwaway consortium (root CAs, peer and client
// identities), a Chain that runs the real release contract natively (with
// a copyright stub), and peers made of a real p2p host, an HTTPS server
// with the node's client authentication serving the real release service
// (internal/release) as ReleaseService over connect. Clients are the real
// SDK (client/release).
//
// Nothing here orders or validates transactions: the Chain commits every
// successful call at once, one at a time. It is a stand-in for the
// ledger, not a model of it.
package releasetest
