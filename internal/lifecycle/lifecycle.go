// Package lifecycle is a peer's view of the channel's contracts and their
// versions (docs/lifecycle.md): definitions (version, endorsement policy,
// confidential flag, package hash, and the block each version is effective
// from), the install records of every peer, and the packages installed on
// this peer.
//
// Definitions start from the genesis block. Later changes arrive as
// TX_TYPE_LIFECYCLE transactions (install records and activations) that
// every peer applies deterministically at commit (Process, in block order)
// and records in the reserved namespace "folio.lifecycle" of the world
// state, so a peer replaying the chain from block 0 switches versions at
// exactly the same blocks as the others. Installed packages live in
// <data_dir>/contracts/<name>/<version>.wasm, with the signed package the
// enclave verifies as <version>.pkg (none for a genesis contract, which
// the genesis block pins), and are checked against the definition's
// package hash before use.
package lifecycle

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/atomicfile"
	"github.com/folio-ledger/folio/internal/ledger/state"
	"github.com/folio-ledger/folio/internal/policy"
	"github.com/folio-ledger/folio/internal/types"
)

// Namespace is the world-state namespace of lifecycle records.
const Namespace = "folio.lifecycle"

// ActivationPolicy names the channel policy that activations must satisfy.
const ActivationPolicy = "lifecycle/activation"

// Errors callers branch on.
var (
	ErrUnknownContract = errors.New("contract not defined on this channel")
	ErrNotInstalled    = errors.New("contract version not installed on this peer")
	ErrBadPackage      = errors.New("bad contract package")
)

var (
	namePattern    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)
	versionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// Definition is a contract version as the channel defines it.
type Definition struct {
	Name         string         `json:"name"`
	Version      string         `json:"version"`
	Policy       *policy.Policy `json:"-"`
	PolicySrc    string         `json:"policy"`
	Confidential bool           `json:"confidential"`
	PackageHash  []byte         `json:"package_hash"`
	// FromBlock is the first block this version is effective for.
	FromBlock uint64 `json:"from_block"`
}

// Install is an install record: peer has contract version with a package hash.
type Install struct {
	Peer         string `json:"peer"`
	Contract     string `json:"contract"`
	Version      string `json:"version"`
	PackageHash  []byte `json:"package_hash"`
	Confidential bool   `json:"confidential"`
	TxID         string `json:"tx_id"`
	Block        uint64 `json:"block"`
}

// Registry holds definitions, install records and installed packages. Safe
// for concurrent use; Commit must come from the committer alone.
type Registry struct {
	dir        string
	peers      []string          // every peer of the channel, in configuration order
	peerMSP    map[string]string // peer name -> its organisation's MSP ID
	activation *policy.Policy
	// genesis holds the contracts the genesis configuration defines: their
	// definition starts at sequence 1 (Sequence).
	genesis map[string]bool

	mu struct {
		sync.RWMutex
		defs        map[string][]*Definition       // by contract, ordered by FromBlock
		installs    map[string]map[string]*Install // contract/version -> peer -> record
		activations map[string][]*Activation       // by contract, in commit order
		// local caches which installed packages matched which hash.
		local map[string][]byte // "name/version" -> verified SHA-256
	}
}

// New builds the registry from the genesis configuration; dir holds this
// peer's installed packages.
func New(dir string, cfg *foliov1.ChannelConfig) (*Registry, error) {
	r := &Registry{dir: dir, peerMSP: map[string]string{}, genesis: map[string]bool{}}
	mspOf := map[string]string{}
	for _, o := range cfg.GetOrgs() {
		mspOf[o.Name] = o.MspId
	}
	for _, p := range cfg.GetPeers() {
		r.peers = append(r.peers, p.Name)
		r.peerMSP[p.Name] = mspOf[p.Org]
	}
	if src := cfg.GetPolicies()[ActivationPolicy]; src != "" {
		p, err := policy.Parse(src)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", ActivationPolicy, err)
		}
		r.activation = p
	}
	r.mu.defs = map[string][]*Definition{}
	r.mu.installs = map[string]map[string]*Install{}
	r.mu.activations = map[string][]*Activation{}
	r.mu.local = map[string][]byte{}
	for _, d := range cfg.GetContracts() {
		def, err := GenesisDefinition(cfg, d.Name)
		if err != nil {
			return nil, err
		}
		r.mu.defs[d.Name] = []*Definition{def}
		r.genesis[d.Name] = true
	}
	return r, nil
}

