package consortium

import (
	"fmt"
	"sort"
	"strings"

	foliov1 "github.com/folio-ledger/folio/api/folio/v1"
	"github.com/folio-ledger/folio/internal/channel"
)

// KeyServerUse is a timed release that still needs key servers: it has
// not ended, and its key servers release shares (contracts/release).
type KeyServerUse struct {
	Release string
	// EndAt is when the release's window ends (RFC 3339).
	EndAt string
	// Orgs are the organisations of its key servers.
	Orgs []string
}

// CheckRemoveOrg says why organisation org cannot leave yet, or nil: after
// the removal (next, built by channel.RemoveOrg from cur), no policy of the
// configuration and no endorsement policy in force (contracts: name ->
// policy, from the channel's definitions and the lifecycle) may still name
// its MSP, since a policy that needs it could never be met again, and no
// release that has not ended may have key servers of it, since their
// shares would be lost. Each reason names what must change first.
func CheckRemoveOrg(cur, next *foliov1.ChannelConfig, org string, contracts map[string]string, releases []KeyServerUse) error {
	var msp string
	for _, o := range cur.Orgs {
		if o.Name == org {
			msp = o.MspId
		}
	}
	if msp == "" {
		return fmt.Errorf("%s is not an organisation of channel %s", org, cur.ChannelId)
	}
	var why []string
	names := func(src string) bool { return channel.NamesMSP(src, msp) }
	for _, name := range sortedKeys(next.Policies) {
		if names(next.Policies[name]) {
			why = append(why, fmt.Sprintf("channel policy %s still names %s (%s): change the policy first", name, msp, next.Policies[name]))
		}
	}
	defs := map[string]string{}
	for _, d := range next.Contracts {
		defs[d.Name] = d.EndorsementPolicy
	}
	for name, src := range contracts {
		defs[name] = src // the lifecycle's policy in force wins over the genesis definition
	}
	for _, name := range sortedKeys(defs) {
		if names(defs[name]) {
			why = append(why, fmt.Sprintf("contract %s's endorsement policy names %s (%s): activate a version whose policy leaves it out first (`folio contract activate --policy`)", name, msp, defs[name]))
		}
	}
	for _, r := range releases {
		for _, o := range r.Orgs {
			if o == org {
				why = append(why, fmt.Sprintf("release %s has key servers of %s until %s: wait until it ends", r.Release, org, r.EndAt))
				break
			}
		}
	}
	if len(why) > 0 {
		return fmt.Errorf("%s cannot leave channel %s yet:\n  %s", org, cur.ChannelId, strings.Join(why, "\n  "))
	}
	return nil
}

// CheckOrdererRemove refuses removing orderer name from cfg when the
// orderers that answer (infos: NodeInfo by orderer name, nil for those
// that did not answer; an orderer counts when it is ready and follows the
// leader most of them follow) without it are not a majority of the
// orderers that remain: the cluster would stop ordering.
func CheckOrdererRemove(cfg *foliov1.ChannelConfig, name string, infos map[string]*foliov1.NodeInfo) error {
	found := false
	for _, o := range cfg.Orderers {
		found = found || o.Name == name
	}
	if !found {
		return fmt.Errorf("%s is not an orderer of channel %s", name, cfg.ChannelId)
	}
	remain := len(cfg.Orderers) - 1
	if remain == 0 {
		return fmt.Errorf("%s is the channel's only orderer: add another one first (`folio orderer add`)", name)
	}
	leader := commonLeader(infos)
	var up, down []string
	for _, o := range cfg.Orderers {
		if o.Name == name {
			continue
		}
		if in := infos[o.Name]; in != nil && in.Ready && leader != "" && in.RaftLeader == leader {
			up = append(up, o.Name)
		} else {
			down = append(down, o.Name)
		}
	}
	if len(up) <= remain/2 {
		return fmt.Errorf("removing %s would lose quorum: of the %d orderers that would remain, only %d answer ready with a common leader (%s), %d needed; down or behind: %s. Bring them back first",
			name, remain, len(up), strings.Join(up, ", "), remain/2+1, strings.Join(down, ", "))
	}
	return nil
}

// CheckOrdererAdd refuses adding orderer node to cfg while any orderer
// reports a learner (the previous addition has not caught up: one change
// at a time, as etcd does), or when its Raft ID is in use or retired (a
// returning ID could resurrect a stale log: the node needs a new key).
func CheckOrdererAdd(cfg *foliov1.ChannelConfig, node *foliov1.NodeEndpoint, infos map[string]*foliov1.NodeInfo) error {
	for _, id := range cfg.RetiredRaftIds {
		if id == node.RaftId {
			return fmt.Errorf("orderer %s has Raft ID %d, which a removed orderer used: give the node a new key (`folio org init` a new orderer) and export its definition again", node.Name, id)
		}
	}
	for n, id := range channel.RaftIDs(cfg) {
		if id == node.RaftId || n == node.NodeId {
			return fmt.Errorf("orderer %s (Raft ID %d, node %.12s) is already an orderer of channel %s", node.Name, node.RaftId, node.NodeId, cfg.ChannelId)
		}
	}
	for _, name := range sortedKeys(infos) {
		if in := infos[name]; in != nil && len(in.RaftLearners) > 0 {
			return fmt.Errorf("orderer %s reports Raft learners %v: the last orderer added has not caught up and become a voter yet; wait until no orderer reports a learner (`folio orderer add` waits for exactly that), then add the next one",
				name, in.RaftLearners)
		}
	}
	return nil
}

// commonLeader is the leader most answering orderers follow ("" if none).
func commonLeader(infos map[string]*foliov1.NodeInfo) string {
	votes := map[string]int{}
	best, n := "", 0
	for _, name := range sortedKeys(infos) {
		in := infos[name]
		if in == nil || in.RaftLeader == "" {
			continue
		}
		votes[in.RaftLeader]++
		if votes[in.RaftLeader] > n {
			best, n = in.RaftLeader, votes[in.RaftLeader]
		}
	}
	return best
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
