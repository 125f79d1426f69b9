package enclavetest

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/enclave"
	"github.com/folio-ledger/folio/internal/enclave/trusted"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/types"
)

// Consortium is a throwaway trust anchor for an enclave under test or
// benchmark: organisations with in-memory root CAs, an admin, a peer and a
// client of each, and a genesis block naming them (the enclave's anchor:
// enclave.Options.Genesis, or WriteGenesis for GenesisFile). Modules are
// signed by an admin (Module). Keys live in memory and die with it.
type Consortium struct {
	// Genesis is the genesis block, marshalled.
	Genesis []byte
	// Orgs are the peer organisations, then the ordering organisation.
	Orgs []*Org
}

// Org is an organisation of a Consortium and its members.
type Org struct {
	Name, MSPID               string
	CA, Admin, Peer, Client   *identity.SigningIdentity
	rootCertPEM               []byte
	peerNodeID, ordererNodeID string
}

// GenesisContract is a contract the genesis block defines: the enclave
// runs its module unsigned because the block pins the module's hash.
type GenesisContract struct {
	Name, Version string
	Wasm          []byte
	Confidential  bool
}

// NewConsortium makes organisations Org1..OrgN (N = peerOrgs, at least 1)
// and an ordering organisation, and a genesis block defining contracts.
func NewConsortium(peerOrgs int, contracts ...GenesisContract) (*Consortium, error) {
	if peerOrgs < 1 {
		peerOrgs = 1
	}
	c := &Consortium{}
	names := []string{}
	for i := 1; i <= peerOrgs; i++ {
		names = append(names, fmt.Sprintf("Org%d", i))
	}
	names = append(names, "OrdererOrg")
	cfg := &foliov1.ChannelConfig{Format: channel.Format, ChannelId: "enclavetest",
		Batch: &foliov1.BatchConfig{MaxTxCount: 10, MaxBytes: 1 << 20, TimeoutMs: 100}}
	for i, name := range names {
		o, err := newOrg(name)
		if err != nil {
			return nil, err
		}
		c.Orgs = append(c.Orgs, o)
		kind := foliov1.OrgKind_ORG_KIND_PEER
		if i == len(names)-1 {
			kind = foliov1.OrgKind_ORG_KIND_ORDERER
		}
		cfg.Orgs = append(cfg.Orgs, &foliov1.OrgConfig{Name: o.Name, MspId: o.MSPID, Kind: kind, RootCerts: [][]byte{o.rootCertPEM}})
		if kind == foliov1.OrgKind_ORG_KIND_PEER {
			cfg.Peers = append(cfg.Peers, &foliov1.NodeEndpoint{Name: "peer0." + o.Name, Org: o.Name, NodeId: o.peerNodeID})
		} else {
			cfg.Orderers = append(cfg.Orderers, &foliov1.NodeEndpoint{Name: "orderer0", Org: o.Name, NodeId: o.ordererNodeID})
		}
	}
	for _, gc := range contracts {
		sum := sha256.Sum256(gc.Wasm)
		cfg.Contracts = append(cfg.Contracts, &foliov1.ContractDefinition{Name: gc.Name, Version: gc.Version,
			EndorsementPolicy: "OR('Org1MSP.peer')", PackageHash: sum[:], Confidential: gc.Confidential})
	}
	orderer := c.Orgs[len(c.Orgs)-1]
	b, err := channel.NewGenesis(cfg, orderer.Admin, time.Unix(1_700_000_000, 0))
	if err != nil {
		return nil, fmt.Errorf("enclavetest: genesis block: %w", err)
	}
	if c.Genesis, err = proto.Marshal(b); err != nil {
		return nil, err
	}
	return c, nil
}

