package channel

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	fcrypto "github.com/folio-ledger/folio/internal/crypto"
	"github.com/folio-ledger/folio/internal/identity"
	"github.com/folio-ledger/folio/internal/policy"
)

// Membership changes (capability level 4 on). A config update may:
//   - add organisations and remove them; an organisation keeps its name,
//     MSP ID and kind for as long as it is a member;
//   - add, remove and re-address peers; a node keeps its name and
//     organisation (another name or organisation is a remove and an add);
//   - add or remove ONE orderer, never both: Raft changes its voters one
//     at a time, so a replacement is a remove, then an add. Every orderer
//     that stays keeps its effective Raft ID, an added one carries the ID
//     its key derives (RaftIDOf), and a removed one's ID joins
//     retired_raft_ids, which only grows: an ID that came back could
//     resurrect a stale log. Removing down to one orderer is allowed (as
//     in etcd); zero is not (Validate).
//
// An organisation leaves only once nothing needs it: it runs no orderer
// (remove those first, one update each), its peers leave in the same
// update or before, and no policy or contract definition of the new
// configuration names its MSP ID. Whether a release's key servers or a
// contract definition held in state still need it is for the CLI to check
// at admission: those live outside the config.

// checkMembership applies the rules above to an update from cur to next,
// both valid configurations.
func checkMembership(cur, next *foliov1.ChannelConfig) error {
	if err := checkOrgChanges(cur, next); err != nil {
		return err
	}
	if err := checkNodeIdentity("peer", cur.Peers, next.Peers); err != nil {
		return err
	}
	if err := checkNodeIdentity("orderer", cur.Orderers, next.Orderers); err != nil {
		return err
	}
	return checkOrdererChanges(cur, next)
}

func checkOrgChanges(cur, next *foliov1.ChannelConfig) error {
	prev := map[string]*foliov1.OrgConfig{}
	for _, o := range cur.Orgs {
		prev[o.Name] = o
	}
	kept := map[string]bool{}
	for _, o := range next.Orgs {
		kept[o.Name] = true
	}
	removedMSP := map[string]string{}
	for _, o := range cur.Orgs {
		if !kept[o.Name] {
			removedMSP[o.MspId] = o.Name
		}
	}
	for _, o := range next.Orgs {
		p, ok := prev[o.Name]
		if ok {
			if p.MspId != o.MspId || p.Kind != o.Kind {
				return rejectUpdate("organisation %s: its MSP ID and kind never change (in force: %s, %v; proposed: %s, %v): add a new organisation and remove this one instead",
					o.Name, p.MspId, p.Kind, o.MspId, o.Kind)
			}
			continue
		}
		if was, ok := removedMSP[o.MspId]; ok {
			return rejectUpdate("organisation %s takes MSP ID %s from organisation %s, which the same update removes: an MSP ID belongs to one organisation; rename nothing, or remove and add in separate updates",
				o.Name, o.MspId, was)
		}
		if len(o.Crl) > 0 {
			return rejectUpdate("added organisation %s carries a revocation list: add it without one (its admin installs one later, in an update of its own)", o.Name)
		}
		// A root shared with another member would let that member's
		// certificates speak for the new organisation, or the reverse.
		for _, other := range next.Orgs {
			if other.Name != o.Name && sharesRootKey(o, other) {
				return rejectUpdate("added organisation %s has a root CA key of organisation %s: every organisation needs its own CA", o.Name, other.Name)
			}
		}
	}
	return nil
}

// sharesRootKey reports whether two organisations have a root certificate
// with the same public key (both configurations are valid: roots parse).
func sharesRootKey(a, b *foliov1.OrgConfig) bool {
	for _, pa := range a.RootCerts {
		ca, err := fcrypto.ParseCertificatePEM(pa)
		if err != nil {
			continue
		}
		for _, pb := range b.RootCerts {
			cb, err := fcrypto.ParseCertificatePEM(pb)
			if err == nil && bytes.Equal(ca.RawSubjectPublicKeyInfo, cb.RawSubjectPublicKeyInfo) {
				return true
			}
		}
	}
	return false
}

