// Package crypto holds Folio's cryptographic primitives: domain-separated
// signatures (ECDSA P-256 with low-S DER signatures, and Ed25519), private key
// and certificate files, and authenticated encryption (AES-GCM) with HKDF key
// derivation.
//
// Every Folio signature is over a domain tag and a message:
//
//	ECDSA:   sign SHA-256(domain || 0x00 || message), DER, s <= n/2
//	Ed25519: sign domain || 0x00 || message
//
// so that a signature made for one purpose (a proposal, a block header, a
// handshake) can never be replayed as another. Verification rejects high-S
// ECDSA signatures on purpose, like Hyperledger Fabric, so that every
// signature has exactly one valid encoding.
package crypto
