package replay

import (
	"context"
	"log/slog"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/commit"
	"github.com/folio-ledger/folio/internal/deliver"
	"github.com/folio-ledger/folio/internal/ledger"
	"github.com/folio-ledger/folio/internal/lifecycle"
)

// peerPath is a peer's commit path without the network: the check its
// deliver client makes of every block before handing it on, and its
// committer.
type peerPath struct {
	// verify checks block b as the peer's deliver client does before the
	// committer sees it (deliver.Client: deliver.VerifyBlock), given the
	// height and last hash of the replayed ledger.
	verify func(b *foliov1.Block, height uint64, prevHash []byte) error
	com    *commit.Committer
}

// newPeerPath builds the committer exactly as internal/node/peer.go
// (startPeer) does, minus the parts that need the network or the enclave
// (endorser, gateway, installer, evidence, health gate, release, deliver
// sessions; the committer needs none of them), over a fresh ledger holding
// only the genesis block. This is the one place that knows how a peer
// assembles its commit path: when the committer's options change, only
// this function changes.
//
// The differences from a running peer, none of which may change a
// validation code or a state root if validation is a pure function of the
// chain (DESIGN 6):
//   - no OwnEndorsement: a peer skips re-checking the signatures of the
//     endorsements it made itself, the replay checks them all;
//   - no OnConfig: a peer hands the revocation lists of committed config
//     updates to its admission verifier, which the replay does not have;
//   - the lifecycle registry's package directory is empty: packages are
//     only needed to execute contracts, never to validate.
//
// The channel configuration in force starts as the genesis one
// (peer.go: loadChannelConfig on a ledger without config updates) and the
// committer installs every configuration a committed block puts in force.
func newPeerPath(cfg *foliov1.ChannelConfig, led *ledger.Ledger, contractsDir string, onCommit func(*commit.Committed), log *slog.Logger) (*peerPath, error) {
	contracts, err := lifecycle.New(contractsDir, cfg)
	if err != nil {
		return nil, err
	}
	// peer.go: loadLifecycle (the records committed so far; none yet).
	rd, err := led.NewReader()
	if err != nil {
		return nil, err
	}
	err = contracts.Load(rd)
	rd.Close()
	if err != nil {
		return nil, err
	}
	genesis, err := channel.Restore(cfg, nil, 0)
	if err != nil {
		return nil, err
	}
	config := channel.NewTracker(genesis)
	com, err := commit.New(commit.Options{ChannelID: cfg.ChannelId, Ledger: led, Config: config, Contracts: contracts, Logger: log,
		OnCommit: func(_ context.Context, c *commit.Committed) error {
			onCommit(c)
			return nil
		}})
	if err != nil {
		return nil, err
	}
	return &peerPath{
		verify: func(b *foliov1.Block, height uint64, prevHash []byte) error {
			return deliver.VerifyBlock(config.Current(), b, height, prevHash, com.LastTimestamp())
		},
		com: com,
	}, nil
}