// checkNodeIdentity refuses a node (by node ID) that stays but changes its
// name or organisation: other nodes and the validators know it by these.
func checkNodeIdentity(what string, cur, next []*foliov1.NodeEndpoint) error {
	prev := map[string]*foliov1.NodeEndpoint{}
	for _, n := range cur {
		prev[n.NodeId] = n
	}
	for _, n := range next {
		if p, ok := prev[n.NodeId]; ok && (p.Name != n.Name || p.Org != n.Org) {
			return rejectUpdate("%s %s of %s (node %.12s) would become %s of %s: a node keeps its name and organisation; remove it and add it anew instead",
				what, p.Name, p.Org, n.NodeId, n.Name, n.Org)
		}
	}
	return nil
}

func checkOrdererChanges(cur, next *foliov1.ChannelConfig) error {
	prevIDs := RaftIDs(cur)
	inNext := map[string]bool{}
	var added, removed []*foliov1.NodeEndpoint
	if err := checkKeptRaftIDs(cur, next); err != nil {
		return err
	}
	for _, n := range next.Orderers {
		inNext[n.NodeId] = true
		if _, ok := prevIDs[n.NodeId]; !ok {
			added = append(added, n)
		}
	}
	for _, p := range cur.Orderers {
		if !inNext[p.NodeId] {
			removed = append(removed, p)
		}
	}
	switch {
	case len(added) > 0 && len(removed) > 0:
		return rejectUpdate("the update adds orderer %s and removes orderer %s: replace = remove, then add, one update each, so the Raft cluster changes by one member at a time",
			nodeNames(added), nodeNames(removed))
	case len(added) > 1:
		return rejectUpdate("the update adds orderers %s: add one orderer per update (each joins as a learner and must catch up before the next change)", nodeNames(added))
	case len(removed) > 1:
		return rejectUpdate("the update removes orderers %s: remove one orderer per update, so quorum is never lost to one change", nodeNames(removed))
	}
	for _, a := range added {
		want, err := RaftIDOf(a.NodeId)
		if err != nil {
			return rejectUpdate("added orderer %s: %v", a.Name, err)
		}
		if a.RaftId != want {
			return rejectUpdate("added orderer %s has raft_id %d, but its key derives Raft ID %d (channel.RaftIDOf of its node ID): set raft_id to %d (channel.AddOrderer does)",
				a.Name, a.RaftId, want, want)
		}
	}
	oldRetired, newRetired := idSet(cur.RetiredRaftIds), idSet(next.RetiredRaftIds)
	var dropped []uint64
	for id := range oldRetired {
		if !newRetired[id] {
			dropped = append(dropped, id)
		}
	}
	if len(dropped) > 0 {
		sort.Slice(dropped, func(i, j int) bool { return dropped[i] < dropped[j] })
		return rejectUpdate("the update drops retired Raft IDs %v: retired_raft_ids only grows, so a removed orderer's ID is never used again", dropped)
	}
	want := map[uint64]bool{}
	for _, r := range removed {
		id := prevIDs[r.NodeId]
		want[id] = true
		if !newRetired[id] {
			return rejectUpdate("the update removes orderer %s without retiring its Raft ID %d: append %d to retired_raft_ids (channel.RemoveOrderer does)", r.Name, id, id)
		}
	}
	var extra []uint64
	for id := range newRetired {
		if !oldRetired[id] && !want[id] {
			extra = append(extra, id)
		}
	}
	if len(extra) > 0 {
		sort.Slice(extra, func(i, j int) bool { return extra[i] < extra[j] })
		return rejectUpdate("the update retires Raft IDs %v, which no orderer it removes had: retire only the removed orderer's ID", extra)
	}
	return nil
}

