// Command folio is Folio's one binary: the client CLI, the local network
// supervisor, and every node process (peer, orderer, CA). It is the only
// place that reads flags and files; the one environment variable read
// elsewhere is the FOLIO_TEST_CLOCK_OFFSET test hook (internal/clock).
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
