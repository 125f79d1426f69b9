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

// acquireRead takes a slot for a read of client that waits for blocks
// (current reads, reads.go), or says which limit is reached.
func (g *Gateway) acquireRead(client string) (release func(), setting string, err error) {
	release, reached, held := g.readers.Acquire(client)
	switch reached {
	case quota.PerClient:
		return nil, SettingReadWaitersPerClient, fmt.Errorf("%s already has %d reads waiting for blocks on %s (limit %s): wait for fewer reads at once",
			client, held, g.o.Self.Name, SettingReadWaitersPerClient)
	case quota.Total:
		return nil, SettingReadWaiters, fmt.Errorf("%s holds %d reads waiting for blocks, its most (limit %s): retry later or ask another peer",
			g.o.Self.Name, held, SettingReadWaiters)
	}
	return release, "", nil
}
