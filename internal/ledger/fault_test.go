package ledger_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/ledger/trie"
)

// TestFailedCommitKeepsPreviousBlock injects write errors into Pebble's
// write-ahead log during a Commit. The Commit must fail with a clear error
// naming the block, the ledger must stay at the previous block (height,
// reads, roots), refuse further commits until reopened, and after a crash
// and reopen hold exactly the previous block, then accept the failed block
// again.
func TestFailedCommitKeepsPreviousBlock(t *testing.T) {
	mem := vfs.NewCrashableMem()
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasSuffix(op.Path, ".log") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite && op.Kind != errorfs.OpFileClose {
			return errorfs.ErrInjected
		}
		return nil
	})}
	opts := ledger.Options{Store: pebblekv.Options{FS: errorfs.Wrap(mem, toggle)}}
	l, err := ledger.Open("db", opts)
	if err != nil {
		t.Fatal(err)
	}
	w := defaultWorkload(21)
	m := newModel()
	commitWorkload(t, l, m, w, 12)

	b, u := w.block(12, m.lastHash)
	toggle.On()
	_, err = l.Commit(b, u)
	toggle.Off()
	if err == nil {
		t.Fatal("Commit succeeded although every log write fails")
	}
	if !errors.Is(err, kv.ErrWriteFailed) || !errors.Is(err, errorfs.ErrInjected) || !strings.Contains(err.Error(), "block 12") {
		t.Fatalf("Commit = %v, want kv.ErrWriteFailed wrapping the injected error, naming block 12", err)
	}
	t.Logf("failed commit: %v", err)
	if l.Height() != 12 || l.Blocks().Height() != 12 || b.Metadata.StateRoot != nil {
		t.Fatalf("after a failed commit: height %d, block store %d, block state root %x", l.Height(), l.Blocks().Height(), b.Metadata.StateRoot)
	}
	checkAgainstModel(t, l, m, w.namespaces)
	if _, err := l.Commit(b, u); !errors.Is(err, kv.ErrWriteFailed) {
		t.Fatalf("commit after a failed commit = %v, want kv.ErrWriteFailed", err)
	}
	crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	_ = l.Close() // may report the earlier failure

	l, err = ledger.Open("db", ledger.Options{Store: pebblekv.Options{FS: crashed}, VerifyOnOpen: true})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l.Close()
	checkAgainstModel(t, l, m, w.namespaces)
	commitWorkload(t, l, m, w, 20)
	checkAgainstModel(t, l, m, w.namespaces)
}

// TestFailedCommitBeforeTheBatch: an error while reading the trie (a missing
// node) fails the Commit before anything is written.
func TestFailedCommitBeforeTheBatch(t *testing.T) {
	mem := vfs.NewMem()
	l, err := ledger.Open("db", ledger.Options{Store: pebblekv.Options{FS: mem}})
	if err != nil {
		t.Fatal(err)
	}
	w := defaultWorkload(22)
	m := newModel()
	commitWorkload(t, l, m, w, 5)
	l.Close()
	// Remove the root node of the "copyright" storage trie behind the
	// ledger's back (Open checks only the account trie's root node).
	s, err := pebblekv.Open("db", pebblekv.Options{FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	root := m.storageRoot("copyright")
	owner := [32]byte(keccak("copyright"))
	set(t, s, key([]byte("tr/n"), owner[:], root[:]), nil)
	l, err = ledger.OpenStore(s, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for n := uint64(5); ; n++ {
		b, u := w.block(n, m.lastHash)
		if !writes(u, "copyright") {
			if _, err := l.Commit(b, u); err != nil {
				t.Fatal(err)
			}
			m.apply(b, u)
			continue
		}
		_, err := l.Commit(b, u)
		if !errors.Is(err, kv.ErrCorruption) || !errors.Is(err, trie.ErrMissingNode) || !strings.Contains(err.Error(), "copyright") {
			t.Fatalf("commit over a missing storage trie node = %v", err)
		}
		t.Logf("refused: %v", err)
		break
	}
	if l.Height() != m.height {
		t.Fatalf("height %d, want %d", l.Height(), m.height)
	}
	l.Close()
	s.Close()
}

func writes(u ledger.Updates, ns string) bool {
	for _, tx := range u.Txs {
		for _, nw := range tx.Writes {
			if nw.Namespace == ns && len(nw.Writes) > 0 {
				return true
			}
		}
	}
	return false
}
