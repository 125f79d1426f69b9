package channel

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/policy"
	"github.com/folio-ledger/folio/internal/types"
)

// AdminsPolicy names the channel policy a config update needs, unless it
// only installs a newer revocation list of one organisation (then an admin
// of that organisation suffices, as Fabric lets an organisation manage its
// own MSP). Without it in the config, a majority of the admins of the
// organisations that run peers.
const AdminsPolicy = "channel/admins"

// ErrUpdateRejected wraps every reason a config update is refused; the
// validator marks it INVALID_CONFIG_TRANSACTION with the reason.
var ErrUpdateRejected = errors.New("config update rejected")

func rejectUpdate(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUpdateRejected, fmt.Sprintf(format, args...))
}

// Config is the channel configuration in force for a range of blocks, as
// the chain defines it: the genesis configuration and every accepted
// config update before the block. Everything block validation decides
// about identities comes from here (DESIGN 6): the organisations' roots and
// the revocation lists recorded on chain, the channel's peers and orderers,
// and the capability level. A Config is immutable and safe for concurrent
// use.
type Config struct {
	cfg  *foliov1.ChannelConfig
	from uint64
	// update is the serialized ConfigUpdate that made this config (nil
	// for the genesis one): the bytes recorded in state.
	update []byte
	msp    *identity.Verifier
	// Nodes of the channel by node ID.
	peers, orderers map[string]*foliov1.NodeEndpoint
	mspOf           map[string]string // organisation name -> MSP ID
	peerMSPs        map[string]string // peer name -> its organisation's MSP ID
	admins          *policy.Policy
	activation      *policy.Policy // lifecycleActivationPolicy (nil: none)
}

