package consortium

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/localnet"
	"github.com/folio-ledger/folio/internal/types"
)

// GenesisOptions shape a channel formed from definitions.
type GenesisOptions struct {
	// Channel is the channel's name. Default "folio".
	Channel string
	// Block cutting; zero takes localnet's defaults (500 envelopes,
	// 4 MiB, 250ms).
	BlockMaxTx, BlockMaxBytes int
	BlockTimeout              time.Duration
	// CopyrightWasm and ReleaseWasm, when set, define the copyright
	// contract (every peer organisation endorses) and the release
	// contract (a majority endorses), version 1, pinned by their hashes:
	// the modules `folio org init` installed on every peer.
	CopyrightWasm, ReleaseWasm []byte
}

// GenesisConfig is the channel configuration of a consortium formed from
// definitions: every organisation with its root certificate, every node
// with its node ID and advertised addresses (orderers with the Raft ID
// their key derives), the policies `folio network up` writes (channel
// admins and contract activation: a majority of the peer organisations'
// admins) and the genesis contracts.
func GenesisConfig(defs []*foliov1.OrgDefinition, o GenesisOptions) (*foliov1.ChannelConfig, error) {
	spec := localnet.Spec{Channel: o.Channel, BlockMaxTx: o.BlockMaxTx, BlockMaxBytes: o.BlockMaxBytes, BlockTimeout: o.BlockTimeout}
	spec.EnsureDefaults()
	cfg := &foliov1.ChannelConfig{Format: channel.Format, ChannelId: spec.Channel, Capability: channel.MaxCapability,
		Batch:    &foliov1.BatchConfig{MaxTxCount: uint32(spec.BlockMaxTx), MaxBytes: uint32(spec.BlockMaxBytes), TimeoutMs: uint32(spec.BlockTimeout.Milliseconds())},
		Policies: map[string]string{}}
	var members, admins []string
	msp := map[string]bool{}
	for _, d := range defs {
		if err := CheckDefinition(d); err != nil {
			return nil, err
		}
		if msp[d.Org.MspId] {
			return nil, fmt.Errorf("MSP ID %s appears in two definitions", d.Org.MspId)
		}
		msp[d.Org.MspId] = true
		cfg.Orgs = append(cfg.Orgs, d.Org)
		cfg.Peers = append(cfg.Peers, d.Peers...)
		cfg.Orderers = append(cfg.Orderers, d.Orderers...)
		if d.Org.Kind != foliov1.OrgKind_ORG_KIND_ORDERER {
			// Endorsements come from peers: a client's signature must
			// never stand for its organisation's endorsement.
			members = append(members, "'"+d.Org.MspId+".peer'")
			admins = append(admins, "'"+d.Org.MspId+".admin'")
		}
	}
	if len(admins) == 0 {
		return nil, fmt.Errorf("no definition of an organisation with peers: a channel needs at least one")
	}
	if len(cfg.Orderers) == 0 {
		return nil, fmt.Errorf("no definition holds an orderer: give the ordering organisation's definition (`folio org init --orderers N`)")
	}
	majority := fmt.Sprintf("OutOf(%d, %s)", len(admins)/2+1, strings.Join(admins, ", "))
	cfg.Policies["lifecycle/activation"] = majority
	cfg.Policies[channel.AdminsPolicy] = majority
	if len(o.CopyrightWasm) > 0 {
		sum := sha256.Sum256(o.CopyrightWasm)
		cfg.Contracts = append(cfg.Contracts, &foliov1.ContractDefinition{Name: localnet.CopyrightContract, Version: "1",
			EndorsementPolicy: "AND(" + strings.Join(members, ", ") + ")", PackageHash: sum[:]})
	}
	if len(o.ReleaseWasm) > 0 {
		sum := sha256.Sum256(o.ReleaseWasm)
		cfg.Contracts = append(cfg.Contracts, &foliov1.ContractDefinition{Name: localnet.ReleaseContract, Version: "1",
			EndorsementPolicy: fmt.Sprintf("OutOf(%d, %s)", len(members)/2+1, strings.Join(members, ", ")), PackageHash: sum[:]})
	}
	if err := channel.Validate(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Genesis builds block 0 of the channel GenesisConfig describes, signed by
// signer (an admin of one of the organisations, typically the ordering
// one).
func Genesis(defs []*foliov1.OrgDefinition, signer *identity.SigningIdentity, o GenesisOptions) (*foliov1.Block, error) {
	cfg, err := GenesisConfig(defs, o)
	if err != nil {
		return nil, err
	}
	in := false
	for _, org := range cfg.Orgs {
		in = in || org.MspId == signer.MSPID
	}
	if !in {
		return nil, fmt.Errorf("the genesis block's signer %s is of %s, which no definition names", signer.Label(), signer.MSPID)
	}
	return channel.NewGenesis(cfg, signer, time.Now())
}

// GenesisHash is the hex SHA-256 header hash of block 0, which the
// organisations compare out of band before they trust a genesis block
// they did not make (`folio org join --genesis-hash`).
func GenesisHash(b *foliov1.Block) (string, error) {
	h, err := types.HeaderHash(b.GetHeader())
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h), nil
}
