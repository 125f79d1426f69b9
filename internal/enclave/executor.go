package enclave

import (
	"context"
	"fmt"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/vm"
)

// PackageSource finds the signed package of a contract version installed
// on this peer (lifecycle.Registry.SignedPackage): nil, without an error,
// for a genesis contract placed without one.
type PackageSource interface {
	SignedPackage(name, version string) (*foliov1.SignedContractPackage, error)
}

// Executor is an Enclave as the endorser's executor (endorse.Executor):
// the endorser names a contract version and hands its module, the enclave
// takes the version's signed package, which Packages keeps beside the
// module. A version without a signed package is handed over as a bare
// module, which the enclave runs only if its genesis block pins it.
type Executor struct {
	Enclave  Enclave
	Packages PackageSource
}

// Install implements endorse.Executor.
func (x Executor) Install(ctx context.Context, name, version string, wasm []byte, confidential bool) error {
	spkg, err := x.Packages.SignedPackage(name, version)
	if err != nil {
		return fmt.Errorf("enclave: signed package of %s %s: %w", name, version, err)
	}
	return x.Enclave.Install(ctx, Module{Name: name, Version: version, Confidential: confidential, Signed: spkg, Wasm: wasm})
}

// Simulate implements endorse.Executor.
func (x Executor) Simulate(ctx context.Context, version string, call abi.Call) (*vm.Result, error) {
	return x.Enclave.Simulate(ctx, version, call)
}
