// Package p2p keeps exactly one authenticated, multiplexed session between
// every pair of Folio nodes that want one, however they dial (DESIGN.md 5.4).
// Every node-to-node feature (Raft between orderers, block delivery, gossip,
// content chunks, timed-release keys) runs as a protocol of streams over
// these sessions.
//
// # Contract
//
//   - A node is identified by its node ID: the lowercase hex SHA-256 of its
//     signing key's SubjectPublicKeyInfo (crypto.KeyID). Nothing keys on IP
//     addresses; any number of nodes may share one.
//   - A connection is TCP, then TLS 1.3 with mutual authentication by
//     organisation-issued TLS certificates, then the Folio handshake
//     (handshake.go, wire.go): each side sends a Hello (nonce, node ID, MSP
//     ID, role, listen address, node certificate) and then a Proof: a
//     signature with its node key over the TLS exporter and both Hellos.
//     The MSP (identity.Verifier) decides who may connect: consortium
//     members with role peer or orderer whose TLS and node certificates
//     name the same node.
//   - After the handshake a connection is registered in the session table
//     (table.go), the deterministic core of this package. When two
//     connections to the same node exist, both ends keep the one that ranks
//     higher (rank.go): the one dialed by the node with the smaller node ID;
//     between two dialed by the same node, the newer. A connection is
//     retired only once a better one has been confirmed live end to end,
//     and closed only once both ends have retired it and its streams have
//     drained, so a pair never ends with zero sessions and no stream is cut.
//   - Streams carry a protocol name ("raft", "deliver", ...) and are handed
//     to the handler registered for it; Stream offers raw bytes and
//     length-prefixed messages bounded by Options.MaxFrameBytes.
//
// # Call order
//
//	h, err := p2p.New(opts)          // validates options, builds TLS config and metrics
//	h.Handle("raft", serveRaft)      // before Run
//	h.AddPeer(p2p.PeerSpec{...})     // before or during Run
//	go h.Run(ctx)                    // owns the listener, dial loops and sessions
//	<-h.Ready()                      // listening (Addr is known)
//	s, err := h.OpenStream(ctx, nodeID, "raft")
//	...
//	cancel()                         // Run retires every session, drains and returns
//
// Host methods are safe for concurrent use. Run may be called once.
//
// # Ownership
//
// Host.mu guards the session table, the wanted peers, the subscribers and
// the live sessions map; effects decided under it (pings, notices, closes)
// are carried out by goroutines Run owns, after the lock is released. Each
// session owns its yamux session; its accept loop owns the stream handler
// goroutines it starts. Run returns only after every goroutine it started
// has returned.
package p2p
