package main

import "testing"

// TestChaosFlags: `folio chaos` checks its flags before it creates
// anything (no network, no namespaces, no output directory).
func TestChaosFlags(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []cliCase{
		{name: "chaos short", args: []string{"chaos", "--duration", "5s"}, code: exitUsage, want: []string{"--duration 5s: must be 20s to 24h0m0s"}},
		{name: "chaos clients", args: []string{"chaos", "--clients", "0", "--works", "101"}, code: exitUsage,
			want: []string{"--clients 0: must be 1 to 64", "--works 101: must be 1 to 100"}},
		{name: "chaos fault kind", args: []string{"chaos", "--faults", "kill,meteor"}, code: exitUsage,
			want: []string{`--faults: no fault kind "meteor"`, "kill-leader", "disk-full"}},
	} {
		checkCLICase(t, dir, c)
	}
}
