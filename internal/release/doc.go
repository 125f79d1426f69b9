// Package release is a peer's part of the fair timed release of large
// works (DESIGN.md 5.5, docs/release.md): for every release recorded by
// the release contract it is
//
//   - a content store and edge: it fetches the ciphertext chunks from the
//     origin and other peers over node sessions (protocol "content"),
//     verifies each against the manifest and the chunk root on chain,
//     serves them to peers and to clients (HTTPS, /release/v1/), keeps
//     each subscribed client's rate history and round trip, and predicts
//     its completion;
//   - a key server, when the record names it: from CoordLead before the
//     release time it collects the edges' predictions, agrees a key send
//     time with the other key servers (protocol "keys"), and at that time,
//     never before T by its clock and only while its clock agrees with its
//     peers', decrypts its share, signs the statement and pushes it to
//     every peer, which relay it once and pass it to their subscribers;
//   - a trusted edge, when the record names it: it obtains threshold
//     shares early enough to decrypt before its first staggered plaintext
//     send, and paces each edge-decrypt client's send so that none
//     finishes before the target.
//
// Call order: StartPeer (before the p2p host runs) registers the session
// protocols and the HTTP routes and starts the background work; every
// goroutine is counted in the WaitGroup it is given and returns when its
// context ends. Releases are loaded lazily (announcement, chain polling or
// a request) and checked against the copyright record first; a release
// whose owner or content hash is not the registered one is served to
// nobody, with the reason in its status.
//
// State kept per client is bounded and expires (limits.go, history.go):
// subscriptions per caller and per release (MaxSubscriptionsPerClient,
// MaxSubscriptions; idle ones are deleted after SubscriptionTTL) and rate
// histories (MaxHistoryClients, least recently updated evicted;
// HistoryTTL). A subscription beyond a limit is refused with 429 and a
// *LimitError naming the setting that raises it, and PeerOptions.Refused
// is told.
//
// The pure parts are subpackages: content (chunked AES-256-GCM, manifest,
// Merkle root), keys (content key, shares encrypted to key servers,
// commitments, signed statements), shamir (t-of-n over GF(2^8)),
// schedule (send time decision, agreement, pacing, clock offsets) and
// wire (session and client API messages, each with Validate).
package release
