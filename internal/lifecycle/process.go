package lifecycle

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/policy"
	"github.com/folio-ledger/folio/internal/types"
)

// ReservedPrefix starts the names of system namespaces (Namespace); no
// contract may take such a name.
const ReservedPrefix = "folio."

// ErrRejected wraps every reason a lifecycle transaction is refused; the
// validator marks such a transaction LIFECYCLE_REJECTED with the reason.
var ErrRejected = errors.New("lifecycle transaction rejected")

func rejected(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRejected, fmt.Sprintf(format, args...))
}

// Rules are the rules a block's lifecycle transactions are checked under:
// those of the channel validating the block, at that block. The validator
// builds one value per block and passes the same to CheckTx (for each of
// the block's lifecycle transactions) and NewBatch.
type Rules struct {
	// ChannelID is the channel validating the block.
	ChannelID string
	// Block is the number of the block committing the transactions.
	Block uint64
	// Capability is the channel's capability level in force at Block
	// (channel.Level; 0 means 1). From channel.CapabilityV2 on, an
	// activation's approvals bind the channel, the definition sequence it
	// creates and an expiry block (Binds); below, those fields are
	// ignored and everything is checked and recorded exactly as before.
	Capability uint32
	// Peers are the channel's peers in force at Block, name -> MSP ID of
	// their organisation (channel.Config.PeerMSPs): who may record an
	// install, and whose installs an activation counts. nil means the
	// registry's own list (the genesis peers, or SetPeers), for callers
	// outside validation.
	Peers map[string]string
	// Activation is the activation policy in force at Block when
	// ActivationFromConfig (capability level 4 on, where config updates
	// may change it; nil: the configuration defines none); otherwise the
	// registry's, from the genesis configuration.
	Activation           *policy.Policy
	ActivationFromConfig bool
}

// activationPolicy is the activation policy these rules validate with.
func (r Rules) activationPolicy(reg *Registry) *policy.Policy {
	if r.ActivationFromConfig {
		return r.Activation
	}
	return reg.activation
}

// peerMSPs is the peer list these rules validate with.
func (r Rules) peerMSPs(reg *Registry) map[string]string {
	if r.Peers != nil {
		return r.Peers
	}
	return reg.peerMSPs()
}

