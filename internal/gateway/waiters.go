package gateway

import (
	"fmt"

	"github.com/folio-ledger/folio/internal/quota"
)

// Setting names of the gateway's limits (docs/configuration.md).
const (
	SettingCommitWaiters          = "limits.commit_waiters"
	SettingCommitWaitersPerClient = "limits.commit_waiters_per_client"
	SettingMaxCommitWait          = "limits.max_commit_wait"
	SettingReadWaiters            = "limits.read_waiters"
	SettingReadWaitersPerClient   = "limits.read_waiters_per_client"
	SettingMaxReadWait            = "limits.max_read_wait"
)

// waitSlots is one kind of wait the gateway bounds: its counter, the
// settings of its two limits and how its messages name what waits.
type waitSlots struct {
	counter             *quota.Counter
	total, perClient    string
	waits, clientAdvice string
}

// acquire takes a slot for client on gateway self, or says which limit is
// reached: the setting that raises it, and an error naming it.
func (k waitSlots) acquire(self, client string) (release func(), setting string, err error) {
	release, reached, held := k.counter.Acquire(client)
	switch reached {
	case quota.PerClient:
		return nil, k.perClient, fmt.Errorf("%s already has %d %s on %s (limit %s): %s", client, held, k.waits, self, k.perClient, k.clientAdvice)
	case quota.Total:
		return nil, k.total, fmt.Errorf("%s holds %d %s, its most (limit %s): retry later or ask another peer", self, held, k.waits, k.total)
	}
	return release, "", nil
}

// acquireWait takes a commit-status wait slot for client.
func (g *Gateway) acquireWait(client string) (release func(), setting string, err error) {
	return waitSlots{g.waiters, SettingCommitWaiters, SettingCommitWaitersPerClient, "commit-status waits", "wait for fewer transactions at once"}.acquire(g.o.Self.Name, client)
}

// acquireRead takes a slot for a read of client that waits for blocks
// (current reads, reads.go).
func (g *Gateway) acquireRead(client string) (release func(), setting string, err error) {
	return waitSlots{g.readers, SettingReadWaiters, SettingReadWaitersPerClient, "reads waiting for blocks", "wait for fewer reads at once"}.acquire(g.o.Self.Name, client)
}
