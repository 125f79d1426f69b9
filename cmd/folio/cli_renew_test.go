package main

import "testing"

// TestCARenewUsage: `folio ca renew` says what it needs before it reaches
// for a network or a CA.
func TestCARenewUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []cliCase{
		{"nothing to renew", []string{"ca", "renew", "--org", "Org1", "--name", "peer0"}, exitUsage, []string{"--node-dir", "--wallet"}},
		{"both targets", []string{"ca", "renew", "--org", "Org1", "--name", "peer0", "--node-dir", dir, "--wallet"}, exitUsage, []string{"one of them"}},
		{"TLS for a wallet", []string{"ca", "renew", "--org", "Org1", "--name", "user1", "--wallet", "--tls"}, exitUsage, []string{"--node-dir"}},
		{"hosts without --tls", []string{"ca", "renew", "--org", "Org1", "--name", "peer0", "--node-dir", dir, "--host", "h"}, exitUsage, []string{"add --tls"}},
		{"no name", []string{"ca", "renew", "--org", "Org1", "--wallet"}, exitUsage, []string{"name"}},
	} {
		checkCLICase(t, dir, c)
	}
}
