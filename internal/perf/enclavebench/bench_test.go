package enclavebench

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/enclavetest"
)

// TestRunSmall runs the whole benchmark briefly on an in-memory store.
func TestRunSmall(t *testing.T) {
	o := Options{Works: 2000, Duration: time.Second, Warmup: 300 * time.Millisecond, Concurrency: 2,
		Wasm: copyrightWasm(t), Store: memStore{enclavetest.NewVersionedState()}, Enclave: childOptions(t), LoadBlock: 500}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	t.Logf("%s", b)
	if len(res.Configs) != 3 || res.EcallRoundTripUS <= 0 || res.WasmCallUS <= 0 {
		t.Fatalf("result %s", b)
	}
	for _, c := range res.Configs {
		if c.Calls == 0 || c.Errors != 0 {
			t.Errorf("%s: %d calls, %d errors", c.Name, c.Calls, c.Errors)
		}
	}
	none, tiered := res.Configs[0], res.Configs[2]
	if tiered.OcallsPerCall >= none.OcallsPerCall || tiered.HitRate.Internal == 0 {
		t.Errorf("the tiered cache saved nothing: none %+v tiered %+v", none, tiered)
	}
}

// TestZipf checks the generator's skew against the exact distribution.
func TestZipf(t *testing.T) {
	const n, draws = 1000, 400_000
	z := newZipf(rand.New(rand.NewPCG(1, 2)), n, 0.99)
	counts := make([]int, n)
	for i := 0; i < draws; i++ {
		counts[z.next()]++
	}
	zn := zeta(n, 0.99)
	for _, rank := range []int{0, 1, 9, 99} {
		want := draws / zn / pow(float64(rank+1), 0.99)
		got := float64(counts[rank])
		if got < want*0.85 || got > want*1.15 {
			t.Errorf("rank %d drawn %v times, expected about %.0f", rank, got, want)
		}
	}
	// scramble is a permutation: n ranks reach all n works, and
	// neighbouring ranks are not neighbouring works.
	for _, n := range []int{1, 2, 1000, 100_003, 1_000_000} {
		seen := make([]bool, n)
		for r := 0; r < n; r++ {
			w := scramble(r, n)
			if w < 0 || w >= n || seen[w] {
				t.Fatalf("n=%d: rank %d maps to work %d (seen before: %v)", n, r, w, w >= 0 && w < n && seen[w])
			}
			seen[w] = true
		}
	}
	if d := scramble(1, 1_000_000) - scramble(0, 1_000_000); d > -1000 && d < 1000 {
		t.Errorf("ranks 0 and 1 map to neighbouring works (%d apart)", d)
	}
}

// TestLedgerStore checks the Pebble store against the in-memory one.
func TestLedgerStore(t *testing.T) {
	s, err := OpenLedger(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Load(10, 4, workKey, workRecord); err != nil {
		t.Fatal(err)
	}
	r, err := s.NewStateReader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	v, ver, err := r.Get(Namespace, workKey(5))
	if err != nil || string(v) != string(workRecord(5)) || ver.GetBlockNum() != 1 || r.Height() != 3 {
		t.Fatalf("get: %q %v %v height %d", v, ver, err, r.Height())
	}
	b, err := s.CommitBlock([]string{"t1", "t2"}, [][]enclave.Write{
		{{Namespace: Namespace, Key: workKey(5), Value: []byte("x")}},
		{{Namespace: Namespace, Key: workKey(6), Delete: true}, {Namespace: "other", Key: "k", Value: []byte("y")}}})
	if err != nil || b != 3 {
		t.Fatalf("commit: %d %v", b, err)
	}
	if cur, _ := s.Current(Namespace, workKey(5)); cur.GetBlockNum() != 3 || cur.GetTxNum() != 0 {
		t.Fatalf("current %v", cur)
	}
	if cur, _ := s.Current(Namespace, workKey(6)); cur != nil {
		t.Fatalf("deleted key has version %v", cur)
	}
	if cur, _ := s.Current("other", "k"); cur.GetTxNum() != 1 {
		t.Fatalf("other %v", cur)
	}
	kvs, _, err := r.Range(Namespace, "", "", 100)
	if err != nil || len(kvs) != 10 {
		t.Fatalf("range at the old height: %d %v", len(kvs), err)
	}
}

// TestParseStatCPU reads utime and stime of a /proc/PID/stat line whose
// command name holds spaces and parentheses.
func TestParseStatCPU(t *testing.T) {
	line := "4242 (folio (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 37 0 0 20 0 9 0 12345 1000000 500 18446744073709551615\n"
	if got, want := parseStatCPU(line), 287*10*time.Millisecond; got != want {
		t.Fatalf("parseStatCPU = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "4242 (folio", "4242 (folio) S 1 2"} {
		if got := parseStatCPU(bad); got != 0 {
			t.Errorf("parseStatCPU(%q) = %v, want 0", bad, got)
		}
	}
	if procCPU(0) != 0 || procCPU(-1) != 0 {
		t.Error("procCPU of no process is not 0")
	}
}
