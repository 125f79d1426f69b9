// Package release is a peer's part of the fair timed release of large
// works (DESIGN.md 5.5, docs/release.md).
//
// Structure: Peer (peer.go) is the composition root. It keeps the table
// of releases this peer serves, loads each from the chain (checking it
// against the copyright record first: a release whose owner or content
// hash is not the registered one is served to nobody, with the reason in
// its status), answers the node-to-node protocols "content" and "keys"
// over p2p sessions (sessions.go), serves the client API ReleaseService
// over connect (API, api*.go) and expires per-client state. Each release
// is a rel (rel.go): its record, fixed at load, and one type per role,
// each owning its state under its own lock, with the lock rules beside
// it:
//
//   - fetcher (fetch.go): brings the ciphertext to the store (store.go)
//     from the origin and the other peers, verifying every chunk;
//   - edge (edge.go, subs.go): the subscribed clients, their progress,
//     rates and round trips, and the predictions of their completion;
//     subTable is its deterministic, bounded subscription table;
//   - shareBox (shares.go): the released shares verified here, relayed
//     once, given to subscribers after the release time;
//   - keyWatch (keywatch.go): the agreed key send time and what is known
//     of each key server;
//   - keyServer (keyserver.go), when the record names this peer: the
//     driver of schedule.Coordinator, the deterministic core of the key
//     send time agreement; it releases, pushes and publishes the share,
//     and gives it early to trusted edges;
//   - trustedEdge (trustededge.go), when the record names this peer:
//     decrypts early and sends each edge-decrypt client its paced
//     plaintext, from a start set by the rate the edge measured itself
//     (timed probes, never the client's word), the tail encrypted and its
//     key at the target, so that none can read the whole work before it
//     (docs/release.md, "Early access").
//
// Locks are never nested: a role takes only its own lock and calls the
// others (and the store, history and clocks, which guard themselves)
// without holding it. The one exception is the release's change signal,
// a leaf any role may notify under its lock. Waiters (subscriber streams,
// long polls, the fetcher, the trusted edge) take the signal's channel,
// then check the state they wait for, then wait on the channel.
//
// Call order: StartPeer (before the p2p host runs) registers the session
// protocols and starts the background work; the node then mounts API()
// on its client listener. Every goroutine is counted in the WaitGroup
// StartPeer is given and returns when its context ends. Releases are
// loaded lazily (announcement, chain polling or a request).
//
// State kept per client is bounded and expires (subs.go, history.go):
// subscriptions per caller and per release (MaxSubscriptionsPerClient,
// MaxSubscriptions; idle ones are deleted after SubscriptionTTL) and rate
// histories (MaxHistoryClients, least recently updated evicted;
// HistoryTTL). A subscription beyond a limit is refused with
// resource_exhausted and a message naming the setting that raises it
// (LimitError), and PeerOptions.Refused is told.
//
// The pure parts are subpackages: content (chunked AES-256-GCM, manifest,
// Merkle root), keys (content key, shares encrypted to key servers,
// commitments, signed statements), shamir (t-of-n over GF(2^8)),
// schedule (send time decision, the key servers' agreement, pacing,
// clock offsets) and wire (session messages and the client API's
// checks, each with Validate).
package release