// checkKeptRaftIDs refuses an orderer that stays but whose effective Raft
// ID changes. Apply runs it before Validate too, whose message for a
// shifted place (a retired or duplicate ID) would not say how to fix it;
// it tolerates any proto value.
func checkKeptRaftIDs(cur, next *foliov1.ChannelConfig) error {
	prevIDs := RaftIDs(cur)
	for i, n := range next.GetOrderers() {
		was, ok := prevIDs[n.GetNodeId()]
		if !ok {
			continue
		}
		if id := raftIDAt(n, i); id != was {
			return rejectUpdate("orderer %s would have Raft ID %d instead of its %d (a raft_id of 0 means its place in the list, and places move when the list does): "+
				"give every orderer its current Raft ID explicitly in raft_id (channel.NextConfig does)", n.GetName(), id, was)
		}
	}
	return nil
}

func idSet(ids []uint64) map[uint64]bool {
	s := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		s[id] = true
	}
	return s
}

func nodeNames(ns []*foliov1.NodeEndpoint) string {
	names := make([]string, len(ns))
	for i, n := range ns {
		names[i] = n.Name
	}
	return strings.Join(names, " and ")
}

// checkRemovedOrgs refuses to remove an organisation something in next
// still needs, naming everything that must change first. It reads next
// before Validate does (whose message would only be "unknown
// organisation"), so it tolerates any proto value.
func checkRemovedOrgs(cur, next *foliov1.ChannelConfig) error {
	kept := map[string]bool{}
	for _, o := range next.GetOrgs() {
		kept[o.GetName()] = true
	}
	for _, o := range cur.Orgs {
		if kept[o.Name] {
			continue
		}
		if why := removalBlockers(cur, next, o); len(why) > 0 {
			return rejectUpdate("organisation %s (%s) cannot leave yet: %s", o.Name, o.MspId, strings.Join(why, "; "))
		}
	}
	return nil
}

// checkBeforeValidate runs, from capability level 4 on, the membership
// rules whose messages say more than Validate's would for the same config.
func (c *Config) checkBeforeValidate(next *foliov1.ChannelConfig) error {
	if c.Level() < CapabilityV4 {
		return nil
	}
	if err := checkRemovedOrgs(c.cfg, next); err != nil {
		return err
	}
	return checkKeptRaftIDs(c.cfg, next)
}

// removalBlockers lists what keeps org from leaving when cur becomes next.
func removalBlockers(cur, next *foliov1.ChannelConfig, org *foliov1.OrgConfig) []string {
	var why []string
	var orderers, peers []string
	for _, n := range cur.Orderers {
		if n.Org == org.Name {
			orderers = append(orderers, n.Name)
		}
	}
	for _, n := range next.GetPeers() {
		if n.GetOrg() == org.Name {
			peers = append(peers, n.GetName())
		}
	}
	if len(orderers) > 0 {
		why = append(why, fmt.Sprintf("it runs orderers %s (remove each first with `folio orderer remove`, one update each)", strings.Join(orderers, ", ")))
	}
	if len(peers) > 0 {
		why = append(why, fmt.Sprintf("its peers %s are still listed (remove them in the same update; channel.RemoveOrg does)", strings.Join(peers, ", ")))
	}
	names := make([]string, 0, len(next.GetPolicies()))
	for name := range next.GetPolicies() {
		names = append(names, name)
	}
	sort.Strings(names)
	var naming []string
	for _, name := range names {
		if src := next.GetPolicies()[name]; NamesMSP(src, org.MspId) {
			naming = append(naming, fmt.Sprintf("policy %s (%s)", name, src))
		}
	}
	// The genesis contract definitions (next.Contracts) are not checked:
	// they never change, and the lifecycle replaces them with activated
	// versions whose policies live in state, which this pure function of
	// the configuration cannot see. `folio channel remove-org` refuses at
	// admission while any contract's policy in force or pending names the
	// organisation.
	if len(naming) > 0 {
		why = append(why, fmt.Sprintf("%s still name %s (change them first so nothing needs it)", strings.Join(naming, ", "), org.MspId))
	}
	return why
}

// NamesMSP reports whether a policy names mspID in any principal (a
// policy that does not parse names nothing: Validate refuses it).
func NamesMSP(src, mspID string) bool {
	p, err := policy.Parse(src)
	if err != nil {
		return false
	}
	for _, pr := range p.Principals() {
		if pr.MSPID == mspID {
			return true
		}
	}
	return false
}

