package localnet

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/folio-ledger/folio/internal/enclave/vm"
)

// CompileCacheDir is the compiled-contract cache that the peers of a local
// network share (config enclave.compile_cache), inside the network
// directory.
const CompileCacheDir = "wasm-cache"

// precompile compiles the contract packages placed on the peers into the
// shared compile cache, once, so that no peer's enclave spends its first
// seconds compiling the same module as the three others.
func precompile(ctx context.Context, dir string, n *Network, progress io.Writer) error {
	var peer *Node
	for i := range n.Nodes {
		if n.Nodes[i].Role == "peer" {
			peer = &n.Nodes[i]
			break
		}
	}
	if peer == nil {
		return nil
	}
	mods, _ := filepath.Glob(filepath.Join(dir, filepath.Dir(peer.Config), "data", "contracts", "*", "*.wasm"))
	if len(mods) == 0 {
		return nil
	}
	rt, err := vm.NewRuntime(ctx, vm.Options{CacheDir: filepath.Join(dir, CompileCacheDir)})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	for _, p := range mods {
		wasm, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		name := filepath.Base(filepath.Dir(p))
		version := strings.TrimSuffix(filepath.Base(p), ".wasm")
		start := time.Now()
		fmt.Fprintf(progress, "compiling contract %s version %s for the peers' enclaves...", name, version)
		if _, err := rt.Load(ctx, name, version, wasm); err != nil {
			fmt.Fprintln(progress)
			return fmt.Errorf("compile contract %s version %s: %w", name, version, err)
		}
		fmt.Fprintf(progress, " %s\n", time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}
