package main

import (
	"strings"
	"testing"
)

// The read flags (--min-height, --linearizable) are validated before any
// work: in an empty directory (no network) a bad value is a usage error
// naming the flag, not "no network".
func TestCLIReadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []cliCase{
		{name: "min-height beyond the range", args: []string{"work", "get", "--id", "W", "--min-height", "4611686018427387905"}, code: exitUsage,
			want: []string{"--min-height 4611686018427387905", "from 0 to 4611686018427387904"}},
		{name: "min-height negative", args: []string{"work", "get", "--id", "W", "--min-height", "-1"}, code: exitUsage, want: []string{"--min-height", "0 or more"}},
		{name: "min-height not a number", args: []string{"contract", "query", "--name", "copyright", "--fn", "get", "--min-height", "ten"}, code: exitUsage, want: []string{"--min-height"}},
		{name: "min-height beyond uint64", args: []string{"work", "list", "--min-height", "99999999999999999999"}, code: exitUsage, want: []string{"--min-height"}},
		{name: "linearizable takes no value", args: []string{"work", "get", "--id", "W", "--linearizable=maybe"}, code: exitUsage, want: []string{"--linearizable"}},
	} {
		checkCLICase(t, dir, c)
	}
	r := runCLI(t, "", "work", "get", "--help")
	for _, w := range []string{"--min-height", "--linearizable", "committed in block N", "orderers"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("work get --help lacks %q:\n%s", w, r.stdout)
		}
	}
}
