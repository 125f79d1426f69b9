// Package channel defines a channel's configuration as the chain records
// it: the genesis block (block 0) carries one config transaction holding a
// ChannelConfig (organisations and their root certificates, orderers and
// peers with their node IDs and addresses, block cutting parameters and
// named policies). Every node is given the same genesis block and derives
// the channel's membership from it; from capability level 4 on, config
// updates change that membership (organisations, peers, orderers one at a
// time with explicit, never reused Raft IDs) effective from the block
// after the one that commits them (config.go, membership.go). The rules
// deciding which updates are valid are a pure function of the config in
// force, the update's bytes and approvals and the block number, so every
// peer and orderer reaches the same membership.
package channel

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/policy"
	"github.com/folio-ledger/folio/internal/types"
)

// Format is the ChannelConfig format this build writes and reads.
const Format = 1

// ErrInvalid marks a channel configuration that cannot be used.
var ErrInvalid = errors.New("invalid channel configuration")

// Validate checks a channel configuration: known format, unique
// organisations (names and MSP IDs) with parseable root CA certificates,
// orderers and peers naming known organisations with unique names and node
// IDs, no Raft ID on a peer, unique effective Raft IDs none of which is
// retired, positive block cutting parameters, and policies that parse.
func Validate(c *foliov1.ChannelConfig) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if c.GetFormat() == 0 || c.Format > Format {
		return bad("format %d (this build reads up to %d)", c.GetFormat(), Format)
	}
	if c.ChannelId == "" {
		return bad("channel ID missing")
	}
	orgs, msps := map[string]bool{}, map[string]bool{}
	for _, o := range c.Orgs {
		if o.Name == "" || o.MspId == "" || orgs[o.Name] || msps[o.MspId] {
			return bad("organisation %q (MSP ID %q): name and MSP ID required and unique", o.Name, o.MspId)
		}
		orgs[o.Name], msps[o.MspId] = true, true
		if len(o.RootCerts) == 0 {
			return bad("organisation %s has no root certificate", o.Name)
		}
		for _, pem := range o.RootCerts {
			cert, err := fcrypto.ParseCertificatePEM(pem)
			if err != nil || !cert.IsCA {
				return bad("organisation %s: root certificate: %v", o.Name, err)
			}
		}
	}
	seen := map[string]bool{}
	for _, list := range [][]*foliov1.NodeEndpoint{c.Orderers, c.Peers} {
		for _, n := range list {
			if n.Name == "" || seen[n.Name] || seen[n.NodeId] || len(n.NodeId) != 64 {
				return bad("node %q: name and 64-hex node ID required and unique", n.Name)
			}
			seen[n.Name], seen[n.NodeId] = true, true
			if !orgs[n.Org] {
				return bad("node %s belongs to unknown organisation %q", n.Name, n.Org)
			}
		}
	}
	if len(c.Orderers) == 0 {
		return bad("no orderers")
	}
	for _, p := range c.Peers {
		if p.RaftId != 0 {
			return bad("peer %s has a Raft ID (%d); only orderers have one", p.Name, p.RaftId)
		}
	}
	retired := map[uint64]bool{}
	for _, id := range c.RetiredRaftIds {
		if id == 0 {
			return bad("retired Raft ID 0: Raft IDs start at 1")
		}
		retired[id] = true
	}
	raftOwner := map[uint64]string{}
	for i, o := range c.Orderers {
		id := raftIDAt(o, i)
		if other, dup := raftOwner[id]; dup {
			return bad("orderers %s and %s both have Raft ID %d (an explicit raft_id or a place in the list)", other, o.Name, id)
		}
		if retired[id] {
			return bad("orderer %s has Raft ID %d, which a removed orderer used (retired_raft_ids): a Raft ID is never reused", o.Name, id)
		}
		raftOwner[id] = o.Name
	}
	if b := c.Batch; b == nil || b.MaxTxCount == 0 || b.MaxBytes == 0 || b.TimeoutMs == 0 {
		return bad("block cutting parameters must all be positive")
	}
	for name, p := range c.Policies {
		if _, err := policy.Parse(p); err != nil {
			return bad("policy %s: %v", name, err)
		}
	}
	defined := map[string]bool{}
	for _, d := range c.Contracts {
		if !contractName.MatchString(d.Name) || defined[d.Name] {
			return bad("contract %q: name must be unique, 1-64 letters, digits, '_', '.' or '-', starting with a letter", d.Name)
		}
		defined[d.Name] = true
		if d.Version == "" || len(d.PackageHash) != 32 {
			return bad("contract %s needs a version and a 32-byte package hash", d.Name)
		}
		if _, err := policy.Parse(d.EndorsementPolicy); err != nil {
			return bad("contract %s endorsement policy: %v", d.Name, err)
		}
	}
	return nil
}

var contractName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)

// MSPOrgs returns the organisations as the MSP verifier takes them.
func MSPOrgs(c *foliov1.ChannelConfig) ([]identity.Org, error) {
	var out []identity.Org
	for _, o := range c.Orgs {
		root, err := fcrypto.ParseCertificatePEM(o.RootCerts[0])
		if err != nil {
			return nil, fmt.Errorf("%w: organisation %s: %v", ErrInvalid, o.Name, err)
		}
		out = append(out, identity.Org{Name: o.Name, MSPID: o.MspId, Root: root})
	}
	return out, nil
}

