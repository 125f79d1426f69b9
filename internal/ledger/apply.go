package ledger

import (
	"fmt"
	"slices"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/ledger/history"
	"github.com/folio-ledger/folio/internal/ledger/state"
	"github.com/folio-ledger/folio/internal/ledger/trie"
	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
)

// nsChange is what a block does to one namespace: the number of writes
// (the account nonce grows by it) and the last write of each key.
type nsChange struct {
	writes uint64
	last   map[string]*foliov1.KVWrite
}

// stage adds everything block b (number num) changes to batch and returns
// the new state root. It reads only committed data (trie nodes of prevRoot)
// and has no effect outside batch, except that trie nodes it writes enter
// the node cache. u has been checked.
func (l *Ledger) stage(batch kv.Batch, num uint64, b *foliov1.Block, u *Updates, prevRoot trie.Hash, st *CommitStats) (trie.Hash, error) {
	t0 := time.Now()
	changes, err := stageWrites(batch, num, u)
	if err != nil {
		return trie.Hash{}, err
	}
	t1 := time.Now()
	st.Encode = t1.Sub(t0)

	root, sets, err := l.updateTries(timedNodes{l.tries, st}, num, prevRoot, changes, u.CodeHashes)
	if err != nil {
		return trie.Hash{}, err
	}
	if err := l.tries.Write(batch, num, sets...); err != nil {
		return trie.Hash{}, fmt.Errorf("ledger: block %d: write trie nodes: %w", num, err)
	}
	t2 := time.Now()
	st.Trie = t2.Sub(t1)

	b.Metadata.StateRoot = append([]byte{}, root[:]...)
	if err := l.blocks.Stage(batch, b); err != nil {
		return trie.Hash{}, fmt.Errorf("ledger: %w", err)
	}
	if err := batch.Set(rootKey(num), root[:]); err != nil {
		return trie.Hash{}, fmt.Errorf("ledger: block %d: %w", num, err)
	}
	if err := state.NewWriter(batch).SetHeight(num + 1); err != nil {
		return trie.Hash{}, fmt.Errorf("ledger: block %d: %w", num, err)
	}
	st.Block = time.Since(t2)
	return root, nil
}

// stageWrites adds the state entries and history records of u to batch, in
// block order, and collects the per-namespace changes for the tries.
func stageWrites(batch kv.Batch, num uint64, u *Updates) (map[string]*nsChange, error) {
	sw, hw := state.NewWriter(batch), history.NewWriter(batch)
	changes := make(map[string]*nsChange)
	for i := range u.Txs {
		tx := &u.Txs[i]
		ver := state.Version{Block: num, Tx: tx.TxNum}
		for _, nw := range tx.Writes {
			c := changes[nw.Namespace]
			if c == nil {
				c = &nsChange{last: make(map[string]*foliov1.KVWrite, len(nw.Writes))}
				changes[nw.Namespace] = c
			}
			for _, w := range nw.Writes {
				var err error
				if w.IsDelete {
					err = sw.Delete(nw.Namespace, w.Key)
				} else {
					err = sw.Put(nw.Namespace, w.Key, w.Value, ver)
				}
				if err == nil {
					err = hw.Add(nw.Namespace, w.Key, ver, tx.TxID, tx.Timestamp, w.IsDelete, w.Value)
				}
				if err != nil {
					return nil, &UpdateError{Block: num, Tx: int64(tx.TxNum), Namespace: nw.Namespace, Key: truncate(w.Key), Err: err}
				}
				c.writes++
				c.last[w.Key] = w
			}
		}
	}
	return changes, nil
}

// updateTries applies the changes to the storage tries and the account trie
// at prevRoot, in namespace and key order, and returns the new root and the
// node sets to store.
func (l *Ledger) updateTries(nodes trie.NodeReader, num uint64, prevRoot trie.Hash, changes map[string]*nsChange, codes map[string][32]byte) (trie.Hash, []*trie.NodeSet, error) {
	accounts, err := trie.NewSecure(trie.ID{Root: prevRoot}, nodes)
	if err != nil {
		return trie.Hash{}, nil, fmt.Errorf("ledger: block %d: open the account trie at %x: %w", num, prevRoot[:], missingIsCorruption("commit", err))
	}
	names := make([]string, 0, len(changes)+len(codes))
	for ns := range changes {
		names = append(names, ns)
	}
	for ns := range codes {
		if changes[ns] == nil {
			names = append(names, ns)
		}
	}
	slices.Sort(names)
	sets := make([]*trie.NodeSet, 0, len(names)+1)
	for _, ns := range names {
		acct, err := readAccount(accounts, ns)
		if err != nil {
			return trie.Hash{}, nil, fmt.Errorf("ledger: block %d: %w", num, missingIsCorruption("commit", err))
		}
		if c := changes[ns]; c != nil {
			storage, err := trie.NewSecure(trie.ID{Owner: trie.Keccak256([]byte(ns)), Root: acct.StorageRoot}, nodes)
			if err != nil {
				return trie.Hash{}, nil, fmt.Errorf("ledger: block %d: open the storage trie of %q at %x: %w", num, ns, acct.StorageRoot, missingIsCorruption("commit", err))
			}
			keys := make([]string, 0, len(c.last))
			for k := range c.last {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				w := c.last[k]
				if w.IsDelete {
					err = storage.Delete([]byte(k))
				} else {
					err = storage.Update([]byte(k), proof.EncodeStorageValue(w.Value))
				}
				if err != nil {
					return trie.Hash{}, nil, fmt.Errorf("ledger: block %d: storage trie of %q, key %q: %w", num, ns, truncate(k), missingIsCorruption("commit", err))
				}
			}
			root, set := storage.Commit()
			sets = append(sets, set)
			acct.StorageRoot = root
			acct.Nonce += c.writes
		}
		if h, ok := codes[ns]; ok {
			acct.CodeHash = h
		}
		enc, err := acct.Encode()
		if err != nil {
			return trie.Hash{}, nil, fmt.Errorf("ledger: block %d: account of %q: %w", num, ns, err)
		}
		if err := accounts.Update([]byte(ns), enc); err != nil {
			return trie.Hash{}, nil, fmt.Errorf("ledger: block %d: account trie, namespace %q: %w", num, ns, missingIsCorruption("commit", err))
		}
	}
	root, set := accounts.Commit()
	sets = append(sets, set)
	return root, sets, nil
}

// readAccount returns ns's account record in the account trie, or a new
// one (nonce 0, empty storage, empty code) if it has none.
func readAccount(accounts *trie.SecureTrie, ns string) (*proof.Account, error) {
	enc, err := accounts.Get([]byte(ns))
	if err != nil {
		return nil, fmt.Errorf("account trie, namespace %q: %w", ns, err)
	}
	if enc == nil {
		return &proof.Account{StorageRoot: trie.EmptyRoot, CodeHash: proof.EmptyCodeHash}, nil
	}
	acct, err := proof.DecodeAccount(enc)
	if err != nil {
		return nil, &kv.CorruptionError{Op: "ledger read account", Err: fmt.Errorf("namespace %q: %w", ns, err)}
	}
	return acct, nil
}
