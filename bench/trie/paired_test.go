package benchtrie

import (
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	gethtrie "github.com/ethereum/go-ethereum/trie"

	"github.com/folio-ledger/folio/internal/ledger/trie"
	"github.com/folio-ledger/folio/internal/ledger/trie/proof"
)

// cpuTime returns the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// paired runs folio() then geth() in every iteration, so both see the same
// machine load, and reports per-call wall-clock and CPU time of each and the
// ratios Folio / go-ethereum. Each function performs `calls` operations. CPU
// time counts work on every core (go-ethereum hashes in parallel); wall time
// credits parallelism.
func paired(b *testing.B, calls int, folio, geth func()) {
	var wallF, wallG, cpuF, cpuG time.Duration
	n := 0
	for b.Loop() {
		t0, c0 := time.Now(), cpuTime()
		folio()
		t1, c1 := time.Now(), cpuTime()
		geth()
		t2, c2 := time.Now(), cpuTime()
		wallF += t1.Sub(t0)
		wallG += t2.Sub(t1)
		cpuF += c1 - c0
		cpuG += c2 - c1
		n += calls
	}
	b.ReportMetric(float64(wallF.Nanoseconds())/float64(n), "folio-ns/op")
	b.ReportMetric(float64(wallG.Nanoseconds())/float64(n), "geth-ns/op")
	b.ReportMetric(float64(wallF)/float64(wallG), "ratio")
	if cpuG > 0 {
		b.ReportMetric(float64(cpuF)/float64(cpuG), "cpu-ratio")
	}
}

// BenchmarkPairedInsertHash100k: the insert+hash workload, paired.
func BenchmarkPairedInsertHash100k(b *testing.B) {
	keys, values := benchKeys(benchN)
	paired(b, 1, func() {
		tr := trie.NewEmpty(nil)
		for i := range keys {
			_ = tr.Update(keys[i], values[i])
		}
		tr.Hash()
	}, func() {
		g := newGeth()
		for i := range keys {
			_ = g.Update(keys[i], values[i])
		}
		g.Hash()
	})
}

// BenchmarkPairedProve100k: 1,000 proofs of present keys per call of each
// side, reported per proof.
func BenchmarkPairedProve100k(b *testing.B) {
	keys, values := benchKeys(benchN)
	ours, theirs := trie.NewEmpty(nil), newGeth()
	for i := range keys {
		_ = ours.Update(keys[i], values[i])
		_ = theirs.Update(keys[i], values[i])
	}
	ours.Hash()
	theirs.Hash()
	const calls = 1000
	off := 0
	paired(b, calls, func() {
		for i := 0; i < calls; i++ {
			if _, err := ours.Prove(keys[(off+i)%len(keys)]); err != nil {
				b.Fatal(err)
			}
		}
	}, func() {
		for i := 0; i < calls; i++ {
			var p proofList
			if err := theirs.Prove(keys[(off+i)%len(keys)], &p); err != nil {
				b.Fatal(err)
			}
		}
		off += calls
	})
}

// BenchmarkPairedVerify100k: 1,000 verifications per call of each side,
// starting from the same lists of RLP nodes (go-ethereum's side builds the
// hash-keyed database its VerifyProof reads, hashing each node).
func BenchmarkPairedVerify100k(b *testing.B) {
	keys, values := benchKeys(benchN)
	tr := trie.NewEmpty(nil)
	for i := range keys {
		_ = tr.Update(keys[i], values[i])
	}
	root := tr.Hash()
	const calls = 1000
	proofs := make([][][]byte, calls)
	for i := range proofs {
		p, err := tr.Prove(keys[i])
		if err != nil {
			b.Fatal(err)
		}
		proofs[i] = p
	}
	paired(b, calls, func() {
		for i := 0; i < calls; i++ {
			if v, err := proof.VerifyProof(root, keys[i], proofs[i]); err != nil || v == nil {
				b.Fatal(err)
			}
		}
	}, func() {
		for i := 0; i < calls; i++ {
			db := memorydb.New()
			for _, n := range proofs[i] {
				_ = db.Put(crypto.Keccak256(n), n)
			}
			if v, err := gethtrie.VerifyProof(common.Hash(root), keys[i], db); err != nil || v == nil {
				b.Fatal(err)
			}
		}
	})
}
