package ledger

import (
	"bytes"
	"fmt"

	"github.com/folio-ledger/folio/internal/ledger/state"
	"github.com/folio-ledger/folio/internal/ledger/trie"
	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
)

// VerifyState recomputes the state root of the last committed block from
// the state entries and compares it with the stored one: it rebuilds every
// namespace's storage trie from the entries, checks it against the
// storage_root of the namespace's account record, rebuilds the account trie
// from the records (with the recomputed roots) and checks its root; and it
// checks that every entry's version and value are those of the last change
// in the key's history. It reads the whole state and history, so it is for
// Options.VerifyOnOpen, tools and tests. A mismatch is kv.ErrCorruption
// naming the block and the namespace or key.
func (l *Ledger) VerifyState() error {
	r, err := l.NewReader()
	if err != nil {
		return err
	}
	defer r.Close()
	v := r.v
	if v.height == 0 {
		return nil
	}
	num := v.height - 1

	// Storage roots recomputed from the entries, and entry counts, by
	// account trie path.
	roots := make(map[trie.Hash]trie.Hash)
	names := make(map[trie.Hash]string)
	counts := make(map[trie.Hash]int)
	var (
		cur     string
		storage *trie.SecureTrie
		n       int
	)
	flush := func() {
		if storage != nil {
			owner := trie.Keccak256([]byte(cur))
			roots[owner], names[owner], counts[owner] = storage.Hash(), cur, n
		}
	}
	err = v.state.Scan(func(e state.Entry) error {
		if e.Namespace != cur || storage == nil {
			flush()
			cur, storage, n = e.Namespace, trie.NewSecureEmpty(nil), 0
		}
		n++
		if err := storage.Update([]byte(e.Key), proof.EncodeStorageValue(e.Value)); err != nil {
			return err
		}
		return l.checkLastChange(v, num, e)
	})
	if err != nil {
		return fmt.Errorf("ledger: verify state at block %d: %w", num, err)
	}
	flush()

	accounts, err := trie.New(trie.ID{Root: v.root}, l.tries)
	if err != nil {
		return fmt.Errorf("ledger: verify state at block %d: open the account trie: %w", num, missingIsCorruption("verify", err))
	}
	rebuilt := trie.NewEmpty(nil)
	it := accounts.NewIterator()
	seen := 0
	for ok := it.First(); ok; ok = it.Next() {
		path := trie.Hash(it.Key())
		acct, err := proof.DecodeAccount(it.Value())
		if err != nil {
			return corrupt("verify", "block %d: account record at path %x: %v", num, path[:], err)
		}
		want, ok := roots[path]
		if ok {
			seen++
		} else {
			want = trie.EmptyRoot
		}
		if acct.StorageRoot != want {
			return corrupt("verify", "block %d: namespace %s: the account's storage root is %x but the state entries hash to %x", num, nameOf(names, path), acct.StorageRoot, want[:])
		}
		if err := l.walkStorage(path, acct.StorageRoot, counts[path]); err != nil {
			return fmt.Errorf("ledger: verify state at block %d: namespace %s: %w", num, nameOf(names, path), missingIsCorruption("verify", err))
		}
		enc, err := acct.Encode()
		if err != nil {
			return corrupt("verify", "block %d: account record at path %x: %v", num, path[:], err)
		}
		if err := rebuilt.Update(path[:], enc); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("ledger: verify state at block %d: walk the account trie: %w", num, missingIsCorruption("verify", err))
	}
	if seen != len(roots) {
		for path, name := range names {
			if v, _ := accounts.Get(path[:]); v == nil {
				return corrupt("verify", "block %d: namespace %s has state entries but no account record", num, name)
			}
		}
	}
	if got := rebuilt.Hash(); got != v.root {
		return corrupt("verify", "block %d: the account records hash to %x, the recorded state root is %x", num, got[:], v.root[:])
	}
	return nil
}

// checkLastChange checks that entry e is the last change in its key's
// history.
func (l *Ledger) checkLastChange(v *view, num uint64, e state.Entry) error {
	it, err := v.hist.NewIterator(e.Namespace, e.Key, e.Version)
	if err != nil {
		return err
	}
	defer it.Close()
	if !it.Next() {
		if err := it.Err(); err != nil {
			return err
		}
		return corrupt("verify", "block %d: %s/%q at block %d tx %d has no history entry at that version", num, e.Namespace, truncate(e.Key), e.Version.Block, e.Version.Tx)
	}
	h := it.Entry()
	if h.Version.BlockNum != e.Version.Block || h.Version.TxNum != e.Version.Tx || h.IsDelete || !bytes.Equal(h.Value, e.Value) {
		return corrupt("verify", "block %d: %s/%q at block %d tx %d differs from its history entry (block %d tx %d)", num, e.Namespace, truncate(e.Key), e.Version.Block, e.Version.Tx, h.Version.BlockNum, h.Version.TxNum)
	}
	if it.Next() {
		h := it.Entry()
		return corrupt("verify", "block %d: %s/%q is at block %d tx %d but its history has a later change at block %d tx %d", num, e.Namespace, truncate(e.Key), e.Version.Block, e.Version.Tx, h.Version.BlockNum, h.Version.TxNum)
	}
	return it.Close()
}

// walkStorage loads every node of the stored storage trie (owner, root),
// which checks each node against its hash, and checks it holds want leaves.
func (l *Ledger) walkStorage(owner, root trie.Hash, want int) error {
	t, err := trie.New(trie.ID{Owner: owner, Root: root}, l.tries)
	if err != nil {
		return err
	}
	it := t.NewIterator()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Error(); err != nil {
		return err
	}
	if n != want {
		return corrupt("verify", "the storage trie holds %d keys, the state %d", n, want)
	}
	return nil
}

// nameOf names the namespace at an account trie path, if the state has
// entries for it.
func nameOf(names map[trie.Hash]string, path trie.Hash) string {
	if n, ok := names[path]; ok {
		return n
	}
	return fmt.Sprintf("(account path %x, no entries)", path[:])
}
