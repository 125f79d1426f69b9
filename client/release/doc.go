// Package release is the client side of Folio's fair timed release
// (docs/release.md): what `folio release create | fetch | status | report`
// and applications call.
//
//   - Create (the work's owner): checks the work's copyright record (owner,
//     content hash), verifies the key servers' certified key-agreement
//     keys, encrypts the file in chunks under a fresh content key while
//     hashing it, splits the key t-of-n and encrypts each share to its key
//     server, records the release on chain, and uploads the ciphertext to
//     the origin peer (resumable: the ciphertext is staged beside the
//     file until the upload completes).
//   - Fetch (a client): subscribes at an edge, downloads and verifies the
//     ciphertext ahead of time (resumable, rate-limited if asked), waits
//     for the key shares, verifies them and the key against the
//     commitments on chain, decrypts, verifies the plaintext hash, and
//     reports its times on chain; or, with edge decryption, lets a
//     trusted edge time its probes and receives the plaintext from it,
//     the tail encrypted until the tail key comes at the target. Each
//     fetch has a client name of its own (FetchOptions.Client).
//   - Status and Report: what every edge knows now, and the on-chain
//     account of who accessed when (spread, early accesses, misses).
//
// The SDK talks to the peers' ReleaseService (api/folio/v1/release.proto)
// with connect over mutual TLS as Client.ID, and to the chain through
// Client.Gateway. Errors from a peer name the peer and wrap the connect
// error (connect.CodeOf gives its code: failed_precondition before the
// release time, resource_exhausted at a limit, ...). Its exported API
// uses only public types (client.Identity, x509 certificates, its own
// status types, contracts/release records), so applications outside this
// module can call it.
//
// A Client is safe for concurrent use; each call owns the goroutines it
// starts and stops them before returning.
package release
