package p2p

import "bytes"

// Side says which end of a connection dialed it.
type Side uint8

const (
	// DialedBySelf: this node dialed the connection.
	DialedBySelf Side = iota + 1
	// DialedByRemote: the remote node dialed the connection.
	DialedByRemote
)

func (s Side) String() string {
	switch s {
	case DialedBySelf:
		return "self"
	case DialedByRemote:
		return "remote"
	}
	return "unknown"
}

// rank is what both ends of a connection know about it, expressed without
// reference to either end's point of view, so that both ends compute equal
// ranks for the same connection and so the same winner between two
// connections. It is built from the two node IDs and the dialer's Hello.
type rank struct {
	// dialerIsLower: the dialer has the smaller node ID of the pair.
	dialerIsLower bool
	// gen is the dialer's generation for this connection (strictly
	// increasing over the dialer's dials).
	gen uint64
	// nonce is the dialer's handshake nonce: distinct for distinct
	// connections, it makes the order total.
	nonce [nonceLen]byte
}

// rankOf computes a connection's rank from one end's point of view. self
// and peer are node IDs (equal-length lowercase hex, so string order is
// numeric order); dialed says which of them dialed; gen and nonce are from
// the dialer's Hello.
func rankOf(self, peer string, dialed Side, gen uint64, nonce [nonceLen]byte) rank {
	lower := self < peer
	if dialed == DialedByRemote {
		lower = peer < self
	}
	return rank{dialerIsLower: lower, gen: gen, nonce: nonce}
}

// outranks reports whether connection a is preferred to connection b (both
// between the same two nodes). It is the tie-break rule, a strict total
// order on distinct connections:
//
//  1. a connection dialed by the node with the smaller node ID beats one
//     dialed by the node with the larger ID;
//  2. between two dialed by the same node, the higher generation (the newer
//     dial) wins, so a replacement beats a half-dead predecessor;
//  3. equal generations (never produced by an honest dialer) are ordered by
//     the dialer's nonce.
func outranks(a, b rank) bool {
	if a.dialerIsLower != b.dialerIsLower {
		return a.dialerIsLower
	}
	if a.gen != b.gen {
		return a.gen > b.gen
	}
	return bytes.Compare(a.nonce[:], b.nonce[:]) > 0
}
