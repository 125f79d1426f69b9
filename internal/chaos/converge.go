package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/folio-ledger/folio/internal/localnet"
)

// converged waits until every peer and orderer of the network is up and
// at one height, and returns that height and how long it took. Without
// faults in force a healed network gets there within a few batch
// timeouts; bound says how long a healed network may take before the run
// reports it as not converging (a finding, not a crash).
func converged(ctx context.Context, dir string, bound time.Duration) (uint64, time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	var last string
	for {
		st, err := localnet.Status(ctx, dir)
		if err == nil {
			h, why := sameHeight(st)
			if why == "" {
				return h, time.Since(start), nil
			}
			last = why
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return 0, time.Since(start), fmt.Errorf("the healed network did not converge within %s: %s", bound, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// sameHeight returns the common height of the network's peers and
// orderers, or why there is none yet.
func sameHeight(st []localnet.NodeStatus) (uint64, string) {
	heights := map[uint64][]string{}
	var down []string
	for _, s := range st {
		if s.Role != "peer" && s.Role != "orderer" {
			continue
		}
		if s.State != localnet.StateUp {
			down = append(down, s.Name+" "+s.State)
			continue
		}
		heights[s.Height] = append(heights[s.Height], s.Name)
	}
	if len(down) > 0 {
		return 0, "not up: " + strings.Join(down, ", ")
	}
	if len(heights) == 1 {
		for h := range heights {
			return h, ""
		}
	}
	var parts []string
	for h, names := range heights {
		sort.Strings(names)
		parts = append(parts, fmt.Sprintf("%d: %s", h, strings.Join(names, " ")))
	}
	sort.Strings(parts)
	return 0, "heights differ (" + strings.Join(parts, "; ") + ")"
}
