// Package client is Folio's Go SDK: what applications and the folio CLI use
// to talk to a network. It connects to nodes over mutual TLS with an
// identity from a wallet, and to organisations' CAs to register, enroll and
// revoke identities.
package client
