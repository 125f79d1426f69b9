package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/clock"
	"github.com/folio-ledger/folio/internal/replay"
)

// newLedgerCmd: `folio ledger export|replay` (docs/ledger.md, "Replaying
// the chain offline").
func newLedgerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Export a peer's chain, and replay a chain offline to check every validation code and state root",
	}
	cmd.AddCommand(newLedgerExportCmd(g), newLedgerReplayCmd(g))
	return cmd
}

func newLedgerExportCmd(g *globals) *cobra.Command {
	var out, dataDir, workDir string
	cmd := &cobra.Command{
		Use:   "export --out FILE [--peer NAME | --data-dir PEER_DATA_DIR]",
		Short: "Write a peer's blocks 0..height-1, as it stored them (validation codes, state roots), into a block file",
		Long: `Writes every block a peer holds, from the genesis block to its last block, with
the metadata the peer stored (orderer signatures, the validation code of every
transaction, the state root after the block), into FILE: a sequence of
marshalled folio.v1.Block messages, each preceded by its length as an unsigned
varint (protobuf's length-delimited format). 'folio ledger replay --blocks FILE'
replays it.

From a running peer (--peer, or the first peer of the --as identity's
organisation) the blocks are read over its API, as 'folio block get' reads
them, up to the height the peer had when the export started. With --data-dir
the blocks are read from a stopped peer's data directory instead (no network
needed; the directory is copied, never modified). FILE is replaced only once
it is complete.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageErr("--out FILE is required")
			}
			ctx, stop := signalContext()
			defer stop()
			var from string
			var n uint64
			var last *foliov1.Block
			err := writeFileAtomic(out, func(w io.Writer) error {
				bw := replay.NewWriter(w)
				var err error
				if dataDir != "" {
					from = "data dir " + dataDir
					last, err = exportDataDir(g, dataDir, workDir, bw)
				} else {
					from, last, err = exportFromPeer(ctx, g, bw)
				}
				n = bw.Count()
				return err
			})
			if err != nil {
				return err
			}
			root := ""
			if last != nil {
				root = hex.EncodeToString(last.GetMetadata().GetStateRoot())
			}
			res := map[string]any{"out": out, "source": from, "blocks": n, "state_root": root}
			return g.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "exported blocks 0-%d of %s to %s\nstate root after block %d: %s\n", int64(n)-1, from, out, int64(n)-1, root)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "block file to write")
	f.StringVar(&dataDir, "data-dir", "", "read a stopped peer's data directory (its data_dir, holding db/) instead of asking a running peer")
	f.StringVar(&workDir, "work-dir", "", "with --data-dir: where to put the copy of the peer's database (default: the system's temporary directory)")
	return cmd
}

// exportDataDir copies a stopped peer's blocks into w.
func exportDataDir(g *globals, dataDir, workDir string, w *replay.Writer) (*foliov1.Block, error) {
	tmp, err := os.MkdirTemp(workDir, "folio-export-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	src, err := replay.OpenDataDir(dataDir, tmp, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var last *foliov1.Block
	for {
		b, err := src.Next()
		if errors.Is(err, io.EOF) {
			return last, w.Flush()
		}
		if err != nil {
			return nil, err
		}
		if err := w.Write(b); err != nil {
			return nil, err
		}
		last = b
		if n := w.Count(); n%10000 == 0 {
			fmt.Fprintf(g.progress(), "export: %d/%d blocks\n", n, src.Height())
		}
	}
}

// exportFromPeer streams a running peer's blocks [0, height) into w.
func exportFromPeer(ctx context.Context, g *globals, w *replay.Writer) (string, *foliov1.Block, error) {
	t, err := g.chainTarget("")
	if err != nil {
		return "", nil, err
	}
	infoCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	info, err := t.chain.GetChainInfo(infoCtx, connect.NewRequest(&foliov1.GetChainInfoRequest{}))
	cancel()
	if err != nil {
		return "", nil, fmt.Errorf("chain of %s: %w", t.name, err)
	}
	height := info.Msg.Height
	from := fmt.Sprintf("peer %s (height %d)", t.name, height)
	ctx, cancel = context.WithCancel(ctx)
	defer cancel()
	stream, err := t.chain.StreamBlocks(ctx, connect.NewRequest(&foliov1.StreamBlocksRequest{Start: 0}))
	if err != nil {
		return "", nil, fmt.Errorf("block stream from %s: %w", t.name, err)
	}
	defer stream.Close()
	var last *foliov1.Block
	next := time.Now().Add(2 * time.Second)
	for w.Count() < height && stream.Receive() {
		b := stream.Msg()
		if err := w.Write(b); err != nil {
			return "", nil, fmt.Errorf("from %s: %w", t.name, err)
		}
		last = b
		if time.Now().After(next) {
			fmt.Fprintf(g.progress(), "export: %d/%d blocks\n", w.Count(), height)
			next = time.Now().Add(2 * time.Second)
		}
	}
	if w.Count() < height {
		err := stream.Err()
		if err == nil {
			err = errors.New("the stream ended early")
		}
		return "", nil, fmt.Errorf("block stream from %s: got %d of %d blocks: %w", t.name, w.Count(), height, err)
	}
	return from, last, w.Flush()
}

// writeFileAtomic writes path through a temporary file in its directory,
// renamed over path once write succeeded and the data is synced.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = write(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func newLedgerReplayCmd(g *globals) *cobra.Command {
	var dataDir, blocksFile, genesisFile, workDir string
	var maxListed int
	cmd := &cobra.Command{
		Use:   "replay (--data-dir PEER_DATA_DIR | --blocks FILE) [--genesis FILE] [--json]",
		Short: "Replay a chain offline from block 0 and compare every validation code and state root with the ones the peer stored",
		Long: `Takes block 0 of the chain as the genesis block, builds a fresh ledger in a
temporary directory, and feeds every later block through the same committer a
peer runs (validation, contract lifecycle, ledger commit; no enclave and no
network needed). At every height it compares the validation code it computes
for each transaction, and the state root after the block, with the ones the
source stored (a peer's data dir also has a state root index, compared too),
and checks each block as a peer's deliver client does (orderer signature).

Sources: --data-dir, the data directory of a STOPPED peer (it is copied
first and never modified; a running peer's is refused), or --blocks, a file
written by 'folio ledger export'. --genesis checks that the chain starts with
the network's genesis block (e.g. the network directory's genesis.block).

Prints the blocks replayed, the transactions and their codes, the final state
root and the mismatches (the first --max-listed, each with block, transaction
and both values), progress on stderr. Exits 0 when everything matches, 2 on
any mismatch, 1 when the replay could not run.

Test hook: FOLIO_TEST_CLOCK_OFFSET=43830h (a Go duration) runs the replay with
this process's clock 5 years ahead (see docs/ledger.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (dataDir == "") == (blocksFile == "") {
				return usageErr("give exactly one of --data-dir PEER_DATA_DIR and --blocks FILE")
			}
			if err := clock.Err(); err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			opts := replay.Options{MaxListed: maxListed, Progress: g.progress(),
				Logger: slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
			if genesisFile != "" {
				data, err := os.ReadFile(genesisFile)
				if err != nil {
					return err
				}
				var b foliov1.Block
				if err := proto.Unmarshal(data, &b); err != nil {
					return fmt.Errorf("%s is not a block: %w", genesisFile, err)
				}
				opts.Genesis = &b
			}
			work, err := os.MkdirTemp(workDir, "folio-replay-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			opts.WorkDir = work
			var src replay.Source
			if dataDir != "" {
				s, err := replay.OpenDataDir(dataDir, work, opts.Logger)
				if err != nil {
					return err
				}
				src = s
			} else {
				s, err := replay.OpenFile(blocksFile)
				if err != nil {
					return err
				}
				src = s
			}
			defer src.Close()
			rep, err := replay.Run(ctx, src, opts)
			if err != nil {
				return fmt.Errorf("replay: %w", err)
			}
			if err := g.emit(rep, rep.Print); err != nil {
				return err
			}
			if err := rep.Check(); err != nil {
				return &exitError{code: 2, err: err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "a stopped peer's data directory (its data_dir, holding db/)")
	f.StringVar(&blocksFile, "blocks", "", "a block file written by 'folio ledger export'")
	f.StringVar(&genesisFile, "genesis", "", "the network's genesis block: the chain must start with it")
	f.StringVar(&workDir, "work-dir", "", "where the fresh ledger (and the copy of a data dir) go, removed at the end (default: the system's temporary directory)")
	f.IntVar(&maxListed, "max-listed", 20, "how many mismatches to list (all are counted)")
	return cmd
}