// ErrBadDefinition marks an organisation definition file that cannot be
// used; the message names the field.
var ErrBadDefinition = errors.New("invalid organisation definition")

// DefinitionFormat is the OrgDefinition format this build writes and reads.
const DefinitionFormat = 1

// ValidateDefinition checks an OrgDefinition read from a file: format 1;
// an organisation with a name, MSP ID, a known kind and CA root
// certificates and no revocation list; nodes with unique names, 64-hex
// node IDs, both addresses and the definition's organisation; no Raft ID
// on a peer and RaftIDOf(node_id) on every orderer; and one node
// certificate per node (peers, then orderers) that parses, was issued by
// the organisation's root for the node's role, and holds the key its
// node ID names. It reads no clock: validity periods are checked where
// the nodes start.
func ValidateDefinition(def *foliov1.OrgDefinition) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadDefinition, field, fmt.Sprintf(format, args...))
	}
	if def.GetFormat() != DefinitionFormat {
		return bad("format", "%d (this build reads format %d)", def.GetFormat(), DefinitionFormat)
	}
	o := def.GetOrg()
	switch {
	case o == nil:
		return bad("org", "missing")
	case o.Name == "":
		return bad("org.name", "empty")
	case !validMSPID(o.MspId):
		return bad("org.msp_id", "%q is not an MSP ID (letters, digits, '.' and '-')", o.MspId)
	case o.Kind != foliov1.OrgKind_ORG_KIND_PEER && o.Kind != foliov1.OrgKind_ORG_KIND_ORDERER:
		return bad("org.kind", "%v: want ORG_KIND_PEER or ORG_KIND_ORDERER", o.Kind)
	case len(o.RootCerts) == 0:
		return bad("org.root_certs", "none")
	case len(o.Crl) > 0:
		return bad("org.crl", "a definition carries no revocation list (the organisation installs one by config update once it is a member)")
	}
	var roots []identity.Org
	for i, pem := range o.RootCerts {
		cert, err := fcrypto.ParseCertificatePEM(pem)
		if err != nil {
			return bad(fmt.Sprintf("org.root_certs[%d]", i), "%v", err)
		}
		if !cert.IsCA {
			return bad(fmt.Sprintf("org.root_certs[%d]", i), "%s is not a CA certificate", cert.Subject)
		}
		roots = append(roots, identity.Org{Name: o.Name, MSPID: o.MspId, Root: cert})
	}
	nodes := append(append([]*foliov1.NodeEndpoint{}, def.Peers...), def.Orderers...)
	if len(def.NodeCerts) != len(nodes) {
		return bad("node_certs", "%d certificates for %d nodes: one per node, peers then orderers", len(def.NodeCerts), len(nodes))
	}
	seen := map[string]string{}
	for i, n := range nodes {
		field, role := fmt.Sprintf("peers[%d]", i), identity.RolePeer
		if i >= len(def.Peers) {
			field, role = fmt.Sprintf("orderers[%d]", i-len(def.Peers)), identity.RoleOrderer
		}
		switch {
		case n.Name == "":
			return bad(field+".name", "empty")
		case seen[n.Name] != "":
			return bad(field+".name", "%s is also %s", n.Name, seen[n.Name])
		case n.Org != o.Name:
			return bad(field+".org", "%q, but the definition is organisation %s", n.Org, o.Name)
		case n.ApiAddress == "" || n.P2PAddress == "":
			return bad(field, "%s needs both api_address and p2p_address (its advertised host:port)", n.Name)
		}
		seen[n.Name] = field
		if _, err := RaftIDOf(n.NodeId); err != nil || strings.ToLower(n.NodeId) != n.NodeId {
			return bad(field+".node_id", "%q is not 64 lower-case hex characters", n.NodeId)
		}
		if seen[n.NodeId] != "" {
			return bad(field+".node_id", "same node ID as %s", seen[n.NodeId])
		}
		seen[n.NodeId] = field
		want := uint64(0)
		if role == identity.RoleOrderer {
			want, _ = RaftIDOf(n.NodeId)
		}
		if n.RaftId != want {
			return bad(field+".raft_id", "%d, want %d (0 for a peer; RaftIDOf(node_id) for an orderer)", n.RaftId, want)
		}
		if err := checkNodeCert(roots, o.MspId, def.NodeCerts[i], n.NodeId, role); err != nil {
			return bad(fmt.Sprintf("node_certs[%d] (%s)", i, n.Name), "%v", err)
		}
	}
	return nil
}