// NewConfig returns the configuration cfg, in force from block from on.
// Its verifier holds no clock and takes revocations only from the
// organisations' on-chain revocation lists.
func NewConfig(cfg *foliov1.ChannelConfig, from uint64) (*Config, error) {
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	orgs, err := MSPOrgs(cfg)
	if err != nil {
		return nil, err
	}
	msp, err := identity.NewChainVerifier(orgs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if Level(cfg) < CapabilityV3 {
		// Validation rules only change with the capability level: below
		// V3, a client or admin certificate with the server-auth usage
		// (a CA's TLS certificate before issue 18) validates as it did.
		msp.AcceptLegacyServerIdentities()
	}
	c := &Config{cfg: cfg, from: from, msp: msp, peers: map[string]*foliov1.NodeEndpoint{},
		orderers: map[string]*foliov1.NodeEndpoint{}, mspOf: map[string]string{}}
	for _, o := range cfg.Orgs {
		c.mspOf[o.Name] = o.MspId
		if len(o.Crl) > 0 {
			if err := msp.UpdateCRL(o.MspId, o.Crl); err != nil {
				return nil, fmt.Errorf("%w: organisation %s: %v", ErrInvalid, o.Name, err)
			}
		}
	}
	c.peerMSPs = map[string]string{}
	for _, n := range cfg.Peers {
		c.peers[n.NodeId] = n
		c.peerMSPs[n.Name] = c.mspOf[n.Org]
	}
	for _, n := range cfg.Orderers {
		c.orderers[n.NodeId] = n
	}
	if a := cfg.Policies[lifecycleActivationPolicy]; a != "" {
		if c.activation, err = policy.Parse(a); err != nil {
			return nil, fmt.Errorf("%w: policy %s: %v", ErrInvalid, lifecycleActivationPolicy, err)
		}
	}
	src := cfg.Policies[AdminsPolicy]
	if src == "" {
		src = defaultAdmins(cfg)
	}
	if src != "" {
		if c.admins, err = policy.Parse(src); err != nil {
			return nil, fmt.Errorf("%w: policy %s: %v", ErrInvalid, AdminsPolicy, err)
		}
	}
	return c, nil
}

// defaultAdmins is a majority of the admins of the peer organisations (all
// organisations when none is marked as running peers).
func defaultAdmins(cfg *foliov1.ChannelConfig) string {
	var admins []string
	for _, o := range cfg.Orgs {
		if o.Kind != foliov1.OrgKind_ORG_KIND_ORDERER {
			admins = append(admins, "'"+o.MspId+".admin'")
		}
	}
	if len(admins) == 0 {
		for _, o := range cfg.Orgs {
			admins = append(admins, "'"+o.MspId+".admin'")
		}
	}
	if len(admins) == 0 {
		return ""
	}
	return fmt.Sprintf("OutOf(%d, %s)", len(admins)/2+1, strings.Join(admins, ", "))
}

// Proto returns the configuration. The caller must not modify it.
func (c *Config) Proto() *foliov1.ChannelConfig { return c.cfg }

// AdminPolicy is the channel's admin policy in force (AdminsPolicy, or
// its default): what every update but a single organisation's revocation
// list needs. nil when the channel has no organisation admins.
func (c *Config) AdminPolicy() *policy.Policy { return c.admins }

// ActivationPolicy is the contract lifecycle's activation policy in
// force (nil: the configuration defines none). Config updates change it
// from capability level 4 on.
func (c *Config) ActivationPolicy() *policy.Policy { return c.activation }

// PeerMSPs maps every peer of the channel by name to its organisation's
// MSP ID. The caller must not modify it.
func (c *Config) PeerMSPs() map[string]string { return c.peerMSPs }

// FromBlock is the first block this configuration is in force for.
func (c *Config) FromBlock() uint64 { return c.from }

// Sequence is the configuration's sequence (0 for the genesis one).
func (c *Config) Sequence() uint64 { return c.cfg.Sequence }

// Level is the capability level in force.
func (c *Config) Level() uint32 { return Level(c.cfg) }

// MSP is the chain verifier of this configuration: organisations' roots
// and on-chain revocations, no clock.
func (c *Config) MSP() *identity.Verifier { return c.msp }

// Update returns the serialized ConfigUpdate that made this configuration
// (nil for the genesis one).
func (c *Config) Update() []byte { return c.update }

// CheckEndorser says whether a validated identity's endorsement counts: from
// capability level 2 on, only a peer that is a node of the channel (its
// key's node ID is listed among the channel's peers, in its organisation).
func (c *Config) CheckEndorser(id *identity.Identity) error {
	if c.Level() < CapabilityV2 {
		return nil
	}
	return c.checkNode(id, identity.RolePeer, c.peers, "peer")
}

// CheckBlockSigner says whether a validated identity's block signature
// counts: at level 1 any identity with the orderer role; from level 2 on
// only an orderer of the channel as recorded on chain.
func (c *Config) CheckBlockSigner(id *identity.Identity) error {
	if c.Level() < CapabilityV2 {
		if id.Role != identity.RoleOrderer {
			return fmt.Errorf("%s is a %s, not an orderer", id.Label(), id.Role)
		}
		return nil
	}
	return c.checkNode(id, identity.RoleOrderer, c.orderers, "orderer")
}

func (c *Config) checkNode(id *identity.Identity, role identity.Role, nodes map[string]*foliov1.NodeEndpoint, what string) error {
	if id.Role != role {
		return fmt.Errorf("%s is a %s, not a %s", id.Label(), id.Role, what)
	}
	nodeID, err := fcrypto.KeyID(id.Cert.PublicKey)
	if err != nil {
		return fmt.Errorf("%s: %v", id.Label(), err)
	}
	n, ok := nodes[nodeID]
	if !ok {
		return fmt.Errorf("%s (node %.12s) is not a %s of channel %s", id.Label(), nodeID, what, c.cfg.ChannelId)
	}
	if c.mspOf[n.Org] != id.MSPID {
		return fmt.Errorf("%s (node %.12s) signs for %s, but the channel lists node %s in %s", id.Label(), nodeID, id.MSPID, n.Name, n.Org)
	}
	return nil
}

// Apply checks a config update transaction committing in block block,
// created by creator (validated by this config's MSP, envelope signature
// checked), and returns the configuration it puts in force from block+1.
// A refused update returns an error wrapping ErrUpdateRejected. An update
// to a capability level this binary lacks returns an
// *UnsupportedCapabilityError: the caller must stop, not mark it invalid,
// since binaries that have the level accept it.
func (c *Config) Apply(creator *identity.Identity, data []byte, block uint64) (*Config, error) {
	var tx foliov1.ConfigUpdateTx
	if err := proto.Unmarshal(data, &tx); err != nil {
		return nil, rejectUpdate("config update transaction does not decode: %v", err)
	}
	var u foliov1.ConfigUpdate
	if err := proto.Unmarshal(tx.Update, &u); err != nil || u.Config == nil {
		return nil, rejectUpdate("config update does not decode or holds no configuration")
	}
	switch {
	case u.ChannelId != c.cfg.ChannelId:
		return nil, rejectUpdate("update is for channel %q, this is channel %q", u.ChannelId, c.cfg.ChannelId)
	case u.Sequence != c.cfg.Sequence+1:
		return nil, rejectUpdate("update carries sequence %d, but the config in force is at sequence %d (next: %d): it was already applied, is a replay or was built on an older config",
			u.Sequence, c.cfg.Sequence, c.cfg.Sequence+1)
	case u.Config.Sequence != u.Sequence || u.Config.ChannelId != u.ChannelId:
		return nil, rejectUpdate("the new configuration says channel %q sequence %d, the update channel %q sequence %d", u.Config.ChannelId, u.Config.Sequence, u.ChannelId, u.Sequence)
	case u.ExpiresAtBlock != 0 && block > u.ExpiresAtBlock:
		return nil, rejectUpdate("update expired at block %d; it reached block %d", u.ExpiresAtBlock, block)
	}
	next := u.Config
	if err := c.checkBeforeValidate(next); err != nil {
		return nil, err
	}
	if err := Validate(next); err != nil {
		return nil, rejectUpdate("%v", err)
	}
	if Level(next) < c.Level() {
		return nil, rejectUpdate("capability level %d is lower than the level %d in force: levels never go back", Level(next), c.Level())
	}
	if Level(next) > MaxCapability {
		return nil, &UnsupportedCapabilityError{Level: Level(next), Block: block}
	}
	need, org, err := c.diff(next)
	if err != nil {
		return nil, err
	}
	signers, bad := Approvers(c.msp, types.DomainConfig, tx.Update, tx.Approvals)
	signers = append([]*identity.Identity{creator}, signers...)
	if need == nil {
		return nil, rejectUpdate("the channel defines no %q policy and has no organisation admins: no update can be approved", AdminsPolicy)
	}
	if err := need.Evaluate(signers); err != nil {
		reason := err.Error()
		if len(bad) > 0 {
			reason += "; refused approvals: " + strings.Join(bad, "; ")
		}
		what := "the channel's admin policy " + need.Source()
		if org != "" {
			what = "an admin of " + org
		}
		return nil, rejectUpdate("update to sequence %d needs %s: %s", u.Sequence, what, reason)
	}
	nc, err := NewConfig(next, block+1)
	if err != nil {
		return nil, rejectUpdate("%v", err)
	}
	nc.update = tx.Update
	return nc, nil
}

// Approvers returns the identities whose approvals of msg (signed in
// domain) verify against msp, in order, and why each other approval was
// refused. Config updates and contract activations count approvals alike.
func Approvers(msp *identity.Verifier, domain fcrypto.Domain, msg []byte, approvals []*foliov1.Approval) ([]*identity.Identity, []string) {
	var signers []*identity.Identity
	var bad []string
	for i, ap := range approvals {
		id, err := msp.ValidateSerialized(ap.Signer)
		if err != nil {
			bad = append(bad, fmt.Sprintf("approval %d: %v", i, err))
			continue
		}
		if err := fcrypto.Verify(id.Cert.PublicKey, domain, msg, ap.Signature); err != nil {
			bad = append(bad, fmt.Sprintf("approval %d by %s: %v", i, id.Label(), err))
			continue
		}
		signers = append(signers, id)
	}
	return signers, bad
}

// diff returns the policy an update from c to next needs: an admin of one
// organisation when all it changes is that organisation's revocation list
// (org names it), else the channel's admin policy. Changes that are never
// allowed, and revocation lists that do not verify or go back, are refused.
func (c *Config) diff(next *foliov1.ChannelConfig) (*policy.Policy, string, error) {
	if !equalMsgs(next.Contracts, c.cfg.Contracts) {
		return nil, "", rejectUpdate("contract definitions change through the contract lifecycle (`folio contract activate`), not config updates")
	}
	if err := c.checkChangeable(next); err != nil {
		return nil, "", err
	}
	prev := map[string]*foliov1.OrgConfig{}
	for _, o := range c.cfg.Orgs {
		prev[o.Name] = o
	}
	var crlOrgs []*foliov1.OrgConfig
	for _, o := range next.Orgs {
		p, ok := prev[o.Name]
		if !ok || bytes.Equal(o.Crl, p.Crl) {
			continue
		}
		if p.MspId != o.MspId {
			continue // a changed organisation needs the channel's admins anyway
		}
		if err := checkCRL(o, p); err != nil {
			return nil, "", err
		}
		crlOrgs = append(crlOrgs, o)
	}
	// Only revocation lists changed, of one organisation: its admin decides.
	stripped := proto.Clone(next).(*foliov1.ChannelConfig)
	for i, o := range stripped.Orgs {
		if p, ok := prev[o.Name]; ok {
			stripped.Orgs[i].Crl = p.Crl
		}
	}
	stripped.Sequence = c.cfg.Sequence
	if len(crlOrgs) == 1 && proto.Equal(stripped, c.cfg) {
		msp := crlOrgs[0].MspId
		p, err := policy.Parse("OR('" + msp + ".admin')")
		if err != nil {
			return nil, "", rejectUpdate("%v", err)
		}
		return p, msp, nil
	}
	return c.admins, "", nil
}

// checkCRL accepts an organisation's new revocation list only if its own
// CA signed it and its number is above the list in force, so nobody but
// the organisation can revoke its members and an old list never returns.
func checkCRL(o, prev *foliov1.OrgConfig) error {
	crl, err := x509.ParseRevocationList(o.Crl)
	if err != nil {
		return rejectUpdate("revocation list of %s does not parse: %v", o.Name, err)
	}
	ok := false
	for _, pem := range o.RootCerts {
		root, err := fcrypto.ParseCertificatePEM(pem)
		if err == nil && crl.CheckSignatureFrom(root) == nil {
			ok = true
		}
	}
	if !ok {
		return rejectUpdate("revocation list of %s is not signed by its root CA", o.Name)
	}
	if crl.Number == nil {
		return rejectUpdate("revocation list of %s has no CRL number", o.Name)
	}
	if len(prev.Crl) > 0 {
		old, err := x509.ParseRevocationList(prev.Crl)
		if err == nil && old.Number != nil && crl.Number.Cmp(old.Number) <= 0 {
			return rejectUpdate("revocation list %s of %s is not newer than list %s in force", crl.Number, o.Name, old.Number)
		}
	}
	return nil
}

// checkChangeable refuses changes no config update may make, and
// membership changes that break the rules nodes rely on to follow them
// (membership.go). Frozen: the format and channel ID, block cutting (the
// orderers cut blocks with the genesis parameters) and the lifecycle
// activation policy (the lifecycle registry reads it from genesis).
// Organisations, peers and orderers change from capability level 4 on
// (checkMembership); below it they stay frozen as they always were, so a
// chain written by an older binary replays with the same verdicts. What
// changes at any level: revocation lists, root certificates, the
// capability level and the other named policies.
func (c *Config) checkChangeable(next *foliov1.ChannelConfig) error {
	var frozen []string
	if next.Format != c.cfg.Format || next.ChannelId != c.cfg.ChannelId {
		frozen = append(frozen, "format or channel ID")
	}
	if !proto.Equal(next.Batch, c.cfg.Batch) {
		frozen = append(frozen, "block cutting")
	}
	if c.Level() < CapabilityV4 && next.Policies[lifecycleActivationPolicy] != c.cfg.Policies[lifecycleActivationPolicy] {
		// Below level 4 the lifecycle reads it from the genesis block; from
		// level 4 on validation takes it from the configuration in force
		// (an organisation that joined can approve, one that leaves stops).
		frozen = append(frozen, "the "+lifecycleActivationPolicy+" policy")
	}
	if c.Level() < CapabilityV4 && membershipChanged(c.cfg, next) {
		return rejectUpdate("the channel is at capability level %d, and organisations, nodes and Raft IDs change by config update from level %d on: "+
			"first raise the capability level to %d (an update of its own, once every node runs a binary that has it), then change membership; "+
			"at level %d config updates can change revocation lists, root certificates, the capability level and the policies other than %s",
			c.Level(), CapabilityV4, CapabilityV4, c.Level(), lifecycleActivationPolicy)
	}
	if len(frozen) > 0 {
		return rejectUpdate("config updates cannot change %s (nodes read them from the genesis block): keep them as in the config in force (sequence %d)",
			strings.Join(frozen, ", "), c.cfg.Sequence)
	}
	if c.Level() < CapabilityV4 {
		return nil
	}
	return checkMembership(c.cfg, next)
}

// membershipChanged reports whether next differs from cur in its
// organisations (other than revocation lists and root certificates), its
// nodes or its retired Raft IDs.
func membershipChanged(cur, next *foliov1.ChannelConfig) bool {
	a := &foliov1.ChannelConfig{Orgs: next.Orgs, Orderers: next.Orderers, Peers: next.Peers, RetiredRaftIds: next.RetiredRaftIds}
	b := &foliov1.ChannelConfig{Orgs: cur.Orgs, Orderers: cur.Orderers, Peers: cur.Peers, RetiredRaftIds: cur.RetiredRaftIds}
	a, b = proto.Clone(a).(*foliov1.ChannelConfig), proto.Clone(b).(*foliov1.ChannelConfig)
	for _, x := range []*foliov1.ChannelConfig{a, b} {
		for _, o := range x.Orgs {
			o.Crl, o.RootCerts = nil, nil
		}
	}
	return !proto.Equal(a, b)
}

// lifecycleActivationPolicy is lifecycle.ActivationPolicy (the lifecycle
// package imports this one).
const lifecycleActivationPolicy = "lifecycle/activation"

// equalMsgs reports whether two lists hold equal messages in the same order.
func equalMsgs[M proto.Message](a, b []M) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// Revoked lists the serials an organisation's on-chain revocation list
// holds, sorted.
func (c *Config) Revoked(mspID string) []string {
	var out []string
	for _, r := range c.msp.Revocations(mspID) {
		out = append(out, r.Serial)
	}
	sort.Strings(out)
	return out
}

// Namespace is the world-state namespace where config updates are
// recorded; UpdateKey holds the serialized ConfigUpdate in force, and its
// version's block is the block that committed it.
const (
	Namespace = "folio.config"
	UpdateKey = "update"
)

// Restore rebuilds the configuration in force from the genesis
// configuration and the update recorded in state (update nil: none yet),
// committed in block committedIn.
func Restore(genesis *foliov1.ChannelConfig, update []byte, committedIn uint64) (*Config, error) {
	if update == nil {
		return NewConfig(genesis, 1)
	}
	var u foliov1.ConfigUpdate
	if err := proto.Unmarshal(update, &u); err != nil || u.Config == nil {
		return nil, fmt.Errorf("%w: recorded config update does not decode", ErrInvalid)
	}
	if Level(u.Config) > MaxCapability {
		return nil, &UnsupportedCapabilityError{Level: Level(u.Config), Block: committedIn}
	}
	c, err := NewConfig(u.Config, committedIn+1)
	if err != nil {
		return nil, err
	}
	c.update = update
	return c, nil
}

// Tracker holds the configuration in force after the last committed
// block. The committer is its only writer (Set, after the block that
// changed it is committed); readers get immutable snapshots.
type Tracker struct {
	mu  sync.RWMutex
	cur *Config
}

// NewTracker starts from c.
func NewTracker(c *Config) *Tracker { return &Tracker{cur: c} }

// Current returns the configuration in force for the next block.
func (t *Tracker) Current() *Config {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.cur
}

// Set installs the configuration a committed block put in force.
func (t *Tracker) Set(c *Config) {
	t.mu.Lock()
	t.cur = c
	t.mu.Unlock()
}
