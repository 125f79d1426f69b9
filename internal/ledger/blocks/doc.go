// Package blocks is the append-only block store of a peer or an orderer: it
// appends blocks that extend the chain, reads them by number, hash or
// transaction ID, and lets readers wait for new blocks.
//
// Layout inside the node's kv.Store (all numbers 8-byte big-endian, so keys
// sort by height):
//
//	blk/b/<num>   the block, protobuf (header, data, metadata)
//	blk/h/<num>   the 80-byte canonical header (types.HeaderBytes)
//	blk/x/<hash>  block number by header hash
//	blk/t/<txid>  block number and index of the first envelope with that tx ID
//	blk/tip       height and last header hash
//
// Every write of a block goes into one batch, optionally the caller's batch
// so that a peer commits a block atomically with its state changes (Stage,
// then Committed after the batch commits). Open verifies the whole header
// chain (each header's previous hash is the hash of the one before) and the
// last block's contents; every read verifies the block against its stored
// header. Damage is reported as kv.ErrCorruption naming the block.
package blocks
