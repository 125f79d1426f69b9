package memkv

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/folio-ledger/folio/internal/kv"
)

// checkAVL verifies order, heights and balance of the tree rooted at n and
// returns its height and size.
func checkAVL(t *testing.T, n *node, lo, hi []byte) (int32, int) {
	t.Helper()
	if n == nil {
		return 0, 0
	}
	if lo != nil && bytes.Compare(n.key, lo) <= 0 || hi != nil && bytes.Compare(n.key, hi) >= 0 {
		t.Fatalf("order violated at %q", n.key)
	}
	hl, sl := checkAVL(t, n.left, lo, n.key)
	hr, sr := checkAVL(t, n.right, n.key, hi)
	if d := hl - hr; d < -1 || d > 1 {
		t.Fatalf("unbalanced at %q: %d vs %d", n.key, hl, hr)
	}
	h := max(hl, hr) + 1
	if n.height != h {
		t.Fatalf("stale height at %q: %d, want %d", n.key, n.height, h)
	}
	return h, sl + sr + 1
}

// dump lists the tree's entries in order.
func dump(n *node, out []string) []string {
	if n == nil {
		return out
	}
	out = dump(n.left, out)
	out = append(out, string(n.key)+"="+string(n.value))
	return dump(n.right, out)
}

// TestTreePersistence checks that every published root stays intact and
// balanced while later commits build new versions that share nodes with it.
func TestTreePersistence(t *testing.T) {
	s := New()
	r := rand.New(rand.NewPCG(1, 1))
	model := map[string]string{}
	type version struct {
		root *node
		want []string
	}
	var versions []version
	for round := 0; round < 200; round++ {
		b := s.NewBatch()
		for i := 0; i < 1+r.IntN(40); i++ {
			k := fmt.Sprintf("%03d", r.IntN(500))
			if r.IntN(3) == 0 {
				if err := b.Delete([]byte(k)); err != nil {
					t.Fatal(err)
				}
				delete(model, k)
			} else {
				v := fmt.Sprint(round)
				if err := b.Set([]byte(k), []byte(v)); err != nil {
					t.Fatal(err)
				}
				model[k] = v
			}
		}
		if err := b.Commit(kv.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		root := s.root.Load()
		_, size := checkAVL(t, root, nil, nil)
		if size != len(model) {
			t.Fatalf("size %d, model %d", size, len(model))
		}
		versions = append(versions, version{root, dump(root, nil)})
	}
	for i, v := range versions {
		checkAVL(t, v.root, nil, nil)
		got := dump(v.root, nil)
		if fmt.Sprint(got) != fmt.Sprint(v.want) {
			t.Fatalf("version %d changed after later commits", i)
		}
	}
}
