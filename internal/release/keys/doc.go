// Package keys holds the key material of a timed release: the content
// key and its commitment, the t-of-n shares encrypted to key servers, key
// servers' key-agreement keys and the statements their node keys sign.
//
// # Key servers' key-agreement keys
//
// Each peer that serves as a key server keeps a P-256 key-agreement key
// (ECDH), separate from its node signing key (one key, one purpose), in
// <data_dir>/release/kex.pem. Its node key certifies it by signing
// KexStatement(nodeID, kexPub) under domain folio/release-kex/v1. An owner
// trusts a key server's kex key only if (VerifyKeyServer): the node
// certificate is a valid consortium identity with role peer, its name and
// organisation are the ones claimed, its key ID is the node ID the genesis
// block gives that peer, and the certification verifies. The release
// record keeps both public keys, so anyone can re-check it.
//
// # Share encryption (ECIES over P-256)
//
//	eph      = fresh P-256 key pair
//	z        = ECDH(eph, kexPub)
//	k        = HKDF-SHA-256(secret z, salt eph.pub || kexPub, info "folio/release-share-enc/v1" || 0x00 || rid || 0x00 || index, 32 bytes)
//	nonce    = 12 random bytes
//	enc      = eph.pub (65) || nonce (12) || AES-256-GCM(k, nonce, share, aad = rid || 0x00 || index)
//
// Only the key server's kex private key opens it; the aad and info bind it
// to its release and share index, so it cannot be moved to another slot.
package keys
