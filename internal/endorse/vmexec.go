package endorse

import (
	"context"
	"fmt"
	"sync"

	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/vm"
)

// VMExecutor runs contracts in this process with the VM, reading state
// directly. It exists for tests; a peer runs contracts in its enclave
// process (internal/enclave), which implements the same Executor.
type VMExecutor struct {
	Runtime *vm.Runtime
	State   vm.State

	mu      sync.Mutex
	modules map[string]*vm.Module // "name/version"
}

var _ Executor = (*VMExecutor)(nil)

// Install loads a contract version once.
func (x *VMExecutor) Install(ctx context.Context, name, version string, wasm []byte, confidential bool) error {
	if confidential {
		return fmt.Errorf("contract %s is confidential: it can only run in an enclave", name)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.modules == nil {
		x.modules = map[string]*vm.Module{}
	}
	key := name + "/" + version
	if x.modules[key] != nil {
		return nil
	}
	m, err := x.Runtime.Load(ctx, name, version, wasm)
	if err != nil {
		return err
	}
	x.modules[key] = m
	return nil
}

// Simulate runs a call with an installed version.
func (x *VMExecutor) Simulate(ctx context.Context, version string, call abi.Call) (*vm.Result, error) {
	x.mu.Lock()
	m := x.modules[call.Namespace+"/"+version]
	x.mu.Unlock()
	if m == nil {
		return nil, fmt.Errorf("%w: %s version %s is not installed", ErrUnavailable, call.Namespace, version)
	}
	return x.Runtime.Invoke(ctx, m, call, x.State)
}
