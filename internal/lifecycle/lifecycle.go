// Package lifecycle is a peer's view of the channel's contracts: their
// definitions (version, endorsement policy, confidential flag, package
// hash) and from which block each version is effective, and the contract
// packages installed on this peer. The validator and the endorser ask it
// which version is effective at a block and which policy applies.
//
// Definitions start from the genesis block; activations (issue 8) append
// later versions with the block they take effect at. Installed packages live
// in <data_dir>/contracts/<name>/<version>.wasm and are checked against the
// definition's package hash before use.
package lifecycle

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/policy"
)

// Errors callers branch on.
var (
	ErrUnknownContract = errors.New("contract not defined on this channel")
	ErrNotInstalled    = errors.New("contract version not installed on this peer")
)

// Definition is a contract version as the channel defines it.
type Definition struct {
	Name         string
	Version      string
	Policy       *policy.Policy
	Confidential bool
	PackageHash  []byte
	// FromBlock is the first block this version is effective for.
	FromBlock uint64
}

// Registry holds definitions and installed packages. Safe for concurrent use.
type Registry struct {
	dir string

	mu struct {
		sync.RWMutex
		// defs[name] is ordered by FromBlock.
		defs map[string][]*Definition
	}
}

// New builds the registry from the channel configuration of the genesis
// block; dir holds installed packages.
func New(dir string, cfg *foliov1.ChannelConfig) (*Registry, error) {
	r := &Registry{dir: dir}
	r.mu.defs = map[string][]*Definition{}
	for _, d := range cfg.GetContracts() {
		p, err := policy.Parse(d.EndorsementPolicy)
		if err != nil {
			return nil, fmt.Errorf("contract %s: %w", d.Name, err)
		}
		r.mu.defs[d.Name] = []*Definition{{Name: d.Name, Version: d.Version, Policy: p, Confidential: d.Confidential,
			PackageHash: d.PackageHash, FromBlock: 1}}
	}
	return r, nil
}

// Names lists the defined contracts.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.mu.defs))
	for n := range r.mu.defs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Effective returns the definition in force for transactions committing in
// block.
func (r *Registry) Effective(name string, block uint64) (*Definition, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	defs := r.mu.defs[name]
	if len(defs) == 0 {
		return nil, fmt.Errorf("%w: %q (defined: %v)", ErrUnknownContract, name, r.namesLocked())
	}
	var cur *Definition
	for _, d := range defs {
		if d.FromBlock <= block {
			cur = d
		}
	}
	if cur == nil {
		return nil, fmt.Errorf("%w: %q has no version effective at block %d", ErrUnknownContract, name, block)
	}
	return cur, nil
}

func (r *Registry) namesLocked() []string {
	out := make([]string, 0, len(r.mu.defs))
	for n := range r.mu.defs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// EndorsementRule returns the policy and version in force for transactions
// committing in block (the validator's question).
func (r *Registry) EndorsementRule(name string, block uint64) (*policy.Policy, string, error) {
	d, err := r.Effective(name, block)
	if err != nil {
		return nil, "", err
	}
	return d.Policy, d.Version, nil
}

// Package returns the installed wasm module of a contract version, checked
// against the definition's package hash.
func (r *Registry) Package(d *Definition) ([]byte, error) {
	p := filepath.Join(r.dir, d.Name, d.Version+".wasm")
	wasm, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s version %s (expected %s)", ErrNotInstalled, d.Name, d.Version, p)
	}
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(wasm); !bytes.Equal(sum[:], d.PackageHash) {
		return nil, fmt.Errorf("%w: %s version %s at %s has sha256 %x, the channel defines %x", ErrNotInstalled, d.Name, d.Version, p, sum, d.PackageHash)
	}
	return wasm, nil
}
