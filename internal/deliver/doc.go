// Package deliver moves blocks from the orderers to the peers and to
// clients: it serves a block store as a stream from any height (following
// new blocks as they arrive), and it runs the peer side that keeps a store in
// step with the ordering service.
//
// A peer accepts a delivered block only if it extends its chain (number and
// previous hash) and carries a valid signature, over the canonical header,
// by an orderer-role identity of the consortium. The client resumes from its
// own height after every reconnect, so a switch of orderer can neither skip
// nor repeat a block, and it moves on to another orderer when one fails,
// stalls or sends a block that does not verify.
package deliver
