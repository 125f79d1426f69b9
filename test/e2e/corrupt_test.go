package e2e

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/folio-ledger/folio/internal/kv"
	"github.com/folio-ledger/folio/internal/kv/pebblekv"
)

// flipValue flips one bit in the middle of the value stored at key in a
// stopped node's database, as a disk error would.
func flipValue(t *testing.T, dir, key string) {
	t.Helper()
	db, err := pebblekv.Open(dir, pebblekv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := db.Get([]byte(key))
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	v = bytes.Clone(v)
	v[len(v)/2] ^= 0x04
	b := db.NewBatch()
	if err := b.Set([]byte(key), v); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(kv.WriteOptions{Sync: true}); err != nil {
		t.Fatal(err)
	}
}

func firstKeyWithPrefix(t *testing.T, dir, prefix string) string {
	t.Helper()
	db, err := pebblekv.Open(dir, pebblekv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, err := db.NewIter(&kv.IterOptions{Lower: []byte(prefix), Upper: kv.PrefixEnd([]byte(prefix))})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if !it.First() {
		t.Fatalf("no key with prefix %q", prefix)
	}
	return string(it.Key())
}

// runRaw runs folio without --network (for node processes), with a timeout.
func (n *network) runRaw(args ...string) (result, error) {
	n.t.Helper()
	cmd := exec.Command("timeout", append([]string{"20", folioBin}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	}
	return r, err
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
