package localnet

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/client"
	"github.com/folio-ledger/folio/internal/config"
	"github.com/folio-ledger/folio/internal/evidence"
	"github.com/folio-ledger/folio/internal/node"
)

// RebuildResult says what RebuildPeer did.
type RebuildResult struct {
	Name string `json:"name"`
	// HealthBefore and DetailBefore are the peer's health before the
	// rebuild (empty when it was not running or did not answer).
	HealthBefore string `json:"health_before,omitempty"`
	DetailBefore string `json:"health_detail_before,omitempty"`
	// MovedTo is the directory that now holds the peer's old ledger (and
	// its health record): nothing is deleted. Empty when it had none.
	MovedTo string `json:"moved_to,omitempty"`
	// Height is the rebuilt peer's height at the end, at least Target,
	// the height of the other peers when it started.
	Height uint64 `json:"height"`
	Target uint64 `json:"target"`
	Health string `json:"health"`
	// StateRoot is its state root after block RootBlock (hex), which
	// Agreeing, the other peers whose signed roots agreed with its own in
	// its latest checks, confirm.
	RootBlock uint64   `json:"root_block"`
	StateRoot string   `json:"state_root,omitempty"`
	Agreeing  []string `json:"agreeing,omitempty"`
	TookMS    int64    `json:"took_ms"`
}

// RebuildPeer rebuilds one peer's ledger from the chain: it stops the
// peer, moves its ledger (data_dir/db, with its health record) aside into
// data_dir/ledger.diverged-<UTC time> — keys, installed contracts, the
// timed-release store and the compile cache stay — and starts it again,
// so that it replays every block from block 0 from the orderers and
// recomputes every state root. It returns once the peer holds at least
// the blocks the other peers held when it started, its health is ok, and
// one other peer at least signed the same state root after its last block
// with none disagreeing (its own attestation exchange); or fails after
// opts.Timeout (the peer is left running).
func RebuildPeer(ctx context.Context, opts NodeOptions) (RebuildResult, error) {
	began := time.Now()
	if err := opts.prepare(); err != nil {
		return RebuildResult{}, err
	}
	n, err := Load(opts.Dir)
	if err != nil {
		return RebuildResult{}, err
	}
	nd, err := n.Node(opts.Name)
	if err != nil {
		return RebuildResult{}, err
	}
	res := RebuildResult{Name: nd.Name}
	if nd.Role != config.RolePeer {
		return res, fmt.Errorf("%s is a %s: only a peer's ledger is rebuilt from the chain", nd.Name, nd.Role)
	}
	dataDir, err := peerDataDir(opts.Dir, nd)
	if err != nil {
		return res, err
	}
	hc, err := AdminClient(opts.Dir, n)
	if err != nil {
		return res, err
	}
	if info, err := nodeInfo(ctx, hc, nd.API); err == nil {
		res.HealthBefore, res.DetailBefore = info.Health, info.HealthDetail
		fmt.Fprintf(opts.Progress, "%s health before: %s %s\n", nd.Name, info.Health, info.HealthDetail)
	}
	if _, err := StopNode(ctx, opts); err != nil {
		return res, err
	}
	if res.MovedTo, err = moveLedgerAside(dataDir, time.Now()); err != nil {
		return res, fmt.Errorf("%s: move the ledger aside: %w (the peer is stopped: start it with `folio network start %s`)", nd.Name, err, nd.Name)
	}
	if res.MovedTo != "" {
		fmt.Fprintf(opts.Progress, "moved %s's ledger to %s (kept; delete it when no longer needed)\n", nd.Name, res.MovedTo)
	} else {
		fmt.Fprintf(opts.Progress, "%s had no ledger in %s\n", nd.Name, dataDir)
	}
	deadline := time.Now().Add(opts.Timeout)
	if _, err := StartNode(ctx, opts); err != nil {
		return res, err
	}
	res.Target = othersHeight(ctx, hc, n, nd.Name)
	fmt.Fprintf(opts.Progress, "%s replays the chain from block 0; waiting for height %d, health ok and agreeing state roots\n", nd.Name, res.Target)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	why := "no answer yet"
	for {
		info, err := nodeInfo(ctx, hc, nd.API)
		if err != nil {
			why = err.Error()
		} else {
			res.Height, res.Health = info.Height, info.Health
			var done bool
			done, why, res.RootBlock, res.StateRoot, res.Agreeing = rebuilt(info, res.Target)
			if done {
				res.TookMS = time.Since(began).Milliseconds()
				return res, nil
			}
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("%s: gave up waiting for the rebuild (%v): it is left running; last reason: %s", nd.Name, ctx.Err(), why)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%s not rebuilt after %s: %s; it is left running (see `folio network status`)", nd.Name, opts.Timeout, why)
		}
	}
}

