package main

import (
	"strings"
	"testing"
)

// TestCLIContractFlags: the work commands' flags of issue 19 (content-hash
// priority, owners in the channel) are checked before any network call:
// these rows run without a network and must end as usage errors.
func TestCLIContractFlags(t *testing.T) {
	hash := "sha256:" + strings.Repeat("a", 64)
	reg := []string{"work", "register", "--id", "W1", "--title", "T", "--author", "A", "--hash", hash}
	with := func(base []string, extra ...string) []string { return append(append([]string{}, base...), extra...) }
	for _, c := range []cliCase{
		{name: "derivative and duplicate", args: with(reg, "--derivative-of", "W0", "--duplicate"), code: exitUsage,
			want: []string{"--derivative-of", "--duplicate", "exclude each other"}},
		{name: "derivative of a bad ID", args: with(reg, "--derivative-of", "W 0"), code: exitUsage, want: []string{"--derivative-of", "work ID"}},
		{name: "owner without organisation", args: with(reg, "--owner", "nobody"), code: exitUsage, want: []string{"--owner", "user@Org"}},
		{name: "bad hash", args: []string{"work", "register", "--id", "W1", "--title", "T", "--author", "A", "--hash", "sha256:12"}, code: exitUsage,
			want: []string{"--hash", "64"}},
		{name: "transfer to a non-label", args: []string{"work", "transfer", "--id", "W1", "--to", "nobody"}, code: exitUsage, want: []string{"--to", "user@Org"}},
		{name: "list bad hash", args: []string{"work", "list", "--hash", "md5:abc"}, code: exitUsage, want: []string{"--hash", "sha256:"}},
		{name: "list negative limit", args: []string{"work", "list", "--limit", "-1"}, code: exitUsage, want: []string{"--limit", "1000"}},
		{name: "list huge limit", args: []string{"work", "list", "--limit", "5000"}, code: exitUsage, want: []string{"--limit", "1000"}},
	} {
		checkCLICase(t, "", c)
	}
}