func newOrg(name string) (*Org, error) {
	key, err := fcrypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	root, err := identity.NewRootCA(name, "ca."+name, key, time.Now().Add(-time.Hour), 24*time.Hour)
	if err != nil {
		return nil, err
	}
	o := &Org{Name: name, MSPID: name + "MSP"}
	if o.CA, err = identity.NewSigningIdentity(identity.Identity{MSPID: o.MSPID, Name: "ca." + name, Org: name, Cert: root}, key); err != nil {
		return nil, err
	}
	o.rootCertPEM = fcrypto.EncodeCertificatePEM(root.Raw)
	if o.Admin, err = o.Member("admin", identity.RoleAdmin); err != nil {
		return nil, err
	}
	if o.Client, err = o.Member("user1", identity.RoleClient); err != nil {
		return nil, err
	}
	if o.Peer, err = o.Member("peer0."+name, identity.RolePeer); err != nil {
		return nil, err
	}
	if o.peerNodeID, err = fcrypto.KeyID(o.Peer.Cert.PublicKey); err != nil {
		return nil, err
	}
	orderer, err := o.Member("orderer0", identity.RoleOrderer)
	if err != nil {
		return nil, err
	}
	if o.ordererNodeID, err = fcrypto.KeyID(orderer.Cert.PublicKey); err != nil {
		return nil, err
	}
	return o, nil
}

// Member issues a certificate for name with role under the organisation's
// CA.
func (o *Org) Member(name string, role identity.Role) (*identity.SigningIdentity, error) {
	key, err := fcrypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	cert, err := identity.Issue(o.CA.Cert, o.CA.Key(), identity.LeafRequest{Name: name, Role: role, PublicKey: key.Public()})
	if err != nil {
		return nil, err
	}
	return identity.NewSigningIdentity(identity.Identity{MSPID: o.MSPID, Org: o.Name, Name: name, Role: role, Cert: cert}, key)
}

// Admin returns the first organisation's admin: the default packager.
func (c *Consortium) Admin() *identity.SigningIdentity { return c.Orgs[0].Admin }

// Package signs a contract package of wasm as signer.
func (c *Consortium) Package(signer types.Signer, name, version string, wasm []byte, confidential bool) (*foliov1.SignedContractPackage, error) {
	return types.PackageContract(signer, name, version, wasm, confidential)
}

// Module returns the enclave.Module of wasm packaged and signed by the
// first organisation's admin.
func (c *Consortium) Module(name, version string, wasm []byte, confidential bool) (enclave.Module, error) {
	spkg, err := types.PackageContract(c.Admin(), name, version, wasm, confidential)
	if err != nil {
		return enclave.Module{}, err
	}
	return enclave.SignedModule(spkg)
}

// WriteGenesis writes the genesis block to dir/genesis.block and returns
// the file's path (enclave.Options.GenesisFile).
func (c *Consortium) WriteGenesis(dir string) (string, error) {
	p := filepath.Join(dir, "genesis.block")
	return p, os.WriteFile(p, c.Genesis, 0o644)
}

// Provision gives a process-mode enclave a throwaway trust anchor: a new
// one-organisation Consortium whose genesis block it writes into dir and
// names in opts.GenesisFile. It returns the Module of wasm as name
// version 1, signed by that organisation's admin. For benchmarks and
// tests that need a running enclave, not a consortium.
func Provision(opts *enclave.Options, dir, name string, wasm []byte) (enclave.Module, error) {
	c, err := NewConsortium(1)
	if err != nil {
		return enclave.Module{}, err
	}
	if opts.GenesisFile, err = c.WriteGenesis(dir); err != nil {
		return enclave.Module{}, err
	}
	return c.Module(name, "1", wasm, false)
}

// ServeOptions reads the flags a host passes to its enclave process
// (--state-key FILE, --genesis FILE) from args, as `folio enclave` does,
// for test binaries re-executed as the enclave process.
func ServeOptions(args []string) (trusted.ServeOptions, error) {
	var o trusted.ServeOptions
	for i := 0; i+1 < len(args); i++ {
		var dst *[]byte
		switch args[i] {
		case "--state-key":
			dst = &o.StateKey
		case "--genesis":
			dst = &o.Genesis
		default:
			continue
		}
		b, err := os.ReadFile(args[i+1])
		if err != nil {
			return o, err
		}
		*dst = b
	}
	return o, nil
}
