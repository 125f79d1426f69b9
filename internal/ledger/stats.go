package ledger

import (
	"time"

	"github.com/folio-ledger/folio/internal/ledger/trie"
)

// CommitStats accumulates what Commit did and where its time went, since
// the ledger was opened. The phases partition a Commit's wall time.
type CommitStats struct {
	Blocks uint64 // blocks committed
	Txs    uint64 // valid transactions applied
	Writes uint64 // key writes (puts and deletes) applied

	// Check: checking the block follows and the updates fit it.
	Check time.Duration
	// Prune: pruning old trie nodes (every Options.PruneEvery blocks).
	Prune time.Duration
	// Encode: encoding state entries and history records into the batch.
	Encode time.Duration
	// Trie: opening the tries at the last root, applying the writes,
	// hashing (root computation) and adding the new nodes to the batch.
	Trie time.Duration
	// TrieReads is the part of Trie spent reading stored nodes (node
	// cache, then the store on a miss), and TrieNodeReads their number.
	TrieReads     time.Duration
	TrieNodeReads uint64
	// Block: encoding the block (protobuf) and its indexes into the batch,
	// with the block store's checks (data hash, duplicate tx IDs).
	Block time.Duration
	// Store: committing the batch to the store with fsync, and taking the
	// readers' snapshot.
	Store time.Duration
}

// Total returns the sum of the phases.
func (s CommitStats) Total() time.Duration {
	return s.Check + s.Prune + s.Encode + s.Trie + s.Block + s.Store
}

// Sub returns s - t, for measuring an interval.
func (s CommitStats) Sub(t CommitStats) CommitStats {
	return CommitStats{
		Blocks: s.Blocks - t.Blocks, Txs: s.Txs - t.Txs, Writes: s.Writes - t.Writes,
		Check: s.Check - t.Check, Prune: s.Prune - t.Prune, Encode: s.Encode - t.Encode,
		Trie: s.Trie - t.Trie, Block: s.Block - t.Block, Store: s.Store - t.Store,
		TrieReads: s.TrieReads - t.TrieReads, TrieNodeReads: s.TrieNodeReads - t.TrieNodeReads,
	}
}

// Stats returns the accumulated commit statistics.
func (l *Ledger) Stats() CommitStats {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	return l.stats
}

// timedNodes is the trie.NodeReader Commit uses: it measures node reads.
type timedNodes struct {
	db *trie.Database
	st *CommitStats
}

func (r timedNodes) Node(owner, hash trie.Hash) ([]byte, error) {
	t := time.Now()
	blob, err := r.db.Node(owner, hash)
	r.st.TrieReads += time.Since(t)
	r.st.TrieNodeReads++
	return blob, err
}