// rebuilt reports whether a rebuilt peer is done: it holds at least
// target blocks, its health is ok, and its latest checks of blocks from
// target-1 on have at least one other peer agreeing and none disagreeing
// or invalid. Otherwise why says why not. When done, root is its state
// root after block top, its latest agreeing check, and agreeing the peers
// that agreed.
func rebuilt(info *foliov1.NodeInfo, target uint64) (done bool, why string, top uint64, root string, agreeing []string) {
	if info.Height < target || info.Height == 0 {
		return false, fmt.Sprintf("catching up: height %d of %d", info.Height, target), 0, "", nil
	}
	if info.Health != evidence.HealthOK {
		return false, fmt.Sprintf("health %q: %s", info.Health, info.HealthDetail), 0, "", nil
	}
	for _, c := range info.AttestationChecks {
		if c.BlockNumber+1 < target {
			continue
		}
		switch c.Result {
		case evidence.ResultAgree:
			agreeing = append(agreeing, c.Peer)
			if root == "" || c.BlockNumber > top {
				top, root = c.BlockNumber, hex.EncodeToString(c.StateRoot)
			}
		case evidence.ResultDisagree, evidence.ResultInvalid:
			return false, fmt.Sprintf("%s's attestation of block %d: %s (%s)", c.Peer, c.BlockNumber, c.Result, c.Detail), 0, "", nil
		}
	}
	if len(agreeing) == 0 {
		return false, fmt.Sprintf("no other peer's signed state root checked at height %d or above yet", max(target, 1)), 0, "", nil
	}
	sort.Strings(agreeing)
	return true, "", top, root, agreeing
}

// peerDataDir is a peer's data directory, from its config file (with the
// FOLIO_* environment overrides a started node applies).
func peerDataDir(dir string, nd *Node) (string, error) {
	file := filepath.Join(dir, nd.Config)
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	cfg, err := config.ParseNode(file, data, config.EnvOverrides(&config.Node{}, os.LookupEnv))
	if err != nil {
		return "", err
	}
	return cfg.DataDir, nil
}

// moveLedgerAside moves a stopped peer's ledger and health record into
// dataDir/ledger.diverged-<UTC time> and returns that directory ("" when
// there was no ledger).
func moveLedgerAside(dataDir string, now time.Time) (string, error) {
	var present []string
	for _, name := range []string{node.LedgerDir, node.HealthFile} {
		if _, err := os.Lstat(filepath.Join(dataDir, name)); err == nil {
			present = append(present, name)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	if len(present) == 0 {
		return "", nil
	}
	aside := filepath.Join(dataDir, "ledger.diverged-"+now.UTC().Format("20060102T150405.000Z"))
	if err := os.Mkdir(aside, 0o700); err != nil {
		return "", err
	}
	for _, name := range present {
		if err := os.Rename(filepath.Join(dataDir, name), filepath.Join(aside, name)); err != nil {
			return "", err
		}
	}
	return aside, nil
}

// othersHeight is the highest height of the other running peers that
// answer (0 if none does).
func othersHeight(ctx context.Context, hc *http.Client, n *Network, self string) uint64 {
	var top uint64
	for _, nd := range n.Nodes {
		if nd.Role != config.RolePeer || nd.Name == self {
			continue
		}
		if info, err := nodeInfo(ctx, hc, nd.API); err == nil {
			top = max(top, info.Height)
		}
	}
	return top
}

func nodeInfo(ctx context.Context, hc *http.Client, api string) (*foliov1.NodeInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return client.NodeInfo(ctx, hc, api)
}
