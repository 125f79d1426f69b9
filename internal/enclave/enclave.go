package enclave

import (
	"context"
	"errors"
	"fmt"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/contract/abi"
	"github.com/folio-ledger/folio/internal/enclave/trusted"
	"github.com/folio-ledger/folio/internal/enclave/vm"
	"github.com/folio-ledger/folio/internal/types"
)

// Enclave is the trust boundary of a peer: contracts run behind it, and
// everything it keeps outside is sealed. Two implementations: New runs the
// enclave as a separate, supervised process (`folio enclave`); NewInProcess
// runs it inside the caller's process, for unit tests only.
//
// All methods are safe for concurrent use, except that Commit and
// Invalidate must be called by one goroutine (the committer), in block
// order.
type Enclave interface {
	// Install loads a contract version into the enclave (see Module);
	// the host keeps it to install it again after a restart. The enclave
	// runs the module only if an admin of an organisation of its genesis
	// block signed the package, or the genesis block pins the module
	// (docs/enclave.md, "Which modules run"). confidential marks the
	// contract's state as sealed under the state key; all versions of a
	// contract must agree on it. Installing the same version with the
	// same module again is a no-op that does not cross the boundary.
	// Errors: ErrUntrustedModule (nothing the enclave trusts vouches for
	// the module), a *vm.ModuleError (the module is refused by the VM),
	// ErrInstalled, ErrConfidentiality, ErrNoStateKey.
	Install(ctx context.Context, m Module) error

	// Simulate runs call on version version of the contract named by
	// call.Namespace (a contract's namespace is its name), against the
	// committed state at the height of the last Commit that returned (or
	// the state's height when the Enclave started): every read returns
	// the key's committed value at exactly that height, whichever tier
	// serves it. It writes nothing: its writes are in the result's
	// read/write set (values sealed for a confidential contract); the
	// committed values it read may be added to the caches. Errors: a
	// *vm.CallError (the call failed; the other calls are unaffected),
	// ErrNotInstalled, ErrCrashed (the enclave process died during the
	// call; it is being restarted), ErrUnavailable, ErrClosed.
	//
	// The signature is that of endorse.Executor: an Enclave is the
	// endorser's executor as it is.
	Simulate(ctx context.Context, version string, call abi.Call) (*vm.Result, error)

	// Commit pushes the writes of committed block number block through
	// the tiers, right after the ledger committed it: the enclave's
	// internal entries of written keys are replaced in one batched ecall,
	// the external cache's are replaced or removed, and the reader that
	// Simulate uses moves to the new height. writes are the valid
	// transactions' writes in block order, values as committed (sealed for
	// confidential contracts). The ledger must already hold the block:
	// Commit opens a state reader and checks its height is block+1
	// (ErrHeight otherwise). If the enclave process dies during the push,
	// Commit waits for the restart and pushes again.
	Commit(ctx context.Context, block uint64, writes []Write) error

	// Invalidate drops every tier (internal cache, directory, external
	// cache, and the enclave's external-cache key) and reads the state's
	// height afresh: after the ledger was rolled back or rebuilt.
	Invalidate(ctx context.Context) error

	// Stats returns the counters (see Stats).
	Stats() Stats

	// Close stops the enclave (and its process). Calls in flight fail.
	Close() error
}

// Module is a contract version to install: a signed package (Signed), or
// the module of a contract the channel's genesis block defines (Wasm).
// Its slices are retained: do not modify them.
type Module struct {
	// Name, Version and Confidential say what the host installs; with a
	// signed package the enclave checks they are the package's.
	Name, Version string
	Confidential  bool
	// Signed is the version's signed package (types.PackageContract,
	// checked by lifecycle.OpenPackage): the enclave runs the package's
	// own module, if an admin under its genesis block's roots signed it.
	Signed *foliov1.SignedContractPackage
	// Wasm is used when Signed is nil: the module of a genesis contract,
	// which the enclave runs only if the genesis block pins its SHA-256
	// for Name and Version.
	Wasm []byte
}

// SignedModule returns the Module of a signed package, its name, version
// and confidentiality read from the package (types.ParsePackage; the
// signature is the enclave's to check).
func SignedModule(spkg *foliov1.SignedContractPackage) (Module, error) {
	pkg, err := types.ParsePackage(spkg)
	if err != nil {
		return Module{}, err
	}
	return Module{Name: pkg.Name, Version: pkg.Version, Confidential: pkg.Confidential, Signed: spkg}, nil
}

// Write is one committed write of a block.
type Write struct {
	Namespace, Key string
	// Value is the value as committed (as in the transaction's write set:
	// sealed for a confidential contract). The Enclave does not keep it.
	Value []byte
	// Delete marks a deletion (Value is then empty).
	Delete bool
	// Tx is the index of the writing transaction in the block: the write's
	// version is (block, Tx).
	Tx uint64
}

// StateReader is the committed world state at one height (vm.State), as
// the peer's ledger provides it (LedgerSource): what Simulate's ocalls
// read. It must be safe for concurrent use.
type StateReader interface {
	vm.State
	// Height is the number of committed blocks the reader sees.
	Height() uint64
	// Close releases the reader.
	Close() error
}

// StateSource opens readers of the last committed height.
type StateSource interface {
	NewStateReader() (StateReader, error)
}

// Errors of the host side. The enclave's own (ErrNotInstalled,
// ErrInstalled, ErrRollback, ErrNoStateKey, ErrConfidentiality, ErrHeight,
// ErrSealedState, ErrUntrustedModule, ErrNoAnchor) are those of package trusted, re-exported; a failing
// contract call is a *vm.CallError wrapping a vm sentinel.
var (
	// ErrCrashed: the enclave process died during the call. The call
	// failed; the process is being restarted, with cold caches.
	ErrCrashed = errors.New("enclave process died during the call")
	// ErrUnavailable: the enclave process could not be started; the
	// supervisor keeps trying.
	ErrUnavailable = errors.New("enclave unavailable")
	// ErrClosed: the Enclave was closed.
	ErrClosed = errors.New("enclave closed")

	ErrNotInstalled    = trusted.ErrNotInstalled
	ErrInstalled       = trusted.ErrInstalled
	ErrRollback        = trusted.ErrRollback
	ErrNoStateKey      = trusted.ErrNoStateKey
	ErrConfidentiality = trusted.ErrConfidentiality
	ErrHeight          = trusted.ErrHeight
	ErrSealedState     = trusted.ErrSealedState
	ErrUntrustedModule = trusted.ErrUntrustedModule
	ErrNoAnchor        = trusted.ErrNoAnchor
)

// CrashError says which enclave process died during which ecall, and how.
// It wraps ErrCrashed.
type CrashError struct {
	PID  int
	Op   string
	Exit string // the process's exit status, or why the stream broke
}

func (e *CrashError) Error() string {
	return fmt.Sprintf("enclave process %d died during %s (%s)", e.PID, e.Op, e.Exit)
}

func (e *CrashError) Unwrap() error { return ErrCrashed }