// sortedPeers lists the names of peers, sorted.
func sortedPeers(peers map[string]string) []string {
	out := make([]string, 0, len(peers))
	for p := range peers {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Binds reports whether activations must carry and satisfy channel_id,
// sequence and expires_at_block (capability level 2 and later).
func (r Rules) Binds() bool { return r.Capability >= channel.CapabilityV2 }

// Tx is a lifecycle transaction that passed the checks needing no state.
type Tx struct {
	Install  *foliov1.InstallRecord
	Activate *foliov1.Activation
	// Signers are the labels (user@Org) of the admins whose approvals of
	// an activation were counted, sorted.
	Signers []string
	// rules it was checked under; Batch.Apply requires the batch's.
	rules Rules
}

// Activation is an accepted activation as recorded in state and shown by
// `folio contract status`.
type Activation struct {
	Contract    string   `json:"contract"`
	Version     string   `json:"version"`
	PackageHash []byte   `json:"package_hash"`
	StartBlock  uint64   `json:"start_block"`
	Block       uint64   `json:"block"`
	TxID        string   `json:"tx_id"`
	Signers     []string `json:"signers"`
	// Sequence is the contract definition's sequence this activation
	// created. Recorded from capability level 2 on (omitted before, so
	// level-1 records keep their bytes); Registry.Activations derives it
	// for older records from their position (docs/lifecycle.md).
	Sequence uint64 `json:"sequence,omitempty"`
}

// State keys of the lifecycle namespace.
func installKey(contract, version, peer string) string {
	return "install/" + contract + "/" + version + "/" + peer
}
func activationKey(contract string, block uint64, tx int) string {
	return fmt.Sprintf("activation/%s/%020d/%06d", contract, block, tx)
}

// CheckTx runs the checks of a lifecycle transaction that need no state:
// the data decodes; an install record is created by the peer it names,
// which is a peer of the channel; an activation is created by an admin and
// approved by admins satisfying the channel's activation policy, with
// valid names, hash and policy, and — when rules.Binds() — it is for
// rules.ChannelID, carries a sequence, and rules.Block is not after its
// expires_at_block. creator was validated by the MSP and its envelope
// signature checked. Errors wrap ErrRejected. Safe for concurrent use.
func (r *Registry) CheckTx(msp *identity.Verifier, creator *identity.Identity, data []byte, rules Rules) (*Tx, error) {
	var lt foliov1.LifecycleTx
	if err := proto.Unmarshal(data, &lt); err != nil {
		return nil, rejected("lifecycle transaction does not decode: %v", err)
	}
	var req foliov1.LifecycleRequest
	if err := proto.Unmarshal(lt.Request, &req); err != nil {
		return nil, rejected("lifecycle request does not decode: %v", err)
	}
	var t *Tx
	var err error
	switch op := req.Op.(type) {
	case *foliov1.LifecycleRequest_Install:
		t, err = r.checkInstall(creator, op.Install, rules)
	case *foliov1.LifecycleRequest_Activate:
		t, err = r.checkActivation(msp, creator, &lt, op.Activate, rules)
	default:
		return nil, rejected("lifecycle request names no operation")
	}
	if err != nil {
		return nil, err
	}
	t.rules = rules
	return t, nil
}

func (r *Registry) checkInstall(creator *identity.Identity, in *foliov1.InstallRecord, rules Rules) (*Tx, error) {
	if in == nil {
		return nil, rejected("install record missing")
	}
	if err := checkNames(in.Contract, in.Version, in.PackageHash); err != nil {
		return nil, err
	}
	msp, ok := rules.peerMSPs(r)[in.Peer]
	if !ok {
		return nil, rejected("install record for %q, which is not a peer of the channel", in.Peer)
	}
	if creator.Role != identity.RolePeer || creator.Name != in.Peer || creator.MSPID != msp {
		return nil, rejected("install record for peer %s (%s) is signed by %s (%s, role %s): only that peer may record its installs",
			in.Peer, msp, creator.Label(), creator.MSPID, creator.Role)
	}
	return &Tx{Install: in}, nil
}

func (r *Registry) checkActivation(msp *identity.Verifier, creator *identity.Identity, lt *foliov1.LifecycleTx, a *foliov1.Activation, rules Rules) (*Tx, error) {
	if a == nil {
		return nil, rejected("activation missing")
	}
	if err := checkNames(a.Contract, a.Version, a.PackageHash); err != nil {
		return nil, err
	}
	if a.EndorsementPolicy != "" {
		if _, err := policy.Parse(a.EndorsementPolicy); err != nil {
			return nil, rejected("endorsement policy: %v", err)
		}
	}
	if creator.Role != identity.RoleAdmin {
		return nil, rejected("activation submitted by %s, a %s: only admins may activate contract versions", creator.Label(), creator.Role)
	}
	// What the approvals bind, before verifying them.
	if rules.Binds() {
		if err := checkBinding(a, rules); err != nil {
			return nil, err
		}
	}
	need := rules.activationPolicy(r)
	if need == nil {
		return nil, rejected("the channel defines no %q policy: no activation can be approved", ActivationPolicy)
	}
	signers, bad := channel.Approvers(msp, types.DomainActivation, lt.Request, lt.Approvals)
	signers = append([]*identity.Identity{creator}, signers...)
	if err := need.Evaluate(signers); err != nil {
		reason := err.Error()
		if len(bad) > 0 {
			reason += "; refused approvals: " + strings.Join(bad, "; ")
		}
		return nil, rejected("activation of %s version %s is not approved: %s", a.Contract, a.Version, reason)
	}
	seen := map[string]bool{}
	var labels []string
	for _, s := range signers {
		if l := s.Label(); !seen[l] && s.Role == identity.RoleAdmin {
			seen[l] = true
			labels = append(labels, l)
		}
	}
	sort.Strings(labels)
	return &Tx{Activate: a, Signers: labels}, nil
}

// checkBinding checks what an activation's approvals bind and needs no
// state (capability level 2 on): the channel and the expiry. The sequence
// is checked in block order by Batch.Apply.
func checkBinding(a *foliov1.Activation, rules Rules) error {
	if a.ChannelId != rules.ChannelID {
		if a.ChannelId == "" {
			return rejected("activation of %s version %s names no channel: from capability level %d on it must carry channel_id %q (this channel)",
				a.Contract, a.Version, channel.CapabilityV2, rules.ChannelID)
		}
		return rejected("activation is for channel %s, this is channel %s", a.ChannelId, rules.ChannelID)
	}
	if a.ExpiresAtBlock == 0 {
		return rejected("activation of %s version %s has no expiry: from capability level %d on it must carry expires_at_block (the last block it may commit in)",
			a.Contract, a.Version, channel.CapabilityV2)
	}
	if rules.Block > a.ExpiresAtBlock {
		return rejected("activation of %s version %s expired at block %d; block %d commits it: collect new approvals (folio contract activate --expires-after-blocks)",
			a.Contract, a.Version, a.ExpiresAtBlock, rules.Block)
	}
	if a.Sequence == 0 {
		return rejected("activation of %s version %s carries no sequence: from capability level %d on it must carry the definition's sequence + 1 (folio contract status shows the sequence)",
			a.Contract, a.Version, channel.CapabilityV2)
	}
	return nil
}

func checkNames(contract, version string, hash []byte) error {
	if strings.HasPrefix(contract, ReservedPrefix) {
		return rejected("contract name %q: names starting with %q are reserved for the system", contract, ReservedPrefix)
	}
	if !namePattern.MatchString(contract) {
		return rejected("contract name %q: use a letter, then letters, digits, '_', '.' or '-' (at most 64)", contract)
	}
	if !versionPattern.MatchString(version) {
		return rejected("version %q: use letters, digits, '.', '_' or '-' (at most 64)", version)
	}
	if len(hash) != 32 {
		return rejected("package hash of %d bytes: want a SHA-256 (32 bytes)", len(hash))
	}
	return nil
}

// Batch applies one block's lifecycle transactions in block order on top
// of the committed registry: a later transaction of the block sees the
// installs and activations of the earlier ones. Registry.Commit makes it
// the committed view once the ledger committed the block.
// A Batch is not safe for concurrent use.
type Batch struct {
	r     *Registry
	rules Rules
	block uint64
	// Copies of what the block changed.
	defs        map[string][]*Definition
	installs    map[string]map[string]*Install
	activations []*Activation
}

// NewBatch starts applying block number rules.Block under rules (the
// value given to CheckTx for the block's transactions).
func (r *Registry) NewBatch(rules Rules) *Batch {
	return &Batch{r: r, rules: rules, block: rules.Block, defs: map[string][]*Definition{}, installs: map[string]map[string]*Install{}}
}

// Empty reports whether the batch changed nothing.
func (b *Batch) Empty() bool {
	return len(b.defs) == 0 && len(b.installs) == 0 && len(b.activations) == 0
}

func (b *Batch) defsOf(contract string) []*Definition {
	if d, ok := b.defs[contract]; ok {
		return d
	}
	b.r.mu.RLock()
	defer b.r.mu.RUnlock()
	return b.r.mu.defs[contract]
}

// installsOf returns the install records of a contract version, the
// block's own over the committed ones.
func (b *Batch) installsOf(contract, version string) map[string]*Install {
	k := contract + "/" + version
	out := map[string]*Install{}
	b.r.mu.RLock()
	for p, in := range b.r.mu.installs[k] {
		out[p] = in
	}
	b.r.mu.RUnlock()
	for p, in := range b.installs[k] {
		out[p] = in
	}
	return out
}

// sequence returns a contract definition's sequence after the committed
// activations and those of the batch so far (0: never defined).
func (b *Batch) sequence(contract string) uint64 {
	n := b.r.Sequence(contract)
	for _, a := range b.activations {
		if a.Contract == contract {
			n++
		}
	}
	return n
}

// Apply applies transaction number txNum (ID txID) of the block and returns
// the state writes that record it, or an error wrapping ErrRejected that
// says precisely why it changes nothing. t must come from CheckTx under
// the batch's rules; any other error means the caller broke that.
func (b *Batch) Apply(txNum int, txID string, t *Tx) ([]*foliov1.KVWrite, error) {
	if t.rules.Block != b.rules.Block || t.rules.Binds() != b.rules.Binds() || b.rules.Binds() && t.rules.ChannelID != b.rules.ChannelID {
		return nil, fmt.Errorf("lifecycle: transaction %s was checked under rules %+v, applied under %+v", txID, t.rules, b.rules)
	}
	switch {
	case t.Install != nil:
		return b.applyInstall(txNum, txID, t.Install)
	case t.Activate != nil:
		return b.applyActivation(txNum, txID, t)
	}
	return nil, rejected("empty lifecycle transaction")
}

func (b *Batch) applyInstall(_ int, txID string, rec *foliov1.InstallRecord) ([]*foliov1.KVWrite, error) {
	in := &Install{Peer: rec.Peer, Contract: rec.Contract, Version: rec.Version, PackageHash: rec.PackageHash,
		Confidential: rec.Confidential, TxID: txID, Block: b.block}
	// A version names one package forever: once a definition fixed its
	// hash, an install of another module under that version is refused.
	for _, d := range b.defsOf(rec.Contract) {
		if d.Version == rec.Version && !bytes.Equal(d.PackageHash, rec.PackageHash) {
			return nil, rejected("%s version %s is defined with package hash %x; %s recorded %x: a version names one package",
				rec.Contract, rec.Version, d.PackageHash, rec.Peer, rec.PackageHash)
		}
	}
	value, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	k := rec.Contract + "/" + rec.Version
	if b.installs[k] == nil {
		b.installs[k] = map[string]*Install{}
	}
	b.installs[k][rec.Peer] = in
	return []*foliov1.KVWrite{{Key: installKey(rec.Contract, rec.Version, rec.Peer), Value: value}}, nil
}

func (b *Batch) applyActivation(txNum int, txID string, t *Tx) ([]*foliov1.KVWrite, error) {
	a := t.Activate
	var seq uint64 // recorded only when the rules bind
	if b.rules.Binds() {
		cur := b.sequence(a.Contract)
		switch {
		case a.Sequence <= cur:
			return nil, rejected("activation carries sequence %d, but the definition of %s is at sequence %d (next: %d): it was already applied or is a replay "+
				"(if another activation committed first, approve a new one with sequence %d)",
				a.Sequence, a.Contract, cur, cur+1, cur+1)
		case a.Sequence > cur+1:
			return nil, rejected("activation carries sequence %d, but the definition of %s is at sequence %d (next: %d): out of sequence; approve a new activation with sequence %d (folio contract status shows the sequence)",
				a.Sequence, a.Contract, cur, cur+1, cur+1)
		}
		seq = a.Sequence
	}
	start := a.AtBlock
	if start == 0 {
		start = b.block + max(a.AfterBlocks, 1)
	}
	if start <= b.block {
		return nil, rejected("start block %d is not after block %d, which commits the activation: choose a later --at-block or use --after-blocks", start, b.block)
	}
	defs := b.defsOf(a.Contract)
	var latest *Definition
	for _, d := range defs {
		if d.FromBlock <= b.block {
			latest = d
		}
		if d.Version == a.Version && !bytes.Equal(d.PackageHash, a.PackageHash) {
			return nil, rejected("%s version %s was defined with package hash %x, not %x: a version names one package; give the new package a new version",
				a.Contract, a.Version, d.PackageHash, a.PackageHash)
		}
	}
	policySrc := a.EndorsementPolicy
	if latest == nil {
		if policySrc == "" {
			return nil, rejected("%s is a new contract: its activation must give an endorsement policy", a.Contract)
		}
	} else {
		if policySrc == "" {
			policySrc = latest.PolicySrc
		}
		if latest.Confidential != a.Confidential {
			return nil, rejected("%s is %s; an activation cannot change that", a.Contract, confidentiality(latest.Confidential))
		}
	}

	// The installs recorded on chain gate the activation.
	installs := b.installsOf(a.Contract, a.Version)
	if len(installs) == 0 {
		return nil, rejected("%s version %s was never installed on any peer: package it with `folio contract package` and install it with `folio contract install`", a.Contract, a.Version)
	}
	peers := sortedPeers(b.rules.peerMSPs(b.r))
	need := int(a.MinInstalled)
	if need == 0 {
		need = len(peers)
	}
	if need > len(peers) {
		return nil, rejected("--min-installed %d: the channel has only %d peers", need, len(peers))
	}
	var have, missing, other []string
	for _, p := range peers {
		in, ok := installs[p]
		switch {
		case !ok:
			missing = append(missing, p)
		case !bytes.Equal(in.PackageHash, a.PackageHash):
			other = append(other, fmt.Sprintf("%s (%s)", p, shortHash(in.PackageHash)))
		case in.Confidential != a.Confidential:
			other = append(other, fmt.Sprintf("%s (installed as %s)", p, confidentiality(in.Confidential)))
		default:
			have = append(have, p)
		}
	}
	if len(other) > 0 {
		return nil, rejected("peers installed a different package as %s version %s than %s: %s", a.Contract, a.Version, shortHash(a.PackageHash), strings.Join(other, ", "))
	}
	if len(have) < need {
		return nil, rejected("%s version %s (%s) is installed on %d peers, %d required; missing: %s",
			a.Contract, a.Version, shortHash(a.PackageHash), len(have), need, strings.Join(missing, ", "))
	}

	def := &Definition{Name: a.Contract, Version: a.Version, PolicySrc: policySrc, Confidential: a.Confidential,
		PackageHash: a.PackageHash, FromBlock: start}
	if err := def.parse(); err != nil {
		return nil, rejected("%v", err)
	}
	// The new switch replaces any switch still pending: the last valid
	// activation wins.
	var next []*Definition
	for _, d := range defs {
		if d.FromBlock <= b.block {
			next = append(next, d)
		}
	}
	next = append(next, def)
	b.defs[a.Contract] = next

	rec := &Activation{Contract: a.Contract, Version: a.Version, PackageHash: a.PackageHash, StartBlock: start,
		Block: b.block, TxID: txID, Signers: t.Signers, Sequence: seq}
	b.activations = append(b.activations, rec)
	defsJSON, err := json.Marshal(next)
	if err != nil {
		return nil, err
	}
	recJSON, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return []*foliov1.KVWrite{
		{Key: DefinitionsKey(a.Contract), Value: defsJSON},
		{Key: activationKey(a.Contract, b.block, txNum), Value: recJSON},
	}, nil
}

func confidentiality(c bool) string {
	if c {
		return "confidential"
	}
	return "not confidential"
}

func shortHash(h []byte) string {
	s := hex.EncodeToString(h)
	if len(s) > 16 {
		s = s[:16]
	}
	return "sha256:" + s + "…"
}

// Commit makes a batch's changes the committed view. The committer calls
// it right after the ledger committed the batch's block (whose state holds
// the same records), so a peer that restarts and Loads sees the same.
func (r *Registry) Commit(b *Batch) {
	if b == nil || b.Empty() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for c, defs := range b.defs {
		r.mu.defs[c] = defs
	}
	for _, m := range b.installs {
		for _, in := range m {
			r.addInstallLocked(in)
		}
	}
	for _, a := range b.activations {
		r.mu.activations[a.Contract] = append(r.mu.activations[a.Contract], a)
	}
}
