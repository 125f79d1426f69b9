// Package content encrypts a work in fixed-size chunks for a timed
// release, names the ciphertext by a Merkle root, and verifies and
// decrypts it chunk by chunk, in constant memory whatever the size.
//
// # Format
//
// The plaintext is cut into chunks of ChunkSize bytes (the last may be
// shorter). Chunk i (0-based) of a release with ID rid and n chunks is
// sealed with AES-256-GCM under the content key:
//
//	nonce = 0x00000000 || uint64(i)            (12 bytes; the key is fresh per release)
//	aad   = "folio/release-chunk/v1" || 0x00 || rid || 0x00 || uint64(i) || uint64(n)
//	chunk = ciphertext || tag                  (plaintext length + 16)
//
// The aad binds every chunk to its release, its position and the chunk
// count, so chunks cannot be swapped, reordered, replayed from another
// release, or the work truncated. The ciphertext is the concatenation of
// the chunks; chunk i starts at i x (ChunkSize + 16).
//
// The chunk root is the RFC 6962 Merkle root over the chunks (leaf
// SHA-256(0x00 || chunk), node SHA-256(0x01 || left || right), the same
// tree as block data hashes, docs/wire-protocol.md). The Manifest lists
// every leaf hash, so a fetcher verifies the manifest once against the
// root on chain and then each chunk by its leaf hash.
//
// Manifest encoding (Manifest.MarshalBinary, version 1):
//
//	"FRM1" | u8 version=1 | u16 len(rid) | rid | u64 size | u32 chunkSize | u32 n | n x 32-byte leaf hashes
//
// # Call order
//
//	res, err := content.Encrypt(plain, cipherOut, key, rid, size, chunkSize) // owner
//	m := res.Manifest; m.Root()                                              // goes on chain
//	err = m.VerifyChunk(i, chunk)                                            // edges, clients
//	err = content.Decrypt(cipherIn, plainOut, key, m)                         // client, trusted edge
package content