func validMSPID(s string) bool {
	if s == "" {
		return false
	}
	_, err := identity.ParsePrincipal("'" + s + ".member'")
	return err == nil
}

// checkNodeCert checks that pem is a node certificate of role issued by
// one of roots whose key's ID is nodeID.
func checkNodeCert(roots []identity.Org, mspID string, pem []byte, nodeID string, role identity.Role) error {
	cert, err := fcrypto.ParseCertificatePEM(pem)
	if err != nil {
		return err
	}
	kid, err := fcrypto.KeyID(cert.PublicKey)
	if err != nil {
		return err
	}
	if kid != nodeID {
		return fmt.Errorf("its key's node ID is %s, not the node's %s", kid, nodeID)
	}
	var lastErr error
	for _, r := range roots {
		v, err := identity.NewChainVerifier([]identity.Org{r})
		if err != nil {
			return err
		}
		id, err := v.Validate(mspID, cert)
		if err != nil {
			lastErr = err
			continue
		}
		if id.Role != role {
			return fmt.Errorf("certificate has role %s, want %s", id.Role, role)
		}
		return nil
	}
	return fmt.Errorf("not issued by the organisation's root: %v", lastErr)
}

// NextConfig returns a deep copy of cur with sequence+1 and every
// orderer's Raft ID made explicit, the starting point of a membership
// change. (Not of a revocation list update: explicit Raft IDs are a change
// beyond the list, which then needs the channel's admin policy.)
func NextConfig(cur *foliov1.ChannelConfig) *foliov1.ChannelConfig {
	next := proto.Clone(cur).(*foliov1.ChannelConfig)
	next.Sequence = cur.Sequence + 1
	for i, o := range next.Orderers {
		o.RaftId = raftIDAt(o, i)
	}
	return next
}

// checkBuilt returns next if an update from cur to next passes Validate
// and the membership rules Apply enforces (approvals aside).
func checkBuilt(cur, next *foliov1.ChannelConfig) (*foliov1.ChannelConfig, error) {
	c, err := NewConfig(cur, 0)
	if err != nil {
		return nil, fmt.Errorf("config in force: %w", err)
	}
	if err := c.checkBeforeValidate(next); err != nil {
		return nil, err
	}
	if err := Validate(next); err != nil {
		return nil, err
	}
	if err := c.checkChangeable(next); err != nil {
		return nil, err
	}
	return next, nil
}

// AddOrg adds def's organisation (its OrgConfig without a revocation list)
// and its peers; not its orderers (AddOrderer, one per update, once the
// organisation is a member). It refuses a definition that does not
// validate, or whose name, MSP ID, node names or node IDs clash with the
// channel's.
func AddOrg(cur *foliov1.ChannelConfig, def *foliov1.OrgDefinition) (*foliov1.ChannelConfig, error) {
	if err := ValidateDefinition(def); err != nil {
		return nil, err
	}
	org := proto.Clone(def.Org).(*foliov1.OrgConfig)
	for _, o := range cur.Orgs {
		if o.Name == org.Name || o.MspId == org.MspId {
			return nil, fmt.Errorf("organisation %s (%s) clashes with member %s (%s): names and MSP IDs are unique in a channel", org.Name, org.MspId, o.Name, o.MspId)
		}
	}
	next := NextConfig(cur)
	next.Orgs = append(next.Orgs, org)
	for _, p := range def.Peers {
		if err := nodeClash(cur, p); err != nil {
			return nil, err
		}
		next.Peers = append(next.Peers, proto.Clone(p).(*foliov1.NodeEndpoint))
	}
	return checkBuilt(cur, next)
}