// RaftID returns an orderer's Raft ID in cfg: its explicit raft_id, or
// its 1-based position in the channel's orderer list when that is 0 (see
// NodeEndpoint.raft_id). Every orderer computes the same IDs.
func RaftID(c *foliov1.ChannelConfig, name string) (uint64, error) {
	for i, o := range c.Orderers {
		if o.Name == name {
			return raftIDAt(o, i), nil
		}
	}
	return 0, fmt.Errorf("%s is not an orderer of channel %s", name, c.ChannelId)
}

func raftIDAt(o *foliov1.NodeEndpoint, i int) uint64 {
	if o.RaftId != 0 {
		return o.RaftId
	}
	return uint64(i + 1)
}

// RaftIDs returns every orderer's Raft ID by node ID.
func RaftIDs(c *foliov1.ChannelConfig) map[string]uint64 {
	ids := make(map[string]uint64, len(c.Orderers))
	for i, o := range c.Orderers {
		ids[o.NodeId] = raftIDAt(o, i)
	}
	return ids
}

// Voters returns every orderer's Raft ID, in list order.
func Voters(c *foliov1.ChannelConfig) []uint64 {
	ids := make([]uint64, len(c.Orderers))
	for i, o := range c.Orderers {
		ids[i] = raftIDAt(o, i)
	}
	return ids
}

// RaftIDOf is the Raft ID of an orderer added to a running channel: the
// first 8 bytes of its node ID (the SHA-256 of its public key) with the
// top bit set, so it never collides with the positional IDs (1, 2, 3...)
// of a genesis orderer list, and a node knows its own ID before it has
// the chain that names it. A new key is a new ID.
func RaftIDOf(nodeID string) (uint64, error) {
	raw, err := hex.DecodeString(nodeID)
	if err != nil || len(raw) != 32 {
		return 0, fmt.Errorf("node ID %q is not 64 hex characters", nodeID)
	}
	return binary.BigEndian.Uint64(raw[:8]) | 1<<63, nil
}

// NewGenesis builds block 0 holding cfg as a config transaction signed by
// signer (an admin of the ordering organisation).
func NewGenesis(cfg *foliov1.ChannelConfig, signer *identity.SigningIdentity, at time.Time) (*foliov1.Block, error) {
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, types.MinNonceBytes)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	creator := signer.Serialized()
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.Payload{
		Header: &foliov1.TxHeader{Type: foliov1.TxType_TX_TYPE_CONFIG, ChannelId: cfg.ChannelId, TxId: types.TxID(nonce, creator),
			Creator: creator, Nonce: nonce, TimestampUnixNano: at.UnixNano()},
		Data: data,
	})
	if err != nil {
		return nil, err
	}
	sig, err := signer.Sign(types.DomainEnvelope, payload)
	if err != nil {
		return nil, err
	}
	env, err := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.Envelope{Payload: payload, Signature: sig})
	if err != nil {
		return nil, err
	}
	envs := [][]byte{env}
	return &foliov1.Block{
		Header:   &foliov1.BlockHeader{Number: 0, PreviousHash: types.GenesisPreviousHash(), DataHash: types.DataHash(envs), TimestampUnixNano: at.UnixNano()},
		Data:     &foliov1.BlockData{Envelopes: envs},
		Metadata: &foliov1.BlockMetadata{},
	}, nil
}

// FromGenesis extracts and validates the channel configuration of block 0.
func FromGenesis(b *foliov1.Block) (*foliov1.ChannelConfig, error) {
	if err := types.ValidateBlock(b); err != nil {
		return nil, fmt.Errorf("%w: genesis block: %v", ErrInvalid, err)
	}
	if b.Header.Number != 0 || len(b.Data.Envelopes) != 1 {
		return nil, fmt.Errorf("%w: genesis must be block 0 with one config transaction", ErrInvalid)
	}
	var env foliov1.Envelope
	if err := proto.Unmarshal(b.Data.Envelopes[0], &env); err != nil {
		return nil, fmt.Errorf("%w: genesis envelope: %v", ErrInvalid, err)
	}
	p, err := types.ParseEnvelope(&env)
	if err != nil {
		return nil, fmt.Errorf("%w: genesis envelope: %v", ErrInvalid, err)
	}
	if p.Header.Type != foliov1.TxType_TX_TYPE_CONFIG {
		return nil, fmt.Errorf("%w: genesis transaction is %v, want TX_TYPE_CONFIG", ErrInvalid, p.Header.Type)
	}
	var cfg foliov1.ChannelConfig
	if err := proto.Unmarshal(p.Data, &cfg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if cfg.ChannelId != p.Header.ChannelId {
		return nil, fmt.Errorf("%w: config for channel %q in a transaction for %q", ErrInvalid, cfg.ChannelId, p.Header.ChannelId)
	}
	if err := Validate(&cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}
