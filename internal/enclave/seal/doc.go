// Package seal is the enclave's sealing: AES-256-GCM (internal/crypto)
// under keys derived with HKDF-SHA-256, one key per purpose, with
// associated data that binds every sealed value to where it belongs. It
// is used inside the enclave only; the host holds sealed bytes and never
// a key.
//
// Keys (salt "folio enclave sealing v1" for every derivation):
//
//	root       32 random bytes drawn by the enclave process at start,
//	           never leaving it (lost, with everything sealed under it,
//	           when the process exits)
//	  └ HKDF info "folio/enclave/v1/external-cache" -> external-cache key
//	state key  32 bytes provisioned to every enclave of the network
//	           (a key file; see docs/enclave.md)
//	  ├ HKDF info "folio/enclave/v1/state-seal"  -> state sealing key
//	  └ HKDF info "folio/enclave/v1/state-nonce" -> state nonce key (HMAC)
//
// External-cache blob (External), sealed with a fresh random nonce:
//
//	blob   = header || nonce(12) || ciphertext || tag(16)
//	header = 0x01 (format) || flags (bit 0: absent) || uvarint(block)
//	         || uvarint(tx) || uvarint(validFrom)
//	AAD    = "folio/enclave/v1/external-cache" 0x00 || uvarint(len ns) || ns
//	         || uvarint(len key) || key || header
//
// The header is authenticated, so the host can neither move a blob to
// another key nor relabel its version; a blob of an older version
// authenticates, and the enclave rejects it by comparing the version with
// the latest it knows (package trusted).
//
// Confidential state value (State), sealed deterministically so that
// endorsers of different organisations produce byte-identical write sets:
//
//	blob  = 0x01 (format) || nonce(12) || ciphertext || tag(16)
//	nonce = HMAC-SHA-256(nonce key, "folio/enclave/v1/state-nonce" 0x00
//	        || uvarint(len txID) || txID || uvarint(len ns) || ns
//	        || uvarint(len key) || key || SHA-256(plaintext))[:12]
//	AAD   = "folio/enclave/v1/state" 0x00 || uvarint(len ns) || ns
//	        || uvarint(len key) || key
//
// The nonce is a synthetic IV: equal inputs give equal ciphertexts, and
// two different plaintexts never share a nonce (short of a 96-bit
// collision), even when a host replays one transaction ID against
// different states; a nonce from the transaction ID and key alone would
// then repeat with different plaintexts and give away the GCM
// authentication key. The version a value will have is not known when it
// is sealed (ordering assigns it), so it cannot be in the AAD; the
// enclave checks versions of state values against what it learnt from the
// commit stream.
package seal
