package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/client/wallet"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/version"
)

// globals are the flags every command shares (see docs/cli.md).
type globals struct {
	network string
	as      string
	peer    string
	json    bool
	// minHeight and linearizable make reads current (--min-height,
	// --linearizable; readOptions in gateway.go).
	minHeight    uint64
	linearizable bool
	stdout       io.Writer
	stderr       io.Writer
}

func newRoot() *cobra.Command {
	root, _ := newRootWith(os.Stdout, os.Stderr)
	return root
}

// newRootWith builds the command tree writing to stdout and stderr, and
// returns the globals its flags fill.
func newRootWith(stdout, stderr io.Writer) (*cobra.Command, *globals) {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "folio",
		Short: "Folio: a permissioned ledger for digital copyright",
		Long: `Folio registers creative works, transfers rights and proves provenance on a
permissioned ledger run by a consortium of organisations.

Start a local network with 'folio network up', then use the other commands
against it. Every command prints a human-readable result, or exactly one JSON
document on stdout with --json. Errors go to stderr with a non-zero status.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Get().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	defNet := os.Getenv("FOLIO_NETWORK")
	if defNet == "" {
		defNet = "./folio-net"
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.network, "network", defNet, "network directory made by 'folio network up' ($FOLIO_NETWORK)")
	pf.StringVar(&g.as, "as", "user1@Org1", "identity that signs, user@Org")
	pf.StringVar(&g.peer, "peer", "", "peer whose gateway is used (default: first peer of the identity's organisation); commands that go through a\n"+
		"gateway (work, contract activate, release) try it first and, while it is unreachable, the other peers of its organisation")
	pf.BoolVar(&g.json, "json", false, "print one JSON document on stdout")
	pf.Uint64Var(&g.minHeight, "min-height", 0, "reads (work get/history/list, contract query) wait until the answering peer has committed block N,\n"+
		"e.g. the block a write printed ('committed in block N'); a peer that does not get it in time (limits.max_read_wait,\n"+
		"5s by default) says it is behind and the next peer of the organisation is asked (0: no minimum)")
	pf.BoolVar(&g.linearizable, "linearizable", false, "reads first ask the orderers for the chain's height and wait until the peer has committed it:\n"+
		"the answer reflects every transaction in a block the orderers had cut when the read arrived, so every write\n"+
		"any process saw committed before the read was sent (costs a round trip to the orderers)")

	root.AddCommand(
		newVersionCmd(g),
		newNetworkCmd(g),
		newPeerCmd(g),
		newOrdererCmd(g),
		newCACmd(g),
		newBlockCmd(g),
		newLedgerCmd(g),
		newTxCmd(g),
		newBenchCmd(g),
		newChaosCmd(g),
		newP2PCmd(g),
		newWorkCmd(g),
		newEvidenceCmd(g),
		newEnclaveCmd(g),
		newContractCmd(g),
		newReleaseCmd(g),
		newExplorerCmd(g),
		newOrgCmd(g),
		newChannelCmd(g),
	)
	requireKnownSubcommand(root)
	return root, g
}

// loadNetwork reads the network directory named by --network.
func (g *globals) loadNetwork() (string, *localnet.Network, error) {
	dir, err := filepath.Abs(g.network)
	if err != nil {
		return "", nil, err
	}
	n, err := localnet.Load(dir)
	return dir, n, err
}

func (g *globals) wallet(dir string) *wallet.Wallet {
	return wallet.Open(filepath.Join(dir, "wallet"))
}

// signer loads the identity named by --as (or label, when given).
func (g *globals) signer(dir, label string) (*client.Identity, error) {
	if label == "" {
		return g.loadIdentity(dir, g.as, "--as")
	}
	return g.loadIdentity(dir, label, "identity")
}

// printJSON writes v as one indented JSON document.
func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// emit prints v as JSON with --json, otherwise calls human.
func (g *globals) emit(v any, human func(w io.Writer)) error {
	if g.json {
		return g.printJSON(v)
	}
	human(g.stdout)
	return nil
}

func (g *globals) progress() io.Writer { return g.stderr }

func orgOf(label string) string {
	_, org, err := wallet.ParseLabel(label)
	if err != nil {
		return ""
	}
	return org
}
