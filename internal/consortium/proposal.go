package consortium

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/policy"
	"github.com/folio-ledger/folio/internal/types"
)

// ProposalFormat is the ConfigProposal format this build writes and reads.
const ProposalFormat = 1

// DefaultExpiry is how many blocks after the height it was built at a
// proposal may still commit: long enough to collect approvals across
// hosts, short enough that a forgotten proposal does not apply by surprise.
const DefaultExpiry = 10000

// ErrStale means a proposal was built on another configuration than the
// one in force, or expired: it can never commit and must be built again.
var ErrStale = errors.New("stale proposal")

// NewProposal proposes next (a modified copy of the configuration in
// force, cur, read at height) as the channel's next configuration: it
// takes the next sequence and may commit until expiry blocks after height
// (0: DefaultExpiry). No approval yet.
func NewProposal(cur *foliov1.ChannelConfig, height uint64, next *foliov1.ChannelConfig, expiry uint64, summary string) (*foliov1.ConfigProposal, error) {
	if expiry == 0 {
		expiry = DefaultExpiry
	}
	next = proto.Clone(next).(*foliov1.ChannelConfig)
	next.Sequence = cur.Sequence + 1
	if next.ChannelId != cur.ChannelId {
		return nil, fmt.Errorf("the proposed configuration is for channel %q, the one in force for %q", next.ChannelId, cur.ChannelId)
	}
	if err := channel.Validate(next); err != nil {
		return nil, err
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.ConfigUpdate{ChannelId: cur.ChannelId, Sequence: next.Sequence,
		Config: next, ExpiresAtBlock: height + expiry})
	if err != nil {
		return nil, err
	}
	return &foliov1.ConfigProposal{Format: ProposalFormat, Update: raw, Summary: summary}, nil
}

// Update decodes the update a proposal carries.
func Update(p *foliov1.ConfigProposal) (*foliov1.ConfigUpdate, error) {
	if p.GetFormat() != ProposalFormat {
		return nil, fmt.Errorf("proposal format %d: this build reads format %d", p.GetFormat(), ProposalFormat)
	}
	var u foliov1.ConfigUpdate
	if err := proto.Unmarshal(p.Update, &u); err != nil || u.Config == nil {
		return nil, fmt.Errorf("proposal holds no config update that decodes")
	}
	return &u, nil
}

// Sign adds signer's approval of the proposal's update (domain
// folio/config/v1), replacing an earlier approval by the same identity.
func Sign(p *foliov1.ConfigProposal, signer *identity.SigningIdentity) error {
	if _, err := Update(p); err != nil {
		return err
	}
	sig, err := signer.Sign(types.DomainConfig, p.Update)
	if err != nil {
		return fmt.Errorf("approval of %s: %w", signer.Label(), err)
	}
	me := signer.Serialized()
	kept := p.Approvals[:0]
	for _, a := range p.Approvals {
		if !bytes.Equal(a.Signer, me) {
			kept = append(kept, a)
		}
	}
	p.Approvals = append(kept, &foliov1.Approval{Signer: me, Signature: sig})
	return nil
}

// Status is what a proposal's approvals amount to against the
// configuration in force.
type Status struct {
	// Policy is the policy the update needs (the channel's admin policy).
	Policy string `json:"policy"`
	// Approved lists the identities whose approvals verify.
	Approved []string `json:"approved"`
	// Refused says why each other approval does not count.
	Refused []string `json:"refused,omitempty"`
	// Missing says what the policy still needs; empty when Satisfied.
	Missing   []string `json:"missing,omitempty"`
	Satisfied bool     `json:"satisfied"`
}

// Evaluate checks a proposal against the configuration in force, cur, at
// height (the next block to commit): the update must be for the next
// sequence of cur's channel and not expired (else ErrStale), and its
// approvals are counted as the peers count them when the update commits
// (channel.Config.Apply's policy step: each approval verified against
// cur's MSP over the update's bytes in the config domain, then the
// channel's admin policy evaluated; membership changes always need that
// policy). The submitter's own approval is one of the approvals: `folio
// channel submit` signs before it evaluates.
func Evaluate(cur *channel.Config, height uint64, p *foliov1.ConfigProposal) (*Status, error) {
	u, err := Update(p)
	if err != nil {
		return nil, err
	}
	c := cur.Proto()
	switch {
	case u.ChannelId != c.ChannelId:
		return nil, fmt.Errorf("%w: the proposal is for channel %q, the peer's channel is %q", ErrStale, u.ChannelId, c.ChannelId)
	case u.Sequence != c.Sequence+1 || u.Config.Sequence != u.Sequence:
		return nil, fmt.Errorf("%w: the proposal is for config sequence %d, but sequence %d is in force (next: %d): another change committed since; build the proposal again on the configuration in force",
			ErrStale, u.Sequence, c.Sequence, c.Sequence+1)
	case u.ExpiresAtBlock != 0 && height > u.ExpiresAtBlock:
		return nil, fmt.Errorf("%w: the proposal expired at block %d and the channel is at block %d: build it again", ErrStale, u.ExpiresAtBlock, height)
	}
	need := cur.AdminPolicy()
	if need == nil {
		return nil, fmt.Errorf("channel %s has no organisation admins: no update can be approved", c.ChannelId)
	}
	signers, bad := channel.Approvers(cur.MSP(), types.DomainConfig, p.Update, p.Approvals)
	st := &Status{Policy: need.Source(), Approved: []string{}, Refused: bad}
	for _, s := range signers {
		st.Approved = append(st.Approved, fmt.Sprintf("%s (%s, %s)", s.Label(), s.MSPID, s.Role))
	}
	if err := need.Evaluate(signers); err != nil {
		var ue *policy.UnsatisfiedError
		if errors.As(err, &ue) {
			st.Missing = ue.Missing
		} else {
			st.Missing = []string{err.Error()}
		}
		return st, nil
	}
	st.Satisfied = true
	return st, nil
}

// Envelope signs the proposal's update and approvals into a config
// transaction by creator (an admin), ready to submit through a gateway.
func Envelope(p *foliov1.ConfigProposal, creator types.Signer) (*foliov1.Envelope, string, error) {
	u, err := Update(p)
	if err != nil {
		return nil, "", err
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(&foliov1.ConfigUpdateTx{Update: p.Update, Approvals: p.Approvals})
	if err != nil {
		return nil, "", err
	}
	h, err := types.NewHeader(creator, u.ChannelId, foliov1.TxType_TX_TYPE_CONFIG)
	if err != nil {
		return nil, "", err
	}
	env, err := types.SignEnvelope(creator, &foliov1.Payload{Header: h, Data: data})
	if err != nil {
		return nil, "", err
	}
	return env, h.TxId, nil
}

// MarshalProposal encodes a proposal as indented JSON (the file admins
// pass around; the update stays the exact bytes the approvals sign).
func MarshalProposal(p *foliov1.ConfigProposal) ([]byte, error) {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(p)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseProposal decodes a proposal file.
func ParseProposal(data []byte) (*foliov1.ConfigProposal, error) {
	if len(data) > 4*MaxDefinitionBytes {
		return nil, fmt.Errorf("proposal is %d bytes: not a proposal written by folio", len(data))
	}
	var p foliov1.ConfigProposal
	if err := (protojson.UnmarshalOptions{}).Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("proposal does not decode: %w", err)
	}
	if _, err := Update(&p); err != nil {
		return nil, err
	}
	return &p, nil
}