func (d *Definition) parse() error {
	p, err := policy.Parse(d.PolicySrc)
	if err != nil {
		return fmt.Errorf("contract %s version %s: %w", d.Name, d.Version, err)
	}
	d.Policy = p
	return nil
}

// Range is how the registry reads lifecycle records from the world state.
type Range interface {
	Range(ns, start, end string, limit int) ([]KV, bool, error)
}

// KV is a committed state entry.
type KV = state.KV

// Load reads the lifecycle records committed so far (a peer restarting or
// opening a ledger others wrote).
func (r *Registry) Load(st Range) error {
	read := func(prefix string, f func(KV) error) error {
		start := prefix
		for {
			kvs, more, err := st.Range(Namespace, start, prefix+"\xff", 1000)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				if err := f(kv); err != nil {
					return fmt.Errorf("lifecycle record %q: %w", kv.Key, err)
				}
			}
			if !more || len(kvs) == 0 {
				return nil
			}
			start = kvs[len(kvs)-1].Key + "\x00"
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := read("def/", func(kv KV) error {
		defs, err := ParseDefinitions(kv.Value)
		if err != nil {
			return err
		}
		if len(defs) > 0 {
			r.mu.defs[defs[0].Name] = defs
		}
		return nil
	}); err != nil {
		return err
	}
	if err := read("install/", func(kv KV) error {
		var in Install
		if err := json.Unmarshal(kv.Value, &in); err != nil {
			return err
		}
		r.addInstallLocked(&in)
		return nil
	}); err != nil {
		return err
	}
	// Keys sort by contract, then block and transaction: commit order.
	return read("activation/", func(kv KV) error {
		var a Activation
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return err
		}
		r.mu.activations[a.Contract] = append(r.mu.activations[a.Contract], &a)
		return nil
	})
}

// Peers lists the channel's peers.
func (r *Registry) Peers() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]string(nil), r.peers...)
}

// SetPeers replaces the channel's peers with those of a configuration
// that came into force (a membership change). Validation does not read
// this list: it gets the peers in force at each block (Rules.Peers).
func (r *Registry) SetPeers(cfg *foliov1.ChannelConfig) {
	mspOf := map[string]string{}
	for _, o := range cfg.GetOrgs() {
		mspOf[o.Name] = o.MspId
	}
	peers, peerMSP := []string(nil), map[string]string{}
	for _, p := range cfg.GetPeers() {
		peers = append(peers, p.Name)
		peerMSP[p.Name] = mspOf[p.Org]
	}
	r.mu.Lock()
	r.peers, r.peerMSP = peers, peerMSP
	r.mu.Unlock()
}

func (r *Registry) peerMSPs() map[string]string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.peerMSP
}

// Activations returns copies of a contract's accepted activations in
// commit order, each with the definition sequence it created (recorded
// from capability level 2 on, else derived as Sequence is).
func (r *Registry) Activations(name string) []*Activation {
	r.mu.RLock()
	defer r.mu.RUnlock()
	acts := r.mu.activations[name]
	out := make([]*Activation, len(acts))
	base := r.genesisSequence(name)
	for i, a := range acts {
		c := *a
		c.Signers = append([]string(nil), a.Signers...)
		if c.Sequence == 0 {
			c.Sequence = base + uint64(i) + 1
		}
		out[i] = &c
	}
	return out
}

// Sequence returns the sequence of a contract's definition as committed:
// 1 for a contract the genesis configuration defines, 0 for any other,
// plus one for every accepted activation of it (activation records are
// never removed). An activation must carry Sequence + 1 from capability
// level 2 on (docs/lifecycle.md). It is derived from what every level
// records, so a chain that reaches level 2 continues its count.
func (r *Registry) Sequence(name string) uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.genesisSequence(name) + uint64(len(r.mu.activations[name]))
}

func (r *Registry) genesisSequence(name string) uint64 {
	if r.genesis[name] {
		return 1
	}
	return 0
}

// Installed returns the install record of a peer for a contract version.
func (r *Registry) Installed(name, version, peer string) (*Install, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	in, ok := r.mu.installs[name+"/"+version][peer]
	return in, ok
}

func (r *Registry) addInstallLocked(in *Install) {
	k := in.Contract + "/" + in.Version
	m := r.mu.installs[k]
	if m == nil {
		m = map[string]*Install{}
		r.mu.installs[k] = m
	}
	m[in.Peer] = in
}