func nodeClash(cur *foliov1.ChannelConfig, n *foliov1.NodeEndpoint) error {
	for _, list := range [][]*foliov1.NodeEndpoint{cur.Orderers, cur.Peers} {
		for _, o := range list {
			if o.Name == n.Name || o.NodeId == n.NodeId {
				return fmt.Errorf("node %s (node %.12s) clashes with %s (node %.12s) of %s: node names and IDs are unique in a channel", n.Name, n.NodeId, o.Name, o.NodeId, o.Org)
			}
		}
	}
	return nil
}

// RemoveOrg removes an organisation and its peers. It is refused, with
// every reason, while the organisation runs orderers or a policy or
// contract definition of the config names its MSP ID.
func RemoveOrg(cur *foliov1.ChannelConfig, name string) (*foliov1.ChannelConfig, error) {
	next := NextConfig(cur)
	var org *foliov1.OrgConfig
	orgs := next.Orgs[:0]
	for _, o := range next.Orgs {
		if o.Name == name {
			org = o
			continue
		}
		orgs = append(orgs, o)
	}
	if org == nil {
		return nil, fmt.Errorf("%s is not an organisation of channel %s", name, cur.ChannelId)
	}
	next.Orgs = orgs
	next.Peers = withoutNodes(next.Peers, func(n *foliov1.NodeEndpoint) bool { return n.Org == name })
	if why := removalBlockers(cur, next, org); len(why) > 0 {
		return nil, fmt.Errorf("%w: organisation %s (%s) cannot leave yet: %s", ErrUpdateRejected, org.Name, org.MspId, strings.Join(why, "; "))
	}
	return checkBuilt(cur, next)
}

func withoutNodes(ns []*foliov1.NodeEndpoint, drop func(*foliov1.NodeEndpoint) bool) []*foliov1.NodeEndpoint {
	var out []*foliov1.NodeEndpoint
	for _, n := range ns {
		if !drop(n) {
			out = append(out, n)
		}
	}
	return out
}

// AddOrderer adds one orderer of a member organisation, with the Raft ID
// its key derives (RaftIDOf).
func AddOrderer(cur *foliov1.ChannelConfig, node *foliov1.NodeEndpoint) (*foliov1.ChannelConfig, error) {
	n := proto.Clone(node).(*foliov1.NodeEndpoint)
	id, err := RaftIDOf(n.NodeId)
	if err != nil {
		return nil, fmt.Errorf("orderer %s: %w", n.Name, err)
	}
	n.RaftId = id
	if err := nodeClash(cur, n); err != nil {
		return nil, err
	}
	next := NextConfig(cur)
	next.Orderers = append(next.Orderers, n)
	return checkBuilt(cur, next)
}

// RemoveOrderer removes one orderer and retires its Raft ID; the others
// keep theirs explicitly.
func RemoveOrderer(cur *foliov1.ChannelConfig, name string) (*foliov1.ChannelConfig, error) {
	next := NextConfig(cur)
	for i, o := range next.Orderers {
		if o.Name == name {
			next.RetiredRaftIds = append(next.RetiredRaftIds, o.RaftId)
			next.Orderers = append(next.Orderers[:i:i], next.Orderers[i+1:]...)
			return checkBuilt(cur, next)
		}
	}
	return nil, fmt.Errorf("%s is not an orderer of channel %s", name, cur.ChannelId)
}

// AddPeer adds a peer of a member organisation.
func AddPeer(cur *foliov1.ChannelConfig, node *foliov1.NodeEndpoint) (*foliov1.ChannelConfig, error) {
	n := proto.Clone(node).(*foliov1.NodeEndpoint)
	if err := nodeClash(cur, n); err != nil {
		return nil, err
	}
	next := NextConfig(cur)
	next.Peers = append(next.Peers, n)
	return checkBuilt(cur, next)
}

// RemovePeer removes a peer.
func RemovePeer(cur *foliov1.ChannelConfig, name string) (*foliov1.ChannelConfig, error) {
	next := NextConfig(cur)
	peers := withoutNodes(next.Peers, func(n *foliov1.NodeEndpoint) bool { return n.Name == name })
	if len(peers) == len(next.Peers) {
		return nil, fmt.Errorf("%s is not a peer of channel %s", name, cur.ChannelId)
	}
	next.Peers = peers
	return checkBuilt(cur, next)
}

