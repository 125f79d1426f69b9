package enclavetest

import (
	"context"
	"fmt"
	"sync"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/vm"
)

// Fake is an enclave.Enclave without an enclave, for tests of its users
// (endorser, committer): it records what it is asked and answers with
// SimulateFunc (default: a 200 response with an empty read/write set).
// Safe for concurrent use.
type Fake struct {
	// SimulateFunc answers Simulate; set it before use.
	SimulateFunc func(ctx context.Context, version string, call abi.Call) (*vm.Result, error)
	// InstallErr, if set, is returned by Install.
	InstallErr error

	mu struct {
		sync.Mutex
		installed map[string]bool // "name version"
		calls     []abi.Call
		commits   []FakeCommit
		closed    bool
	}
}

// FakeCommit is a recorded Commit.
type FakeCommit struct {
	Block  uint64
	Writes []enclave.Write
}

var _ enclave.Enclave = (*Fake)(nil)

// Install implements enclave.Enclave.
func (f *Fake) Install(_ context.Context, m enclave.Module) error {
	name, version := m.Name, m.Version
	if f.InstallErr != nil {
		return f.InstallErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.installed == nil {
		f.mu.installed = map[string]bool{}
	}
	f.mu.installed[name+" "+version] = true
	return nil
}

// Simulate implements enclave.Enclave.
func (f *Fake) Simulate(ctx context.Context, version string, call abi.Call) (*vm.Result, error) {
	name := call.Namespace
	f.mu.Lock()
	ok := f.mu.installed[name+" "+version]
	f.mu.calls = append(f.mu.calls, call)
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%s %s: %w", name, version, enclave.ErrNotInstalled)
	}
	if f.SimulateFunc != nil {
		return f.SimulateFunc(ctx, version, call)
	}
	return &vm.Result{Contract: &foliov1.ContractRef{Name: name, Version: version},
		Response: &foliov1.Response{Status: 200}, RWSet: &foliov1.ReadWriteSet{}}, nil
}

// Commit implements enclave.Enclave.
func (f *Fake) Commit(_ context.Context, block uint64, writes []enclave.Write) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.commits = append(f.mu.commits, FakeCommit{Block: block, Writes: append([]enclave.Write(nil), writes...)})
	return nil
}

// Invalidate implements enclave.Enclave.
func (f *Fake) Invalidate(context.Context) error { return nil }

// Stats implements enclave.Enclave (zero).
func (f *Fake) Stats() enclave.Stats { return enclave.Stats{} }

// Close implements enclave.Enclave.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.closed = true
	return nil
}

// Calls returns the calls Simulate received.
func (f *Fake) Calls() []abi.Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]abi.Call(nil), f.mu.calls...)
}

// Commits returns the recorded commits.
func (f *Fake) Commits() []FakeCommit {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FakeCommit(nil), f.mu.commits...)
}
