package trusted

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/enclave/wire"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// This file decides which modules the enclave runs (docs/enclave.md,
// "Which modules run"). The host chooses what to install and when, but not
// what runs: a module runs only if an admin of an organisation of the
// enclave's genesis block signed its package, or if the genesis block
// itself pins it by hash.

var (
	// ErrUntrustedModule: an Install the enclave refuses because nothing
	// it trusts vouches for the module: no package signed by an admin
	// under the genesis block's roots (unsigned, signed by a peer or a
	// client, by an unknown CA, with a bad signature, with module bytes
	// other than the signed ones), and no genesis pin of that module.
	ErrUntrustedModule = errors.New("module refused: not signed by an admin of an organisation of the enclave's genesis block, nor pinned by it")
	// ErrNoAnchor: the enclave was started without a genesis block, so it
	// trusts nobody to sign modules and refuses to start.
	ErrNoAnchor = errors.New("no trust anchor: the enclave needs the channel's genesis block (folio enclave --genesis FILE)")
)

// Anchor is what the enclave trusts, all of it from the channel's genesis
// block: the organisations' root certificates (an admin under one of them
// may sign contract packages) and the genesis contracts' modules, pinned
// by SHA-256. Its hash, the genesis block header's, is bound into the
// state key (seal.BindStateKey). Immutable, safe for concurrent use.
type Anchor struct {
	hash   []byte
	chain  *identity.Verifier
	pinned map[modRef]pinnedModule
	orgs   []string
	// names are the genesis configuration's member (non-orderer)
	// organisations' names, sorted: what the contracts' channel_orgs
	// answers before any config update.
	names []string
}

type pinnedModule struct {
	sha256       []byte
	confidential bool
}

// ParseAnchor reads a genesis block (the file's bytes, a marshalled
// foliov1.Block) as the enclave's trust anchor.
func ParseAnchor(genesis []byte) (*Anchor, error) {
	if len(genesis) == 0 {
		return nil, ErrNoAnchor
	}
	var b foliov1.Block
	if err := proto.Unmarshal(genesis, &b); err != nil {
		return nil, fmt.Errorf("trust anchor: the genesis block does not decode: %w", err)
	}
	return NewAnchor(&b)
}

// NewAnchor makes the trust anchor of genesis block b: its configuration
// is checked (channel.FromGenesis, which checks the data hash the header
// commits to), and the anchor's hash is the header's.
func NewAnchor(b *foliov1.Block) (*Anchor, error) {
	cfg, err := channel.FromGenesis(b)
	if err != nil {
		return nil, fmt.Errorf("trust anchor: %w", err)
	}
	hash, err := types.HeaderHash(b.Header)
	if err != nil {
		return nil, fmt.Errorf("trust anchor: genesis header: %w", err)
	}
	orgs, err := channel.MSPOrgs(cfg)
	if err != nil {
		return nil, fmt.Errorf("trust anchor: %w", err)
	}
	// The chain verifier reads no clock: the host controls the enclave's
	// clock, so an expiry check would only be the host's word.
	v, err := identity.NewChainVerifier(orgs)
	if err != nil {
		return nil, fmt.Errorf("trust anchor: %w", err)
	}
	a := &Anchor{hash: hash, chain: v, pinned: map[modRef]pinnedModule{}}
	for _, o := range orgs {
		a.orgs = append(a.orgs, o.MSPID)
	}
	// Rights are held by the consortium's member organisations: an
	// ordering-service organisation runs orderers, it holds no works.
	for _, o := range cfg.Orgs {
		if o.GetKind() != foliov1.OrgKind_ORG_KIND_ORDERER {
			a.names = append(a.names, o.GetName())
		}
	}
	sort.Strings(a.orgs)
	sort.Strings(a.names)
	for _, d := range cfg.Contracts {
		a.pinned[modRef{d.Name, d.Version}] = pinnedModule{sha256: bytes.Clone(d.PackageHash), confidential: d.Confidential}
	}
	return a, nil
}

// OrgNames returns the names of the channel's member organisations (not
// the ordering service's) in the genesis block, sorted. Do not modify it.
func (a *Anchor) OrgNames() []string { return a.names }

// Hash returns the genesis block header's hash. Do not modify it.
func (a *Anchor) Hash() []byte { return a.hash }

// admit returns the module Install m may run, or an error wrapping
// ErrUntrustedModule that says why not. A signed package's module is the
// package's own bytes (types.ParsePackage checks them against the SHA-256
// the signature covers), so nothing but the signed module can run under
// a valid signature.
func (a *Anchor) admit(m *wire.Install) ([]byte, error) {
	refuse := func(format string, args ...any) ([]byte, error) {
		return nil, fmt.Errorf("install %s %s: %w: %s", m.Name, m.Version, ErrUntrustedModule, fmt.Sprintf(format, args...))
	}
	if len(m.Package) == 0 {
		pin, ok := a.pinned[modRef{m.Name, m.Version}]
		if !ok {
			return refuse("no signed package, and the genesis block defines no contract %s version %s", m.Name, m.Version)
		}
		if sum := sha256.Sum256(m.Wasm); !bytes.Equal(sum[:], pin.sha256) {
			return refuse("unsigned module with SHA-256 %x; the genesis block pins %x", sum, pin.sha256)
		}
		if pin.confidential != m.Confidential {
			return refuse("the genesis block defines it with confidential %v", pin.confidential)
		}
		return m.Wasm, nil
	}
	spkg := &foliov1.SignedContractPackage{Package: m.Package, Signature: m.Signature}
	pkg, err := types.ParsePackage(spkg)
	if err != nil {
		return refuse("%v", err)
	}
	id, err := a.chain.ValidateSerialized(pkg.Packager)
	if err != nil {
		return refuse("packager: %v (the enclave trusts the roots of %s)", err, strings.Join(a.orgs, ", "))
	}
	if id.Role != identity.RoleAdmin {
		return refuse("packager %s is a %s; only an admin's package runs", id.Label(), id.Role)
	}
	if err := fcrypto.Verify(id.Cert.PublicKey, types.DomainPackage, m.Package, m.Signature); err != nil {
		return refuse("signature of packager %s: %v", id.Label(), err)
	}
	if pkg.Name != m.Name || pkg.Version != m.Version || pkg.Confidential != m.Confidential {
		return refuse("the package signed by %s is %s %s (confidential %v), the host asked for %s %s (confidential %v)",
			id.Label(), pkg.Name, pkg.Version, pkg.Confidential, m.Name, m.Version, m.Confidential)
	}
	return pkg.Wasm, nil
}