// SetAddresses changes the advertised addresses of a peer or orderer; an
// empty address keeps the one in force.
func SetAddresses(cur *foliov1.ChannelConfig, name, api, p2p string) (*foliov1.ChannelConfig, error) {
	next := NextConfig(cur)
	for _, list := range [][]*foliov1.NodeEndpoint{next.Orderers, next.Peers} {
		for _, n := range list {
			if n.Name != name {
				continue
			}
			if api != "" {
				n.ApiAddress = api
			}
			if p2p != "" {
				n.P2PAddress = p2p
			}
			return checkBuilt(cur, next)
		}
	}
	return nil, fmt.Errorf("%s is not a node of channel %s", name, cur.ChannelId)
}

// Describe lists, one line each, what changes from prev to next, for the
// admins who approve it: organisations added and removed (an added one
// with its root CA and peers), nodes added, removed and re-addressed,
// orderers with their Raft IDs, root certificates, revocation lists,
// policies, the capability level, and anything else that differs.
func Describe(prev, next *foliov1.ChannelConfig) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if Level(next) != Level(prev) {
		add("raises the capability level from %d to %d", Level(prev), Level(next))
	}
	prevOrgs, nextOrgs := orgsByName(prev), orgsByName(next)
	for _, o := range next.Orgs {
		p, ok := prevOrgs[o.Name]
		if !ok {
			peers := nodesOf(next.Peers, o.Name)
			with := "no peers"
			if len(peers) > 0 {
				with = "peers " + strings.Join(peers, ", ")
			}
			add("adds organisation %s (%s, %s, root CN %s) with %s", o.Name, o.MspId, kindName(o.Kind), rootCN(o), with)
			continue
		}
		if p.MspId != o.MspId || p.Kind != o.Kind {
			add("changes organisation %s from %s, %s to %s, %s", o.Name, p.MspId, kindName(p.Kind), o.MspId, kindName(o.Kind))
		}
		if !equalBytesList(p.RootCerts, o.RootCerts) {
			add("replaces the root certificates of %s (now %d, first CN %s)", o.Name, len(o.RootCerts), rootCN(o))
		}
		if !bytes.Equal(p.Crl, o.Crl) {
			if len(o.Crl) == 0 {
				add("removes the revocation list of %s", o.Name)
			} else {
				add("installs revocation list #%s of %s", crlNumber(o.Crl), o.Name)
			}
		}
	}
	for _, o := range prev.Orgs {
		if _, ok := nextOrgs[o.Name]; !ok {
			add("removes organisation %s (%s)", o.Name, o.MspId)
		}
	}
	// Peers of an added organisation were named with it; a removed
	// organisation's peers are named here, so nobody approves their
	// removal unawares.
	for _, d := range describeNodes("peer", prev, next, prev.Peers, next.Peers, prevOrgs) {
		add("%s", d)
	}
	for _, d := range describeNodes("orderer", prev, next, prev.Orderers, next.Orderers, prevOrgs) {
		add("%s", d)
	}
	if !proto.Equal(prev.Batch, next.Batch) {
		add("changes block cutting from %v to %v", batchText(prev.Batch), batchText(next.Batch))
	}
	var names []string
	for name := range prev.Policies {
		names = append(names, name)
	}
	for name := range next.Policies {
		if _, ok := prev.Policies[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		was, had := prev.Policies[name]
		now, has := next.Policies[name]
		switch {
		case !has:
			add("removes policy %s (was %s)", name, was)
		case !had || was != now:
			add("sets policy %s to %s", name, now)
		}
	}
	if !equalMsgs(prev.Contracts, next.Contracts) {
		add("changes contract definitions (only the contract lifecycle may)")
	}
	if prev.Format != next.Format || prev.ChannelId != next.ChannelId {
		add("changes the format or channel ID (never allowed)")
	}
	return out
}