// Names lists the defined contracts.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.namesLocked()
}

func (r *Registry) namesLocked() []string {
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
	cur := EffectiveIn(defs, block)
	if cur == nil {
		return nil, fmt.Errorf("%w: %q has no version effective at block %d", ErrUnknownContract, name, block)
	}
	return cur, nil
}

// Next returns the pending switch after block (nil if none).
func (r *Registry) Next(name string, block uint64) *Definition {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, d := range r.mu.defs[name] {
		if d.FromBlock > block {
			return d
		}
	}
	return nil
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

// Installs returns, per peer, the install records of a contract's
// versions, sorted by version.
func (r *Registry) Installs(name string) map[string][]*Install {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := map[string][]*Install{}
	for k, m := range r.mu.installs {
		if !strings.HasPrefix(k, name+"/") {
			continue
		}
		for peer, in := range m {
			out[peer] = append(out[peer], in)
		}
	}
	for _, ins := range out {
		sort.Slice(ins, func(i, j int) bool { return ins[i].Version < ins[j].Version })
	}
	return out
}

// Halted returns the channel's peers without an install record of the
// version effective at block: they cannot endorse the contract.
func (r *Registry) Halted(name string, block uint64) []string {
	d, err := r.Effective(name, block)
	if err != nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := r.mu.installs[name+"/"+d.Version]
	var out []string
	for _, p := range r.peers {
		if in, ok := m[p]; !ok || !bytes.Equal(in.PackageHash, d.PackageHash) {
			out = append(out, p)
		}
	}
	return out
}

// Package returns the installed wasm module of a contract version, checked
// against the definition's package hash.
func (r *Registry) Package(d *Definition) ([]byte, error) {
	p := r.packagePath(d.Name, d.Version)
	wasm, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s version %s (package hash %x) is not installed on this peer: install it with `folio contract install`", ErrNotInstalled, d.Name, d.Version, d.PackageHash)
	}
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(wasm)
	if !bytes.Equal(sum[:], d.PackageHash) {
		return nil, fmt.Errorf("%w: %s version %s at %s has sha256 %x, the channel defines %x", ErrNotInstalled, d.Name, d.Version, p, sum, d.PackageHash)
	}
	r.mu.Lock()
	r.mu.local[d.Name+"/"+d.Version] = sum[:]
	r.mu.Unlock()
	return wasm, nil
}

// HasPackage reports whether the definition's package is installed on this
// peer (checked against its hash once, then remembered).
func (r *Registry) HasPackage(d *Definition) bool {
	r.mu.RLock()
	h, ok := r.mu.local[d.Name+"/"+d.Version]
	r.mu.RUnlock()
	if ok {
		return bytes.Equal(h, d.PackageHash)
	}
	_, err := r.Package(d)
	return err == nil
}

func (r *Registry) packagePath(name, version string) string {
	return filepath.Join(r.dir, name, version+".wasm")
}

// packageMeta is what the peer remembers of an installed package besides
// its module, next to it as <version>.json.
type packageMeta struct {
	Confidential bool `json:"confidential"`
}

