// Command folio is Folio's one binary: the client CLI, the local network
// supervisor, and every node process (peer, orderer, CA). It is the only
// place that reads flags and files; the one environment variable read
// elsewhere is the FOLIO_TEST_CLOCK_OFFSET test hook (internal/clock).
package main

import (
	"errors"
	"fmt"
	"os"

	"connectrpc.com/connect"

	"github.com/folio-ledger/folio/client"
)

func main() {
	root := newRoot()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "folio: "+describe(err))
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// exitError carries a specific exit status (e.g. 2 for "verification failed").
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// describe renders an error chain for people: the full context, with a hint
// when a node could not be reached.
func describe(err error) string {
	msg := err.Error()
	if connect.CodeOf(err) == connect.CodeUnavailable || errors.Is(err, client.ErrNoGateway) {
		msg += " (is the network up? try `folio network status`)"
	}
	return msg
}
