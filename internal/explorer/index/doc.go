// Package index is the explorer's persistent index of one channel's chain:
// it turns blocks (from an explorer.BlockSource, such as PeerSource over a
// peer's ChainService) into the records of package explorer and serves
// them as an explorer.Store.
//
// Its one responsibility is keeping that index correct and current. The
// index lives in Pebble (internal/kv/pebblekv) in a directory of its own.
// Each block is indexed in one kv batch that also writes the indexed
// height and the running statistics, so a crash never leaves half a block:
// after a restart the index holds every block below its height and none
// above, and Run asks the source only for blocks from that height on (it
// never re-reads the chain from block 0).
//
// Call order:
//
//	ix, err := index.Open(index.Options{Dir: dir})
//	go ix.Run(ctx, index.NewPeerSource(peers, logger)) // catch up, then follow; returns when ctx ends
//	ix.Stats(); ix.Works(q); <-ix.Changed() ...         // any goroutine, any time
//	ix.Close()                                          // after Run has returned
//
// Blocks are checked before they are indexed: structure and data hash
// (types.ValidateBlock) and linkage to the previous block's header hash.
// Orderer signatures are shown (their signers), not verified: the explorer
// reads from peers of its own consortium, which verified them at commit.
//
// Key layout (all under the index's own Pebble store; numbers big-endian):
//
//	m format            -> index format version (uint32), moves only forward
//	m height            -> blocks indexed (uint64): the next block to index
//	m stats             -> running counters (JSON)
//	b <number>          -> explorer.BlockSummary (JSON)
//	h <header hash>     -> block number
//	t <tx id>           -> explorer.TxSummary (JSON)
//	w <work id>         -> explorer.Work (JSON)
//	o <owner> 0 <id>    -> "" (works by owner)
//	a <author> 0 <id>   -> "" (works by author)
//	c <hash> 0 <id>     -> "" (works by content hash)
//	p <id> 0 <block> <tx index> -> explorer.ProvenanceEntry (JSON)
//	l <number>          -> block time, valid and invalid counts and the
//	                       block's commit-latency histogram (varints), read
//	                       back to rebuild the last hour's rates at start
package index
