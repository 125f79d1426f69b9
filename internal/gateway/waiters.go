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
)

// acquireWait takes a commit-status wait slot for client, or says which
// limit is reached: the setting that raises it, and an error naming it.
func (g *Gateway) acquireWait(client string) (release func(), setting string, err error) {
	release, reached, held := g.waiters.Acquire(client)
	switch reached {
	case quota.PerClient:
		return nil, SettingCommitWaitersPerClient, fmt.Errorf("%s already waits for %d commit statuses on %s (limit %s): wait for fewer transactions at once",
			client, held, g.o.Self.Name, SettingCommitWaitersPerClient)
	case quota.Total:
		return nil, SettingCommitWaiters, fmt.Errorf("%s holds %d commit-status waits, its most (limit %s): retry later or ask another peer",
			g.o.Self.Name, held, SettingCommitWaiters)
	}
	return release, "", nil
}