// Store writes an installed package's module to this peer's contract
// directory. A version already installed with another module is refused:
// a version names one package forever.
func (r *Registry) Store(name, version string, wasm []byte, confidential bool) error {
	if !namePattern.MatchString(name) || !versionPattern.MatchString(version) {
		return fmt.Errorf("%w: name %q or version %q not allowed", ErrBadPackage, name, version)
	}
	p := r.packagePath(name, version)
	sum := sha256.Sum256(wasm)
	if old, err := os.ReadFile(p); err == nil && !bytes.Equal(old, wasm) {
		return fmt.Errorf("%w: %s version %s is already installed with another module (sha256 %x); give the new module a new version", ErrBadPackage, name, version, sha256.Sum256(old))
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	meta, _ := json.Marshal(packageMeta{Confidential: confidential})
	if err := atomicfile.WriteFile(strings.TrimSuffix(p, ".wasm")+".json", meta, 0o644); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(p, wasm, 0o644); err != nil {
		return err
	}
	r.mu.Lock()
	r.mu.local[name+"/"+version] = sum[:]
	r.mu.Unlock()
	return nil
}

// StorePackage stores an installed signed package (checked by
// OpenPackage): its module and metadata as Store does, and the signed
// package itself as <version>.pkg, which the enclave needs to run the
// module (SignedPackage). The package is written first: a crash between
// the two writes leaves a package without its module, which Store
// completes on the next install, never a module without its signature.
func (r *Registry) StorePackage(spkg *foliov1.SignedContractPackage) error {
	pkg, err := types.ParsePackage(spkg)
	if err != nil {
		return err
	}
	if !namePattern.MatchString(pkg.Name) || !versionPattern.MatchString(pkg.Version) {
		return fmt.Errorf("%w: name %q or version %q not allowed", ErrBadPackage, pkg.Name, pkg.Version)
	}
	p := r.packagePath(pkg.Name, pkg.Version)
	if old, err := os.ReadFile(p); err == nil && !bytes.Equal(old, pkg.Wasm) {
		return fmt.Errorf("%w: %s version %s is already installed with another module (sha256 %x); give the new module a new version", ErrBadPackage, pkg.Name, pkg.Version, sha256.Sum256(old))
	}
	raw, err := proto.Marshal(spkg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(strings.TrimSuffix(p, ".wasm")+".pkg", raw, 0o644); err != nil {
		return err
	}
	return r.Store(pkg.Name, pkg.Version, pkg.Wasm, pkg.Confidential)
}

// SignedPackage returns the signed package of an installed contract
// version, checked against the module installed beside it; nil and no
// error if the version was stored without one (a genesis contract placed
// by `folio network up`, which the enclave runs because the genesis block
// pins its hash). The signature is the enclave's to check.
func (r *Registry) SignedPackage(name, version string) (*foliov1.SignedContractPackage, error) {
	if !namePattern.MatchString(name) || !versionPattern.MatchString(version) {
		return nil, fmt.Errorf("%w: name %q or version %q not allowed", ErrBadPackage, name, version)
	}
	p := r.packagePath(name, version)
	raw, err := os.ReadFile(strings.TrimSuffix(p, ".wasm") + ".pkg")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var spkg foliov1.SignedContractPackage
	if err := proto.Unmarshal(raw, &spkg); err != nil {
		return nil, fmt.Errorf("%w: %s.pkg: %v", ErrBadPackage, strings.TrimSuffix(p, ".wasm"), err)
	}
	pkg, err := types.ParsePackage(&spkg)
	if err != nil {
		return nil, fmt.Errorf("%s.pkg: %w", strings.TrimSuffix(p, ".wasm"), err)
	}
	wasm, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(wasm); pkg.Name != name || pkg.Version != version || !bytes.Equal(sum[:], pkg.WasmSha256) {
		return nil, fmt.Errorf("%w: %s.pkg is %s %s with module sha256 %x, the installed module is %s %s with %x", ErrBadPackage,
			strings.TrimSuffix(p, ".wasm"), pkg.Name, pkg.Version, pkg.WasmSha256, name, version, sum)
	}
	return &spkg, nil
}

// LocalPackage is a package installed on this peer.
type LocalPackage struct {
	Name, Version string
	PackageHash   []byte
	Confidential  bool
}

// Local lists the packages installed on this peer. A package stored
// without metadata (a genesis contract placed by `folio network up`) takes
// its confidentiality from the channel's definition of that version.
func (r *Registry) Local() ([]LocalPackage, error) {
	var out []LocalPackage
	names, err := os.ReadDir(r.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		files, _ := os.ReadDir(filepath.Join(r.dir, n.Name()))
		for _, f := range files {
			v, ok := strings.CutSuffix(f.Name(), ".wasm")
			if !ok {
				continue
			}
			base := filepath.Join(r.dir, n.Name(), v)
			wasm, err := os.ReadFile(base + ".wasm")
			if err != nil {
				return nil, err
			}
			sum := sha256.Sum256(wasm)
			lp := LocalPackage{Name: n.Name(), Version: v, PackageHash: sum[:]}
			if b, err := os.ReadFile(base + ".json"); err == nil {
				var m packageMeta
				if err := json.Unmarshal(b, &m); err != nil {
					return nil, fmt.Errorf("%s.json: %w", base, err)
				}
				lp.Confidential = m.Confidential
			} else {
				r.mu.RLock()
				for _, d := range r.mu.defs[lp.Name] {
					if d.Version == v {
						lp.Confidential = d.Confidential
					}
				}
				r.mu.RUnlock()
			}
			out = append(out, lp)
		}
	}
	return out, nil
}
