package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// chaosReport is the part of `folio chaos --json` the tests read.
type chaosReport struct {
	Seed             int64                     `json:"seed"`
	Network          string                    `json:"network"`
	Operations       int                       `json:"operations"`
	Faults           map[string]int            `json:"faults"`
	Skipped          map[string]string         `json:"skipped"`
	Violations       int                       `json:"violations"`
	LostAcknowledged int                       `json:"lost_acknowledged"`
	DivergentRoots   int                       `json:"divergent_roots"`
	Problems         []string                  `json:"problems"`
	Crashed          []string                  `json:"crashed"`
	FaultErrors      []string                  `json:"fault_errors"`
	OperationsBy     map[string]map[string]int `json:"operations_by"`
	Check            struct {
		Linearizability struct {
			Result string `json:"result"`
			Works  int    `json:"works"`
			Ops    int    `json:"ops"`
		} `json:"linearizability"`
	} `json:"check"`
	Release *struct {
		Opened     int      `json:"opened"`
		Violations []string `json:"violations"`
	} `json:"release"`
	History string `json:"history"`
}

// chaosSeeds are the runs `make test` replays: seed 1 is the short run
// the issue asks for; a seed that once found a bug stays here as its
// regression test (docs/robustness.md lists them).
var chaosSeeds = []struct {
	seed     string
	duration string
	why      string
	long     bool // runs only with FOLIO_CHAOS_LONG=1 (see docs/robustness.md)
}{
	{seed: "1", duration: "100s", why: "the fixed short run; found the read height reported ahead of the enclave's state"},
	{seed: "7714833773376463", duration: "30m", long: true,
		why: "the first soak: a linearizable read took its height from a minority of the orderers during a partition"},
}

// TestChaosShort runs `folio chaos` (its own network, in network
// namespaces when root) for each fixed seed and requires a clean report:
// no violation, nothing acknowledged lost, no divergent root, no node that
// died on its own, and faults actually injected.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run skipped in -short mode")
	}
	for _, c := range chaosSeeds {
		t.Run("seed-"+c.seed, func(t *testing.T) {
			if c.long && os.Getenv("FOLIO_CHAOS_LONG") != "1" {
				t.Skipf("seed %s runs %s (%s): set FOLIO_CHAOS_LONG=1 to replay it", c.seed, c.duration, c.why)
			}
			out := filepath.Join(t.TempDir(), "chaos")
			cmd := exec.Command(folioBin, "chaos", "--seed", c.seed, "--duration", c.duration, "--out", out, "--json")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			raw, err := cmd.Output()
			var rep chaosReport
			if jerr := json.Unmarshal(raw, &rep); jerr != nil {
				t.Fatalf("folio chaos (%v) printed no report: %v\nstdout: %s\nstderr:\n%s", err, jerr, raw, tailLines(stderr.String(), 200))
			}
			t.Logf("seed %s (%s): network %s, %d operations %v, faults %v, skipped %v, linearizability %s over %d works / %d ops",
				c.seed, c.why, rep.Network, rep.Operations, rep.OperationsBy, rep.Faults, rep.Skipped,
				rep.Check.Linearizability.Result, rep.Check.Linearizability.Works, rep.Check.Linearizability.Ops)
			failed := err != nil || rep.Violations != 0 || rep.LostAcknowledged != 0 || rep.DivergentRoots != 0 || len(rep.Crashed) != 0
			if failed {
				t.Errorf("chaos seed %s: exit %v, %d violations, %d lost acknowledged, %d divergent roots, crashed %v\nproblems:\n  %s",
					c.seed, err, rep.Violations, rep.LostAcknowledged, rep.DivergentRoots, rep.Crashed, strings.Join(rep.Problems, "\n  "))
				t.Logf("stderr:\n%s", tailLines(stderr.String(), 300))
				for _, f := range []string{"faults.jsonl"} {
					if b, err := os.ReadFile(filepath.Join(out, f)); err == nil {
						t.Logf("%s:\n%s", f, b)
					}
				}
			}
			injected := 0
			for _, n := range rep.Faults {
				injected += n
			}
			if injected < 3 {
				t.Errorf("only %d faults injected (%v): the run proved little", injected, rep.Faults)
			}
			if rep.Operations < 100 {
				t.Errorf("only %d operations", rep.Operations)
			}
			if rep.Check.Linearizability.Result != "ok" {
				t.Errorf("linearizability result %q", rep.Check.Linearizability.Result)
			}
			// Under faults a release may not open (a key server down at
			// T): that is reported, not a violation; opening early is.
			if rep.Release == nil {
				t.Errorf("the run had no timed release")
			} else {
				t.Logf("timed release: %d clients opened it", rep.Release.Opened)
			}
		})
	}
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