func describeNodes(what string, prevCfg, nextCfg *foliov1.ChannelConfig, prev, next []*foliov1.NodeEndpoint, prevOrgs map[string]*foliov1.OrgConfig) []string {
	var out []string
	prevIDs, nextIDs := RaftIDs(prevCfg), RaftIDs(nextCfg)
	old := map[string]*foliov1.NodeEndpoint{}
	for _, n := range prev {
		old[n.NodeId] = n
	}
	now := map[string]bool{}
	for _, n := range next {
		now[n.NodeId] = true
		p, ok := old[n.NodeId]
		if !ok {
			if _, existing := prevOrgs[n.Org]; !existing && what == "peer" {
				continue // named with its organisation
			}
			raft := ""
			if what == "orderer" {
				raft = fmt.Sprintf(", Raft ID %d", nextIDs[n.NodeId])
			}
			out = append(out, fmt.Sprintf("adds %s %s of %s (node %.12s%s at %s, p2p %s)", what, n.Name, n.Org, n.NodeId, raft, n.ApiAddress, n.P2PAddress))
			continue
		}
		if p.Name != n.Name || p.Org != n.Org {
			out = append(out, fmt.Sprintf("renames %s %s of %s to %s of %s", what, p.Name, p.Org, n.Name, n.Org))
		}
		if p.ApiAddress != n.ApiAddress || p.P2PAddress != n.P2PAddress {
			out = append(out, fmt.Sprintf("moves %s %s to %s, p2p %s (was %s, p2p %s)", what, n.Name, n.ApiAddress, n.P2PAddress, p.ApiAddress, p.P2PAddress))
		}
		if what == "orderer" && prevIDs[n.NodeId] != nextIDs[n.NodeId] {
			out = append(out, fmt.Sprintf("changes the Raft ID of orderer %s from %d to %d", n.Name, prevIDs[n.NodeId], nextIDs[n.NodeId]))
		}
	}
	for _, p := range prev {
		if now[p.NodeId] {
			continue
		}
		if what == "orderer" {
			out = append(out, fmt.Sprintf("removes orderer %s of %s (Raft ID %d)", p.Name, p.Org, prevIDs[p.NodeId]))
		} else {
			out = append(out, fmt.Sprintf("removes peer %s of %s (node %.12s)", p.Name, p.Org, p.NodeId))
		}
	}
	return out
}

func orgsByName(c *foliov1.ChannelConfig) map[string]*foliov1.OrgConfig {
	m := map[string]*foliov1.OrgConfig{}
	for _, o := range c.Orgs {
		m[o.Name] = o
	}
	return m
}

// nodesOf names the nodes of org, as "name (node 1a2b3c4d5e6f at host:port)".
func nodesOf(ns []*foliov1.NodeEndpoint, org string) []string {
	var out []string
	for _, n := range ns {
		if n.Org == org {
			out = append(out, fmt.Sprintf("%s (node %.12s at %s)", n.Name, n.NodeId, n.ApiAddress))
		}
	}
	return out
}

func kindName(k foliov1.OrgKind) string {
	switch k {
	case foliov1.OrgKind_ORG_KIND_PEER:
		return "peer organisation"
	case foliov1.OrgKind_ORG_KIND_ORDERER:
		return "ordering organisation"
	}
	return "organisation of unspecified kind"
}

func rootCN(o *foliov1.OrgConfig) string {
	if len(o.RootCerts) == 0 {
		return "(none)"
	}
	cert, err := fcrypto.ParseCertificatePEM(o.RootCerts[0])
	if err != nil {
		return "(unparseable)"
	}
	return cert.Subject.CommonName
}

func crlNumber(der []byte) string {
	crl, err := x509.ParseRevocationList(der)
	if err != nil || crl.Number == nil {
		return "?"
	}
	return crl.Number.String()
}

func batchText(b *foliov1.BatchConfig) string {
	return fmt.Sprintf("%d txs/%d bytes/%dms", b.GetMaxTxCount(), b.GetMaxBytes(), b.GetTimeoutMs())
}

func equalBytesList(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
